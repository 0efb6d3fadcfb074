import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicyText } from '../../../server/policy/load';
import { ALL_VERIFIER_TYPES, policyYaml } from './helpers';

const policy = loadPolicyText(
  policyYaml(`
    registries: [Index.Docker.io, ghcr.io, "*.pkg.dev"]
    rules:
      - name: system
        images: ["ghcr.io/acme/**"]
        namespaces: [kube-system, "team-*"]
      - name: rest
        images: ["docker.io/library/*", "*.pkg.dev/**"]
        action: deny
    verifiers:
      v: {type: cosign, publicKeys: [{file: keys/cosign.pub}]}
    breakGlass:
      enabled: true
      namespaces: ["ops-*"]
    cache:
      allowTTL: 2m
      denyTTL: 10s
    timeouts:
      review: 8s
      lookup: 1500ms
  `),
  'test',
  4,
  { implementedVerifierTypes: ALL_VERIFIER_TYPES, baseDir: '/etc/imagegate' },
);

describe('compilePolicy', () => {
  it('normalises registries', () => {
    assert.deepEqual(policy.registries, ['docker.io', 'ghcr.io', '*.pkg.dev']);
    assert.equal(policy.registryAllowed('docker.io'), true);
    assert.equal(policy.registryAllowed('eu.pkg.dev'), true);
    assert.equal(policy.registryAllowed('docker.io.evil.com'), false);
  });

  it('builds rule matchers for images and namespaces', () => {
    const [system, rest] = policy.rules;
    assert.ok(system && rest);
    assert.equal(system.matchesImage('ghcr.io/acme/x/y'), true);
    assert.equal(system.matchesImage('ghcr.io/other/x'), false);
    assert.equal(system.matchesNamespace('kube-system'), true);
    assert.equal(system.matchesNamespace('team-a'), true);
    assert.equal(system.matchesNamespace('default'), false);
    assert.equal(rest.matchesNamespace('anything'), true, 'no namespaces = all');
    assert.equal(rest.matchesImage('docker.io/library/nginx'), true);
    assert.equal(rest.matchesImage('europe-docker.pkg.dev/p/r'), true);
    assert.equal(rest.index, 1);
    assert.equal(rest.action, 'deny');
  });

  it('gives timeouts in milliseconds and TTLs in seconds', () => {
    assert.deepEqual(policy.timeouts, { reviewMs: 8000, lookupMs: 1500 });
    assert.equal(policy.cache.allowTTLSeconds, 120);
    assert.equal(policy.cache.denyTTLSeconds, 10);
  });

  it('resolves verifier key files against the policy folder', () => {
    assert.deepEqual(policy.verifiers.get('v'), {
      type: 'cosign',
      publicKeys: [{ file: '/etc/imagegate/keys/cosign.pub' }],
      annotations: {},
      matchReference: false,
    });
  });

  it('matches break-glass namespaces by glob', () => {
    assert.equal(policy.breakGlass.matchesNamespace('ops-eu'), true);
    assert.equal(policy.breakGlass.matchesNamespace('default'), false);
  });

  it('never matches break-glass namespaces when none are listed, even when enabled', () => {
    const p = loadPolicyText(policyYaml('registries: []\nrules: []\nbreakGlass: {enabled: true}\n'), 'test', 1);
    assert.equal(p.breakGlass.matchesNamespace('default'), false);
  });

  describe('the result is immutable', () => {
    it('freezes the policy, its rules, lists and settings', () => {
      assert.ok(Object.isFrozen(policy));
      assert.ok(Object.isFrozen(policy.rules));
      assert.ok(Object.isFrozen(policy.rules[0]));
      assert.ok(Object.isFrozen(policy.rules[0]?.imagePatterns));
      assert.ok(Object.isFrozen(policy.registries));
      assert.ok(Object.isFrozen(policy.cache));
      assert.ok(Object.isFrozen(policy.breakGlass.namespaces));
      assert.ok(Object.isFrozen(policy.verifiers.get('v')));
      assert.throws(() => {
        (policy as { defaultAction: string }).defaultAction = 'allow';
      }, TypeError);
    });
    it('offers no way to change the verifier map', () => {
      assert.equal((policy.verifiers as unknown as { set?: unknown }).set, undefined);
      assert.equal((policy.verifiers as unknown as { delete?: unknown }).delete, undefined);
      assert.deepEqual([...policy.verifiers.keys()], ['v']);
    });
  });
});
