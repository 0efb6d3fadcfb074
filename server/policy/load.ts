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
 * Each issue gets the `line:col` of the node it is about, taken from the YAML node ranges.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors';
import type { CompiledPolicy, VerifierType } from './compiled-policy';
import { compilePolicy } from './compile';
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
  return loadPolicyText(text, path, generation, { baseDir: dirname(absolute), ...options });
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

// ---------------------------------------------------------------------------------------------
// zod issues → ConfigIssue

type ZodIssue = z.core.$ZodIssue;

function fromZodIssue(issue: ZodIssue, data: unknown, locate: (p: DocumentPath, key: boolean) => string | undefined): ConfigIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const input = 'input' in issue ? issue.input : valueAt(data, path);
  const base = (p: DocumentPath, key: boolean, rest: Omit<ConfigIssue, 'path' | 'position'>): ConfigIssue => ({
    path: formatPath(p),
    position: locate(p, key),
    ...rest,
  });

  switch (issue.code) {
    case 'unrecognized_keys':
      // One issue per unknown key, positioned on the key itself.
      return issue.keys.map((k) =>
        base([...path, k], true, {
          message: `unknown key ${JSON.stringify(k)}`,
          expected: 'only the keys the policy format defines (config.md)',
          found: JSON.stringify(k),
        }),
      );
    case 'invalid_type':
      return [
        base(path, false, {
          message: input === undefined ? 'required key is missing' : 'wrong type',
          expected: describeType(issue.expected),
          found: describeValue(input),
        }),
      ];
    case 'invalid_value':
      return [
        base(path, false, {
          message: 'not an allowed value',
          expected: issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
          found: describeValue(input),
        }),
      ];
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator !== undefined) {
        const options = (issue as { options?: unknown[] }).options ?? [];
        const at = path[path.length - 1] === issue.discriminator ? path : [...path, issue.discriminator];
        return [
          base(at, false, {
            message: `unknown ${issue.discriminator}`,
            expected: `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`,
            found: describeValue(valueAt(data, at)),
          }),
        ];
      }
      return [base(path, false, { message: issue.message, found: describeValue(input) })];
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      const params = inner && inner.code === 'custom' ? (inner.params as Record<string, unknown> | undefined) : undefined;
      return [
        base(path, true, {
          message: `invalid name${inner ? `: ${inner.message}` : ''}`,
          ...(typeof params?.expected === 'string' ? { expected: params.expected } : {}),
          found: JSON.stringify(path[path.length - 1]),
        }),
      ];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const word = issue.code === 'too_small' ? 'at least' : 'at most';
      const expected =
        issue.origin === 'array'
          ? `${word} ${String(bound)} entr${bound === 1 ? 'y' : 'ies'}`
          : issue.origin === 'string'
            ? `${word} ${String(bound)} characters`
            : `${issue.inclusive === false ? (issue.code === 'too_small' ? 'more than' : 'less than') : word} ${String(bound)}`;
      return [base(path, false, { message: issue.code === 'too_small' ? 'too small' : 'too large', expected, found: describeValue(input) })];
    }
    case 'custom': {
      const params = (issue.params ?? {}) as Record<string, unknown>;
      return [
        base(path, false, {
          message: issue.message,
          ...(typeof params.expected === 'string' ? { expected: params.expected } : {}),
          found: typeof params.found === 'string' ? params.found : describeValue(input),
        }),
      ];
    }
    default:
      return [base(path, false, { message: issue.message, found: describeValue(input) })];
  }
}

function describeType(t: string): string {
  switch (t) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    default:
      return t;
  }
}

/** A short, safe rendering of a value for `found` (inline PEM and long strings are cut). */
function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  return String(v);
}

function valueAt(data: unknown, path: DocumentPath): unknown {
  let v = data;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isRecord(v)) v = v[String(seg)];
    else return undefined;
  }
  return v;
}

/** `rules[2].images[0]`, `verifiers.acme-cosign.type`, `annotations["a.b/c"]`. */
export function formatPath(path: DocumentPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Positions

/**
 * The source offset of the node at `path` (of its key when `key`), or of the deepest node that
 * exists on the way (a missing key points at the mapping that lacks it).
 */
function nodeOffset(doc: Document, path: DocumentPath, key: boolean): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return offset;
      const last = i === path.length - 1;
      if (last && key) return rangeStart(pair.key) ?? offset;
      node = pair.value;
      // An empty value (`key:`) has no useful range: point at the key.
      offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) return offset;
      offset = rangeStart(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}

/** Document order, so `config validate` reads top to bottom; issues without a position first. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const key = (i: ConfigIssue): [number, number] => {
    const [l, c] = (i.position ?? '0:0').split(':').map(Number);
    return [l ?? 0, c ?? 0];
  };
  return issues
    .map((issue, n) => ({ issue, n, k: key(issue) }))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.n - b.n)
    .map((x) => x.issue);
}
