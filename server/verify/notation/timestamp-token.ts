/**
 * An RFC 3161 TimeStampToken (§2.4.2): a CMS ContentInfo of SignedData (RFC 5652 §5) whose
 * encapsulated content is the DER TSTInfo, parsed into the fields the countersignature check
 * needs (timestamp-countersignature.ts). Parsing only: nothing here says the token is genuine.
 *
 * The ASN.1 is read by PeculiarVentures' schema libraries (`@peculiar/asn1-cms`, `-tsp`, `-x509`
 * on `@peculiar/asn1-schema` and `asn1js`; docs/notation.md says why), with these bounds and
 * refusals, all as TIMESTAMP_INVALID:
 *   - at most MAX_TOKEN_BYTES, and nothing after the ContentInfo;
 *   - content type signedData, encapsulated content type id-ct-TSTInfo with the TSTInfo inline;
 *   - at most MAX_TOKEN_CERTIFICATES certificates, each a plain X.509 certificate (what Go's
 *     x509.ParseCertificates accepts in tspclient-go `cms.ParseSignedData`);
 *   - at most MAX_SIGNER_INFOS signer infos (tspclient-go tries each in turn);
 *   - genTime in the GeneralizedTime `YYYYMMDDHHMMSS[.f+]Z` form RFC 3161 §2.4.2 requires;
 *   - accuracy fields that are negative integers (which would shrink the range, see below).
 * What is signed is what is parsed: certificates are re-encoded from the parsed structure before
 * node:crypto reads them, and the signed attributes are re-encoded as the DER SET OF that
 * RFC 5652 §5.4 says is signed (tspclient-go re-marshals them the same way).
 */
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData, id_signedData, type SignerInfo } from '@peculiar/asn1-cms';
import { TSTInfo, id_ct_tstInfo } from '@peculiar/asn1-tsp';
import * as asn1js from 'asn1js';
import { VerificationError } from '../../errors';
import { parseCertificate, type ParsedCertificate } from './x509-chain';

/**
 * A token is a SignedData of ~1.7 KiB carrying the TSA certificate, ~5 KiB with a chain of three
 * (OpenSSL's TSA, test/vectors/notation/). 64 KiB is ten times a long chain and bounds the work.
 */
export const MAX_TOKEN_BYTES = 64 << 10;
/** A TSA chain is two or three certificates; ten is the same bound as the envelope's chain. */
export const MAX_TOKEN_CERTIFICATES = 10;
/** RFC 3161 tokens have one signer; a few are tolerated, each costs a signature check. */
export const MAX_SIGNER_INFOS = 4;

/** id-aa-signingCertificateV2 (RFC 5035 §3), the ESS attribute naming the TSA certificate. */
export const OID_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
/** The baseline time-stamp policy (RFC 3628 §5.2, ETSI TS 102 023): accuracy of 1 s when none is given. */
export const OID_BASELINE_TIMESTAMP_POLICY = '0.4.0.2023.1.1';

/** A time to the microsecond: epoch µs fit a double exactly until the year 2255. */
export type Microseconds = number;

export interface TstInfo {
  readonly version: number;
  readonly policy: string;
  /** messageImprint.hashAlgorithm OID. */
  readonly hashAlgorithm: string;
  readonly hashedMessage: Buffer;
  /** genTime rounded down and up to the microsecond (equal unless the TSA gave more digits). */
  readonly genTimeFloor: Microseconds;
  readonly genTimeCeil: Microseconds;
  /** The accuracy as written (0 when absent); the baseline-policy default is applied by the verifier. */
  readonly accuracy: Microseconds;
}

export interface TokenSigner {
  readonly version: number;
  /** The sid when it is issuerAndSerialNumber (version 1); undefined for subjectKeyIdentifier. */
  readonly issuerAndSerial: { readonly issuerDer: Buffer; readonly serial: bigint } | undefined;
  readonly digestAlgorithm: string;
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;
  /** Signed attribute values (DER of each value) by type; undefined when there are none. */
  readonly signedAttributes: ReadonlyMap<string, readonly Buffer[]> | undefined;
  /** DER of the SET OF signed attributes: the bytes the signature is over (RFC 5652 §5.4). */
  readonly signedAttributesDer: Buffer | undefined;
}

export interface TimestampToken {
  readonly contentType: string;
  /** The encapsulated content octets (the DER TSTInfo), what messageDigest hashes. */
  readonly content: Buffer;
  readonly tstInfo: TstInfo;
  readonly certificates: readonly ParsedCertificate[];
  readonly signers: readonly TokenSigner[];
}

function invalid(message: string, cause?: unknown): VerificationError {
  return new VerificationError('TIMESTAMP_INVALID', `timestamp countersignature is malformed: ${message}`, cause);
}

/**
 * Parses a DER (or BER) TimeStampToken; throws VerificationError(TIMESTAMP_INVALID) and nothing
 * else. The token is attacker input: the ASN.1 libraries throw their own RangeError/Error on some
 * malformed encodings (seen when fuzzing the frozen tokens), and those must be a precise deny,
 * not an internal error.
 */
export function parseTimestampToken(bytes: Buffer): TimestampToken {
  try {
    return parseToken(bytes);
  } catch (err) {
    if (err instanceof VerificationError) throw err;
    throw invalid(`it does not parse (${(err as Error).message})`, err);
  }
}

function parseToken(bytes: Buffer): TimestampToken {
  if (bytes.length > MAX_TOKEN_BYTES) throw invalid(`it is ${bytes.length} bytes, at most ${MAX_TOKEN_BYTES} are read`);
  const outer = asn1js.fromBER(bytes);
  if (outer.offset === -1) throw invalid('it is not ASN.1');
  if (outer.offset !== bytes.length) throw invalid('there are bytes after the ContentInfo');
  let signed: SignedData;
  try {
    const info = AsnConvert.parse(bytes, ContentInfo);
    if (info.contentType !== id_signedData) throw invalid(`content type ${info.contentType} is not signedData`);
    signed = AsnConvert.parse(info.content, SignedData);
  } catch (err) {
    if (err instanceof VerificationError) throw err;
    throw invalid(`not a CMS SignedData (${(err as Error).message})`, err);
  }
  const encap = signed.encapContentInfo;
  if (encap.eContentType !== id_ct_tstInfo) throw invalid(`encapsulated content type ${encap.eContentType} is not id-ct-TSTInfo`);
  const single = encap.eContent?.single;
  if (!single) throw invalid('the TSTInfo is not encapsulated');
  const content = Buffer.from(single.buffer);
  return {
    contentType: encap.eContentType,
    content,
    tstInfo: parseTstInfo(content),
    certificates: parseCertificates(signed),
    signers: parseSigners(signed),
  };
}

function parseCertificates(signed: SignedData): ParsedCertificate[] {
  const list = signed.certificates ?? [];
  if (list.length > MAX_TOKEN_CERTIFICATES) throw invalid(`it carries ${list.length} certificates, at most ${MAX_TOKEN_CERTIFICATES} are read`);
  return list.map((choice, i) => {
    if (!choice.certificate) throw invalid(`certificate ${i} is not an X.509 certificate`);
    try {
      return parseCertificate(Buffer.from(AsnConvert.serialize(choice.certificate)));
    } catch (err) {
      throw invalid(`certificate ${i} does not parse (${(err as Error).message})`, err);
    }
  });
}

function parseSigners(signed: SignedData): TokenSigner[] {
  if (signed.signerInfos.length === 0) throw invalid('it has no signer');
  if (signed.signerInfos.length > MAX_SIGNER_INFOS) throw invalid(`it has ${signed.signerInfos.length} signers, at most ${MAX_SIGNER_INFOS} are read`);
  return signed.signerInfos.map(parseSigner);
}

function parseSigner(si: SignerInfo): TokenSigner {
  const ias = si.sid.issuerAndSerialNumber;
  let attributes: Map<string, Buffer[]> | undefined;
  let der: Buffer | undefined;
  if (si.signedAttrs) {
    attributes = new Map();
    const encoded: Buffer[] = [];
    for (const a of si.signedAttrs) {
      // RFC 5652 §5.3: the attributes a verifier reads are single-instance; a repeated type is refused.
      if (attributes.has(a.attrType)) throw invalid(`the signed attribute ${a.attrType} appears twice`);
      attributes.set(a.attrType, a.attrValues.map((v) => Buffer.from(v)));
      encoded.push(Buffer.from(AsnConvert.serialize(a)));
    }
    // DER SET OF: elements in ascending order of their encodings (X.690 §11.6).
    encoded.sort(Buffer.compare);
    der = Buffer.concat([derHeader(0x31, encoded.reduce((n, b) => n + b.length, 0)), ...encoded]);
  }
  return {
    version: si.version,
    issuerAndSerial: ias ? { issuerDer: Buffer.from(AsnConvert.serialize(ias.issuer)), serial: unsignedInteger(ias.serialNumber) } : undefined,
    digestAlgorithm: si.digestAlgorithm.algorithm,
    signatureAlgorithm: si.signatureAlgorithm.algorithm,
    signature: Buffer.from(si.signature.buffer),
    signedAttributes: attributes,
    signedAttributesDer: der,
  };
}

/** Tag and definite length (X.690 §8.1.3). */
function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

/** A serial number INTEGER's content octets as a non-negative bigint (leading 0x00 dropped). */
export function unsignedInteger(bytes: ArrayBuffer): bigint {
  const hex = Buffer.from(bytes).toString('hex');
  return hex === '' ? 0n : BigInt(`0x${hex}`);
}

/** A certificate's serial number as node:crypto gives it (hex), as a bigint. */
export function certificateSerial(x509: X509Certificate): bigint {
  return BigInt(`0x${x509.serialNumber}`);
}

function parseTstInfo(der: Buffer): TstInfo {
  let tst: TSTInfo;
  const raw = asn1js.fromBER(der);
  if (raw.offset !== der.length) throw invalid('the TSTInfo is not one ASN.1 value');
  try {
    tst = AsnConvert.parse(der, TSTInfo);
  } catch (err) {
    throw invalid(`the TSTInfo does not parse (${(err as Error).message})`, err);
  }
  // genTime is the fifth field (RFC 3161 §2.4.2); read its text for the digits past milliseconds.
  const fields = raw.result instanceof asn1js.Sequence ? raw.result.valueBlock.value : [];
  const genTime = fields[4];
  if (!(genTime instanceof asn1js.GeneralizedTime)) throw invalid('the TSTInfo has no GeneralizedTime genTime');
  const time = parseGeneralizedTime(Buffer.from(genTime.valueBlock.valueHexView).toString('latin1'));
  const acc = tst.accuracy;
  const parts = [acc?.seconds ?? 0, acc?.millis ?? 0, acc?.micros ?? 0];
  // A negative accuracy would move the lower bound up and the upper bound down: refused.
  if (parts.some((p) => !Number.isSafeInteger(p) || p < 0)) throw invalid('the accuracy is not a set of non-negative integers');
  return {
    version: tst.version,
    policy: tst.policy,
    hashAlgorithm: tst.messageImprint.hashAlgorithm.algorithm,
    hashedMessage: Buffer.from(tst.messageImprint.hashedMessage.buffer),
    genTimeFloor: time.floor,
    genTimeCeil: time.ceil,
    accuracy: (parts[0] as number) * 1_000_000 + (parts[1] as number) * 1000 + (parts[2] as number),
  };
}

/**
 * `YYYYMMDDHHMMSS[.f+]Z` (RFC 3161 §2.4.2: UTC, `Z`, optional fraction) to microseconds, rounded
 * down and up: a TSA may give more digits than a microsecond, and the verifier then keeps the
 * range that contains the true time.
 */
export function parseGeneralizedTime(text: string): { floor: Microseconds; ceil: Microseconds } {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/.exec(text);
  if (!m) throw invalid(`genTime ${JSON.stringify(text.slice(0, 40))} is not a UTC GeneralizedTime`);
  const [, y, mo, d, h, mi, s, frac = ''] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms) || new Date(ms).getUTCSeconds() !== Number(s) || new Date(ms).getUTCDate() !== Number(d)) throw invalid(`genTime ${text} is not a calendar time`);
  const micros = Number(frac.slice(0, 6).padEnd(6, '0'));
  const beyond = /[1-9]/.test(frac.slice(6));
  const floor = ms * 1000 + micros;
  return { floor, ceil: beyond ? floor + 1 : floor };
}
