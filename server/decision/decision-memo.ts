import type { ReviewDecision } from './decide-review';
import type { ImageVerdict } from './image-verdict';

/**
 * A value derived from a decision (the serialised ImageReview answer, the decision-specific parts
 * of the audit record), made once per *cached* decision instead of once per review: a cached
 * decision is answered thousands of times and these values are the same every time.
 *
 * A cache hit is a copy of the cached decision that shares its verdict list (decide-review.ts
 * `decideNow`), so the list is the key; the fields a value may depend on are compared too (the
 * reason by its text: a denied hit's reason is made again from the verdicts), so a decision that
 * shared the list but differed (none does today) would get a fresh value, never a stale one.
 * Only values of cache hits are kept: a one-off decision must not hold more memory for as long
 * as it stays in the decision cache. Held weakly: an evicted decision frees its values.
 */
export class DecisionMemo<T> {
  private readonly byVerdicts = new WeakMap<readonly ImageVerdict[], { readonly of: ReviewDecision; readonly value: T }>();

  /** `make(d, kept)`: `kept` is true when the value will be kept for later hits (worth more work up front). */
  constructor(private readonly make: (d: ReviewDecision, kept: boolean) => T) {}

  get(d: ReviewDecision): T {
    const known = this.byVerdicts.get(d.images);
    if (known !== undefined && sameOutcome(known.of, d)) return known.value;
    const value = this.make(d, d.cacheHit);
    if (d.cacheHit) this.byVerdicts.set(d.images, { of: d, value });
    return value;
  }
}

/** Everything of a decision except its verdict list (the memo's key) and the per-review `cacheHit` flag. */
function sameOutcome(a: ReviewDecision, b: ReviewDecision): boolean {
  return (
    a.allowed === b.allowed && a.reason === b.reason && a.generation === b.generation &&
    a.breakGlass === b.breakGlass && a.auditAnnotations === b.auditAnnotations
  );
}
