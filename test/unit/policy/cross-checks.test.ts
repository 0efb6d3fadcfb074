import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VerifierType } from '../../../server/policy/compiled-policy';
import { crossCheckPolicy } from '../../../server/policy/cross-checks';
import { loadPolicyText } from '../../../server/policy/load';
import { IMPLEMENTED_VERIFIER_TYPES } from '../../../server/policy/verifier-support';
import { ALL_VERIFIER_TYPES, expectConfigError, issueAt, issuePaths, policyYaml } from './helpers';

const all = { implementedVerifierTypes: ALL_VERIFIER_TYPES };
const load = (body: string, options = all) => loadPolicyText(policyYaml(body), 'test', 1, options);
const fails = (body: string, options = all) => expectConfigError(() => load(body, options), 'CONFIG_INVALID');

describe('cross-checks', () => {
  describe('rule names', () => {
    it('refuses a name used twice, at the second one', () => {
      const err = fails(`
        registries: [ghcr.io]
        rules:
          - {name: a, images: ["ghcr.io/x/**"]}
          - {name: b, images: ["ghcr.io/y/**"]}
          - {name: a, images: ["ghcr.io/z/**"]}
      `);
      assert.deepEqual(issuePaths(err), ['rules[2].name']);
      assert.equal(issueAt(err, 'rules[2].name').found, '"a"');
    });
  });

  describe('verify names', () => {
    it('refuses a name that is not a verifier', () => {
      const err = fails(`
        registries: [ghcr.io]
        rules:
          - {name: a, images: ["ghcr.io/**"], verify: [acme-cosign, acme-cosgin]}
        verifiers:
          acme-cosign: {type: cosign, publicKeys: [{file: /k.pub}]}
      `);
      assert.deepEqual(issuePaths(err), ['rules[0].verify[1]']);
      assert.equal(issueAt(err, 'rules[0].verify[1]').position, '5:61');
    });
  });

  describe('resolveTags', () => {
    it('refuses resolveTags with the default requireDigest: true', () => {
      const err = fails(`
        registries: [ghcr.io]
        rules:
          - {name: a, images: ["ghcr.io/**"], resolveTags: true}
      `);
      assert.deepEqual(issuePaths(err), ['rules[0].resolveTags']);
    });
    it('accepts resolveTags with requireDigest: false', () => {
      load(`
        registries: [ghcr.io]
        rules:
          - {name: a, images: ["ghcr.io/**"], resolveTags: true, requireDigest: false}
      `);
    });
  });

  describe('pattern hosts and registries', () => {
    it('refuses a pattern whose host is not in registries', () => {
      const err = fails(`
        registries: [docker.io, "*.gcr.io"]
        rules:
          - {name: a, images: ["docker.io/library/*", "quay.io/x/*", "gcr.io/x/*", "eu.gcr.io/x/*"]}
      `);
      assert.deepEqual(issuePaths(err), ['rules[0].images[1]', 'rules[0].images[2]']);
      assert.equal(issueAt(err, 'rules[0].images[1]').found, 'quay.io');
    });
    it('exempts the pattern ** alone', () => {
      load(`
        registries: [docker.io]
        rules:
          - {name: a, images: ["**"]}
      `);
    });
    it('accepts a wildcard pattern host under a wildcard registry', () => {
      load(`
        registries: ["*.pkg.dev"]
        rules:
          - {name: a, images: ["*.pkg.dev/**", "europe-docker.pkg.dev/p/**"]}
      `);
    });
    it('refuses a wildcard pattern host that only an exact registry names', () => {
      const err = fails(`
        registries: [eu.pkg.dev]
        rules:
          - {name: a, images: ["*.pkg.dev/**"]}
      `);
      assert.deepEqual(issuePaths(err), ['rules[0].images[0]']);
    });
    it('compares ports', () => {
      const err = fails(`
        registries: ["127.0.0.1:5000"]
        rules:
          - {name: a, images: ["127.0.0.1:5000/x/**", "127.0.0.1:5001/x/**"]}
      `);
      assert.deepEqual(issuePaths(err), ['rules[0].images[1]']);
    });
  });

  describe('transport.plainHTTP', () => {
    it('needs each entry listed exactly in registries', () => {
      const err = fails(`
        registries: ["127.0.0.1:5000", "*.local"]
        rules: []
        transport:
          plainHTTP: ["127.0.0.1:5000", "127.0.0.1:5001", "reg.local"]
      `);
      assert.deepEqual(issuePaths(err), ['transport.plainHTTP[1]', 'transport.plainHTTP[2]']);
    });
    it('refuses a wildcard entry', () => {
      const err = fails(`
        registries: ["*.local"]
        rules: []
        transport: {plainHTTP: ["*.local"]}
      `);
      assert.deepEqual(issuePaths(err), ['transport.plainHTTP[0]']);
    });
  });

  describe('breakGlass.annotation', () => {
    const table: Array<[key: string, ok: boolean, why: string]> = [
      ['imagegate.image-policy.k8s.io/break-glass', true, 'the default'],
      ['mycluster.image-policy.k8s.io/ticket-1234', true, 'contract.md §3 example'],
      ['a.b.image-policy.k8s.io/x', true, 'several labels in front'],
      ['image-policy.k8s.io/break-glass', false, 'no leading dot: the apiserver drops it (contract.md §3)'],
      ['example.com/break-glass', false, 'never forwarded to the webhook'],
      ['break-glass', false, 'no prefix at all'],
      ['alpha.image-policy.k8s.io/failed-open', false, 'set by the apiserver on fail-open'],
      ['imagegate.image-policy.k8s.io/', false, 'empty name'],
      ['Imagegate.image-policy.k8s.io/x', false, 'the prefix is a lowercase DNS name'],
    ];
    for (const [key, ok, why] of table) {
      it(`${ok ? 'accepts' : 'refuses'} ${key} (${why})`, () => {
        const body = `registries: []\nrules: []\nbreakGlass:\n  enabled: true\n  annotation: "${key}"\n  namespaces: [default]\n`;
        if (ok) load(body);
        else assert.deepEqual(issuePaths(fails(body)), ['breakGlass.annotation']);
      });
    }
  });

  describe('verifier types this build does not implement', () => {
    const none = { implementedVerifierTypes: new Set<VerifierType>() };
    const body = `
      registries: [ghcr.io]
      rules:
        - {name: a, images: ["ghcr.io/**"], verify: [used]}
      verifiers:
        used: {type: cosign, publicKeys: [{file: /k.pub}]}
        unused: {type: notation, trustStore: [{file: /ca.crt}], trustedIdentities: ["*"]}
    `;

    it('refuses every defined verifier of such a type, used or not', () => {
      const err = fails(body, none);
      assert.deepEqual(issuePaths(err), ['verifiers.used.type', 'verifiers.unused.type']);
      assert.equal(issueAt(err, 'verifiers.used.type').found, 'cosign');
    });

    it('accepts them once the build implements the types', () => {
      load(body);
    });

    it('defaults to IMPLEMENTED_VERIFIER_TYPES', () => {
      const implemented = [...IMPLEMENTED_VERIFIER_TYPES];
      const missing = (['cosign', 'notation'] as const).filter((t) => !implemented.includes(t));
      if (missing.length === 0) {
        loadPolicyText(policyYaml(body), 'test', 1);
      } else {
        const err = expectConfigError(() => loadPolicyText(policyYaml(body), 'test', 1), 'CONFIG_INVALID');
        assert.equal(err.issues.length, missing.length);
      }
    });
  });

  describe('when other parts of the file are invalid', () => {
    it('still lists the cross-field problems of the parts that are valid', () => {
      const err = fails(`
        registries: [ghcr.io]
        rules:
          - name: a
            images: ["ghcr.io/**", "quay.io/x/*", "Bad/x"]
            verify: [missing]
            resolveTags: true
            typo: 1
          - name: a
            images: ["ghcr.io/**"]
        verifiers:
          v: {type: cosign, publicKeys: []}
      `, { implementedVerifierTypes: new Set<VerifierType>() });
      assert.deepEqual(issuePaths(err), [
        'rules[0].images[1]',
        'rules[0].images[2]',
        'rules[0].verify[0]',
        'rules[0].resolveTags',
        'rules[0].typo',
        'rules[1].name',
        'verifiers.v.type',
        'verifiers.v.publicKeys',
      ]);
    });
  });
});

describe('crossCheckPolicy', () => {
  it('returns no issues for a coherent policy', () => {
    const issues = crossCheckPolicy(
      {
        registries: ['ghcr.io'],
        rules: [{ name: 'a', images: ['ghcr.io/**'], verify: [], resolveTags: false, requireDigest: true }],
        verifiers: new Map(),
        transport: { caFiles: [], plainHTTP: [] },
        credentials: undefined,
        breakGlass: undefined,
      },
      { baseDir: '/etc' },
    );
    assert.deepEqual(issues, []);
  });

  it('skips the coverage check when registries did not validate', () => {
    const issues = crossCheckPolicy({
      registries: undefined,
      rules: [{ name: 'a', images: ['quay.io/x/*'], verify: [], resolveTags: false, requireDigest: true }],
      verifiers: new Map(),
      transport: undefined,
      credentials: undefined,
      breakGlass: undefined,
    });
    assert.deepEqual(issues, []);
  });
});
