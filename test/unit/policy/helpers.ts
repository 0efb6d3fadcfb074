/** Shared helpers for the policy unit tests (not a test file itself). */
import assert from 'node:assert/strict';
import { ConfigError, type ConfigErrorCode } from '../../../server/errors';
import type { VerifierType } from '../../../server/policy/compiled-policy';

/** Every verifier type, for tests that exercise verifier configs independently of what is built. */
export const ALL_VERIFIER_TYPES: ReadonlySet<VerifierType> = new Set<VerifierType>(['cosign', 'notaryv1', 'notation']);

/** Removes the common leading indentation so YAML can be written indented inside tests. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indents = lines.filter((l) => l.trim().length > 0).map((l) => l.length - l.trimStart().length);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join('\n');
}

/** A policy document: the header plus `body` (YAML, may be indented). */
export function policyYaml(body: string): string {
  return `apiVersion: imagegate/v1\nkind: Policy\n${dedent(body)}`;
}

/** The smallest valid policy, plus `extra` top-level YAML. */
export function minimalPolicy(extra = ''): string {
  return policyYaml(`registries: [docker.io]\nrules: []\n${dedent(extra)}`);
}

/** Runs `fn`, asserts it throws a ConfigError with `code`, and returns it. */
export function expectConfigError(fn: () => unknown, code: ConfigErrorCode): ConfigError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof ConfigError, `expected a ConfigError, got ${String(thrown)}`);
  assert.equal(thrown.code, code, thrown.message);
  return thrown;
}

/** The paths of an error's issues, in order. */
export function issuePaths(err: ConfigError): string[] {
  return err.issues.map((i) => i.path);
}

/** The one issue at `path` (fails when there is none). */
export function issueAt(err: ConfigError, path: string) {
  const issue = err.issues.find((i) => i.path === path);
  assert.ok(issue, `no issue at ${path}; issues:\n${err.message}`);
  return issue;
}
