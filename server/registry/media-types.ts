/**
 * Media types imagegate reads from registries (OCI image-spec `media-types.md`, Docker
 * "Image Manifest V2, Schema 2", cosign `specs/SIGNATURE_SPEC.md`, Sigstore bundle spec).
 */

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** The manifest kinds imagegate accepts: the four the registries serve today. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST]);

/** Media types that are image indexes (multi-arch): their own digest is what gets verified. */
export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);

/**
 * The Accept header for every manifest request. A registry only returns an OCI manifest when the
 * client accepts it (distribution 2.8.2 answers 404 "OCI manifest found, but accept header does
 * not support OCI manifests", reference §1.3), and it converts or refuses what is not listed.
 * Docker schema 1 is deliberately absent: it is deprecated and has no content-addressable digest.
 */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');

/** cosign's simple-signing layer (cosign `specs/SIGNATURE_SPEC.md`, "Storage"). */
export const COSIGN_SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** The layer annotation holding the base64 signature over the layer's bytes (SIGNATURE_SPEC.md). */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** cosign v3 / `--new-bundle-format`: a Sigstore bundle stored as an OCI 1.1 referrer. */
export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** Media types of Sigstore bundles that imagegate reads (the artifactType, with optional version suffix). */
export function isSigstoreBundleType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && /^application\/vnd\.dev\.sigstore\.bundle(?:\.v0\.3)?\+json(?:;version=0\.3)?$/.test(mediaType);
}

/**
 * The value of a Content-Type header without parameters, lowercased (`a/b; charset=x` → `a/b`);
 * undefined when absent.
 */
export function bareMediaType(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const bare = value.split(';')[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}
