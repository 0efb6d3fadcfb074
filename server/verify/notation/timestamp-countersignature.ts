/**
 * An RFC 3161 timestamp countersignature (`io.cncf.notary.timestampSignature`) checked as
 * notation-go `verifyTimestamp` does (verifier/verifier.go, step 2 "Verify the timestamp
 * countersignature" and step 3 "Validate timestamping certificate chain"), in its order:
 *
 *   1. parse the TimeStampToken (timestamp-token.ts; tspclient-go `ParseSignedToken`);
 *   2. TSTInfo (tspclient-go `TSTInfo.Validate`): version 1, a SHA-256/384/512 imprint, and the
 *      imprint equals the hash of the envelope's signature value: the raw signature bytes, which
 *      is what `notation sign` timestamps (signature-specification.md "Timestamp");
 *   3. the accuracy: as given; when absent and the policy is the baseline time-stamp policy, 1 s;
 *      otherwise 0 (trust-store-trust-policy.md step 6.1.9; tspclient-go `Validate`);
 *   4. the token's signer and its path to the TSA trust store at genTime (timestamp-signer.ts);
 *   5. the path meets the timestamping certificate requirements (tsa-chain.ts).
 * The TSA path's revocation (notation-go step 5) is not checked: no OCSP/CRL requests
 * (docs/notation.md "Revocation").
 */
import { createHash } from 'node:crypto';
import { VerificationError } from '../../errors';
import { DIGESTS, verifyTokenSigners } from './timestamp-signer';
import { OID_BASELINE_TIMESTAMP_POLICY, parseTimestampToken, type Microseconds } from './timestamp-token';
import { checkTimestampingChain } from './tsa-chain';
import type { ParsedCertificate } from './x509-chain';

/** The time the signature existed, as a range (RFC 3161 §2.4.2: genTime ± accuracy). */
export interface TimestampRange {
  readonly lower: Microseconds;
  readonly upper: Microseconds;
  /** genTime as written (to the millisecond), for messages. */
  readonly genTime: Date;
  /** The TSA path, signing certificate first. */
  readonly tsaPath: readonly ParsedCertificate[];
}

/** Verifies `token` as a countersignature of `signature`; throws VerificationError (TIMESTAMP_*). */
export function verifyTimestampCountersignature(token: Buffer, signature: Buffer, tsaStore: readonly ParsedCertificate[]): TimestampRange {
  try {
    return verifyCountersignature(token, signature, tsaStore);
  } catch (err) {
    // Anything but our own verdicts comes from a library meeting hostile bytes (a key or
    // signature node:crypto refuses, say): a deny that says so, never an internal error.
    if (err instanceof VerificationError) throw err;
    throw new VerificationError('TIMESTAMP_INVALID', `timestamp countersignature cannot be verified: ${(err as Error).message}`, err);
  }
}

function verifyCountersignature(token: Buffer, signature: Buffer, tsaStore: readonly ParsedCertificate[]): TimestampRange {
  const parsed = parseTimestampToken(token);
  const info = parsed.tstInfo;
  if (info.version !== 1) throw new VerificationError('TIMESTAMP_INVALID', `timestamp countersignature: TSTInfo version ${info.version} is not 1`);
  const hash = DIGESTS.get(info.hashAlgorithm);
  if (!hash) throw new VerificationError('TIMESTAMP_INVALID', `timestamp countersignature: the imprint hash algorithm ${info.hashAlgorithm} is not supported (SHA-256, SHA-384, SHA-512)`);
  if (!createHash(hash).update(signature).digest().equals(info.hashedMessage)) {
    throw new VerificationError('TIMESTAMP_MISMATCH', 'timestamp is for another signature (its message imprint is not the hash of this signature value)');
  }
  const accuracy = info.accuracy === 0 && info.policy === OID_BASELINE_TIMESTAMP_POLICY ? 1_000_000 : info.accuracy;
  const genTime = new Date(Math.floor(info.genTimeFloor / 1000));
  const tsaPath = verifyTokenSigners(parsed, tsaStore, { floor: genTime, ceil: new Date(Math.ceil(info.genTimeCeil / 1000)) });
  checkTimestampingChain(tsaPath);
  return { lower: info.genTimeFloor - accuracy, upper: info.genTimeCeil + accuracy, genTime, tsaPath };
}
