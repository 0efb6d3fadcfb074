/**
 * One SignerInfo of a TimeStampToken, verified as tspclient-go `SignedToken.Verify` does:
 *
 *   1. the signing certificate is the one named by the ESS signing-certificate-v2 attribute
 *      (RFC 5035 §3, RFC 5816): found by its issuerSerial (or the sid when absent) among the
 *      token's certificates, and its hash equals certHash (tspclient-go `SigningCertificate`);
 *   2. the sid is issuerAndSerialNumber (version 1, the only form tspclient-go reads);
 *   3. a path to the TSA trust store valid at genTime (tsa-chain.ts `buildTsaPath`);
 *   4. the signature over the DER signed attributes verifies (RFC 5652 §5.6) with one of the
 *      algorithms tspclient-go maps (`oid.ToSignatureAlgorithm`);
 *   5. signed attributes: contentType equals the encapsulated content type, messageDigest is the
 *      hash of the TSTInfo with the digest algorithm, a signingTime (if any) lies within the path's
 *      validity (RFC 5652 §11.1–11.3; tspclient-go `verifySignedAttributes`);
 *   6. the signing certificate's extended key usage is timeStamping alone, critical.
 * Throws VerificationError (TIMESTAMP_INVALID, or TIMESTAMP_UNTRUSTED from step 3).
 */
import { constants, createHash, verify as cryptoVerify } from 'node:crypto';
import { AsnConvert, AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, GeneralName, PolicyInformation } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { VerificationError } from '../../errors';
import { OID_SIGNING_CERTIFICATE_V2, certificateSerial, unsignedInteger, type TimestampToken, type TokenSigner } from './timestamp-token';
import { buildTsaPath, checkTimestampingEku, type GenTime } from './tsa-chain';
import { describe, type ParsedCertificate } from './x509-chain';

const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_SIGNING_TIME = '1.2.840.113549.1.9.5';

/** Digest algorithms tspclient-go accepts (`oid.ToHash`: SHA-256/384/512, no SHA-1). */
export const DIGESTS: ReadonlyMap<string, 'sha256' | 'sha384' | 'sha512'> = new Map([
  ['2.16.840.1.101.3.4.2.1', 'sha256'],
  ['2.16.840.1.101.3.4.2.2', 'sha384'],
  ['2.16.840.1.101.3.4.2.3', 'sha512'],
]);
const HASH_LENGTH = { sha256: 32, sha384: 48, sha512: 64 } as const;

type Scheme = { readonly kind: 'pkcs1' | 'pss' | 'ecdsa'; readonly hash: 'sha256' | 'sha384' | 'sha512' | undefined };
/** Signature algorithms of tspclient-go `oid.ToSignatureAlgorithm`; `undefined` hash = the digest algorithm's. */
const SIGNATURES: ReadonlyMap<string, Scheme> = new Map([
  ['1.2.840.113549.1.1.1', { kind: 'pkcs1', hash: undefined }], // rsaEncryption
  ['1.2.840.113549.1.1.10', { kind: 'pss', hash: undefined }], // RSASSA-PSS
  ['1.2.840.113549.1.1.11', { kind: 'pkcs1', hash: 'sha256' }],
  ['1.2.840.113549.1.1.12', { kind: 'pkcs1', hash: 'sha384' }],
  ['1.2.840.113549.1.1.13', { kind: 'pkcs1', hash: 'sha512' }],
  ['1.2.840.10045.4.3.2', { kind: 'ecdsa', hash: 'sha256' }],
  ['1.2.840.10045.4.3.3', { kind: 'ecdsa', hash: 'sha384' }],
  ['1.2.840.10045.4.3.4', { kind: 'ecdsa', hash: 'sha512' }],
]);

// ---------------------------------------------------------------------------------------------
// SigningCertificateV2 (RFC 5035 §3), declared with the schema library's decorators applied by
// hand (the project compiles without experimentalDecorators).

class IssuerSerial {
  issuer: GeneralName[] = [];
  serialNumber: ArrayBuffer = new ArrayBuffer(0);
}
AsnProp({ type: GeneralName, repeated: 'sequence' })(IssuerSerial.prototype, 'issuer');
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(IssuerSerial.prototype, 'serialNumber');

class EssCertIdV2 {
  /** DEFAULT {algorithm id-sha256}. */
  hashAlgorithm: AlgorithmIdentifier | undefined = undefined;
  certHash = new OctetString();
  issuerSerial: IssuerSerial | undefined = undefined;
}
AsnProp({ type: AlgorithmIdentifier, optional: true })(EssCertIdV2.prototype, 'hashAlgorithm');
AsnProp({ type: OctetString })(EssCertIdV2.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertIdV2.prototype, 'issuerSerial');

class SigningCertificateV2 {
  certs: EssCertIdV2[] = [];
  policies: PolicyInformation[] | undefined = undefined;
}
AsnProp({ type: EssCertIdV2, repeated: 'sequence' })(SigningCertificateV2.prototype, 'certs');
AsnProp({ type: PolicyInformation, repeated: 'sequence', optional: true })(SigningCertificateV2.prototype, 'policies');
AsnType({ type: AsnTypeTypes.Sequence })(SigningCertificateV2);
AsnType({ type: AsnTypeTypes.Sequence })(EssCertIdV2);
AsnType({ type: AsnTypeTypes.Sequence })(IssuerSerial);

function invalid(message: string, cause?: unknown): VerificationError {
  return new VerificationError('TIMESTAMP_INVALID', `timestamp countersignature does not verify: ${message}`, cause);
}

/** The single value of a signed attribute, or undefined when the attribute is absent. */
function single(signer: TokenSigner, oid: string, name: string): Buffer | undefined {
  const values = signer.signedAttributes?.get(oid);
  if (!values) return undefined;
  if (values.length !== 1) throw invalid(`the ${name} attribute has ${values.length} values`);
  return values[0];
}

/** Step 1: the certificate the ESS signing-certificate-v2 attribute names (tspclient-go `SigningCertificate`). */
export function signingCertificate(signer: TokenSigner, certificates: readonly ParsedCertificate[]): ParsedCertificate {
  const value = single(signer, OID_SIGNING_CERTIFICATE_V2, 'signing-certificate-v2');
  if (!value) throw invalid('the signing-certificate-v2 attribute (RFC 5816) is missing');
  let attr: SigningCertificateV2;
  try {
    attr = AsnConvert.parse(value, SigningCertificateV2);
  } catch (err) {
    throw invalid('the signing-certificate-v2 attribute does not parse', err);
  }
  const id = attr.certs[0];
  if (!id) throw invalid('the signing-certificate-v2 attribute names no certificate');
  let ref: { issuerDer: Buffer; serial: bigint } | undefined;
  if (id.issuerSerial) {
    const dn = id.issuerSerial.issuer.find((g) => g.directoryName)?.directoryName;
    if (!dn) throw invalid('the signing-certificate-v2 issuerSerial has no directory name');
    ref = { issuerDer: Buffer.from(AsnConvert.serialize(dn)), serial: unsignedInteger(id.issuerSerial.serialNumber) };
  } else {
    ref = signer.issuerAndSerial;
  }
  const cert = ref && certificates.find((c) => c.issuerDer.equals(ref.issuerDer) && certificateSerial(c.x509) === ref.serial);
  if (!cert) throw invalid('the TSA signing certificate is not in the token');
  const hash = DIGESTS.get(id.hashAlgorithm?.algorithm ?? '2.16.840.1.101.3.4.2.1');
  if (!hash) throw invalid(`the signing-certificate-v2 hash algorithm ${id.hashAlgorithm?.algorithm ?? '?'} is not supported`);
  if (!createHash(hash).update(cert.der).digest().equals(Buffer.from(id.certHash.buffer))) {
    throw invalid(`the hash of ${describe(cert)} does not match the signing-certificate-v2 attribute`);
  }
  return cert;
}

function verifySignature(signer: TokenSigner, cert: ParsedCertificate): void {
  const scheme = SIGNATURES.get(signer.signatureAlgorithm);
  const digest = DIGESTS.get(signer.digestAlgorithm);
  const hash = scheme?.hash ?? digest;
  if (!scheme || !hash) throw invalid(`the signature algorithm ${signer.signatureAlgorithm} with digest ${signer.digestAlgorithm} is not supported`);
  if (!signer.signedAttributesDer) throw invalid('the signer has no signed attributes (RFC 5652 §5.3 requires them for TSTInfo content)');
  const key = cert.x509.publicKey;
  let ok = false;
  try {
    if (scheme.kind === 'ecdsa') ok = key.asymmetricKeyType === 'ec' && cryptoVerify(hash, signer.signedAttributesDer, { key, dsaEncoding: 'der' }, signer.signature);
    else if (scheme.kind === 'pss') ok = key.asymmetricKeyType === 'rsa' && cryptoVerify(hash, signer.signedAttributesDer, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LENGTH[hash] }, signer.signature);
    else ok = key.asymmetricKeyType === 'rsa' && cryptoVerify(hash, signer.signedAttributesDer, { key, padding: constants.RSA_PKCS1_PADDING }, signer.signature);
  } catch {
    ok = false; // a malformed signature value
  }
  if (!ok) throw invalid(`the TSA signature does not verify with the key of ${describe(cert)}`);
}

function checkSignedAttributes(signer: TokenSigner, token: TimestampToken, path: readonly ParsedCertificate[]): void {
  const ct = single(signer, OID_CONTENT_TYPE, 'content-type');
  const ctValue = ct && asn1js.fromBER(ct).result;
  if (!(ctValue instanceof asn1js.ObjectIdentifier) || ctValue.valueBlock.toString() !== token.contentType) {
    throw invalid('the content-type attribute does not name the encapsulated TSTInfo');
  }
  const md = single(signer, OID_MESSAGE_DIGEST, 'message-digest');
  const mdValue = md && asn1js.fromBER(md).result;
  const hash = DIGESTS.get(signer.digestAlgorithm);
  if (!(mdValue instanceof asn1js.OctetString) || !hash) throw invalid('the message-digest attribute is missing');
  if (!createHash(hash).update(token.content).digest().equals(Buffer.from(mdValue.valueBlock.valueHexView))) {
    throw invalid('the message-digest attribute does not match the TSTInfo');
  }
  const st = single(signer, OID_SIGNING_TIME, 'signing-time');
  if (st) {
    const t = asn1js.fromBER(st).result;
    if (!(t instanceof asn1js.UTCTime || t instanceof asn1js.GeneralizedTime)) throw invalid('the signing-time attribute is not a time');
    const when = t.toDate();
    if (path.some((c) => when < c.notBefore || when > c.notAfter)) throw invalid(`the signing time ${when.toISOString()} is outside the validity of the TSA certificates`);
  }
}

/**
 * Verifies the token's signers in turn (tspclient-go: the first that verifies wins) and returns
 * the TSA path (signing certificate first). Throws the last signer's failure.
 */
export function verifyTokenSigners(token: TimestampToken, store: readonly ParsedCertificate[], genTime: GenTime): ParsedCertificate[] {
  let last: VerificationError | undefined;
  for (const signer of token.signers) {
    try {
      const cert = signingCertificate(signer, token.certificates);
      if (signer.version !== 1 || !signer.issuerAndSerial) throw invalid(`signer info version ${signer.version} is not supported (issuerAndSerialNumber only)`);
      const path = buildTsaPath(cert, token.certificates, store, genTime);
      verifySignature(signer, cert);
      checkSignedAttributes(signer, token, path);
      checkTimestampingEku(cert);
      return path;
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
      last = err;
    }
  }
  throw last ?? invalid('it has no signer');
}
