/**
 * string → Reference, or ImageReferenceError('INVALID_REFERENCE') (config.md "Semantics: Image
 * references": "A reference that does not parse denies with the reason 'invalid image
 * reference'"). This is a security boundary: every rule, allowlist entry and cache key compares
 * what this returns, so it accepts only what github.com/distribution/reference accepts (what
 * kubelet and the container runtime will pull), minus spellings it refuses on purpose (see
 * checkNotAnIdentifier, checkHost, checkDigest; test/vectors/references/README.md lists them),
 * and never returns a partial match.
 *
 * Order: limits and characters → split at `@`, the tag `:` and `/` → each piece against its
 * anchored grammar fragment (grammar.ts) → normalise (normalize.ts) → limits of the result.
 */
import { ImageReferenceError } from '../errors';
import {
  HOST_LABEL_MAX_LENGTH,
  HOST_NAME_MAX_LENGTH,
  PATH_MAX_LENGTH,
  PORT_MAX,
  SUPPORTED_DIGESTS,
  TAG_MAX_LENGTH,
  anchoredDigest,
  anchoredDomainName,
  anchoredIdentifier,
  anchoredIpv4Address,
  anchoredLocalImageId,
  anchoredIpv6Literal,
  anchoredPathComponent,
  anchoredPort,
  anchoredTag,
  urlSchemePrefix,
} from './grammar';
import { canonicalizeIpv6, normalizeReference, splitDockerDomain } from './normalize';
import type { Reference } from './reference';

/**
 * Whole-reference cap, checked before anything else looks at the string. Kubernetes puts no
 * length limit on `containers[].image`, so without one a pod could make every review run the
 * grammar over megabytes and copy them into reasons and audit logs. The longest reference the
 * grammar can accept is about 800 characters (host 253 + `:65535`, path 255, tag 128,
 * `@sha512:` + 128 hex), so 4096 never refuses a valid reference and bounds the work per image.
 */
export const REFERENCE_MAX_LENGTH = 4096;

/** How much of the input an error message quotes; the rest is counted, not copied. */
const QUOTE_MAX_LENGTH = 200;

/** Parses and normalises one image reference; throws ImageReferenceError('INVALID_REFERENCE'). */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string') {
    throw new ImageReferenceError('INVALID_REFERENCE', `invalid image reference: expected a string, found ${typeof input}`);
  }
  checkLengthAndCharacters(input);
  checkNotAnIdentifier(input);

  const { name, tag, digest } = splitSuffixes(input);
  const split = splitDockerDomain(splitName(input, name));
  // Checked in this order (host, path, tag, digest): the first failure is the one reported.
  const host = split.host === undefined ? undefined : checkHost(input, split.host);
  const pathComponents = split.pathComponents;
  for (let i = 0; i < pathComponents.length; i++) checkPathComponent(input, pathComponents[i] as string);

  const reference = normalizeReference({
    original: input,
    host,
    pathComponents,
    tag: tag === undefined ? undefined : checkTag(input, tag),
    digest: digest === undefined ? undefined : checkDigest(input, digest),
  });

  // reference.go `RepositoryNameTotalLengthMax`, counted after `library/` is added, as
  // distribution's ParseNormalizedNamed does.
  if (reference.path.length > PATH_MAX_LENGTH) {
    fail(input, `the repository path is ${reference.path.length} characters long, more than ${PATH_MAX_LENGTH}`);
  }
  return reference;
}

/**
 * Refuses `input`, naming why. A plain function taking the input, not a closure made per call:
 * the parser runs on every uncached review and a closure was an allocation each time.
 */
function fail(input: string, why: string): never {
  throw new ImageReferenceError('INVALID_REFERENCE', `invalid image reference ${quote(input)}: ${why}`);
}

/** Empty, too long, or a character the grammar never allows, named with its position. */
function checkLengthAndCharacters(input: string): void {
  if (input.length === 0) fail(input, 'it is empty');
  if (input.length > REFERENCE_MAX_LENGTH) {
    fail(input, `it is ${input.length} characters long, more than ${REFERENCE_MAX_LENGTH}`);
  }
  for (let i = 0; i < input.length; i += 1) {
    const c = input.charCodeAt(i);
    // One comparison per printable character; which kind of refusal, only for the others.
    if (c > 0x20 && c < 0x7f) continue;
    // Non-ASCII first: homoglyphs (Cyrillic `о`, fullwidth `／`) must never normalise to ASCII.
    if (c > 0x7e) fail(input, `non-ASCII character ${codePoint(input, i)} at position ${i}`);
    if (c < 0x20 || c === 0x7f) fail(input, `control character ${codePoint(input, i)} at position ${i}`);
    if (c === 0x20) fail(input, `whitespace at position ${i}`);
  }
  if (urlSchemePrefix.test(input)) {
    fail(input, 'a URL scheme is not part of an image reference; write host/path[:tag][@digest]');
  }
}

/**
 * A bare image ID is not a reference (normalize.go `ParseNormalizedNamed`: "cannot specify
 * 64-byte hexadecimal strings"). Neither is `sha256:<hex>`: distribution would read repository
 * `sha256` with a hex tag, but the container runtime resolves it as a local image ID, which
 * names no registry at all (grammar.ts `localImageId`).
 */
function checkNotAnIdentifier(input: string): void {
  if (anchoredIdentifier.test(input)) fail(input, 'it looks like an image ID, not a reference');
  if (anchoredLocalImageId.test(input)) fail(input, 'it looks like an image ID (algorithm:hex), not a reference');
}

/**
 * Splits `name[:tag][@digest]` (regexp.go `referencePat`). Neither name nor tag can hold `@`,
 * so the first `@` starts the digest. The name's last component cannot hold `:`, so a `:` after
 * the last `/` starts the tag; with no `/` at all the name is one component, so `localhost:5000`
 * is name `localhost` with tag `5000`, as distribution reads it.
 */
function splitSuffixes(input: string): { name: string; tag?: string; digest?: string } {
  let rest = input;
  let digest: string | undefined;
  const at = input.indexOf('@');
  if (at >= 0) {
    if (input.indexOf('@', at + 1) >= 0) fail(input, "it has more than one '@'");
    digest = input.slice(at + 1);
    rest = input.slice(0, at);
    if (digest === '') fail(input, "it ends with '@' but has no digest");
    if (digest.includes('/')) {
      fail(input, "'@' may only introduce a digest; credentials (user@host) are not part of an image reference");
    }
    if (rest === '') fail(input, "it has no repository name before '@'");
  }

  let tag: string | undefined;
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  if (colon >= 0) {
    if (!rest.includes('/') && rest.startsWith('[')) {
      fail(input, 'a registry host must be followed by "/" and a repository path');
    }
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') fail(input, "it has ':' but no tag after it");
    if (tag.includes(':')) fail(input, "it has more than one ':' after the last '/' (only one tag is allowed)");
    if (rest === '') fail(input, "it has no repository name before ':'");
  }
  return { name: rest, tag, digest };
}

/** The `/`-separated name components; empty (`/x`, `x/`, `a//b`) and relative (`..`) ones are refused. */
function splitName(input: string, name: string): string[] {
  if (name.charCodeAt(0) === 0x2f) fail(input, "it starts with '/'");
  if (name.charCodeAt(name.length - 1) === 0x2f) fail(input, "the repository name ends with '/'");
  // One pass instead of includes('//'), split('/') and a search for '.'/'..' (every uncached
  // review runs this); the failures keep their order: an empty component is named first.
  const components: string[] = [];
  let relative: string | undefined;
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name.charCodeAt(i) !== 0x2f) continue;
    if (i === start) fail(input, "it has an empty path component ('//')");
    const component = name.slice(start, i);
    if (relative === undefined && (component === '.' || component === '..')) relative = component;
    components.push(component);
    start = i + 1;
  }
  // Before the host split, so `../x` is named for what it is rather than as a bad host.
  if (relative !== undefined) fail(input, `relative path component ${quote(relative)}`);
  return components;
}

/**
 * `host[:port]` (regexp.go `domainAndPort`), returned in canonical form. Stricter than the
 * grammar where the grammar admits hosts no client can reach, so that one host has one spelling:
 * - uppercase is refused, not lowercased: the container runtime compares hosts case-sensitively
 *   where it rewrites Docker Hub names and picks mirrors (`Docker.io/nginx` is not
 *   `docker.io/library/nginx` to it), so folding case here would admit a different image;
 * - an IPv6 literal must be an address and is rewritten to RFC 5952 (normalize.ts);
 * - a name whose last label is all digits must be canonical dotted IPv4 (no top-level domain is
 *   numeric, RFC 3696 §2; `127.1` and `0177.0.0.1` reach 127.0.0.1 through inet_aton);
 * - RFC 1035 lengths; a port is 1-65535 without leading zeros.
 */
function checkHost(input: string, written: string): string {
  let hostPart = written;
  let port: string | undefined;
  let canonical: string;

  if (written.startsWith('[')) {
    const close = written.indexOf(']');
    if (close < 0) fail(input, `registry host ${quote(written)} has '[' without ']'`);
    hostPart = written.slice(0, close + 1);
    const after = written.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) fail(input, `registry host ${quote(written)} has characters after ']' that are not a port`);
      port = after.slice(1);
    }
    const address = anchoredIpv6Literal.test(hostPart) ? canonicalizeIpv6(hostPart.slice(1, -1)) : undefined;
    if (address === undefined) fail(input, `registry host ${quote(hostPart)} is not a valid IPv6 address`);
    canonical = address as string;
  } else {
    const colon = written.indexOf(':');
    if (colon >= 0) {
      hostPart = written.slice(0, colon);
      port = written.slice(colon + 1);
    }
    canonical = checkHostName(input, hostPart);
  }

  if (port === undefined) return canonical;
  if (port === '') fail(input, `registry host ${quote(written)} has ':' but no port`);
  if (!anchoredPort.test(port)) fail(input, `registry port ${quote(port)} is not a decimal number`);
  if (port.length > 1 && port.startsWith('0')) fail(input, `registry port ${quote(port)} has a leading zero`);
  const value = Number(port);
  if (value < 1 || value > PORT_MAX) fail(input, `registry port ${port} is outside 1-${PORT_MAX}`);
  return `${canonical}:${port}`;
}

/** A DNS name or dotted IPv4 (regexp.go `domainName`), lowercase, within RFC 1035 lengths. */
function checkHostName(input: string, name: string): string {
  if (name === '') fail(input, 'the registry host is empty');
  if (!anchoredDomainName.test(name)) {
    fail(input, `registry host ${quote(name)} is not a valid host name (labels of letters, digits and inner '-', joined by single '.')`);
  }
  if (name.toLowerCase() !== name) fail(input, `uppercase letters are not allowed in the registry host ${quote(name)}`);
  if (name.length > HOST_NAME_MAX_LENGTH) {
    fail(input, `registry host is ${name.length} characters long, more than ${HOST_NAME_MAX_LENGTH}`);
  }
  // Label lengths and whether the last label is all digits, in one pass (no array of labels).
  let labelStart = 0;
  let lastAllDigits = true;
  for (let i = 0; i <= name.length; i++) {
    const c = i === name.length ? 0x2e /* . */ : name.charCodeAt(i);
    if (c === 0x2e) {
      if (i - labelStart > HOST_LABEL_MAX_LENGTH) {
        fail(input, `registry host ${quote(name)} has a label longer than ${HOST_LABEL_MAX_LENGTH} characters`);
      }
      if (i < name.length) lastAllDigits = true;
      labelStart = i + 1;
    } else if (c < 0x30 || c > 0x39) {
      lastAllDigits = false;
    }
  }
  // The grammar admits no empty label, so the last one has at least one character here.
  if (lastAllDigits && !anchoredIpv4Address.test(name)) {
    fail(input, `registry host ${quote(name)} is numeric but not a dotted-decimal IPv4 address`);
  }
  return name;
}

/** One path component (regexp.go `pathComponent`); uppercase named as distribution does. */
function checkPathComponent(input: string, component: string): string {
  if (anchoredPathComponent.test(component)) return component;
  if (anchoredPathComponent.test(component.toLowerCase())) {
    fail(input, `uppercase letters are not allowed in the repository (component ${quote(component)})`);
  }
  return fail(
    input,
    `path component ${quote(component)} is not valid (lowercase letters and digits, joined by '.', '_', '__' or dashes)`,
  );
}

/** A tag (regexp.go `tag`): 1-128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`. */
function checkTag(input: string, tag: string): string {
  if (tag.length > TAG_MAX_LENGTH) fail(input, `the tag is ${tag.length} characters long, more than ${TAG_MAX_LENGTH}`);
  if (!anchoredTag.test(tag)) {
    fail(input, `tag ${quote(tag)} is not valid (letters, digits, '_', '.' and '-', not starting with '.' or '-')`);
  }
  return tag;
}

/** A digest: distribution's syntax (regexp.go `digestPat`), then only sha256/sha512 canonical hex. */
function checkDigest(input: string, digest: string): string {
  if (!anchoredDigest.test(digest)) fail(input, `digest ${quote(digest)} is not algorithm:hex`);
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const encoding = SUPPORTED_DIGESTS.get(algorithm);
  if (encoding === undefined) {
    fail(input, `digest algorithm ${quote(algorithm)} is not supported (only sha256 and sha512)`);
  } else if (!encoding.test(hex)) {
    const expected = algorithm === 'sha256' ? 64 : 128;
    const found = encoding.test(hex.toLowerCase()) ? 'uppercase hex' : `${hex.length} hex digits`;
    fail(input, `a ${algorithm} digest must be exactly ${expected} lowercase hex digits, found ${found}`);
  }
  return digest;
}

/** Double-quoted, with everything outside printable ASCII escaped, cut to QUOTE_MAX_LENGTH. */
function quote(text: string): string {
  const shown = text.length > QUOTE_MAX_LENGTH ? text.slice(0, QUOTE_MAX_LENGTH) : text;
  let out = '';
  for (let i = 0; i < shown.length; i += 1) {
    const c = shown.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += `\\${shown[i]}`;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += shown[i];
  }
  const more = text.length - shown.length;
  return `"${out}"${more > 0 ? `...(${more} more characters)` : ''}`;
}

/** `U+0430` for a character, so a message never carries a control or lookalike character itself. */
function codePoint(text: string, index: number): string {
  const cp = text.codePointAt(index) ?? 0;
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}
