/**
 * One outbound request's signal: the review's signal, plus `timeouts.lookup` for this request
 * alone (config.md "timeouts"), with a timer that is cleared as soon as the request settles.
 *
 * Why not `AbortSignal.any([review, AbortSignal.timeout(ms)])`: a timer made by
 * `AbortSignal.timeout` cannot be cleared, so every registry or notary request left a live timer,
 * its signal and the composite signal in the heap for the whole lookup timeout (10 s by default)
 * after it had been answered. Under a burst of cold reviews that was ~10 000 timers and their
 * signals held at once (seen in a heap snapshot of the memory benchmark, issue 5), and the RSS it
 * cost stayed after the burst.
 */
export interface RequestDeadline {
  readonly signal: AbortSignal;
  /** True when this request's own timeout fired (not the review's signal). */
  readonly timedOut: boolean;
  /** Clears the timer and detaches from the review's signal; call when the request settles. */
  dispose(): void;
}

export function requestDeadline(review: AbortSignal, ms: number): RequestDeadline {
  const controller = new AbortController();
  let timedOut = false;
  const onReviewAbort = (): void => controller.abort(review.reason);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`request timeout after ${ms} ms`));
  }, ms);
  // A lookup timer must not keep a finishing process alive by itself (the review's own deadline
  // is what holds a CLI review open, decision/deadline.ts).
  timer.unref();
  if (review.aborted) onReviewAbort();
  else review.addEventListener('abort', onReviewAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose() {
      clearTimeout(timer);
      review.removeEventListener('abort', onReviewAbort);
    },
  };
}
