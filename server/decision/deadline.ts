/**
 * The review budget (config.md `timeouts.review`) as an AbortSignal handed to every lookup, and a
 * race that settles a step when the budget runs out even if a lookup ignores its signal: the
 * answer must reach the apiserver well inside its 30 s webhook timeout (contract.md §5.3).
 */
export interface Deadline {
  readonly signal: AbortSignal;
  readonly ms: number;
  /** Stops the timer (call when the review is answered). */
  dispose(): void;
}

export function startDeadline(ms: number): Deadline {
  const controller = new AbortController();
  // Not unref()ed: a CLI review whose lookup hangs must still get its answer when the budget ends.
  const timer = setTimeout(() => controller.abort(new DeadlineExceeded(ms)), ms);
  return {
    signal: controller.signal,
    ms,
    dispose: () => clearTimeout(timer),
  };
}

export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`review deadline of ${formatMs(ms)} exceeded`);
  }
}

/** Resolves with `work`, or rejects with the signal's reason as soon as it aborts. */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
