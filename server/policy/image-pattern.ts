/**
 * Image patterns (config.md "Semantics: Patterns"): they match the normalised repository
 * `host[:port]/path`, never the tag or digest. The pattern is split on `/` and compared
 * component by component (style.md anti-pattern 1: policy-controller's glob-to-regex let `ghc**`
 * match `ghcr.io.evil.com/x`):
 *
 *   - `**` alone matches every image.
 *   - The first component is the registry host and is never a glob: either a literal
 *     `host[:port]` (normalised like `registries`: `index.docker.io` → `docker.io`) or `*.domain`
 *     with the `registries` meaning (one or more whole labels in front of the domain). A first
 *     component of `*`, `**` or `ghc*` is a configuration error: a `*` inside the host would match
 *     within one component, and `ghcr.io.evil.com` is one component.
 *   - In the path, `**` as a whole component matches zero or more whole components, so
 *     `ghcr.io/acme/**` matches `ghcr.io/acme/x/y` and also the repository `ghcr.io/acme` itself.
 *     `**` inside a component (`a**`) is an error.
 *   - `*` inside a path component matches any run of characters within that component.
 *   - Everything else is literal, lowercase, in the distribution grammar's path alphabet.
 *
 * A pattern is parsed and validated once at load; matching runs on the compiled segments.
 */
import type { ParseResult } from './parse-result';
import { compileRegistryAllowlist, parseRegistryEntry, parseRegistryHost } from './registry-allowlist';
import { compileStarGlob, starGlobCovers, type StarGlob } from './star-glob';

/** Longest pattern accepted; the distribution spec caps a repository name at 255 characters. */
export const MAX_IMAGE_PATTERN_LENGTH = 512;

/** A path component in the distribution grammar (`path-component`). */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** Characters a path component glob may contain: the grammar's alphabet plus `*`. */
const PATH_GLOB_ALPHABET = /^[a-z0-9._*-]+$/;

/** A validated, normalised pattern. */
export interface ImagePattern {
  /** The normalised text (what `rules[].images` holds after load). */
  readonly text: string;
  /** True for the pattern `**` alone. */
  readonly matchAll: boolean;
  /** `host[:port]` or `*.domain[:port]`; empty for `**`. */
  readonly host: string;
  /** Path components: `**`, globs with `*`, or literals. */
  readonly path: readonly string[];
}

const EXPECTED = 'host[:port]/path with `*` inside a path component and `**` as a whole path component, e.g. ghcr.io/acme/** or docker.io/library/*';

function fail(message: string, expected = EXPECTED): ParseResult<ImagePattern> {
  return { ok: false, message, expected };
}

/** Validates and normalises one `images` pattern. */
export function parseImagePattern(text: string): ParseResult<ImagePattern> {
  if (text.length === 0) return fail('empty pattern');
  if (text.length > MAX_IMAGE_PATTERN_LENGTH) return fail(`longer than ${MAX_IMAGE_PATTERN_LENGTH} characters`);
  if (text === '**') return { ok: true, value: Object.freeze({ text, matchAll: true, host: '', path: Object.freeze([]) }) };
  if (text !== text.toLowerCase()) return fail('patterns are lowercase (repository names are)', text.toLowerCase());
  const components = text.split('/');
  const first = components[0] ?? '';
  const rest = components.slice(1);

  let host: string;
  if (first.includes('*')) {
    if (first === '*' || first === '**') {
      return fail('a pattern starts with a registry host; use `**` alone to match every image');
    }
    const wildcard = parseRegistryEntry(first);
    if (!wildcard.ok || wildcard.value.kind !== 'wildcard') {
      return fail('a wildcard in the registry host is only allowed as a leading "*." label (ghc* would also match ghcr.io.evil.com)');
    }
    host = wildcard.value.text;
  } else {
    // The distribution grammar: a first component is a host only with a `.` or `:`, or localhost.
    if (!(first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
      return fail('a pattern starts with the registry host (docker.io/library/nginx, not nginx or library/nginx)');
    }
    const parsed = parseRegistryHost(first);
    if (!parsed.ok) return fail(`registry host: ${parsed.message}`, parsed.expected);
    host = parsed.value;
  }

  if (rest.length === 0) return fail('a pattern needs a repository path after the host; use host/** for all of it', `${first}/**`);
  const path: string[] = [];
  for (const component of rest) {
    if (component === '**') {
      if (path[path.length - 1] !== '**') path.push(component); // `**/**` is one `**`
      continue;
    }
    if (component.length === 0) return fail('empty path component (a doubled or trailing "/")');
    if (component.includes('**')) return fail('`**` is only allowed as a whole path component');
    if (/[:@]/.test(component)) return fail('patterns match the repository, never a tag or digest');
    if (!PATH_GLOB_ALPHABET.test(component)) return fail(`path component ${JSON.stringify(component)} has characters a repository name cannot contain`);
    if (!component.includes('*') && !PATH_COMPONENT.test(component)) {
      return fail(`path component ${JSON.stringify(component)} is not a valid repository path component`);
    }
    path.push(component);
  }

  // docker.io paths always have two or more components after normalisation (library/ is added),
  // so docker.io/nginx or docker.io/* could never match anything.
  if (host === 'docker.io' && path.length === 1 && path[0] !== '**') {
    return fail('docker.io repositories have at least two path components (official images are docker.io/library/<name>)', `docker.io/library/${path[0] ?? ''}`);
  }

  const normalized = [host, ...path].join('/');
  return { ok: true, value: Object.freeze({ text: normalized, matchAll: false, host, path: Object.freeze(path) }) };
}

/** A pattern compiled for the review path. */
export interface CompiledImagePattern {
  readonly pattern: ImagePattern;
  /** True when the normalised repository `host[:port]/path` matches. */
  matches(repository: string): boolean;
}

type Segment = { readonly kind: 'any' } | { readonly kind: 'one'; readonly glob: StarGlob };

/** Matches components against segments; `any` (`**`) takes zero or more components. */
function matchSegments(segments: readonly Segment[], components: readonly string[], from: number): boolean {
  // Two-pointer wildcard matching with one backtrack point (O(n·m) worst case).
  let s = 0;
  let c = from;
  let starS = -1;
  let starC = 0;
  while (c < components.length) {
    const seg = segments[s];
    if (seg && seg.kind === 'one' && seg.glob.matches(components[c] ?? '')) {
      s++;
      c++;
    } else if (seg && seg.kind === 'any') {
      starS = s;
      starC = c;
      s++;
    } else if (starS >= 0) {
      s = starS + 1;
      starC++;
      c = starC;
    } else {
      return false;
    }
  }
  while (segments[s]?.kind === 'any') s++;
  return s === segments.length;
}

let lastRepository: string | undefined;
let lastComponents: readonly string[] = [];

/**
 * `repository.split('/')`, made once for a run of calls with the same repository: a review's
 * image is tried against each rule's patterns in turn (evaluate-image.ts step 3), so a policy of
 * n rules split the same string up to n times per uncached image. The array is only read.
 */
function componentsOf(repository: string): readonly string[] {
  if (repository !== lastRepository) {
    lastComponents = repository.split('/');
    lastRepository = repository;
  }
  return lastComponents;
}

/** Compiles a validated pattern (or its text); throws on an invalid one (validate first). */
export function compileImagePattern(input: ImagePattern | string): CompiledImagePattern {
  let pattern: ImagePattern;
  if (typeof input === 'string') {
    const parsed = parseImagePattern(input);
    if (!parsed.ok) throw new Error(`invalid image pattern ${JSON.stringify(input)}: ${parsed.message}`);
    pattern = parsed.value;
  } else {
    pattern = input;
  }
  if (pattern.matchAll) return Object.freeze({ pattern, matches: () => true });

  const hostMatches: (host: string) => boolean = pattern.host.startsWith('*.')
    ? compileRegistryAllowlist([pattern.host]).allows
    : (host) => host === pattern.host;
  const segments: readonly Segment[] = pattern.path.map((p) =>
    p === '**' ? { kind: 'any' as const } : { kind: 'one' as const, glob: compileStarGlob(p) },
  );
  const matches = (repository: string): boolean => {
    const components = componentsOf(repository);
    if (components.length < 2 || !hostMatches(components[0] ?? '')) return false;
    return matchSegments(segments, components, 1);
  };
  return Object.freeze({ pattern, matches });
}

/** Convenience for tests and one-off checks: compiles and matches. */
export function matchesImagePattern(pattern: string, repository: string): boolean {
  return compileImagePattern(pattern).matches(repository);
}

/**
 * True when every repository `narrow` matches is also matched by `wide`. Conservative: it
 * answers false when it cannot prove coverage (used to report shadowed rules, never to decide).
 */
export function imagePatternCovers(wide: ImagePattern, narrow: ImagePattern): boolean {
  if (wide.matchAll) return true;
  if (narrow.matchAll) return false;
  if (!compileRegistryAllowlist([wide.host]).coversHostPattern(narrow.host)) return false;

  const w = wide.path;
  const n = narrow.path;
  const memo = new Map<number, boolean>();
  const covers = (i: number, j: number): boolean => {
    const key = i * (n.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === w.length) {
      result = j === n.length;
    } else if (w[i] === '**') {
      // `**` in wide either ends here or absorbs narrow's next component (whatever it is).
      result = covers(i + 1, j) || (j < n.length && covers(i, j + 1));
    } else if (j === n.length || n[j] === '**') {
      result = false; // one component cannot cover zero or many
    } else {
      result = starGlobCovers(w[i] ?? '', n[j] ?? '') && covers(i + 1, j + 1);
    }
    memo.set(key, result);
    return result;
  };
  return covers(0, 0);
}
