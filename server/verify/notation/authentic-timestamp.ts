/**
 * The "authentic timestamp" step for signatures under the `notary.x509` signing scheme, as
 * notation-go `verifyTimestamp` (verifier/verifier.go) decides it; only `strict` enforces it
 * (trust-store-trust-policy.md, "Signature Verification details"):
 *
 *   - without a TSA trust store, or with `verifyTimestamp: afterCertExpiry` while no certificate
 *     of the signing chain has expired yet, every certificate of the chain must be valid now;
 *   - otherwise the envelope must carry a timestamp countersignature that verifies against the
 *     TSA trust store (timestamp-countersignature.ts), and the whole range genTime ± accuracy
 *     must lie within every chain certificate's validity (tspclient-go `BoundedAfter` /
 *     `BoundedBefore`, inclusive). A signature without a countersignature fails here, as with
 *     notation ("no timestamp countersignature was found").
 */
import { VerificationError } from '../../errors';
import type { EnvelopeContent } from './envelope';
import { verifyTimestampCountersignature } from './timestamp-countersignature';
import { ChainError, checkValidityAt, describe, type ParsedCertificate } from './x509-chain';

export type VerifyTimestamp = 'always' | 'afterCertExpiry';

export interface TimestampPolicy {
  /** Root certificates of the TSAs trusted to vouch for signing times; empty = no TSA store. */
  readonly tsaStore: readonly ParsedCertificate[];
  readonly verifyTimestamp: VerifyTimestamp;
}

function iso(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** Throws VerificationError (CERTIFICATE_INVALID or TIMESTAMP_*) when the step fails. */
export function checkAuthenticTimestamp(content: EnvelopeContent, policy: TimestampPolicy, now: Date): void {
  let useTimestamp = policy.tsaStore.length > 0;
  // afterCertExpiry: notation-go looks at notAfter only ("signing cert chain unexpired").
  if (useTimestamp && policy.verifyTimestamp === 'afterCertExpiry' && !content.chain.some((c) => now > c.notAfter)) useTimestamp = false;
  if (!useTimestamp) {
    try {
      checkValidityAt(content.chain, now, 'the current time');
    } catch (err) {
      if (err instanceof ChainError) throw new VerificationError('CERTIFICATE_INVALID', `${err.message}; no trusted timestamp vouches for the signing time`, err);
      throw err;
    }
    return;
  }
  if (!content.timestampToken) {
    throw new VerificationError('TIMESTAMP_MISSING', 'no timestamp countersignature was found in the signature envelope; tsaTrustStore requires one');
  }
  const range = verifyTimestampCountersignature(content.timestampToken, content.signature, policy.tsaStore);
  for (const c of content.chain) {
    if (range.lower < c.notBefore.getTime() * 1000) {
      throw new VerificationError('CERTIFICATE_INVALID', `the timestamp [${iso(range.lower)}, ${iso(range.upper)}] can be before ${describe(c)} became valid at ${c.notBefore.toISOString()}`);
    }
    if (range.upper > c.notAfter.getTime() * 1000) {
      throw new VerificationError('CERTIFICATE_INVALID', `the timestamp [${iso(range.lower)}, ${iso(range.upper)}] can be after ${describe(c)} expired at ${c.notAfter.toISOString()}`);
    }
  }
}
