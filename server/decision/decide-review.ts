import type { ReviewRequest } from '../imagereview/wire-types';
import type { CompiledPolicy } from '../policy/compiled-policy';
import { DecisionCache, decisionKey, type RemakeCost } from '../cache/decision-cache';
import { AUDIT_REQUIRED_KEY, AuditAnnotations } from './audit-annotations';
import { breakGlassJustification, breakGlassKeyPart } from './break-glass';
import { startDeadline } from './deadline';
import { evaluateImageNow } from './evaluate-image';
import type { ImageVerdict } from './image-verdict';
import { NOOP_OBSERVER, NO_LOOKUPS, type DecisionObserver, type ImageLookups } from './ports';
import { imageReason, reviewReason } from './reasons';

/** The answer to one ImageReview, with everything the audit record needs. */
export interface ReviewDecision {
  readonly allowed: boolean;
  /** Shown to the user on deny; names every denied image, its rule and failing step. */
  readonly reason: string | undefined;
  readonly auditAnnotations: Readonly<Record<string, string>>;
  readonly images: readonly ImageVerdict[];
  /** The justification when break-glass decided the review. */
  readonly breakGlass: string | undefined;
  readonly generation: number;
  readonly cacheHit: boolean;
}

export interface DeciderOptions {
  lookups?: ImageLookups;
  observer?: DecisionObserver;
}

/**
 * Decides whole ImageReviews: every image is evaluated and the review is allowed only when all
 * are (config.md "Evaluation of one ImageReview"); then audit mode, failurePolicy: open and
 * break-glass shape the answer. Decisions are cached per policy generation.
 * The CLI and the server both call this (interfaces.md: "same code path, lookups included").
 */
export class Decider {
  private readonly lookups: ImageLookups;
  private readonly observer: DecisionObserver;
  /** Decisions are kept as copies made when stored, denied ones without their reason (see `stored` below). */
  private readonly cache = new DecisionCache<ReviewDecision>(stored);

  constructor(options: DeciderOptions = {}) {
    this.lookups = options.lookups ?? NO_LOOKUPS;
    this.observer = options.observer ?? NOOP_OBSERVER;
  }

  async decide(request: ReviewRequest, policy: CompiledPolicy): Promise<ReviewDecision> {
    return this.decideNow(request, policy);
  }

  /**
   * `decide`, but synchronous whenever nothing has to be waited for: a decision-cache hit, and a
   * review none of whose images needs a lookup (policy-only rules), are returned as they are, not
   * as a promise, so the server answers them in the turn the body arrived, with no promise or
   * microtask (BENCHMARKS.md). Otherwise the promise of the decision. Fresh decisions are cached
   * when their TTL allows (and, once the cache is full, a policy-only one on its second sight:
   * decision-cache.ts). `key` must be `keyFor(request, policy)`; it is made here when not given.
   */
  decideNow(request: ReviewRequest, policy: CompiledPolicy, key: string = this.keyFor(request, policy)): ReviewDecision | Promise<ReviewDecision> {
    const cached = this.cache.get(policy.generation, policy.cache.maxEntries, key);
    this.observer.cacheUsed('decision', cached !== undefined);
    if (cached) return cached.allowed ? { ...cached, cacheHit: true } : { ...cached, reason: reasonOf(cached.images), cacheHit: true };
    const fresh = this.decideUncachedNow(request, policy);
    // A promise means some image needed a lookup (evaluateImageNow); otherwise policy rules alone decided.
    if (fresh instanceof Promise) return fresh.then((decision) => this.remember(policy, key, decision, 'lookups'));
    return this.remember(policy, key, fresh, 'policy');
  }

  /**
   * The decision-cache key of `request` under `policy` (decision-cache.ts decisionKey): what
   * `decideNow` uses when it is given none. A caller that has the key of this very request and
   * policy generation already (http/review-memo.ts) passes it instead of making it again.
   */
  keyFor(request: ReviewRequest, policy: CompiledPolicy): string {
    return decisionKey(policy.generation, request.namespace, request.images, breakGlassKeyPart(policy, request.annotations));
  }

  private remember(policy: CompiledPolicy, key: string, decision: ReviewDecision, cost: RemakeCost): ReviewDecision {
    const ttl = cacheTtl(decision, policy);
    if (ttl > 0) this.cache.set(policy.generation, policy.cache.maxEntries, key, decision, ttl, cost);
    return decision;
  }

  /** Evaluates without reading or writing the decision cache. */
  async decideUncached(request: ReviewRequest, policy: CompiledPolicy): Promise<ReviewDecision> {
    return this.decideUncachedNow(request, policy);
  }

  /** `decideUncached`, synchronous when no image needs a lookup (evaluateImageNow). */
  decideUncachedNow(request: ReviewRequest, policy: CompiledPolicy): ReviewDecision | Promise<ReviewDecision> {
    const justification = breakGlassJustification(policy, request.annotations, request.namespace);
    const deadline = policy.mayLookUp ? startDeadline(policy.timeouts.reviewMs) : NO_LOOKUPS_DEADLINE;
    // Identical images in one pod are evaluated once (contract.md §3: duplicates are kept).
    // (Most pods have one image: no Set and no copy for them.)
    const unique = request.images.length === 1 ? request.images : [...new Set(request.images)];
    let results: (ImageVerdict | Promise<ImageVerdict>)[];
    try {
      const ctx = {
        policy,
        namespace: request.namespace,
        lookups: this.lookups,
        observer: this.observer,
        signal: deadline.signal,
        breakGlass: justification !== undefined,
      };
      results = unique.map((image) => evaluateImageNow(image, ctx));
    } catch (err) {
      deadline.dispose();
      throw err;
    }
    if (results.some((r) => r instanceof Promise)) {
      return Promise.all(results)
        .finally(() => deadline.dispose())
        .then((verdicts) => this.conclude(verdicts, policy, justification));
    }
    deadline.dispose();
    return this.conclude(results as ImageVerdict[], policy, justification);
  }

  /** The verdicts of the unique images (in order) → the review's decision. */
  private conclude(verdicts: ImageVerdict[], policy: CompiledPolicy, justification: string | undefined): ReviewDecision {
    if (justification !== undefined) verdicts = verdicts.map(applyBreakGlass);
    for (const v of verdicts) this.observer.imageDecided(v.rule, v.allowed);
    return assemble(verdicts, policy, justification);
  }

  close(): void {
    this.cache.close();
  }
}

/**
 * The deadline only bounds lookups (evaluate-image.ts hands its signal to resolveTag and verify
 * and to nothing else), so a policy none of whose rules resolves tags or verifies
 * (`policy.mayLookUp`, worked out when it is compiled) needs no timer: an AbortController and a
 * timer per uncached review were a sixth of its cost (BENCHMARKS.md).
 */
const NO_LOOKUPS_DEADLINE = { signal: new AbortController().signal, dispose() {} };

/**
 * Break-glass allows a violation but never an unparseable reference: that is hostile or broken
 * input no emergency needs, and the runtime could not pull it anyway (config.md "Break-glass":
 * "It never hides a malformed request").
 */
function applyBreakGlass(v: ImageVerdict): ImageVerdict {
  if (v.allowed || v.code === 'INVALID_REFERENCE') return v;
  return { ...v, allowed: true, brokeGlass: true };
}

function assemble(verdicts: ImageVerdict[], policy: CompiledPolicy, justification: string | undefined): ReviewDecision {
  const annotations = new AuditAnnotations();
  let n = 0;
  for (const v of verdicts) {
    if (v.audited) annotations.set(`audit-violation-${n++}`, imageReason(v, 'would be denied'));
  }
  n = 0;
  for (const v of verdicts) {
    if (v.failedOpen) annotations.set(`lookup-failed-open-${n++}`, imageReason(v, 'allowed despite a failed lookup'));
  }
  if (justification !== undefined) {
    annotations.set('break-glass', justification);
    n = 0;
    for (const v of verdicts) {
      if (v.brokeGlass) annotations.set(`break-glass-override-${n++}`, imageReason(v, 'allowed by break-glass'));
    }
  }
  if (annotations.size > 0) annotations.set(AUDIT_REQUIRED_KEY, 'true');

  return {
    allowed: verdicts.every((v) => v.allowed),
    reason: reasonOf(verdicts),
    auditAnnotations: annotations.toJSON(),
    images: verdicts,
    breakGlass: justification,
    generation: policy.generation,
    cacheHit: false,
  };
}

/** A decision's reason is a function of its verdicts alone: every denied image, in pod order (reasons.ts). */
function reasonOf(verdicts: readonly ImageVerdict[]): string | undefined {
  const denied = verdicts.filter((v) => !v.allowed);
  return denied.length ? reviewReason(denied) : undefined;
}

/**
 * The form a decision is cached in (DecisionCache applies it only to a decision it does store).
 *
 * A copy, verdicts included, made here: the objects built for a review are never the ones the
 * cache keeps. V8 pretenures an allocation site whose objects survive (allocation-site
 * pretenuring): while the cache filled, every decision and verdict built by `assemble` and
 * evaluate-image.ts survived, so from then on V8 allocated those of every one-off review straight
 * into the old generation, garbage that only a mark-compact collects (scenario 3 of the bench: a
 * mark-compact every few seconds and ~2 µs more garbage collection per review; BENCHMARKS.md item
 * 25). Now only these two sites see survivors, and only a stored decision is built at them.
 *
 * A denied decision is kept without its reason: the reason repeats each denied image's name and
 * detail, which its verdicts hold already, and was a sixth of what a cached signature verdict and
 * its deny decision keep alive (bench/live-heap.ts, BENCHMARKS.md item 22); a hit makes it again
 * from the verdicts (`reasonOf`, the same text, a few hundred ns). An allowed decision has none.
 */
function stored(d: ReviewDecision): ReviewDecision {
  return {
    allowed: d.allowed,
    reason: undefined,
    auditAnnotations: d.auditAnnotations,
    images: d.images.map(storedVerdict),
    breakGlass: d.breakGlass,
    generation: d.generation,
    cacheHit: false,
  };
}

/** A verdict as `stored` keeps it: every field of ImageVerdict, copied. */
function storedVerdict(v: ImageVerdict): ImageVerdict {
  return {
    image: v.image,
    normalized: v.normalized,
    digest: v.digest,
    rule: v.rule,
    allowed: v.allowed,
    step: v.step,
    code: v.code,
    detail: v.detail,
    audited: v.audited,
    failedOpen: v.failedOpen,
    brokeGlass: v.brokeGlass,
  };
}

/**
 * allowTTL/denyTTL by outcome; a decision that involved a failed lookup (failed open or a lookup
 * error) is kept at most denyTTL (config.md "Failures are not cached as verdicts longer than
 * denyTTL"); internal errors and deadline overruns are not cached at all: they are transient.
 */
function cacheTtl(d: ReviewDecision, policy: CompiledPolicy): number {
  if (d.images.some((v) => v.code === 'INTERNAL_ERROR' || v.code === 'REVIEW_DEADLINE_EXCEEDED')) return 0;
  const lookupFailed = d.images.some((v) => v.failedOpen || (v.step === 'verify' || v.step === 'resolveTags') && !v.allowed);
  if (!d.allowed || lookupFailed) return Math.min(policy.cache.denyTTLSeconds, d.allowed ? policy.cache.allowTTLSeconds : Infinity);
  return policy.cache.allowTTLSeconds;
}
