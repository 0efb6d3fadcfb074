/**
 * Normalisation of a syntactically valid reference to the canonical form rules compare
 * (config.md "Semantics: Image references"; style.md "Normalise first, then compare exactly").
 * Follows github.com/distribution/reference normalize.go (`splitDockerDomain`,
 * `ParseDockerRef`, `TagNameOnly`) with the differences written next to each function.
 * Nothing here validates: parse.ts hands over pieces that already passed the grammar.
 */
import type { Reference } from './reference';

/** normalize.go `defaultDomain`: the canonical name of Docker Hub. */
export const DOCKER_HUB = 'docker.io';

/**
 * Other spellings of Docker Hub, rewritten to `docker.io`. normalize.go rewrites only
 * `index.docker.io` (`legacyDefaultDomain`); config.md adds `registry-1.docker.io`, the host
 * the Hub API actually answers on, so an allowlist entry `docker.io` covers every spelling.
 * Matched exactly: `docker.io:443`, `docker.io.evil.com` and any other spelling stay distinct
 * hosts (an allowlist must name them to admit them).
 */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** normalize.go `officialRepoPrefix`: the namespace of official images on Docker Hub. */
export const OFFICIAL_REPO_NAMESPACE = 'library';

/** normalize.go `defaultTag`. */
export const DEFAULT_TAG = 'latest';

/** normalize.go `localhost` (regexp.go): the one dotless, portless name that is a host. */
const LOCALHOST = 'localhost';

/** The pieces of a reference that passed the grammar, before normalisation. */
export interface ParsedReference {
  readonly original: string;
  /** The registry host as validated, `host[:port]`; undefined when the reference names none. */
  readonly host: string | undefined;
  /** Repository path components as written. */
  readonly pathComponents: readonly string[];
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

/**
 * Whether the first of several name components is a registry host (normalize.go
 * `splitDockerDomain`): it contains `.` or `:`, or is exactly `localhost`, or is not lowercase.
 * The last case is distribution's: it reads `Foo/bar` as host `Foo`. imagegate keeps that
 * reading so that the error names the right part, and then refuses the host, because it refuses
 * uppercase in any host (see parse.ts `checkHostName`). `LOCALHOST` is therefore a refused host,
 * never `localhost` and never a Docker Hub namespace.
 */
export function isRegistryHostComponent(first: string): boolean {
  return first === LOCALHOST || first.includes('.') || first.includes(':') || first.toLowerCase() !== first;
}

/**
 * Splits name components into host and path (normalize.go `splitDockerDomain`). A single
 * component is always a path, even `localhost` or `example.com` (normalize.go's fast path and
 * its FIXME): `localhost:5000` alone is `docker.io/library/localhost:5000`, as the container
 * runtime reads it too.
 */
export function splitDockerDomain(components: readonly string[]): {
  host: string | undefined;
  pathComponents: readonly string[];
} {
  // Index and slice, not `[first, ...rest]` destructuring, which runs the array iterator (this is
  // on every uncached review's path).
  const first = components[0];
  if (first === undefined || components.length < 2 || !isRegistryHostComponent(first)) {
    return { host: undefined, pathComponents: components };
  }
  return { host: first, pathComponents: components.slice(1) };
}

/** The canonical registry: `docker.io` when none was written or for a Docker Hub alias. */
export function canonicalizeRegistry(host: string | undefined): string {
  if (host === undefined || DOCKER_HUB_ALIASES.has(host)) return DOCKER_HUB;
  return host;
}

/**
 * The repository path, with `library/` added to single-component Docker Hub paths
 * (normalize.go: "docker.io/ubuntu" => "docker.io/library/ubuntu"), never on other registries.
 */
export function canonicalizePath(registry: string, pathComponents: readonly string[]): string {
  if (registry === DOCKER_HUB && pathComponents.length === 1) {
    return `${OFFICIAL_REPO_NAMESPACE}/${pathComponents[0]}`;
  }
  return pathComponents.join('/');
}

/** Builds the canonical, frozen Reference from validated pieces. */
export function normalizeReference(parsed: ParsedReference): Reference {
  const registry = canonicalizeRegistry(parsed.host);
  const path = canonicalizePath(registry, parsed.pathComponents);
  // normalize.go `TagNameOnly`: `latest` only when neither tag nor digest was written. A written
  // tag is kept next to a digest for display, but the digest identifies the image
  // (normalize.go `ParseDockerRef`; `canonicalName` in reference.ts).
  const tagImplied = parsed.tag === undefined && parsed.digest === undefined;
  return Object.freeze({
    original: parsed.original,
    registry,
    path,
    repository: `${registry}/${path}`,
    tag: tagImplied ? DEFAULT_TAG : parsed.tag,
    tagImplied,
    digest: parsed.digest,
  });
}

/**
 * The RFC 5952 text of an IPv6 address given without brackets, in brackets, or undefined when it
 * is not an address. The grammar (regexp.go `ipv6address`) admits any run of hex digits and
 * colons (`[:::::]` included); this checks RFC 4291 §2.2 form 1 and 2 (eight groups, or fewer
 * with exactly one `::`), then writes the one canonical spelling (lowercase, no leading zeros,
 * the longest run of two or more zero groups as `::`, the first on a tie), so that `[0:0::1]`
 * and `[::1]` are the same registry to the allowlist, as they are to the network.
 */
export function canonicalizeIpv6(text: string): string | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const toGroups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = toGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? toGroups(halves[1] ?? '') : [];
  if (![...head, ...tail].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;

  let groups: string[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  const values = groups.map((g) => parseInt(g, 16).toString(16));

  // RFC 5952 §4.2: compress the longest run of zero groups, only if it is at least two long.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < values.length; ) {
    if (values[i] !== '0') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < values.length && values[j] === '0') j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return `[${values.join(':')}]`;
  const left = values.slice(0, bestStart).join(':');
  const right = values.slice(bestStart + bestLength).join(':');
  return `[${left}::${right}]`;
}
