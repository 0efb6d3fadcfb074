import type { ReviewDecision } from '../decision/decide-review';
import { DecisionMemo } from '../decision/decision-memo';
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

/**
 * `JSON.stringify(buildDecisionRecord(facts, d))`, without rebuilding and re-serialising the parts
 * that come from the decision on every review: a cached decision is answered thousands of times,
 * and its images, reason and annotations are the same every time. Those parts are serialised once
 * per cached decision (DecisionMemo); only the request's own facts are serialised per review.
 * test/unit/observe/audit-record.test.ts holds the two equal.
 */
export function decisionRecordJson(facts: RequestFacts, d: ReviewDecision): string {
  const parts = partsOf.get(d);
  const ms = Math.round(facts.durationMs * 1000) / 1000;
  return (
    `{"msg":"decision","event":"decision","requestId":${JSON.stringify(facts.requestId)}` +
    `,"client":${facts.clientSubject === undefined ? 'null' : JSON.stringify(facts.clientSubject)}` +
    `,"namespace":${JSON.stringify(facts.namespace)}${parts.middle}` +
    `,"cache":${d.cacheHit ? '"hit"' : '"miss"'},"durationMs":${Number.isFinite(ms) ? String(ms) : 'null'}${parts.tail}`
  );
}

interface SerialisedParts {
  /** `,"allowed":…,"reason":…,"policyGeneration":…` */
  readonly middle: string;
  /** `,"breakGlass":…,"auditAnnotations":…,"images":[…]}` */
  readonly tail: string;
}

const PLACEHOLDER_FACTS: RequestFacts = { requestId: '', clientSubject: undefined, namespace: '', durationMs: 0 };

/** Made once per cached decision (DecisionMemo), from buildDecisionRecord so the record has one definition. */
const partsOf = new DecisionMemo<SerialisedParts>((d) => {
  // Keys are unique strings of the top-level record; inside JSON string values quotes are escaped,
  // so these markers can only match the record's own keys (nested objects have none of them).
  const full = JSON.stringify(buildDecisionRecord(PLACEHOLDER_FACTS, d));
  return {
    middle: full.slice(full.indexOf(',"allowed":'), full.indexOf(',"cache":')),
    tail: full.slice(full.indexOf(',"breakGlass":')),
  };
});
