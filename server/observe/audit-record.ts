import type { ReviewDecision } from '../decision/decide-review';
import { DecisionMemo } from '../decision/decision-memo';
import type { ImageVerdict } from '../decision/image-verdict';
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
      verdict: verdictName(v),
      step: v.step,
      code: v.code,
      reason: verdictReason(v),
    })),
  };
}

function verdictName(v: ImageVerdict): string {
  return v.allowed ? (v.audited ? 'audited' : v.failedOpen ? 'failed-open' : v.brokeGlass ? 'break-glass' : 'allowed') : 'denied';
}

function verdictReason(v: ImageVerdict): string | null {
  return v.code === 'ALLOWED' ? null : imageReason(v, v.allowed ? 'would be denied' : 'denied');
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
    `,"client":${facts.clientSubject === undefined ? 'null' : clientJson.of(facts.clientSubject)}` +
    `,"namespace":${namespaceJson.of(facts.namespace)}${parts.middle}` +
    `,"cache":${d.cacheHit ? '"hit"' : '"miss"'},"durationMs":${numberJson(ms)}${parts.tail}`
  );
}

/**
 * JSON.stringify of the last string given, kept until another comes. A busy server's reviews come
 * from one apiserver certificate (the same subject string, from client-identity.ts's per-socket
 * cache) and mostly from a few namespaces (a remembered body's namespace is the same string every
 * time, http/review-memo.ts): the comparison is then by identity, and JSON.stringify's call costs
 * more than the short string it writes.
 */
class LastJson {
  private last: string | undefined;
  private json = '';

  of(s: string): string {
    if (s !== this.last) {
      this.json = JSON.stringify(s);
      this.last = s;
    }
    return this.json;
  }
}

const clientJson = new LastJson();
const namespaceJson = new LastJson();

interface SerialisedParts {
  /** `,"allowed":…,"reason":…,"policyGeneration":…` */
  readonly middle: string;
  /** `,"breakGlass":…,"auditAnnotations":…,"images":[…]}` */
  readonly tail: string;
}

/**
 * The decision's parts, written out field by field in buildDecisionRecord's order: this is what an
 * uncached review pays, and building the record object to JSON.stringify it and cut it apart cost
 * about three times as much (BENCHMARKS.md). Strings go through JSON.stringify, so escaping is
 * JSON.stringify's own; test/unit/observe/audit-record.test.ts holds the whole line equal to
 * JSON.stringify(buildDecisionRecord(…)), also over generated hostile strings. Made once per
 * cached decision (DecisionMemo).
 */
const partsOf = new DecisionMemo<SerialisedParts>((d, kept) => {
  let images = '';
  for (let i = 0; i < d.images.length; i++) {
    const v = d.images[i] as ImageVerdict;
    const reason = verdictReason(v);
    images +=
      `${i === 0 ? '' : ','}{"image":${JSON.stringify(v.image)},"normalized":${stringOrNull(v.normalized)}` +
      `,"digest":${stringOrNull(v.digest)},"rule":${stringOrNull(v.rule)},"verdict":"${verdictName(v)}"` +
      `,"step":${JSON.stringify(v.step)},"code":${JSON.stringify(v.code)},"reason":${reason === null ? 'null' : JSON.stringify(reason)}}`;
  }
  const middle = `,"allowed":${d.allowed ? 'true' : 'false'},"reason":${stringOrNull(d.reason)},"policyGeneration":${numberJson(d.generation)}`;
  const tail = `,"breakGlass":${stringOrNull(d.breakGlass)},"auditAnnotations":${JSON.stringify(d.auditAnnotations)},"images":[${images}]}`;
  // Parts used by one record only are flattened once anyway, with the whole line (logger.ts decisionJsonWriter).
  return kept ? { middle: flattened(middle), tail: flattened(tail) } : { middle, tail };
});

/**
 * `s`, flattened in place. V8 keeps a string built with `+` as a tree of its pieces, and each log
 * batch that contains it walks that tree again when the batch is written; a memoised part is
 * written with every review of its cached decision, so it is flattened once, here (only parts kept
 * for later hits: a one-off decision's parts would be copied twice). Converting a
 * string to a number flattens it first (the trick of the `flatstr` package that pino used for
 * its log lines); the number is discarded. In an isolated loop: ~0.3 µs less per cached review's
 * record (BENCHMARKS.md item 18). If V8 stopped doing this it would only be slower, never wrong.
 */
function flattened(s: string): string {
  Number(s);
  return s;
}

function stringOrNull(s: string | undefined): string {
  return s === undefined ? 'null' : JSON.stringify(s);
}

function numberJson(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
