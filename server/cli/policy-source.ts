import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../errors';
import type { CompiledPolicy } from '../policy/compiled-policy';
import { loadPolicyFile, loadPolicyText } from '../policy/load';
import { checkVerifierMaterial } from '../verify/verifier-material';

/**
 * Where a policy comes from: a file, the embedded default (config/default.yaml, shipped in the
 * package), or kube-image-bouncer's --registry-whitelist.
 */
export const DEFAULT_POLICY_PATH = join(__dirname, '..', '..', '..', 'config', 'default.yaml');
export const DEFAULT_POLICY_SOURCE = 'embedded:config/default.yaml';

export type PolicyOrigin =
  | { kind: 'file'; path: string }
  | { kind: 'default' }
  | { kind: 'bouncer'; whitelist: readonly string[] };

/** The YAML text and source label of an origin (files are read each time: reload re-reads). */
export function policyText(origin: PolicyOrigin): { text: string; source: string } {
  switch (origin.kind) {
    case 'file':
      return { text: readFileSync(origin.path, 'utf8'), source: origin.path };
    case 'default':
      return { text: readFileSync(DEFAULT_POLICY_PATH, 'utf8'), source: DEFAULT_POLICY_SOURCE };
    case 'bouncer':
      return { text: bouncerPolicyText(origin.whitelist), source: 'flags:--registry-whitelist' };
  }
}

/**
 * kube-image-bouncer's behaviour as a policy (interfaces.md "Command line"): registries = the
 * whitelist, one rule for all images that denies `:latest` and untagged references, digests not
 * required. It goes through the same validation as any file, so a bad entry is a clear error.
 */
export function bouncerPolicyText(whitelist: readonly string[]): string {
  return stringify({
    apiVersion: 'imagegate/v1',
    kind: 'Policy',
    registries: [...whitelist],
    defaultAction: 'deny',
    failurePolicy: 'closed',
    rules: [
      {
        name: 'kube-image-bouncer',
        images: ['**'],
        action: 'allow',
        requireDigest: false,
        allowLatest: false,
      },
    ],
  });
}

/**
 * Reads, validates and compiles the policy of `origin`. Throws ConfigError. Files go through
 * loadPolicyFile, which resolves relative key paths against the file's folder and applies the
 * size and encoding checks.
 */
export function loadPolicy(origin: PolicyOrigin, generation: number): CompiledPolicy {
  if (origin.kind === 'file') return loadPolicyFile(origin.path, generation);
  let text: string;
  let source: string;
  try {
    ({ text, source } = policyText(origin));
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', [{ path: '', message: `cannot read ${DEFAULT_POLICY_PATH}: ${(err as Error).message}` }], err);
  }
  return loadPolicyText(text, source, generation);
}

/**
 * The policy `serve` runs: loadPolicy, then every verifier's keys and certificates read as the
 * verifiers read them (verify/verifier-material.ts, what `config validate` reports). A policy
 * whose material is bad is refused like any invalid policy: exit 2 at start, the last good
 * policy kept on a reload. Otherwise the rules using that verifier would deny every image they
 * match until someone read the log (an outage found late); certificates merely outside their
 * validity are left to `config validate`'s warnings.
 */
export function loadServedPolicy(origin: PolicyOrigin, generation: number, now: () => Date = () => new Date()): CompiledPolicy {
  const policy = loadPolicy(origin, generation);
  const material = checkVerifierMaterial(policy, now());
  if (material.errors.length > 0) throw new ConfigError('CONFIG_INVALID', material.errors);
  return policy;
}
