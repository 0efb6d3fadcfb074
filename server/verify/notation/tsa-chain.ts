/**
 * Certificates of a time-stamping authority, as notation checks them for a timestamp
 * countersignature (trust-store-trust-policy.md "Signature Verification" step 6):
 *
 *   - the TSA trust store holds root CA certificates only (notation-go `truststore`
 *     `isRootCACertificate`: self-signed, and a CA as Go's CheckSignatureFrom requires);
 *   - a path from the token's signing certificate to one of them, through the token's own
 *     certificates, every certificate valid at genTime, with the timeStamping usage allowed all
 *     along (tspclient-go `SignedToken.Verify` → Go `x509.Certificate.Verify` with
 *     CurrentTime = genTime and KeyUsages = [timeStamping]);
 *   - that path then meets the Notary Project certificate requirements for timestamping
 *     (notation-core-go `x509.ValidateTimestampingCertChain`): leaf not a CA, keyUsage present
 *     with digitalSignature and no encipherment, agreement or signing of certificates or CRLs,
 *     exactly one extended key usage, timeStamping, marked critical (RFC 3161 §2.3), an RSA
 *     2048/3072/4096 or EC P-256/384/521 key; CA certificates with basicConstraints cA=true and a
 *     pathLen that allows the depth, and keyUsage keyCertSign; the path ends with a self-signed root.
 * Unknown critical extensions are refused anywhere on the path (Go's x509 does the same).
 */
import { VerificationError } from '../../errors';
import {
  EKU_ANY,
  EKU_TIME_STAMPING,
  KU_CRL_SIGN,
  KU_DATA_ENCIPHERMENT,
  KU_DECIPHER_ONLY,
  KU_DIGITAL_SIGNATURE,
  KU_ENCIPHER_ONLY,
  KU_KEY_AGREEMENT,
  KU_KEY_CERT_SIGN,
  KU_KEY_ENCIPHERMENT,
  describe,
  issuedBy,
  selfSigned,
  type ParsedCertificate,
} from './x509-chain';

/** Paths longer than the envelope chain bound are not searched (and no real TSA has one). */
const MAX_PATH = 10;
/**
 * Signature checks one path search may make: Go's x509 stops at the same number
 * (`maxChainSignatureChecks = 100`, crypto/x509/verify.go), so that a token full of same-named,
 * cross-signed certificates cannot make the (synchronous) search explode.
 */
const MAX_SIGNATURE_CHECKS = 100;

/** Leaf keyUsage bits notation-core-go `validateLeafKeyUsage` refuses (contentCommitment is allowed). */
const LEAF_FORBIDDEN_KU = KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT | KU_KEY_AGREEMENT | KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_ENCIPHER_ONLY | KU_DECIPHER_ONLY;

function invalid(message: string): VerificationError {
  return new VerificationError('TIMESTAMP_INVALID', message);
}

/** A TSA trust store certificate must be a self-signed root CA; throws Error naming what is wrong. */
export function checkTsaTrustStoreCertificate(c: ParsedCertificate): void {
  if (!c.basicConstraints?.ca) throw new Error(`${describe(c)} is not a CA certificate (basicConstraints cA=true); a TSA trust store holds root CA certificates`);
  if (c.keyUsage && !(c.keyUsage.bits & KU_KEY_CERT_SIGN)) throw new Error(`${describe(c)} has a keyUsage without keyCertSign`);
  if (!selfSigned(c)) throw new Error(`${describe(c)} is not self-signed; a TSA trust store holds root certificates, not intermediates`);
}

/** genTime rounded down and up to the millisecond (Date precision); equal for whole-millisecond TSAs. */
export interface GenTime {
  readonly floor: Date;
  readonly ceil: Date;
}

/**
 * The first path from `signer` to a TSA root that is valid at `genTime` for timestamping
 * (Go x509 Verify semantics); throws TIMESTAMP_UNTRUSTED when no path reaches the store, and
 * TIMESTAMP_INVALID when paths exist but none is valid.
 */
export function buildTsaPath(signer: ParsedCertificate, tokenCertificates: readonly ParsedCertificate[], store: readonly ParsedCertificate[], genTime: GenTime): ParsedCertificate[] {
  const candidates = findPaths(signer, tokenCertificates, store);
  if (candidates.length === 0) {
    throw new VerificationError('TIMESTAMP_UNTRUSTED', `timestamp countersignature is not signed by a trusted TSA (${describe(signer)} does not lead to a certificate of tsaTrustStore)`);
  }
  let last: VerificationError | undefined;
  for (const path of candidates) {
    try {
      checkPathAt(path, genTime);
      return path;
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
      last = err;
    }
  }
  throw last as VerificationError;
}

function inStore(c: ParsedCertificate, store: readonly ParsedCertificate[]): boolean {
  return store.some((s) => s.der.equals(c.der));
}

/** Every path signer → … → store certificate through the token's certificates (depth-first, bounded). */
function findPaths(signer: ParsedCertificate, pool: readonly ParsedCertificate[], store: readonly ParsedCertificate[]): ParsedCertificate[][] {
  // Go: a leaf that is itself a root of the pool is a chain of one.
  if (inStore(signer, store)) return [[signer]];
  const out: ParsedCertificate[][] = [];
  let checks = 0;
  // Go keeps the chains found before the limit and fails only when there are none.
  const signs = (child: ParsedCertificate, issuer: ParsedCertificate): boolean => {
    if (checks >= MAX_SIGNATURE_CHECKS || !issuer.subjectDer.equals(child.issuerDer)) return false;
    checks += 1;
    return issuedBy(child, issuer);
  };
  const walk = (path: ParsedCertificate[]): void => {
    const tip = path[path.length - 1] as ParsedCertificate;
    for (const root of store) {
      if (signs(tip, root)) out.push([...path, root]);
    }
    if (path.length >= MAX_PATH) return;
    for (const next of pool) {
      if (inStore(next, store) || path.some((p) => p.der.equals(next.der))) continue;
      if (signs(tip, next) && !selfSigned(next)) walk([...path, next]);
    }
  };
  walk([signer]);
  if (out.length === 0 && checks >= MAX_SIGNATURE_CHECKS) {
    throw invalid(`timestamp countersignature: more than ${MAX_SIGNATURE_CHECKS} signature checks to find the TSA path`);
  }
  return out;
}

/** Go `isValid` + EKU nesting for one candidate path, at `genTime` (inclusive bounds). */
function checkPathAt(path: readonly ParsedCertificate[], genTime: GenTime): void {
  path.forEach((c, i) => {
    if (genTime.floor < c.notBefore || genTime.ceil > c.notAfter) {
      throw invalid(`timestamp countersignature: ${describe(c)} is not valid at the timestamp ${genTime.floor.toISOString()} (valid from ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()})`);
    }
    if (c.unhandledCritical.length) throw invalid(`timestamp countersignature: ${describe(c)} has unsupported critical extensions ${c.unhandledCritical.join(', ')}`);
    if (i > 0 && i < path.length - 1 && !c.basicConstraints?.ca) throw invalid(`timestamp countersignature: ${describe(c)} issues a certificate but is not a CA`);
    const below = Math.max(0, i - 1);
    if (i > 0 && c.basicConstraints?.pathLen !== undefined && c.basicConstraints.pathLen < below) {
      throw invalid(`timestamp countersignature: ${describe(c)} allows a path length of ${c.basicConstraints.pathLen}, the path needs ${below}`);
    }
    if (c.extKeyUsage && !c.extKeyUsage.includes(EKU_TIME_STAMPING) && !c.extKeyUsage.includes(EKU_ANY)) {
      throw invalid(`timestamp countersignature: ${describe(c)} does not allow the timeStamping extended key usage`);
    }
  });
}

/** The TSA signing certificate's extended key usage: timeStamping alone, critical (RFC 3161 §2.3). */
export function checkTimestampingEku(c: ParsedCertificate): void {
  const eku = c.extKeyUsage;
  if (!eku || eku.length !== 1 || eku[0] !== EKU_TIME_STAMPING) throw invalid(`timestamp countersignature: ${describe(c)} must have timeStamping as its only extended key usage`);
  if (!c.extKeyUsageCritical) throw invalid(`timestamp countersignature: the extended key usage of ${describe(c)} must be marked critical`);
}

/** RSA 2048/3072/4096 or EC P-256/384/521: the key specs notation-core-go `ExtractKeySpec` knows. */
function checkTsaKey(c: ParsedCertificate): void {
  const key = c.x509.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  const ok =
    (key.asymmetricKeyType === 'rsa' && [2048, 3072, 4096].includes(d.modulusLength ?? 0)) ||
    (key.asymmetricKeyType === 'ec' && ['prime256v1', 'secp384r1', 'secp521r1'].includes(d.namedCurve ?? ''));
  if (!ok) throw invalid(`timestamp countersignature: ${describe(c)} has a key notation does not support (RSA 2048/3072/4096, EC P-256/384/521)`);
}

function checkTsaLeaf(c: ParsedCertificate): void {
  if (c.basicConstraints?.ca) throw invalid(`timestamp countersignature: ${describe(c)} is a CA; the TSA signing certificate must not be one`);
  if (!c.keyUsage) throw invalid(`timestamp countersignature: ${describe(c)} has no keyUsage extension`);
  if (!(c.keyUsage.bits & KU_DIGITAL_SIGNATURE)) throw invalid(`timestamp countersignature: the keyUsage of ${describe(c)} lacks digitalSignature`);
  if (c.keyUsage.bits & LEAF_FORBIDDEN_KU) throw invalid(`timestamp countersignature: the keyUsage of ${describe(c)} must be digitalSignature only`);
  checkTimestampingEku(c);
  checkTsaKey(c);
}

function checkTsaCa(c: ParsedCertificate, caBelow: number): void {
  const bc = c.basicConstraints;
  if (!bc?.ca) throw invalid(`timestamp countersignature: ${describe(c)} issues a certificate but basicConstraints cA=true is absent`);
  if (bc.pathLen !== undefined && bc.pathLen < caBelow) throw invalid(`timestamp countersignature: ${describe(c)} allows a path length of ${bc.pathLen}, the chain needs ${caBelow}`);
  if (!c.keyUsage || !(c.keyUsage.bits & KU_KEY_CERT_SIGN)) throw invalid(`timestamp countersignature: ${describe(c)} issues a certificate but keyUsage keyCertSign is absent`);
}

/** notation-core-go `ValidateTimestampingCertChain` on the verified path (signer first, root last). */
export function checkTimestampingChain(path: readonly ParsedCertificate[]): void {
  const leaf = path[0];
  if (!leaf) throw invalid('timestamp countersignature: no TSA certificate path');
  if (path.length === 1) {
    if (!selfSigned(leaf)) throw invalid(`timestamp countersignature: ${describe(leaf)} is alone but not self-signed`);
    checkTsaLeaf(leaf);
    return;
  }
  path.forEach((c, i) => {
    const last = i === path.length - 1;
    if (last && !selfSigned(c)) throw invalid(`timestamp countersignature: ${describe(c)} is not a self-signed root`);
    if (!last) {
      if (selfSigned(c)) throw invalid(`timestamp countersignature: ${describe(c)} is self-signed but not the root of the chain`);
      if (!issuedBy(c, path[i + 1] as ParsedCertificate)) throw invalid(`timestamp countersignature: ${describe(c)} is not issued by the next certificate`);
    }
    if (i === 0) checkTsaLeaf(c);
    else checkTsaCa(c, i - 1);
  });
}
