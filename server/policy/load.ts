/**
 * Policy file → CompiledPolicy, or a ConfigError listing every problem (config.md: "A file that
 * fails validation is rejected whole with every problem listed (path in the document, what was
 * expected, what was found)"; style.md habit 9).
 *
 *   CONFIG_UNREADABLE  the file cannot be read (missing, a directory, too large)
 *   CONFIG_SYNTAX      not one well-formed YAML document (bad YAML, several documents,
 *                      duplicate keys, unresolved tags, invalid UTF-8)
 *   CONFIG_INVALID     YAML, but not a valid policy: every schema issue and every cross-check
 *
 * Each issue gets the `line:col` of the node it is about (config-issues.ts).
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors';
import type { CompiledPolicy, VerifierType } from './compiled-policy';
import { compilePolicy } from './compile';
import { formatPath, fromZodIssue, isRecord, nodeOffset, sortIssues } from './config-issues';
import { crossCheckPolicy, type CrossCheckInput, type CrossCheckRule, type DocumentPath, type VerifierTypeOnly } from './cross-checks';
import {
  BreakGlassSchema,
  CredentialsSchema,
  ImagePatternSchema,
  NameSchema,
  PolicySchema,
  RegistriesSchema,
  RuleSchema,
  TransportSchema,
  VerifierSchema,
  type PolicyConfig,
  type VerifierSettings,
} from './schema';

/**
 * Largest policy file read: 1 MiB, the size limit of the ConfigMap it is usually mounted from
 * (Kubernetes caps ConfigMap data at 1 MiB).
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** YAML aliases expanded at most this many times (yaml's default; stops "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

export interface LoadOptions {
  /** Folder relative file paths in the policy are resolved against (loadPolicyFile sets it). */
  readonly baseDir?: string | undefined;
  /** Verifier types this build can run; defaults to IMPLEMENTED_VERIFIER_TYPES. */
  readonly implementedVerifierTypes?: ReadonlySet<VerifierType>;
}

/** Reads, validates and compiles a policy file. Throws ConfigError. */
export function loadPolicyFile(path: string, generation: number, options: LoadOptions = {}): CompiledPolicy {
  const absolute = resolve(path);
  let bytes: Buffer;
  try {
    const size = statSync(absolute).size;
    if (size > MAX_POLICY_BYTES) {
      throw new ConfigError('CONFIG_UNREADABLE', [
        { path: '', message: `policy file ${path} is too large`, expected: `at most ${MAX_POLICY_BYTES} bytes (the ConfigMap limit)`, found: `${size} bytes` },
      ]);
    }
    bytes = readFileSync(absolute);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError('CONFIG_UNREADABLE', [{ path: '', message: `cannot read policy file ${path}`, found: code }], err);
  }
  if (bytes.length > MAX_POLICY_BYTES) {
    throw new ConfigError('CONFIG_UNREADABLE', [
      { path: '', message: `policy file ${path} is too large`, expected: `at most ${MAX_POLICY_BYTES} bytes`, found: `${bytes.length} bytes` },
    ]);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new ConfigError('CONFIG_SYNTAX', [{ path: '', message: 'the policy file is not valid UTF-8', expected: 'UTF-8 text' }], err);
  }
  return loadPolicyText(text, path, generation, { ...options, baseDir: options.baseDir ?? dirname(absolute) });
}

/** Validates and compiles policy YAML text; `source` labels it (a path, `embedded:...`). Throws ConfigError. */
export function loadPolicyText(text: string, source: string, generation: number, options: LoadOptions = {}): CompiledPolicy {
  const config = validatePolicyText(text, options);
  return compilePolicy(config, source, generation, { baseDir: options.baseDir });
}

/** Parses and validates policy YAML without compiling it. Throws ConfigError. */
export function validatePolicyText(text: string, options: LoadOptions = {}): PolicyConfig {
  if (text.length > MAX_POLICY_BYTES) {
    throw new ConfigError('CONFIG_UNREADABLE', [
      { path: '', message: 'the policy is too large', expected: `at most ${MAX_POLICY_BYTES} bytes`, found: `${text.length} characters` },
    ]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const at = (offset: number | undefined): string | undefined => {
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return `${line}:${col}`;
  };

  // YAML problems: the yaml parser's errors and warnings (duplicate keys, several documents,
  // unresolved tags) all refuse the file.
  const syntax: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => ({
    path: '',
    position: at(e.pos[0]),
    message: `${e.message} (${e.code})`,
  }));
  if (syntax.length > 0) throw new ConfigError('CONFIG_SYNTAX', sortIssues(syntax));

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new ConfigError('CONFIG_SYNTAX', [{ path: '', message: `cannot read the YAML document: ${(err as Error).message}` }], err);
  }

  const locate = (path: DocumentPath, key: boolean): string | undefined => at(nodeOffset(doc, path, key));
  const parsed = PolicySchema.safeParse(data, { reportInput: true });
  const issues: ConfigIssue[] = parsed.success ? [] : parsed.error.issues.flatMap((i) => fromZodIssue(i, data, locate));

  const crossInput = parsed.success ? crossInputOf(parsed.data) : salvage(data);
  for (const c of crossCheckPolicy(crossInput, { baseDir: options.baseDir, implementedVerifierTypes: options.implementedVerifierTypes })) {
    issues.push({
      path: formatPath(c.path),
      position: locate(c.path, false),
      message: c.message,
      ...(c.expected !== undefined ? { expected: c.expected } : {}),
      ...(c.found !== undefined ? { found: c.found } : {}),
    });
  }
  if (!parsed.success || issues.length > 0) throw new ConfigError('CONFIG_INVALID', sortIssues(issues));
  return parsed.data;
}

function crossInputOf(config: PolicyConfig): CrossCheckInput {
  return {
    registries: config.registries,
    rules: config.rules,
    verifiers: new Map(Object.entries(config.verifiers)),
    transport: config.transport,
    credentials: config.credentials,
    breakGlass: config.breakGlass,
  };
}

/**
 * The parts of an invalid document that do validate, so cross-checks still run on them and one
 * load lists every problem. A section the schema rejected is left out (its checks are skipped).
 */
function salvage(data: unknown): CrossCheckInput {
  const root = isRecord(data) ? data : {};
  const rules = Array.isArray(root.rules) ? root.rules.map(salvageRule) : [];
  const verifiers = new Map(
    isRecord(root.verifiers) ? Object.entries(root.verifiers).map(([name, v]) => [name, salvageVerifier(v)] as const) : [],
  );
  return {
    registries: RegistriesSchema.safeParse(root.registries).data,
    rules,
    verifiers,
    transport: TransportSchema.safeParse(root.transport).data,
    credentials: CredentialsSchema.safeParse(root.credentials).data,
    breakGlass: BreakGlassSchema.safeParse(root.breakGlass).data,
  };
}

/** Each field of a rule on its own (defaults apply), each list entry on its own. */
function salvageRule(raw: unknown): CrossCheckRule | undefined {
  const whole = RuleSchema.safeParse(raw);
  if (whole.success) return whole.data;
  if (!isRecord(raw)) return undefined;
  const shape = RuleSchema.shape;
  const each = <T>(v: unknown, item: { safeParse(x: unknown): { data?: T } }, absent: unknown[]): Array<T | undefined> =>
    (Array.isArray(v) ? v : v === undefined ? absent : []).map((x) => item.safeParse(x).data);
  return {
    name: shape.name.safeParse(raw.name).data,
    images: each(raw.images, ImagePatternSchema, []),
    verify: each(raw.verify, NameSchema, []),
    resolveTags: shape.resolveTags.safeParse(raw.resolveTags).data,
    requireDigest: shape.requireDigest.safeParse(raw.requireDigest).data,
  };
}

/** The whole verifier, or at least its type when that is a known one. */
function salvageVerifier(raw: unknown): VerifierSettings | VerifierTypeOnly | undefined {
  const whole = VerifierSchema.safeParse(raw);
  if (whole.success) return whole.data;
  const type = isRecord(raw) ? raw.type : undefined;
  return type === 'cosign' || type === 'notaryv1' || type === 'notation' ? { type, incomplete: true } : undefined;
}
