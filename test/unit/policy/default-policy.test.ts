import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { VerifierType } from '../../../server/policy/compiled-policy';
import { loadPolicyFile } from '../../../server/policy/load';
import { findShadowedRules } from '../../../server/policy/shadowed-rules';

// dist/test/unit/policy → the repository root.
const DEFAULT_POLICY = join(__dirname, '..', '..', '..', '..', 'config', 'default.yaml');

function firstRule(policy: ReturnType<typeof loadPolicyFile>, repository: string, namespace: string) {
  return policy.rules.find((r) => r.matchesImage(repository) && r.matchesNamespace(namespace));
}

describe('config/default.yaml', () => {
  it('exists where the package ships it', () => {
    assert.ok(existsSync(DEFAULT_POLICY), DEFAULT_POLICY);
  });

  // No verifier type is needed: the default must load whatever this build implements.
  const policy = loadPolicyFile(DEFAULT_POLICY, 1, { implementedVerifierTypes: new Set<VerifierType>() });

  it('denies by default and fails closed', () => {
    assert.equal(policy.defaultAction, 'deny');
    assert.equal(policy.failurePolicy, 'closed');
    assert.equal(policy.verifiers.size, 0);
    assert.equal(policy.breakGlass.enabled, false);
  });

  it('allowlists docker.io, registry.k8s.io, ghcr.io, quay.io and *.pkg.dev', () => {
    assert.deepEqual(policy.registries, ['docker.io', 'registry.k8s.io', 'ghcr.io', 'quay.io', '*.pkg.dev']);
    assert.equal(policy.registryAllowed('europe-docker.pkg.dev'), true);
    assert.equal(policy.registryAllowed('docker.io.evil.com'), false);
    assert.equal(policy.registryAllowed('gcr.io'), false);
  });

  it('sends registry.k8s.io images in kube-system to kube-system-core, tags allowed, latest not', () => {
    const rule = firstRule(policy, 'registry.k8s.io/kube-proxy', 'kube-system');
    assert.equal(rule?.name, 'kube-system-core');
    assert.equal(rule?.requireDigest, false);
    assert.equal(rule?.allowLatest, false);
  });

  it('allows tagged images from every allowlisted registry elsewhere, but not latest', () => {
    for (const repository of ['docker.io/library/nginx', 'registry.k8s.io/pause', 'ghcr.io/a/b', 'quay.io/x/y', 'us-docker.pkg.dev/p/r/i']) {
      const rule = firstRule(policy, repository, 'default');
      assert.equal(rule?.name, 'allowlisted-tagged', repository);
      assert.equal(rule?.action, 'allow');
      assert.equal(rule?.requireDigest, false);
      assert.equal(rule?.allowLatest, false);
    }
  });

  it('has no rule that can never match', () => {
    assert.deepEqual(findShadowedRules(policy), []);
  });
});
