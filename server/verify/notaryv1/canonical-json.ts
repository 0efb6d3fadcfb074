/**
 * Canonical JSON as notary signs it (docker/go `canonical/json` `MarshalCanonical`, the OLPC
 * "Canonical JSON" rules it cites): object keys sorted by their UTF-8 bytes, no whitespace, strings
 * with only `"` and `\` escaped (every other character, control characters and non-ASCII included,
 * written as raw UTF-8), integers only. notary verifies every signature over
 * `MarshalCanonical(signed)` after decoding the served `signed` member (tuf/signed/verify.go
 * `VerifySignatures`), so imagegate does the same: parse, then re-encode. In every file a real
 * notary-server served during the tests the result was byte-identical to the served member
 * (reference §4.6 point 1).
 */

/** A JSON value as JSON.parse returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Thrown for values canonical JSON cannot hold (floats, integers beyond 2^53, non-JSON types). */
export class CanonicalJsonError extends Error {}

/** The canonical encoding of `value` as UTF-8 bytes. Throws CanonicalJsonError. */
export function canonicalJson(value: unknown): Buffer {
  const parts: string[] = [];
  encode(value, parts, 0);
  // Lone surrogates (from a \udXXX escape) become U+FFFD here, as Go's decoder makes them.
  return Buffer.from(parts.join(''), 'utf8');
}

/** Nesting deeper than this is not TUF metadata; it bounds recursion on hostile input. */
const MAX_DEPTH = 64;

function encode(v: unknown, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw new CanonicalJsonError(`nested deeper than ${MAX_DEPTH} levels`);
  if (v === null) {
    out.push('null');
  } else if (typeof v === 'boolean') {
    out.push(v ? 'true' : 'false');
  } else if (typeof v === 'number') {
    // docker/go canonical json: "Floating point numbers are not allowed" (patch 0002); integers
    // are written in decimal. Beyond 2^53 JSON.parse has already lost digits, so refuse them.
    if (!Number.isSafeInteger(v)) throw new CanonicalJsonError(`the number ${v} is not an integer canonical JSON can hold`);
    out.push(Object.is(v, -0) ? '0' : String(v));
  } else if (typeof v === 'string') {
    out.push(quote(v));
  } else if (Array.isArray(v)) {
    out.push('[');
    v.forEach((item, i) => {
      if (i > 0) out.push(',');
      encode(item, out, depth + 1);
    });
    out.push(']');
  } else if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort(compareUtf8);
    out.push('{');
    keys.forEach((k, i) => {
      if (i > 0) out.push(',');
      out.push(quote(k), ':');
      encode(obj[k], out, depth + 1);
    });
    out.push('}');
  } else {
    throw new CanonicalJsonError(`a ${typeof v} is not a JSON value`);
  }
}

/** Only `"` and `\` are escaped (docker/go encode.go `string` in canonical mode). */
function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Go sorts map keys as byte strings; JS sorts by UTF-16 units, which differs above U+D7FF. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** JSON.parse of bytes that must be UTF-8; undefined when they are not JSON. */
export function parseJson(bytes: Buffer): JsonValue | undefined {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as JsonValue;
  } catch {
    return undefined;
  }
}
