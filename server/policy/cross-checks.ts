/**
 * Rules that relate several fields of the policy file (config.md), run after the schema.
 * Single-field checks (pattern syntax, registry entries, durations, the break-glass annotation
 * key, lookup ≤ review) are in schema.ts so one pass lists them all.
 *
 * The input may be partial: when the schema rejected a section, load.ts passes what did validate
 * (a rule that failed is `undefined`, a section that failed is `undefined`) so that one run still
 * lists every problem. A check that needs a missing section is skipped rather than guessed.
 *
 * Choices where config.md is open:
 *   - A verifier whose type this build does not implement is an error wherever it is *defined*,
 *     used or not: compile builds every verifier once, and a configured verifier that cannot run
 *     must never look as if it passed (IMPLEMENTED_VERIFIER_TYPES, verifier-support.ts).
 *   - A relative file path is resolved against the policy file's folder (as kubeconfig does);
 *     when the policy has no folder (text from flags or an embedded default) it is an error.
 */
import { isAbsolute } from 'node:path';
import type { VerifierType } from './compiled-policy';
import { parseImagePattern } from './image-pattern';
import { compileRegistryAllowlist } from './registry-allowlist';
import type { BreakGlassConfig, CredentialsConfig, TransportConfig, VerifierSettings } from './schema';
import { IMPLEMENTED_VERIFIER_TYPES } from './verifier-support';

/** A path in the document: keys and list indexes, e.g. ['rules', 2, 'images', 0]. */
export type DocumentPath = ReadonlyArray<string | number>;

/** A problem found by a cross-check; load.ts adds the YAML position. */
export interface CrossCheckIssue {
  readonly path: DocumentPath;
  readonly message: string;
  readonly expected?: string;
  readonly found?: string;
}

/**
 * A rule as far as it validated: a field (or list entry) the schema rejected is `undefined`.
 * A fully valid RuleConfig is one of these.
 */
export interface CrossCheckRule {
  readonly name: string | undefined;
  readonly images: ReadonlyArray<string | undefined>;
  readonly verify: ReadonlyArray<string | undefined>;
  readonly resolveTags: boolean | undefined;
  readonly requireDigest: boolean | undefined;
}

/** A verifier whose body did not validate but whose `type` did. */
export interface VerifierTypeOnly {
  readonly type: VerifierType;
  readonly incomplete: true;
}

/** The validated parts of a policy; `undefined` marks what the schema rejected. */
export interface CrossCheckInput {
  readonly registries: readonly string[] | undefined;
  readonly rules: ReadonlyArray<CrossCheckRule | undefined>;
  /** Every verifier name written in the file, with its config (or just its type) when that validated. */
  readonly verifiers: ReadonlyMap<string, VerifierSettings | VerifierTypeOnly | undefined>;
  readonly transport: TransportConfig | undefined;
  readonly credentials: CredentialsConfig | undefined;
  readonly breakGlass: BreakGlassConfig | undefined;
}

export interface CrossCheckOptions {
  /** Verifier types this build can run; defaults to IMPLEMENTED_VERIFIER_TYPES. */
  readonly implementedVerifierTypes?: ReadonlySet<VerifierType>;
  /** The policy file's folder; relative file paths are errors without it. */
  readonly baseDir?: string | undefined;
}

/** Runs every cross-field check and returns all problems (empty when the policy is coherent). */
export function crossCheckPolicy(input: CrossCheckInput, options: CrossCheckOptions = {}): CrossCheckIssue[] {
  return [
    ...checkRuleNamesUnique(input),
    ...checkVerifyNamesExist(input),
    ...checkResolveTagsWithoutDigest(input),
    ...checkPatternHostsCovered(input),
    ...checkPlainHttpListed(input),
    ...checkVerifierTypesImplemented(input, options.implementedVerifierTypes ?? IMPLEMENTED_VERIFIER_TYPES),
    ...checkFilePaths(input, options.baseDir),
  ];
}

/** Rule names appear in reasons, logs and metrics: each must name one rule (config.md). */
function checkRuleNamesUnique(input: CrossCheckInput): CrossCheckIssue[] {
  const issues: CrossCheckIssue[] = [];
  const firstIndex = new Map<string, number>();
  input.rules.forEach((rule, i) => {
    if (rule?.name === undefined) return;
    const earlier = firstIndex.get(rule.name);
    if (earlier === undefined) {
      firstIndex.set(rule.name, i);
    } else {
      issues.push({
        path: ['rules', i, 'name'],
        message: 'duplicate rule name',
        expected: `a name not already used by rules[${earlier}]`,
        found: JSON.stringify(rule.name),
      });
    }
  });
  return issues;
}

/** Every name in `verify` must be a key of `verifiers`: a typo must not skip a verification. */
function checkVerifyNamesExist(input: CrossCheckInput): CrossCheckIssue[] {
  const issues: CrossCheckIssue[] = [];
  const known = [...input.verifiers.keys()];
  input.rules.forEach((rule, i) => {
    rule?.verify.forEach((name, k) => {
      if (name !== undefined && !input.verifiers.has(name)) {
        issues.push({
          path: ['rules', i, 'verify', k],
          message: 'no verifier with this name',
          expected: known.length > 0 ? `one of the verifiers: ${known.join(', ')}` : 'a verifier defined under `verifiers`',
          found: JSON.stringify(name),
        });
      }
    });
  });
  return issues;
}

/** `resolveTags: true` means tags are accepted and resolved, so requireDigest must be false (config.md). */
function checkResolveTagsWithoutDigest(input: CrossCheckInput): CrossCheckIssue[] {
  const issues: CrossCheckIssue[] = [];
  input.rules.forEach((rule, i) => {
    if (rule?.resolveTags && rule.requireDigest) {
      issues.push({
        path: ['rules', i, 'resolveTags'],
        message: 'resolveTags needs requireDigest: false (requireDigest defaults to true)',
        expected: 'requireDigest: false when resolveTags is true',
        found: 'requireDigest: true',
      });
    }
  });
  return issues;
}

/** A pattern's host must be covered by `registries`; `**` alone is exempt (config.md "Patterns"). */
function checkPatternHostsCovered(input: CrossCheckInput): CrossCheckIssue[] {
  if (input.registries === undefined) return [];
  const allowlist = compileRegistryAllowlist(input.registries);
  const issues: CrossCheckIssue[] = [];
  input.rules.forEach((rule, i) => {
    rule?.images.forEach((text, k) => {
      if (text === undefined) return;
      const parsed = parseImagePattern(text);
      if (!parsed.ok || parsed.value.matchAll) return;
      if (!allowlist.coversHostPattern(parsed.value.host)) {
        issues.push({
          path: ['rules', i, 'images', k],
          message: 'the pattern names a registry that `registries` does not allow',
          expected: `a host covered by registries (${input.registries?.join(', ') || 'none listed'})`,
          found: parsed.value.host,
        });
      }
    });
  });
  return issues;
}

/** plainHTTP entries must each be listed in `registries` as they are (not through a wildcard). */
function checkPlainHttpListed(input: CrossCheckInput): CrossCheckIssue[] {
  if (input.registries === undefined || input.transport === undefined) return [];
  const listed = new Set(input.registries);
  const issues: CrossCheckIssue[] = [];
  input.transport.plainHTTP.forEach((host, k) => {
    if (!listed.has(host)) {
      issues.push({
        path: ['transport', 'plainHTTP', k],
        message: 'a plain-HTTP registry must also be listed, exactly, in `registries`',
        expected: 'an exact entry of registries',
        found: host,
      });
    }
  });
  return issues;
}

/** A verifier type this build cannot run is refused, never silently passed. */
function checkVerifierTypesImplemented(input: CrossCheckInput, implemented: ReadonlySet<VerifierType>): CrossCheckIssue[] {
  const issues: CrossCheckIssue[] = [];
  for (const [name, verifier] of input.verifiers) {
    if (verifier && !implemented.has(verifier.type)) {
      issues.push({
        path: ['verifiers', name, 'type'],
        message: `verifier type ${verifier.type} is not supported by this build`,
        expected: implemented.size > 0 ? `one of: ${[...implemented].join(', ')}` : 'a verifier type this build implements (none yet)',
        found: verifier.type,
      });
    }
  }
  return issues;
}

/** Every file path in the policy, with where it sits. */
export function collectFilePaths(input: Omit<CrossCheckInput, 'registries' | 'rules' | 'breakGlass'>): Array<{ path: DocumentPath; file: string }> {
  const out: Array<{ path: DocumentPath; file: string }> = [];
  const sources = (name: string, key: string, list: ReadonlyArray<{ file: string } | { pem: string } | { keyID: string }>) =>
    list.forEach((s, k) => {
      if ('file' in s) out.push({ path: ['verifiers', name, key, k, 'file'], file: s.file });
    });
  for (const [name, v] of input.verifiers) {
    if (!v || 'incomplete' in v) continue;
    switch (v.type) {
      case 'cosign':
        sources(name, 'publicKeys', v.publicKeys);
        break;
      case 'notaryv1':
        sources(name, 'rootKeys', v.rootKeys);
        break;
      case 'notation':
        sources(name, 'trustStore', v.trustStore);
        sources(name, 'tsaTrustStore', v.tsaTrustStore ?? []);
        break;
    }
  }
  input.transport?.caFiles.forEach((file, k) => out.push({ path: ['transport', 'caFiles', k], file }));
  if (input.credentials) out.push({ path: ['credentials', 'file'], file: input.credentials.file });
  return out;
}

/** Relative paths need the policy file's folder to resolve against. */
function checkFilePaths(input: CrossCheckInput, baseDir: string | undefined): CrossCheckIssue[] {
  if (baseDir !== undefined) return [];
  return collectFilePaths(input)
    .filter((p) => !isAbsolute(p.file))
    .map((p) => ({
      path: p.path,
      message: 'a relative path needs a policy file to resolve against; this policy has none',
      expected: 'an absolute path',
      found: p.file,
    }));
}
