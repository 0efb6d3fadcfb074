/**
 * What both envelope formats (envelope-jws.ts, envelope-cose.ts) yield once their signature has
 * verified with the leaf key, and the rules they share (Notary Project signature specification,
 * "Signature Envelope": signed attributes, critical headers, algorithm ↔ key binding).
 */
import { ChainError, parseCertificate, type ParsedCertificate } from './x509-chain';

export const NOTATION_PAYLOAD_TYPE = 'application/vnd.cncf.notary.payload.v1+json';

export const SIGNING_SCHEME = 'io.cncf.notary.signingScheme';
export const SIGNING_TIME = 'io.cncf.notary.signingTime';
export const AUTHENTIC_SIGNING_TIME = 'io.cncf.notary.authenticSigningTime';
export const EXPIRY = 'io.cncf.notary.expiry';
export const VERIFICATION_PLUGIN = 'io.cncf.notary.verificationPlugin';
export const VERIFICATION_PLUGIN_MIN_VERSION = 'io.cncf.notary.verificationPluginMinVersion';
export const SIGNING_AGENT = 'io.cncf.notary.signingAgent';
export const TIMESTAMP_SIGNATURE = 'io.cncf.notary.timestampSignature';

/** Signed attributes that may be marked critical; anything else in `crit` fails (fail closed). */
export const KNOWN_CRITICAL: ReadonlySet<string> = new Set([SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME, EXPIRY, VERIFICATION_PLUGIN, VERIFICATION_PLUGIN_MIN_VERSION]);

/** Envelopes are a payload of ~200 bytes plus a chain of a few certificates: 64 KiB of chain is far more than any. */
export const MAX_CHAIN_CERTIFICATES = 10;


export type SigningScheme = 'notary.x509' | 'notary.x509.signingAuthority';

export interface EnvelopeContent {
  readonly format: 'jws' | 'cose';
  /** The signed payload bytes (already integrity-checked). */
  readonly payload: Buffer;
  readonly payloadType: string;
  readonly signingScheme: SigningScheme;
  /** Claimed by the signer (not authentic for notary.x509). */
  readonly signingTime: Date;
  readonly authenticSigningTime: Date | undefined;
  readonly expiry: Date | undefined;
  /** Leaf first, root last, as carried by the envelope. */
  readonly chain: readonly ParsedCertificate[];
  /**
   * The raw signature value (JWS: the base64url-decoded `signature`; COSE: the signature bstr):
   * what an RFC 3161 countersignature's message imprint hashes (notation-go passes
   * `SignerInfo.Signature` to tspclient-go `TSTInfo.Validate`).
   */
  readonly signature: Buffer;
  /** The unprotected `io.cncf.notary.timestampSignature` (a DER TimeStampToken), not yet verified. */
  readonly timestampToken: Buffer | undefined;
  readonly signingAgent: string | undefined;
}

/** The envelope itself is malformed or its signature does not verify: an integrity failure. */
export class EnvelopeError extends Error {}

export type Algorithm = 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';

/** The one algorithm the leaf key allows (signature specification, "Algorithm Selection"). */
export function algorithmForKey(leaf: ParsedCertificate): Algorithm {
  const key = leaf.x509.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    switch (d.modulusLength) {
      case 2048:
        return 'PS256';
      case 3072:
        return 'PS384';
      case 4096:
        return 'PS512';
      default:
        throw new EnvelopeError(`RSA keys of ${d.modulusLength ?? '?'} bits are not supported (2048, 3072, 4096)`);
    }
  }
  if (key.asymmetricKeyType === 'ec') {
    switch (d.namedCurve) {
      case 'prime256v1':
        return 'ES256';
      case 'secp384r1':
        return 'ES384';
      case 'secp521r1':
        return 'ES512';
      default:
        throw new EnvelopeError(`EC curve ${d.namedCurve ?? '?'} is not supported (P-256, P-384, P-521)`);
    }
  }
  throw new EnvelopeError(`${key.asymmetricKeyType ?? 'unknown'} keys are not supported`);
}

/** Parses the DER certificates of x5c / x5chain (leaf first); integrity failure when unusable. */
export function parseChain(ders: readonly Buffer[]): ParsedCertificate[] {
  if (ders.length === 0) throw new EnvelopeError('the envelope carries no certificate chain');
  if (ders.length > MAX_CHAIN_CERTIFICATES) throw new EnvelopeError(`the certificate chain has ${ders.length} certificates; at most ${MAX_CHAIN_CERTIFICATES} are read`);
  return ders.map((der, i) => {
    try {
      return parseCertificate(der);
    } catch (err) {
      if (err instanceof ChainError) throw err;
      throw new EnvelopeError(`certificate ${i} of the envelope's chain does not parse: ${(err as Error).message}`);
    }
  });
}

/**
 * The critical-header rules: `crit` is a non-empty list of known names that are all present,
 * includes the signing scheme, and names expiry / authentic signing time / plugin fields when
 * they are present (the Notary Project marks them critical).
 */
export function checkCritical(crit: unknown, present: (name: string) => boolean): void {
  if (!Array.isArray(crit) || crit.length === 0) throw new EnvelopeError('the protected header has no "crit" list');
  const names = new Set<string>();
  for (const c of crit) {
    if (typeof c !== 'string') throw new EnvelopeError('a "crit" entry is not a string');
    if (!KNOWN_CRITICAL.has(c)) throw new EnvelopeError(`the critical header "${c}" is not understood`);
    if (names.has(c)) throw new EnvelopeError(`the critical header "${c}" is listed twice`);
    if (!present(c)) throw new EnvelopeError(`the critical header "${c}" is listed but absent`);
    names.add(c);
  }
  for (const c of KNOWN_CRITICAL) {
    if (present(c) && !names.has(c)) throw new EnvelopeError(`"${c}" is present but not marked critical`);
  }
  if (!names.has(SIGNING_SCHEME)) throw new EnvelopeError(`"${SIGNING_SCHEME}" must be marked critical`);
}

export function checkSigningScheme(value: unknown): SigningScheme {
  if (value === 'notary.x509' || value === 'notary.x509.signingAuthority') return value;
  throw new EnvelopeError(`unsupported signing scheme ${JSON.stringify(value)}`);
}
