/**
 * Tag → digest (config.md `resolveTags`). HEAD first (distribution-spec "Checking if content
 * exists": Docker-Content-Digest without the body), GET when the registry sends no usable digest
 * or does not answer HEAD; the GET body is then hashed and checked against Docker-Content-Digest.
 *
 * Multi-arch: when the tag points to an image index (OCI index or Docker manifest list), the
 * INDEX's digest is returned, and that is what gets verified and audited. Child manifests are
 * never chosen here (config.md "Multi-arch images"; docs/registry-lookups.md).
 */
import { LookupError } from '../errors';
import type { RegistryClient } from './registry-client';

export interface ResolvedTag {
  readonly digest: string;
  readonly mediaType: string;
}

/** Resolves `repository:tag` at the client's registry. Throws LookupError (NOT_FOUND when the tag does not exist). */
export async function resolveTag(client: RegistryClient, repository: string, tag: string, signal: AbortSignal): Promise<ResolvedTag> {
  try {
    const head = await client.headManifest(repository, tag, signal);
    if (head) return head;
  } catch (err) {
    // Only a registry that mishandles HEAD gets a second try with GET; "not found", auth
    // failures, timeouts and refusals are answers.
    if (!(err instanceof LookupError) || err.code !== 'UPSTREAM_STATUS') throw err;
  }
  const manifest = await client.getManifest(repository, tag, signal);
  return { digest: manifest.digest, mediaType: manifest.mediaType };
}
