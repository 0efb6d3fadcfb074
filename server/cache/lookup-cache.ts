/**
 * A lookup cache with single-flight (config.md "Caching": tag → digest for tagTTL, verdicts for
 * verifyTTL, "Failures are not cached as verdicts longer than denyTTL", "Concurrent identical
 * lookups share one upstream request").
 *
 * Sharing one upstream request between reviews needs care with cancellation: the shared work gets
 * its own AbortController, aborted only when EVERY review waiting for it has given up; a review
 * whose own deadline passes leaves at once (its signal's reason) without cancelling the others.
 * An outcome is cached only when the work was not cancelled.
 */
import { BaseError } from '../errors';
import { SingleFlight } from './single-flight';
import { TtlCache } from './ttl-cache';

export type Outcome<V> = { readonly ok: true; readonly value: V } | { readonly ok: false; readonly error: unknown };

/** Seconds an outcome may be served from the cache; 0 = not cached. */
export type OutcomeTtl<V> = (outcome: Outcome<V>) => number;

interface Flight {
  readonly controller: AbortController;
  waiters: number;
}

export class LookupCache<V> {
  private readonly cache: TtlCache<Outcome<V>>;
  private readonly flights = new SingleFlight<Outcome<V>>();
  private readonly controllers = new Map<string, Flight>();

  constructor(
    maxEntries: number,
    private readonly ttl: OutcomeTtl<V>,
  ) {
    this.cache = new TtlCache<Outcome<V>>(maxEntries);
  }

  /**
   * The cached outcome for `key`, or the outcome of `work` (shared with identical concurrent
   * calls). `onCache(hit)` is told whether the cache answered. Rejects with the outcome's error,
   * or with `signal.reason` when this caller's signal aborts first.
   */
  async get(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<V>, onCache?: (hit: boolean) => void): Promise<V> {
    const cached = this.cache.get(key);
    onCache?.(cached !== undefined);
    if (cached) return unwrap(cached);
    if (signal.aborted) throw signal.reason;
    return unwrap(await this.join(key, signal, work));
  }

  private join(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<V>): Promise<Outcome<V>> {
    let flight: Flight;
    let shared: Promise<Outcome<V>>;
    const existing = this.controllers.get(key);
    if (existing?.controller.signal.aborted) {
      // Everyone waiting for that flight left and it is being torn down: do not join a cancelled
      // request; run a fresh one of our own (not shared, as it overlaps the dying one).
      flight = { controller: new AbortController(), waiters: 0 };
      shared = this.run(key, flight, work, false);
    } else {
      shared = this.flights.run(key, () => this.run(key, { controller: new AbortController(), waiters: 0 }, work, true));
      const current = this.controllers.get(key);
      if (!current) return shared; // already settled: the outcome is final
      flight = current;
    }
    return this.wait(flight, shared, signal);
  }

  /** One waiter on a flight: leaves on its own abort, and cancels the work if it was the last one. */
  private wait(flight: Flight, shared: Promise<Outcome<V>>, signal: AbortSignal): Promise<Outcome<V>> {
    flight.waiters += 1;
    return new Promise<Outcome<V>>((resolve, reject) => {
      let done = false;
      const leave = (): boolean => {
        if (done) return false;
        done = true;
        signal.removeEventListener('abort', onAbort);
        flight.waiters -= 1;
        return true;
      };
      const onAbort = (): void => {
        if (!leave()) return;
        if (flight.waiters === 0) flight.controller.abort(signal.reason);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void shared.then((outcome) => {
        if (leave()) resolve(outcome);
      });
    });
  }

  private run(key: string, flight: Flight, work: (signal: AbortSignal) => Promise<V>, track: boolean): Promise<Outcome<V>> {
    const { controller } = flight;
    if (track) this.controllers.set(key, flight);
    let p: Promise<V>;
    try {
      p = work(controller.signal);
    } catch (err) {
      p = Promise.reject(err);
    }
    return p
      .then(
        (value): Outcome<V> => ({ ok: true, value }),
        (error: unknown): Outcome<V> => ({ ok: false, error }),
      )
      .then((outcome) => {
        if (this.controllers.get(key) === flight) this.controllers.delete(key);
        if (!outcome.ok) releaseStack(outcome.error);
        if (!controller.signal.aborted) this.cache.set(key, outcome, this.ttl(outcome));
        return outcome;
      });
  }

  get size(): number {
    return this.cache.size;
  }

  close(): void {
    this.cache.close();
  }
}

function unwrap<V>(outcome: Outcome<V>): V {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

/**
 * A cached error keeps V8's captured call frames (and what they reference) for as long as it is
 * cached, or their formatted string once anything reads `stack`. A typed error (errors.ts) is an
 * expected outcome whose code and message say everything an operator acts on, so its stack is
 * dropped (~400 bytes per cached verdict; issue 5's memory scenario). Any other error is a bug
 * worth its stack: it is formatted now, so the cache holds a string rather than live frames.
 */
function releaseStack(error: unknown): void {
  if (error instanceof BaseError) error.stack = undefined;
  else if (error instanceof Error) void error.stack;
}
