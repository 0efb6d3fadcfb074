/**
 * The review path's work in stages, once per turn of the event loop: the reviews whose bodies
 * were read in the turn are decided after it (one `setImmediate`), one after the other, and then
 * their answers are ended, back to back.
 *
 * Why, measured (BENCHMARKS.md items 29 and 30):
 * - Ends together: writing an answer to a socket whose reader sleeps wakes the reader, and on a
 *   VM that wake-up (an inter-processor interrupt to the client's vCPU) is paid inside the
 *   writer's `writev`. Ended one by one, with a review's work between two writes, every answer
 *   woke the client again: imagegate's `writev` cost ~43 µs per one-off review against the
 *   floor's ~21 (`--cpu-prof`, scenario 3). Ended back to back, the answers of a turn reach a
 *   client already awake.
 * - Decisions together: deciding the turn's reviews one after the other, not each between the
 *   TLS and HTTP work of the next request, keeps the decision code and its data in the CPU's
 *   caches: scenario 3's CPU per review fell again by ~15 %, paired.
 * On a quiet server (one review per turn) this is one `setImmediate` hop: the answer leaves at the
 * end of the same turn (the 1-connection latency runs show no difference).
 *
 * Nothing is lost to a failure: each review and each answer runs on its own, and a throw is
 * handed to that item's own handler (which answers the review with a 200 deny, or reports the
 * error and closes that connection).
 */

/** A review whose body was read, to be decided at the end of the turn. */
export interface TurnReview {
  /** Decides and answers the review (called once). */
  decideNow(): void;
  /** `decideNow` threw: answer the review as a bug (a 200 deny). Must not throw. */
  onDecideError(err: unknown): void;
}

/** An answer whose headers are set, to be ended at the end of the turn. */
export interface TurnEnd {
  /** Ends the response (called once). */
  endNow(): void;
  /** `endNow` threw: the response's socket is in an unknown state. Must not throw. */
  onEndError(err: unknown): void;
}

export class EndOfTurn {
  private reviews: TurnReview[] = [];
  private ends: TurnEnd[] = [];
  private scheduled = false;
  private readonly flush = (): void => {
    try {
      // Reviews first: their answers join this flush's ends. A review decided later (after a
      // lookup) has its answer ended in the flush of the turn it is answered in.
      const reviews = this.reviews;
      this.reviews = [];
      for (const review of reviews) {
        try {
          review.decideNow();
        } catch (err) {
          lastResort(() => review.onDecideError(err));
        }
      }
      const ends = this.ends;
      this.ends = [];
      for (const end of ends) {
        try {
          end.endNow();
        } catch (err) {
          lastResort(() => end.onEndError(err));
        }
      }
    } finally {
      this.scheduled = false;
      // Anything queued while the ends were written goes in the next turn's flush.
      if (this.reviews.length !== 0 || this.ends.length !== 0) this.schedule();
    }
  };

  /** Decides `review` at the end of this turn, before the turn's answers are ended. */
  decide(review: TurnReview): void {
    this.schedule();
    this.reviews.push(review);
  }

  /** Ends `answer` at the end of this turn, after every review decided in it. */
  end(answer: TurnEnd): void {
    this.schedule();
    this.ends.push(answer);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }
}

/** An error handler that threw anyway: nothing more can be done for that one item, and the rest must still run. */
function lastResort(handle: () => void): void {
  try {
    handle();
  } catch {
    /* ignored: see the handler's contract */
  }
}
