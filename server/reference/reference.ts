/**
 * A parsed and normalised image reference (config.md "Semantics: Image references").
 * Every field is canonical: rules compare these strings exactly, never by prefix.
 */
export interface Reference {
  /** The reference exactly as it appeared in the pod. */
  readonly original: string;
  /** Normalised registry host, with `:port` when one was given: `docker.io`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Repository path inside the registry, `library/` added for docker.io single components. */
  readonly path: string;
  /** `registry/path`: what image patterns match. */
  readonly repository: string;
  /** The tag, `latest` when neither tag nor digest was given; undefined when only a digest was. */
  readonly tag: string | undefined;
  /** True when the tag was not written but implied (`nginx` → `:latest`). */
  readonly tagImplied: boolean;
  /** `sha256:<64 hex>` or `sha512:<128 hex>` when the reference carries a digest. */
  readonly digest: string | undefined;
}

/** `repository@digest` when pinned, else `repository:tag`: the canonical identity of the image. */
export function canonicalName(ref: Reference): string {
  return ref.digest ? `${ref.repository}@${ref.digest}` : `${ref.repository}:${ref.tag ?? 'latest'}`;
}

/** `repository:tag@digest` with whatever the reference carries, for logs and reasons. */
export function familiarFullName(ref: Reference): string {
  let s = ref.repository;
  if (ref.tag !== undefined && !ref.tagImplied) s += `:${ref.tag}`;
  else if (ref.tag !== undefined && !ref.digest) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}
