/**
 * `trustedIdentities` of a notation verifier, as the Notary Project trust policy defines them
 * (trust-store-trust-policy.md "Trusted Identities Constraints"; notation-go
 * `verifier/trustpolicy` + `internal/pkix.ParseDistinguishedName` / `IsSubsetDN`):
 *
 *   - `"*"`: any identity the trust store vouches for;
 *   - `"x509.subject: <DN>"`: the DN is parsed as RFC 4514 (escapes, hex pairs, spaces around
 *     separators ignored); multi-valued RDNs (`+`) and repeated attributes are refused; C, ST and O
 *     are mandatory. The leaf certificate's subject is read from its DER the same way.
 *     The identity matches when **every** attribute it names is present in the leaf subject with
 *     exactly the same value (case-sensitive, no substring, no wildcard inside values). Attribute
 *     order and whitespace around `,` and `=` do not matter. Like notation, the leaf may carry
 *     attributes the identity does not name (e.g. L, OU): naming them in the identity requires them.
 */
import { DerError, children, decodeOid, readTlv } from './x509-chain';

/** Short names of RFC 4514 §3 and Go's pkix.Name.String(); other attributes are written as dotted OIDs. */
const ATTRIBUTE_NAMES: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.9', 'STREET'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
  ['2.5.4.17', 'POSTALCODE'],
  ['2.5.4.5', 'SERIALNUMBER'],
  ['0.9.2342.19200300.100.1.25', 'DC'],
  ['0.9.2342.19200300.100.1.1', 'UID'],
]);
const KNOWN_TYPES: ReadonlySet<string> = new Set(ATTRIBUTE_NAMES.values());
const MANDATORY = ['C', 'ST', 'O'] as const;

export type DistinguishedName = ReadonlyMap<string, string>;

export class IdentityError extends Error {}

export type TrustedIdentities = { readonly any: true } | { readonly any: false; readonly names: readonly { readonly text: string; readonly dn: DistinguishedName }[] };

const PREFIX = 'x509.subject:';

/** Parses the configured identities; throws IdentityError naming the bad one. */
export function parseTrustedIdentities(list: readonly string[]): TrustedIdentities {
  if (list.includes('*')) {
    if (list.length > 1) throw new IdentityError('"*" must be the only trusted identity when it is used');
    return { any: true };
  }
  const names = list.map((text) => {
    if (!text.startsWith(PREFIX)) throw new IdentityError(`trusted identity "${text}" is neither "*" nor "x509.subject: <DN>"`);
    const dn = parseDistinguishedName(text.slice(PREFIX.length));
    for (const m of MANDATORY) {
      if (!dn.has(m)) throw new IdentityError(`trusted identity "${text}" has no ${m}; C, ST and O are mandatory (Notary Project trust policy)`);
    }
    return { text, dn };
  });
  return { any: false, names };
}

/** True when every attribute of `trusted` has the same value in `subject` (notation-go IsSubsetDN). */
export function identityMatches(trusted: DistinguishedName, subject: DistinguishedName): boolean {
  for (const [k, v] of trusted) if (subject.get(k) !== v) return false;
  return true;
}

/** RFC 4514 string form of a parsed DN, for messages (`C=US, ST=WA, O=Acme, CN=release`). */
export function formatDn(dn: DistinguishedName): string {
  return [...dn].map(([k, v]) => `${k}=${escapeValue(v)}`).join(', ');
}

function escapeValue(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
}

// ---------------------------------------------------------------------------------------------
// RFC 4514 string → DistinguishedName

function normaliseType(raw: string): string {
  const t = raw.trim();
  if (/^\d+(\.\d+)+$/.test(t)) return ATTRIBUTE_NAMES.get(t) ?? t;
  const upper = t.toUpperCase();
  if (KNOWN_TYPES.has(upper)) return upper;
  throw new IdentityError(`unknown attribute type "${t}" in a distinguished name`);
}

/** Parses an RFC 4514 DN; throws IdentityError. Attribute order is kept (for messages). */
export function parseDistinguishedName(text: string): DistinguishedName {
  const out = new Map<string, string>();
  let i = 0;
  const s = text;
  const skipSpaces = () => {
    while (s[i] === ' ') i++;
  };
  skipSpaces();
  if (i >= s.length) throw new IdentityError('empty distinguished name');
  for (;;) {
    skipSpaces();
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new IdentityError(`"${text}" is not a distinguished name (an attribute has no "=")`);
    const type = normaliseType(s.slice(i, eq));
    i = eq + 1;
    skipSpaces();
    let value = '';
    let trailingSpaces = 0;
    if (s[i] === '#') {
      const m = /^#([0-9A-Fa-f]{2})+/.exec(s.slice(i));
      if (!m) throw new IdentityError(`bad hex value in "${text}"`);
      value = m[0].toLowerCase();
      i += m[0].length;
    } else {
      const bytes: number[] = [];
      while (i < s.length && s[i] !== ',' && s[i] !== '+' && s[i] !== ';') {
        const ch = s[i] as string;
        if (ch === '\\') {
          const next = s[i + 1];
          if (next === undefined) throw new IdentityError(`dangling escape in "${text}"`);
          if (/[0-9A-Fa-f]/.test(next) && /[0-9A-Fa-f]/.test(s[i + 2] ?? '')) {
            bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
            i += 3;
          } else if (' "#+,;<=>\\'.includes(next)) {
            bytes.push(...Buffer.from(next));
            i += 2;
          } else {
            throw new IdentityError(`invalid escape "\\${next}" in "${text}"`);
          }
          trailingSpaces = 0;
          continue;
        }
        if (ch === '"') throw new IdentityError(`unescaped quote in "${text}"`);
        bytes.push(...Buffer.from(ch));
        trailingSpaces = ch === ' ' ? trailingSpaces + 1 : 0;
        i++;
      }
      value = Buffer.from(bytes).toString('utf8');
      if (trailingSpaces) value = value.slice(0, value.length - trailingSpaces);
    }
    if (value === '') throw new IdentityError(`attribute ${type} has an empty value in "${text}"`);
    if (out.has(type)) throw new IdentityError(`attribute ${type} appears twice in "${text}"; a trusted identity names each attribute once`);
    out.set(type, value);
    skipSpaces();
    if (i >= s.length) break;
    if (s[i] === '+') throw new IdentityError(`multi-valued RDNs ("+") are not supported in "${text}"`);
    i++; // ',' or ';'
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Certificate subject DER → DistinguishedName

function decodeString(tag: number, bytes: Buffer): string {
  switch (tag) {
    case 0x0c: // UTF8String
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x12: // NumericString
      return bytes.toString('utf8');
    case 0x14: // T61String: Go reads it as Latin-1
      return bytes.toString('latin1');
    case 0x1e: {
      // BMPString: UTF-16BE
      const swapped = Buffer.from(bytes);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    default:
      throw new DerError(`unsupported string type 0x${tag.toString(16)} in a subject`);
  }
}

/** The leaf's subject as a DN map; refuses multi-valued RDNs and repeated attributes as notation does. */
export function subjectFromDer(nameDer: Buffer): DistinguishedName {
  const out = new Map<string, string>();
  const seq = readTlv(nameDer, 0);
  for (const rdn of children(nameDer, seq)) {
    const atvs = children(nameDer, rdn);
    if (atvs.length !== 1) throw new IdentityError('the signing certificate subject has a multi-valued RDN, which the Notary Project does not support');
    const [oidTlv, valueTlv] = children(nameDer, atvs[0] as (typeof atvs)[number]);
    if (!oidTlv || !valueTlv) throw new DerError('malformed subject attribute');
    const oid = decodeOid(nameDer.subarray(oidTlv.start, oidTlv.end));
    const type = ATTRIBUTE_NAMES.get(oid);
    const value = type
      ? decodeString(valueTlv.tag, nameDer.subarray(valueTlv.start, valueTlv.end))
      : `#${nameDer.subarray(valueTlv.offset, valueTlv.end).toString('hex')}`;
    const key = type ?? oid;
    if (out.has(key)) throw new IdentityError(`the signing certificate subject repeats ${key}`);
    out.set(key, value);
  }
  return out;
}
