import type { ReviewDecision } from '../decision/decide-review';
import { imageReason } from '../decision/reasons';

/** Who asked and how long it took: the parts of the record the HTTP layer knows. */
export interface RequestFacts {
  requestId: string;
  /** Subject of the verified client certificate, when mTLS is on. */
  clientSubject: string | undefined;
  namespace: string;
  durationMs: number;
}

/**
 * The one `decision` record per review (interfaces.md "Logs"), built field by field from an
 * allowlist of facts: never a raw request, header or error object, so no credential can leak.
 */
export function buildDecisionRecord(facts: RequestFacts, d: ReviewDecision): Record<string, unknown> {
  return {
    msg: 'decision',
    event: 'decision',
    requestId: facts.requestId,
    client: facts.clientSubject ?? null,
    namespace: facts.namespace,
    allowed: d.allowed,
    reason: d.reason ?? null,
    policyGeneration: d.generation,
    cache: d.cacheHit ? 'hit' : 'miss',
    durationMs: Math.round(facts.durationMs * 1000) / 1000,
    breakGlass: d.breakGlass ?? null,
    auditAnnotations: d.auditAnnotations,
    images: d.images.map((v) => ({
      image: v.image,
      normalized: v.normalized ?? null,
      digest: v.digest ?? null,
      rule: v.rule ?? null,
      verdict: v.allowed ? (v.audited ? 'audited' : v.failedOpen ? 'failed-open' : v.brokeGlass ? 'break-glass' : 'allowed') : 'denied',
      step: v.step,
      code: v.code,
      reason: v.code === 'ALLOWED' ? null : imageReason(v, v.allowed ? 'would be denied' : 'denied'),
    })),
  };
}
