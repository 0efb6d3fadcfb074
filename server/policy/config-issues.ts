/**
 * Turning problems into ConfigIssues (style.md habit 9: "path, expected, found"): zod issues
 * become one issue per problem with a readable `expected` and `found`, document paths are
 * written `rules[2].images[0]`, and each issue gets the `line:col` of its YAML node.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { ConfigIssue } from '../errors';
import type { DocumentPath } from './cross-checks';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type ZodIssue = z.core.$ZodIssue;

/** One zod issue → ConfigIssues (an unknown-keys issue becomes one per key). */
export function fromZodIssue(issue: ZodIssue, data: unknown, locate: (p: DocumentPath, key: boolean) => string | undefined): ConfigIssue[] {
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
export function nodeOffset(doc: Document, path: DocumentPath, key: boolean): number | undefined {
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
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const key = (i: ConfigIssue): [number, number] => {
    const [l, c] = (i.position ?? '0:0').split(':').map(Number);
    return [l ?? 0, c ?? 0];
  };
  return issues
    .map((issue, n) => ({ issue, n, k: key(issue) }))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.n - b.n)
    .map((x) => x.issue);
}
