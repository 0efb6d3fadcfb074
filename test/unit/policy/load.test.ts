import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../../server/errors';
import { loadPolicyFile, loadPolicyText, MAX_POLICY_BYTES } from '../../../server/policy/load';
import { formatDuration, parseDuration } from '../../../server/policy/schema';
import { ALL_VERIFIER_TYPES, expectConfigError, issueAt, issuePaths, minimalPolicy, policyYaml } from './helpers';

const all = { implementedVerifierTypes: ALL_VERIFIER_TYPES };
const PEM = '-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n';

describe('loadPolicyText', () => {
  describe('when the policy is minimal', () => {
    const policy = loadPolicyText(minimalPolicy(), 'test', 7);

    it('applies every default from config.md', () => {
      assert.equal(policy.generation, 7);
      assert.equal(policy.source, 'test');
      assert.equal(policy.defaultAction, 'deny');
      assert.equal(policy.failurePolicy, 'closed');
      assert.equal(policy.verifiers.size, 0);
      assert.deepEqual(policy.transport, { caFiles: [], plainHTTP: [] });
      assert.equal(policy.credentialsFile, undefined);
      assert.equal(policy.breakGlass.enabled, false);
      assert.equal(policy.breakGlass.annotation, 'imagegate.image-policy.k8s.io/break-glass');
      assert.deepEqual(policy.breakGlass.namespaces, []);
      assert.deepEqual(policy.cache, {
        allowTTLSeconds: 300,
        denyTTLSeconds: 30,
        tagTTLSeconds: 60,
        verifyTTLSeconds: 3600,
        maxEntries: 10000,
      });
      assert.deepEqual(policy.timeouts, { reviewMs: 10_000, lookupMs: 5_000 });
    });
  });

  describe('when a rule gives only name and images', () => {
    it('defaults action allow, requireDigest true, allowLatest false, resolveTags false, verify [], mode enforce', () => {
      const policy = loadPolicyText(
        policyYaml(`
          registries: [ghcr.io]
          rules:
            - name: r
              images: ["ghcr.io/**"]
        `),
        'test',
        1,
      );
      const rule = policy.rules[0];
      assert.ok(rule);
      assert.equal(rule.action, 'allow');
      assert.equal(rule.requireDigest, true);
      assert.equal(rule.allowLatest, false);
      assert.equal(rule.resolveTags, false);
      assert.deepEqual(rule.verify, []);
      assert.equal(rule.mode, 'enforce');
      assert.equal(rule.namespacePatterns, undefined);
      assert.equal(rule.index, 0);
    });
  });

  describe('when apiVersion or kind is wrong or missing', () => {
    it('lists both', () => {
      const err = expectConfigError(() => loadPolicyText('registries: []\nrules: []\n', 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err).sort(), ['apiVersion', 'kind']);
    });
    it('refuses another version', () => {
      const err = expectConfigError(
        () => loadPolicyText('apiVersion: imagegate/v2\nkind: Policy\nregistries: []\nrules: []\n', 'test', 1),
        'CONFIG_INVALID',
      );
      assert.deepEqual(issuePaths(err), ['apiVersion']);
      assert.equal(issueAt(err, 'apiVersion').position, '1:13');
    });
  });

  describe('when registries or rules are missing', () => {
    it('lists both as required', () => {
      const err = expectConfigError(() => loadPolicyText(policyYaml(''), 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err).sort(), ['registries', 'rules']);
      assert.equal(issueAt(err, 'rules').found, 'nothing');
    });
  });

  describe('when there are unknown keys at every level', () => {
    const text = policyYaml(`
      registries: [docker.io]
      defaultActon: allow
      rules:
        - name: r
          images: ["docker.io/**"]
          requireDigests: false
      verifiers:
        v:
          type: cosign
          publicKeys:
            - file: /k.pub
              fiel: /x
          matchReference: false
          extra: 1
      transport:
        plainHttp: []
      credentials:
        file: /c.json
        password: x
      breakGlass:
        enable: true
      cache:
        allowTtl: 5m
      timeouts:
        reveiw: 1s
    `);
    const err = expectConfigError(() => loadPolicyText(text, 'test', 1, all), 'CONFIG_INVALID');

    it('rejects every one of them, each with its own path', () => {
      assert.deepEqual(issuePaths(err), [
        'defaultActon',
        'rules[0].requireDigests',
        'verifiers.v.publicKeys[0].fiel',
        'verifiers.v.extra',
        'transport.plainHttp',
        'credentials.password',
        'breakGlass.enable',
        'cache.allowTtl',
        'timeouts.reveiw',
      ]);
    });

    it('gives each the line:col of the key', () => {
      assert.equal(issueAt(err, 'defaultActon').position, '4:1');
      assert.equal(issueAt(err, 'rules[0].requireDigests').position, '8:5');
      assert.equal(issueAt(err, 'verifiers.v.publicKeys[0].fiel').position, '14:9');
      assert.equal(issueAt(err, 'timeouts.reveiw').position, '27:3');
    });

    it('says what was found', () => {
      assert.equal(issueAt(err, 'defaultActon').found, '"defaultActon"');
    });
  });

  describe('when several fields are wrong', () => {
    const text = policyYaml(`
      registries: [docker.io, "ghc*.io"]
      defaultAction: maybe
      failurePolicy: true
      rules:
        - name: ok
          images: ["docker.io/**"]
          action: permit
          requireDigest: "yes"
        - images: "docker.io/**"
      cache:
        maxEntries: 2000000
    `);
    const err = expectConfigError(() => loadPolicyText(text, 'test', 1), 'CONFIG_INVALID');

    it('lists every problem in document order with path and position', () => {
      assert.deepEqual(
        err.issues.map((i) => [i.path, i.position]),
        [
          ['registries[1]', '3:25'],
          ['defaultAction', '4:16'],
          ['failurePolicy', '5:16'],
          ['rules[0].action', '9:13'],
          ['rules[0].requireDigest', '10:20'],
          ['rules[1].name', '11:5'],
          ['rules[1].images', '11:13'],
          ['cache.maxEntries', '13:15'],
        ],
      );
    });

    it('says what was expected and what was found', () => {
      const action = issueAt(err, 'rules[0].action');
      assert.equal(action.expected, 'one of "allow", "deny"');
      assert.equal(action.found, '"permit"');
      const digest = issueAt(err, 'rules[0].requireDigest');
      assert.equal(digest.expected, 'true or false');
      assert.equal(digest.found, '"yes"');
      assert.equal(issueAt(err, 'rules[1].images').expected, 'a list');
      assert.equal(issueAt(err, 'cache.maxEntries').found, '2000000');
    });

    it('puts every issue in the error message', () => {
      for (const i of err.issues) assert.ok(err.message.includes(i.path));
    });
  });

  describe('durations', () => {
    const withCache = (key: string, value: string) => minimalPolicy(`cache:\n  ${key}: ${value}\n`);
    const bad: Array<[value: string, why: string]> = [
      ['5', 'no unit'],
      ['"5x"', 'unknown unit'],
      ['1.5s', 'fractions are not durations'],
      ['-1s', 'negative'],
      ['""', 'empty'],
      ['m5', 'unit first'],
      ['5s1m', 'units out of order'],
      ['5m5m', 'a unit twice'],
      ['300', 'a number, not a string'],
      ['0s', 'a TTL of 0 would be "forever" in node-cache'],
      ['25h', 'over the 24h TTL cap'],
      ['500ms', 'TTLs are at least 1s'],
    ];
    for (const [value, why] of bad) {
      it(`refuses allowTTL: ${value} (${why})`, () => {
        const err = expectConfigError(() => loadPolicyText(withCache('allowTTL', value), 'test', 1), 'CONFIG_INVALID');
        assert.deepEqual(issuePaths(err), ['cache.allowTTL']);
        assert.ok(issueAt(err, 'cache.allowTTL').expected);
      });
    }

    it('accepts combinations like 1m30s and 1h', () => {
      const p = loadPolicyText(minimalPolicy('cache:\n  allowTTL: 1m30s\n  verifyTTL: 2h\n  tagTTL: 1s500ms\n'), 'test', 1);
      assert.equal(p.cache.allowTTLSeconds, 90);
      assert.equal(p.cache.verifyTTLSeconds, 7200);
      assert.equal(p.cache.tagTTLSeconds, 1.5);
    });

    it('accepts millisecond timeouts', () => {
      const p = loadPolicyText(minimalPolicy('timeouts:\n  review: 2s\n  lookup: 500ms\n'), 'test', 1);
      assert.deepEqual(p.timeouts, { reviewMs: 2000, lookupMs: 500 });
    });

    it('refuses a review timeout of 30s or more (the apiserver gives up at 30s, contract.md §5.3)', () => {
      const err = expectConfigError(() => loadPolicyText(minimalPolicy('timeouts:\n  review: 30s\n'), 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err), ['timeouts.review']);
      loadPolicyText(minimalPolicy('timeouts:\n  review: 29s\n'), 'test', 1);
    });

    it('refuses a lookup timeout longer than the review timeout', () => {
      const err = expectConfigError(
        () => loadPolicyText(minimalPolicy('timeouts:\n  review: 3s\n  lookup: 4s\n'), 'test', 1),
        'CONFIG_INVALID',
      );
      assert.deepEqual(issuePaths(err), ['timeouts.lookup']);
      assert.equal(issueAt(err, 'timeouts.lookup').position, '7:11');
    });

    it('refuses a lookup timeout longer than the default review timeout', () => {
      const err = expectConfigError(() => loadPolicyText(minimalPolicy('timeouts:\n  lookup: 11s\n'), 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err), ['timeouts.lookup']);
    });
  });

  describe('YAML syntax', () => {
    it('refuses duplicate keys with CONFIG_SYNTAX and a position', () => {
      const err = expectConfigError(() => loadPolicyText(minimalPolicy('registries: [ghcr.io]\n'), 'test', 1), 'CONFIG_SYNTAX');
      assert.equal(err.issues[0]?.position, '5:1');
    });
    it('refuses several documents', () => {
      expectConfigError(() => loadPolicyText(`${minimalPolicy()}---\n${minimalPolicy()}`, 'test', 1), 'CONFIG_SYNTAX');
    });
    it('refuses malformed YAML', () => {
      expectConfigError(() => loadPolicyText('apiVersion: [imagegate/v1\n', 'test', 1), 'CONFIG_SYNTAX');
    });
    it('refuses unknown tags', () => {
      expectConfigError(() => loadPolicyText(minimalPolicy('defaultAction: !allow x\n'), 'test', 1), 'CONFIG_SYNTAX');
    });
    it('treats __proto__ as an unknown key, never as a prototype that supplies values', () => {
      const err = expectConfigError(
        () => loadPolicyText(minimalPolicy('__proto__:\n  defaultAction: allow\n'), 'test', 1),
        'CONFIG_INVALID',
      );
      assert.deepEqual(issuePaths(err), ['__proto__']);
    });
    it('reads YAML 1.1 booleans like "yes" as strings, so they are wrong types', () => {
      const err = expectConfigError(() => loadPolicyText(minimalPolicy('breakGlass:\n  enabled: yes\n'), 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err), ['breakGlass.enabled']);
    });
    it('refuses an empty document as CONFIG_INVALID at the document', () => {
      const err = expectConfigError(() => loadPolicyText('', 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err), ['']);
      assert.equal(err.issues[0]?.expected, 'a mapping');
    });
    it('refuses a document that is a list', () => {
      expectConfigError(() => loadPolicyText('- a\n', 'test', 1), 'CONFIG_INVALID');
    });
  });

  describe('verifiers', () => {
    const withVerifier = (body: string) =>
      policyYaml(`registries: [ghcr.io]\nrules: []\nverifiers:\n  v:\n${body.replace(/^/gm, '    ')}\n`);

    it('accepts the three types with config.md fields and keeps them normalised', () => {
      const p = loadPolicyText(
        policyYaml(`
          registries: [ghcr.io]
          rules: []
          verifiers:
            acme-cosign:
              type: cosign
              publicKeys:
                - file: /etc/imagegate/keys/cosign.pub
                - pem: "${PEM}"
              annotations: {team: acme}
            dockerhub-dct:
              type: notaryv1
              server: https://notary.docker.io/
              gun: "{repository}"
              rootKeys:
                - keyID: ${'AB'.repeat(32)}
              delegations: [targets/releases]
            acme-notation:
              type: notation
              trustStore:
                - file: /etc/imagegate/keys/acme-ca.crt
              trustedIdentities: ["x509.subject: C=US, O=Acme, CN=release"]
        `),
        'test',
        1,
        all,
      );
      assert.deepEqual(p.verifiers.get('acme-cosign'), {
        type: 'cosign',
        publicKeys: [{ file: '/etc/imagegate/keys/cosign.pub' }, { pem: PEM.replace(/\\n/g, '\n') }],
        annotations: { team: 'acme' },
        matchReference: false,
      });
      assert.deepEqual(p.verifiers.get('dockerhub-dct'), {
        type: 'notaryv1',
        server: 'https://notary.docker.io',
        gun: '{repository}',
        rootKeys: [{ keyID: 'ab'.repeat(32) }],
        delegations: ['targets/releases'],
      });
      assert.deepEqual(p.verifiers.get('acme-notation'), {
        type: 'notation',
        trustStore: [{ file: '/etc/imagegate/keys/acme-ca.crt' }],
        trustedIdentities: ['x509.subject: C=US, O=Acme, CN=release'],
        verificationLevel: 'strict',
        maxSignatures: 10,
        verifyTimestamp: 'always',
      });
    });

    it('accepts a notation TSA trust store and verifyTimestamp (extensions), resolving relative paths', () => {
      const p = loadPolicyText(
        withVerifier('type: notation\ntrustStore: [{file: ca.crt}]\ntrustedIdentities: ["*"]\ntsaTrustStore: [{file: tsa/root.crt}]\nverifyTimestamp: afterCertExpiry'),
        'test',
        1,
        { ...all, baseDir: '/etc/imagegate' },
      );
      assert.deepEqual(p.verifiers.get('v'), {
        type: 'notation',
        trustStore: [{ file: '/etc/imagegate/ca.crt' }],
        trustedIdentities: ['*'],
        verificationLevel: 'strict',
        maxSignatures: 10,
        tsaTrustStore: [{ file: '/etc/imagegate/tsa/root.crt' }],
        verifyTimestamp: 'afterCertExpiry',
      });
    });

    const bad: Array<[body: string, path: string, why: string]> = [
      ['type: cosign\npublicKeys:\n  - {file: /a, pem: "x"}', 'verifiers.v.publicKeys[0].pem', 'inline PEM that is not PEM'],
      [`type: cosign\npublicKeys:\n  - {file: /a, pem: "${PEM}"}`, 'verifiers.v.publicKeys[0]', 'both file and pem'],
      ['type: cosign\npublicKeys:\n  - {}', 'verifiers.v.publicKeys[0]', 'neither file nor pem'],
      ['type: cosign\npublicKeys: []', 'verifiers.v.publicKeys', 'no key at all'],
      ['type: cosign\npublicKeys: [{file: /a}]\nannotations: {a: 1}', 'verifiers.v.annotations.a', 'annotation values are strings'],
      ['type: notaryv1\nserver: http://notary.docker.io\nrootKeys: [{file: /a}]', 'verifiers.v.server', 'notary over plain http'],
      ['type: notaryv1\nserver: https://u:p@notary.example\nrootKeys: [{file: /a}]', 'verifiers.v.server', 'credentials in the URL'],
      ['type: notaryv1\nserver: https://notary.example\nrootKeys: [{keyID: abc}]', 'verifiers.v.rootKeys[0].keyID', 'a short key id'],
      [`type: notaryv1\nserver: https://notary.example\nrootKeys: [{keyID: ${'a'.repeat(64)}, file: /a}]`, 'verifiers.v.rootKeys[0]', 'key id and file'],
      ['type: notaryv1\nserver: https://notary.example\nrootKeys: [{file: /a}]\ngun: "{repo}"', 'verifiers.v.gun', 'unknown placeholder'],
      ['type: notaryv1\nserver: https://notary.example\nrootKeys: [{file: /a}]\ndelegations: [releases]', 'verifiers.v.delegations[0]', 'a role outside targets/'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["CN=x"]', 'verifiers.v.trustedIdentities[0]', 'identity without x509.subject:'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\nverificationLevel: lax', 'verifiers.v.verificationLevel', 'unknown level'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\nmaxSignatures: 0', 'verifiers.v.maxSignatures', 'zero signatures'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\nmaxSignatures: 1.5', 'verifiers.v.maxSignatures', 'not an integer'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\ntsaTrustStore: []', 'verifiers.v.tsaTrustStore', 'an empty TSA trust store (omit it instead)'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\ntsaTrustStore: [{file: /t, pem: "x"}]', 'verifiers.v.tsaTrustStore[0].pem', 'a TSA store entry with inline text that is not PEM'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\nverifyTimestamp: never', 'verifiers.v.verifyTimestamp', 'an unknown verifyTimestamp'],
      ['type: notation\ntrustStore: [{file: /a}]\ntrustedIdentities: ["*"]\ntsaTrustStores: [{file: /t}]', 'verifiers.v.tsaTrustStores', 'a misspelt tsaTrustStore (unknown keys are errors)'],
      ['type: sigstore', 'verifiers.v.type', 'unknown type'],
      ['publicKeys: [{file: /a}]', 'verifiers.v.type', 'no type'],
    ];
    for (const [body, path, why] of bad) {
      it(`refuses ${why} at ${path}`, () => {
        const err = expectConfigError(() => loadPolicyText(withVerifier(body), 'test', 1, all), 'CONFIG_INVALID');
        assert.deepEqual(issuePaths(err), [path]);
        assert.ok(err.issues[0]?.position);
      });
    }

    it('refuses an invalid verifier name', () => {
      const err = expectConfigError(
        () => loadPolicyText(policyYaml('registries: []\nrules: []\nverifiers:\n  "bad name":\n    type: cosign\n    publicKeys: [{file: /a}]\n'), 'test', 1, all),
        'CONFIG_INVALID',
      );
      assert.deepEqual(issuePaths(err), ['verifiers["bad name"]']);
      assert.equal(err.issues[0]?.position, '6:3');
    });
  });

  describe('file paths', () => {
    const text = policyYaml(`
      registries: []
      rules: []
      credentials: {file: creds/config.json}
      transport: {caFiles: [ca.pem]}
    `);
    it('refuses relative paths when the policy has no folder', () => {
      const err = expectConfigError(() => loadPolicyText(text, 'test', 1), 'CONFIG_INVALID');
      assert.deepEqual(issuePaths(err), ['credentials.file', 'transport.caFiles[0]']);
    });
    it('resolves relative paths against baseDir', () => {
      const p = loadPolicyText(text, 'test', 1, { baseDir: '/etc/imagegate' });
      assert.equal(p.credentialsFile, '/etc/imagegate/creds/config.json');
      assert.deepEqual(p.transport.caFiles, ['/etc/imagegate/ca.pem']);
    });
  });
});

describe('loadPolicyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a file and labels the policy with its path', () => {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, minimalPolicy());
    const p = loadPolicyFile(file, 3);
    assert.equal(p.source, file);
    assert.equal(p.generation, 3);
  });

  it('resolves relative key paths against the file folder', () => {
    const file = join(dir, 'rel.yaml');
    writeFileSync(file, minimalPolicy('credentials: {file: registry/config.json}\n'));
    assert.equal(loadPolicyFile(file, 1).credentialsFile, join(dir, 'registry/config.json'));
  });

  it('reports a missing file as CONFIG_UNREADABLE with the cause kept', () => {
    const err = expectConfigError(() => loadPolicyFile(join(dir, 'missing.yaml'), 1), 'CONFIG_UNREADABLE');
    assert.equal(err.issues[0]?.found, 'ENOENT');
    assert.ok(err.cause);
  });

  it('reports a folder as CONFIG_UNREADABLE', () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expectConfigError(() => loadPolicyFile(sub, 1), 'CONFIG_UNREADABLE');
  });

  it('refuses a file over 1 MiB as CONFIG_UNREADABLE', () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `${minimalPolicy()}# ${'x'.repeat(MAX_POLICY_BYTES)}\n`);
    expectConfigError(() => loadPolicyFile(file, 1), 'CONFIG_UNREADABLE');
  });

  it('refuses invalid UTF-8 as CONFIG_SYNTAX', () => {
    const file = join(dir, 'latin1.yaml');
    writeFileSync(file, Buffer.concat([Buffer.from(minimalPolicy()), Buffer.from([0x23, 0x20, 0xe9, 0x0a])]));
    expectConfigError(() => loadPolicyFile(file, 1), 'CONFIG_SYNTAX');
  });

  it('throws ConfigError instances (not plain errors)', () => {
    assert.throws(() => loadPolicyFile(join(dir, 'nope.yaml'), 1), ConfigError);
  });
});

describe('parseDuration', () => {
  const table: Array<[text: string, ms: number | undefined]> = [
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['0s', 0],
    ['', undefined],
    ['5', undefined],
    ['1.5s', undefined],
    ['1s1m', undefined],
    ['5 s', undefined],
    ['5S', undefined],
    ['1d', undefined],
  ];
  for (const [text, ms] of table) {
    it(`reads ${JSON.stringify(text)} as ${String(ms)}`, () => assert.equal(parseDuration(text), ms));
  }
  it('formats back to the shortest unit', () => {
    assert.equal(formatDuration(86_400_000), '24h');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(1500), '1500ms');
  });
});
