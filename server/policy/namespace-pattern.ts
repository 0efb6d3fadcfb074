/**
 * Namespace globs (config.md "Semantics: Patterns": "Namespace globs use `*` only"), used by
 * `rules[].namespaces` and `breakGlass.namespaces`. A glob matches the whole namespace name;
 * `*` matches any run of characters (a namespace has no separators). No regex from user text.
 */
import type { ParseResult } from './parse-result';
import { compileStarGlob, starGlobCovers } from './star-glob';

/** A namespace is a DNS-1123 label (Kubernetes object names): at most 63 characters. */
const NAMESPACE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const GLOB_ALPHABET = /^[a-z0-9*-]{1,63}$/;
const EXPECTED = 'a namespace name or a glob with `*` (lowercase letters, digits, "-")';

/** Validates one namespace glob. */
export function parseNamespacePattern(text: string): ParseResult<string> {
  if (!GLOB_ALPHABET.test(text)) return { ok: false, message: 'not a namespace name or glob', expected: EXPECTED };
  if (!text.includes('*') && !NAMESPACE.test(text)) {
    return { ok: false, message: 'not a valid namespace name (DNS-1123 label)', expected: EXPECTED };
  }
  return { ok: true, value: text };
}

/** A set of globs compiled once; `matches` is true when any glob matches the whole namespace. */
export interface NamespaceMatcher {
  readonly patterns: readonly string[];
  matches(namespace: string): boolean;
}

/** Compiles globs; an empty list matches nothing (callers decide what "absent" means). */
export function compileNamespacePatterns(patterns: readonly string[]): NamespaceMatcher {
  const globs = patterns.map((p) => compileStarGlob(p));
  return Object.freeze({
    patterns: Object.freeze([...patterns]),
    matches: (namespace: string) => globs.some((g) => g.matches(namespace)),
  });
}

/** Convenience: does one glob match the namespace? */
export function matchesNamespacePattern(pattern: string, namespace: string): boolean {
  return compileStarGlob(pattern).matches(namespace);
}

/**
 * True when every namespace `narrow` allows is also allowed by `wide` (undefined = all
 * namespaces). Conservative: false when coverage cannot be shown.
 */
export function namespacePatternsCover(wide: readonly string[] | undefined, narrow: readonly string[] | undefined): boolean {
  if (wide === undefined) return true;
  const narrowList = narrow ?? ['*'];
  return narrowList.every((n) => wide.some((w) => starGlobCovers(w, n)));
}
