/**
 * The Docker/OCI distribution reference grammar (config.md "Semantics: Image references"),
 * transcribed from github.com/distribution/reference regexp.go as named fragments, in the
 * style of sigstore-js packages/oci/src/name.ts.
 *
 * Every fragment is a constant of this file: no expression is ever built from user text. The
 * parser (parse.ts) splits a reference at its separators (`@`, the tag `:`, `/`) first and then
 * matches each piece against one of the anchored expressions below, so no expression ever sees
 * the whole input and none can backtrack across a separator.
 */

// ---- Fragments (regexp.go constants, same names) --------------------------------------------

/** regexp.go `alphanumeric`: lowercase letters and digits only. */
const alphanumeric = '[a-z0-9]+';

/**
 * regexp.go `separator`: one period, one or two underscores, or any number of dashes. Repeated
 * dashes and underscores are treated differently on purpose (hostnames as path components).
 */
const separator = '(?:[._]|__|[-]+)';

/** regexp.go `pathComponent`: alphanumerics joined by separators, never starting or ending with one. */
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;

/** regexp.go `domainNameComponent`: one DNS-ish label, letters, digits and inner dashes. */
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';

/** regexp.go `domainName`: labels joined by single dots; includes dotted-decimal IPv4. */
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;

/**
 * regexp.go `ipv6address`: hex digits and colons between square brackets. Zone identifiers
 * (RFC 6874) and dotted IPv4-in-IPv6 forms are excluded by the grammar; that the colons and
 * groups actually form an address is checked by normalize.ts, which also rewrites it to RFC 5952.
 */
const ipv6address = '\\[[a-fA-F0-9:]+\\]';

/** regexp.go `optionalPort`, without its leading `:` (the parser splits the port off itself). */
const port = '[0-9]+';

/** regexp.go `tag`: a word character, then up to 127 word characters, dots and dashes. */
const tag = '[\\w][\\w.-]{0,127}';

/**
 * regexp.go `digestPat`: algorithm components joined by `-_+.`, then at least 32 hex digits.
 * This is the *syntax*; which algorithms imagegate accepts is decided by SUPPORTED_DIGESTS.
 */
const digestAlgorithm = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*';
const digestPat = `${digestAlgorithm}:[0-9a-fA-F]{32,}`;

/** regexp.go `identifier`: a 64-hex image ID, which distribution refuses as a repository name. */
const identifier = '[a-f0-9]{64}';

/**
 * `sha256:`/`sha384:`/`sha512:` then hex and nothing else. The grammar reads it as repository
 * `sha256` with a hex tag, but container runtimes read it as a local image ID: containerd's CRI
 * (`LocalResolve`) when go-digest accepts it, Docker (cri-dockerd) by ID prefix search for any
 * length. Such a string names no registry, so it is never a reference here. Other
 * `name:<hex>` forms (`myapp:<git sha>`) stay ordinary tagged names.
 */
const localImageId = '(?:sha256|sha384|sha512):[0-9a-fA-F]+';

/** Dotted-decimal IPv4 in canonical form: four octets 0-255, no leading zeros. */
const ipv4Octet = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])';
const ipv4address = `${ipv4Octet}(?:\\.${ipv4Octet}){3}`;

/** regexp.go `anchored`: the whole string, never a partial match. */
function anchored(fragment: string): RegExp {
  return new RegExp(`^(?:${fragment})$`);
}

// ---- Anchored expressions the parser uses ---------------------------------------------------

/** One path component of the repository name (`library`, `my-app`, `a__b`). */
export const anchoredPathComponent = anchored(pathComponent);

/** A registry host name or dotted IPv4, without port. */
export const anchoredDomainName = anchored(domainName);

/** A bracketed IPv6 literal, without port. */
export const anchoredIpv6Literal = anchored(ipv6address);

/** A canonical dotted-decimal IPv4 address. */
export const anchoredIpv4Address = anchored(ipv4address);

/** The digits of a port (range and leading zeros are checked by the parser). */
export const anchoredPort = anchored(port);

/** A tag, 1 to 128 characters. */
export const anchoredTag = anchored(tag);

/** A digest in distribution's general syntax (any algorithm, any hex case, ≥ 32 digits). */
export const anchoredDigest = anchored(digestPat);

/** A bare 64-hex image ID (regexp.go `anchoredIdentifierRegexp`). */
export const anchoredIdentifier = anchored(identifier);

/** A bare `sha256:<hex>`-style image ID, which runtimes resolve locally (see `localImageId`). */
export const anchoredLocalImageId = anchored(localImageId);

/** A string that starts like a URL (`https://`, `oci://`, `docker://`): RFC 3986 scheme then `//`. */
export const urlSchemePrefix = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

// ---- Limits ---------------------------------------------------------------------------------

/** Tag length limit: regexp.go `tag` allows 1 + 127 characters. */
export const TAG_MAX_LENGTH = 128;

/**
 * Repository path limit (reference.go `RepositoryNameTotalLengthMax` = 255), counted on the
 * normalised path as distribution does (`library/` included), without the registry host.
 */
export const PATH_MAX_LENGTH = 255;

/** RFC 1035 §2.3.4: a host name is at most 253 characters in text form, a label at most 63. */
export const HOST_NAME_MAX_LENGTH = 253;
export const HOST_LABEL_MAX_LENGTH = 63;

/** TCP ports are 1-65535 (port 0 cannot be dialled). */
export const PORT_MAX = 65535;

/**
 * The only digests imagegate accepts (config.md: "sha256 = 64 lowercase hex, sha512 = 128").
 * go-digest would also take sha384 and mixed-case hex; a digest is an identity that rules and
 * caches compare as a string, so only the one canonical spelling of each is allowed.
 */
export const SUPPORTED_DIGESTS: ReadonlyMap<string, RegExp> = new Map([
  ['sha256', /^[a-f0-9]{64}$/],
  ['sha512', /^[a-f0-9]{128}$/],
]);
