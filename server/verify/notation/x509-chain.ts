/**
 * X.509 for Notary Project signatures: the certificate rules of the Notary Project signature
 * specification ("Certificate Requirements", notation-core-go `x509/codesigning_cert_validations.go`)
 * and path validation from the envelope's chain to the verifier's trust store.
 *
 * Node's `X509Certificate` checks one link (checkIssued + verify) but does no path validation and
 * does not expose key usage bits or extension criticality, so the few extension fields needed are
 * read here from the DER with a minimal reader (definite lengths only, as DER requires).
 *
 * What is checked, for the chain leaf → … → root as the envelope carries it (x5c / x5chain):
 *   - every link: issuer name matches and the signature verifies with the issuer's key;
 *   - the last certificate is self-signed (the Notary Project requires the chain to end in a root);
 *   - leaf: basicConstraints absent or cA=false; keyUsage present, critical, digitalSignature
 *     and no other bit; EKU absent, or without serverAuth, clientAuth, emailProtection,
 *     timeStamping, OCSPSigning or anyExtendedKeyUsage;
 *   - CA certificates: basicConstraints present with cA=true and a pathLen that allows the depth;
 *     keyUsage present, critical, with keyCertSign; EKU (if present) codeSigning only;
 *   - keys: RSA ≥ 2048 bits, EC on P-256, P-384 or P-521;
 *   - unknown critical extensions are refused (they carry constraints this code does not enforce);
 *   - validity: every certificate at the given instants (signing time, and "now" for strict).
 * Trust: some certificate of the chain is byte-identical to a trust store certificate
 * (notation-core-go `signature.VerifyAuthenticity`).
 */
import { X509Certificate, createHash } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// Minimal DER reader

export interface Tlv {
  readonly tag: number;
  /** Offset of the value. */
  readonly start: number;
  /** Offset just past the value. */
  readonly end: number;
  /** Offset of the tag byte. */
  readonly offset: number;
}

export class DerError extends Error {}

export function readTlv(buf: Buffer, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form is not used in certificates');
  let len = buf[pos + 1] as number;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    if (start + n > limit) throw new DerError('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, start, end, offset: pos };
}

export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.start;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

const SEQUENCE = 0x30;
const OID = 0x06;
const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
const BIT_STRING = 0x03;
const INTEGER = 0x02;

// ---------------------------------------------------------------------------------------------
// The parts of a certificate this module needs

export const KU_DIGITAL_SIGNATURE = 1 << 0;
export const KU_CONTENT_COMMITMENT = 1 << 1;
export const KU_KEY_ENCIPHERMENT = 1 << 2;
export const KU_DATA_ENCIPHERMENT = 1 << 3;
export const KU_KEY_AGREEMENT = 1 << 4;
export const KU_KEY_CERT_SIGN = 1 << 5;
export const KU_CRL_SIGN = 1 << 6;
export const KU_ENCIPHER_ONLY = 1 << 7;
export const KU_DECIPHER_ONLY = 1 << 8;

const OID_KEY_USAGE = '2.5.29.15';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';
/** Extensions whose meaning is understood (or harmless) here; any other marked critical is refused. */
const HANDLED_EXTENSIONS: ReadonlySet<string> = new Set([
  OID_KEY_USAGE,
  OID_BASIC_CONSTRAINTS,
  OID_EXT_KEY_USAGE,
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.17', // subjectAltName
  '2.5.29.32', // certificatePolicies
]);

export const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
export const EKU_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
export const EKU_ANY = '2.5.29.37.0';
/** EKUs a Notary Project signing leaf must not carry (signature specification, "Certificate Requirements"). */
const LEAF_FORBIDDEN_EKUS: ReadonlyMap<string, string> = new Map([
  ['1.3.6.1.5.5.7.3.1', 'serverAuth'],
  ['1.3.6.1.5.5.7.3.2', 'clientAuth'],
  ['1.3.6.1.5.5.7.3.4', 'emailProtection'],
  ['1.3.6.1.5.5.7.3.8', 'timeStamping'],
  ['1.3.6.1.5.5.7.3.9', 'OCSPSigning'],
  ['2.5.29.37.0', 'anyExtendedKeyUsage'],
]);

export interface ParsedCertificate {
  readonly x509: X509Certificate;
  readonly der: Buffer;
  /** Subject Name DER (the SEQUENCE), for trusted-identities.ts. */
  readonly subjectDer: Buffer;
  /** Issuer Name DER. */
  readonly issuerDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** undefined when the keyUsage extension is absent. */
  readonly keyUsage: { readonly bits: number; readonly critical: boolean } | undefined;
  /** undefined when the basicConstraints extension is absent. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined; readonly critical: boolean } | undefined;
  /** undefined when the extendedKeyUsage extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  /** The extendedKeyUsage extension is marked critical (false when absent). */
  readonly extKeyUsageCritical: boolean;
  readonly unhandledCritical: readonly string[];
  /** `sha256` of the DER, hex (the `io.cncf.notary.x509chain.thumbprint#S256` form). */
  readonly thumbprint: string;
}

function decodeTime(buf: Buffer, t: Tlv): Date {
  const s = buf.subarray(t.start, t.end).toString('latin1');
  let m: RegExpExecArray | null;
  if (t.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (t.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new DerError('validity is neither UTCTime nor GeneralizedTime in Z form');
}

/** Parses one DER certificate; throws DerError (or Node's error) when it is not one. */
export function parseCertificate(der: Buffer): ParsedCertificate {
  const x509 = new X509Certificate(der);
  const cert = readTlv(der, 0);
  if (cert.tag !== SEQUENCE || cert.end !== der.length) throw new DerError('not a DER certificate');
  const [tbs] = children(der, cert);
  if (!tbs || tbs.tag !== SEQUENCE) throw new DerError('no tbsCertificate');
  const fields = children(der, tbs);
  let i = 0;
  if (fields[0]?.tag === 0xa0) i = 1; // [0] version
  const issuer = fields[i + 2];
  const validity = fields[i + 3];
  const subject = fields[i + 4];
  if (!issuer || !validity || !subject || issuer.tag !== SEQUENCE || validity.tag !== SEQUENCE || subject.tag !== SEQUENCE) throw new DerError('malformed tbsCertificate');
  const [nb, na] = children(der, validity);
  if (!nb || !na) throw new DerError('malformed validity');
  let keyUsage: ParsedCertificate['keyUsage'];
  let basicConstraints: ParsedCertificate['basicConstraints'];
  let extKeyUsage: string[] | undefined;
  let extKeyUsageCritical = false;
  const unhandledCritical: string[] = [];
  const seen = new Set<string>();
  const extsWrapper = fields.find((f) => f.tag === 0xa3);
  if (extsWrapper) {
    const [exts] = children(der, extsWrapper);
    if (!exts || exts.tag !== SEQUENCE) throw new DerError('malformed extensions');
    for (const ext of children(der, exts)) {
      const parts = children(der, ext);
      const oidTlv = parts[0];
      if (!oidTlv || oidTlv.tag !== OID) throw new DerError('malformed extension');
      const oid = decodeOid(der.subarray(oidTlv.start, oidTlv.end));
      if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
      seen.add(oid);
      let critical = false;
      let valueTlv = parts[1];
      if (valueTlv?.tag === BOOLEAN) {
        critical = der[valueTlv.start] !== 0;
        valueTlv = parts[2];
      }
      if (!valueTlv || valueTlv.tag !== OCTET_STRING) throw new DerError('malformed extension value');
      const value = der.subarray(valueTlv.start, valueTlv.end);
      if (critical && !HANDLED_EXTENSIONS.has(oid)) unhandledCritical.push(oid);
      if (oid === OID_KEY_USAGE) {
        const bs = readTlv(value, 0);
        if (bs.tag !== BIT_STRING || bs.end - bs.start < 1) throw new DerError('malformed keyUsage');
        const b0 = value[bs.start + 1] ?? 0;
        const b1 = value[bs.start + 2] ?? 0;
        let bits = 0;
        for (let k = 0; k < 8; k++) if (b0 & (0x80 >> k)) bits |= 1 << k;
        if (b1 & 0x80) bits |= KU_DECIPHER_ONLY;
        keyUsage = { bits, critical };
      } else if (oid === OID_BASIC_CONSTRAINTS) {
        const seq = readTlv(value, 0);
        if (seq.tag !== SEQUENCE) throw new DerError('malformed basicConstraints');
        let ca = false;
        let pathLen: number | undefined;
        for (const f of children(value, seq)) {
          if (f.tag === BOOLEAN) ca = value[f.start] !== 0;
          else if (f.tag === INTEGER) {
            if (f.end - f.start > 4) throw new DerError('pathLenConstraint too large');
            pathLen = 0;
            for (let k = f.start; k < f.end; k++) pathLen = pathLen * 256 + (value[k] as number);
          }
        }
        basicConstraints = { ca, pathLen, critical };
      } else if (oid === OID_EXT_KEY_USAGE) {
        const seq = readTlv(value, 0);
        if (seq.tag !== SEQUENCE) throw new DerError('malformed extendedKeyUsage');
        extKeyUsage = children(value, seq).map((o) => decodeOid(value.subarray(o.start, o.end)));
        extKeyUsageCritical = critical;
      }
    }
  }
  return {
    x509,
    der,
    subjectDer: der.subarray(subject.offset, subject.end),
    issuerDer: der.subarray(issuer.offset, issuer.end),
    notBefore: decodeTime(der, nb),
    notAfter: decodeTime(der, na),
    keyUsage,
    basicConstraints,
    extKeyUsage,
    extKeyUsageCritical,
    unhandledCritical,
    thumbprint: createHash('sha256').update(der).digest('hex'),
  };
}

/** Every certificate in a PEM text (one or more blocks) or a single DER file. */
export function certificatesFromBytes(bytes: Buffer): ParsedCertificate[] {
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const out: ParsedCertificate[] = [];
    const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
    for (let m = re.exec(text); m; m = re.exec(text)) out.push(parseCertificate(Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64')));
    if (out.length === 0) throw new DerError('no CERTIFICATE block in the PEM text');
    return out;
  }
  return [parseCertificate(bytes)];
}

// ---------------------------------------------------------------------------------------------
// Rules

export class ChainError extends Error {}

export function describe(c: ParsedCertificate): string {
  return `certificate "${c.x509.subject.replace(/\n/g, ', ')}"`;
}

/** RSA ≥ 2048 bits; EC on P-256, P-384, P-521 (signature specification, "Certificate Requirements"). */
export function checkKeySize(c: ParsedCertificate): void {
  const key = c.x509.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    if ((d.modulusLength ?? 0) < 2048) throw new ChainError(`${describe(c)} has an RSA key of ${d.modulusLength ?? '?'} bits; at least 2048 are required`);
    return;
  }
  if (key.asymmetricKeyType === 'ec') {
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(d.namedCurve ?? '')) throw new ChainError(`${describe(c)} has an EC key on ${d.namedCurve ?? '?'}; P-256, P-384 or P-521 is required`);
    return;
  }
  throw new ChainError(`${describe(c)} has an unsupported ${key.asymmetricKeyType ?? 'unknown'} key`);
}

function checkLeaf(c: ParsedCertificate): void {
  if (c.basicConstraints?.ca) throw new ChainError(`${describe(c)} is a CA certificate; the signing certificate must not be one`);
  if (!c.keyUsage) throw new ChainError(`${describe(c)} has no keyUsage extension; it must be present with digitalSignature`);
  if (!c.keyUsage.critical) throw new ChainError(`${describe(c)}: the keyUsage extension must be marked critical`);
  if (!(c.keyUsage.bits & KU_DIGITAL_SIGNATURE)) throw new ChainError(`${describe(c)}: keyUsage lacks digitalSignature`);
  if (c.keyUsage.bits & ~KU_DIGITAL_SIGNATURE) throw new ChainError(`${describe(c)}: keyUsage may only have digitalSignature for a signing certificate`);
  for (const eku of c.extKeyUsage ?? []) {
    const name = LEAF_FORBIDDEN_EKUS.get(eku);
    if (name) throw new ChainError(`${describe(c)} has the extended key usage ${name}, which a signing certificate must not have`);
  }
}

function checkCa(c: ParsedCertificate, caBelow: number): void {
  const bc = c.basicConstraints;
  if (!bc || !bc.ca || !bc.critical) throw new ChainError(`${describe(c)} issues a certificate but basicConstraints cA=true is not present and critical`);
  if (bc.pathLen !== undefined && bc.pathLen < caBelow) throw new ChainError(`${describe(c)} allows a path length of ${bc.pathLen}, the chain needs ${caBelow}`);
  if (!c.keyUsage || !c.keyUsage.critical || !(c.keyUsage.bits & KU_KEY_CERT_SIGN)) {
    throw new ChainError(`${describe(c)} issues a certificate but keyUsage keyCertSign is not present and critical`);
  }
  if (c.extKeyUsage && c.extKeyUsage.some((e) => e !== EKU_CODE_SIGNING)) {
    throw new ChainError(`${describe(c)} is a CA whose extended key usage is not limited to codeSigning`);
  }
}

/** `child` names `issuer` as its issuer and its signature verifies with the issuer's key. */
export function issuedBy(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  return child.x509.checkIssued(issuer.x509) && child.x509.verify(issuer.x509.publicKey);
}

/**
 * Self-signed: issuer name = subject name and the signature verifies with its own key. Not
 * checkIssued(self): OpenSSL's check also wants keyCertSign, which a self-signed signing
 * certificate (`notation cert generate-test`) rightly does not have.
 */
export function selfSigned(c: ParsedCertificate): boolean {
  return c.issuerDer.equals(c.subjectDer) && c.x509.verify(c.x509.publicKey);
}

/**
 * The structure of a signing chain (leaf first, root last), independent of any trust store:
 * links, self-signed root, extension rules, key sizes. Throws ChainError.
 */
export function checkChainStructure(chain: readonly ParsedCertificate[]): void {
  const leaf = chain[0];
  if (!leaf) throw new ChainError('the envelope carries no certificate');
  for (const c of chain) {
    if (c.unhandledCritical.length) throw new ChainError(`${describe(c)} has unsupported critical extensions ${c.unhandledCritical.join(', ')}`);
    checkKeySize(c);
  }
  checkLeaf(leaf);
  for (let i = 1; i < chain.length; i++) checkCa(chain[i] as ParsedCertificate, i - 1);
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!issuedBy(chain[i] as ParsedCertificate, chain[i + 1] as ParsedCertificate)) {
      throw new ChainError(`${describe(chain[i] as ParsedCertificate)} is not issued by the next certificate of the chain`);
    }
  }
  const root = chain[chain.length - 1] as ParsedCertificate;
  if (!selfSigned(root)) {
    throw new ChainError(`${describe(root)} is not a self-signed root; the chain must end with its root certificate`);
  }
}

/** Every certificate valid at `when` (inclusive bounds, as Go's x509). Throws ChainError. */
export function checkValidityAt(chain: readonly ParsedCertificate[], when: Date, what: string): void {
  for (const c of chain) {
    if (when < c.notBefore || when > c.notAfter) {
      throw new ChainError(`${describe(c)} is not valid at ${what} ${when.toISOString()} (valid from ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()})`);
    }
  }
}

/** A trust anchor of the chain: a chain certificate byte-identical to a trust store certificate. */
export function findTrustAnchor(chain: readonly ParsedCertificate[], store: readonly ParsedCertificate[]): ParsedCertificate | undefined {
  for (const trusted of store) {
    for (const c of chain) if (c.der.equals(trusted.der)) return trusted;
  }
  return undefined;
}

/**
 * A trust store certificate must be a CA (basicConstraints cA=true) or a self-signed signing
 * certificate (notation `truststore` rules); throws ChainError otherwise.
 */
export function checkTrustStoreCertificate(c: ParsedCertificate): void {
  if (c.basicConstraints?.ca) return;
  if (selfSigned(c)) return;
  throw new ChainError(`${describe(c)} is neither a CA certificate nor a self-signed certificate`);
}
