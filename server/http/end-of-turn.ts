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

/**
 * One piece of a turn's deferred work: a review whose body was read (run = decide and answer it)
 * or an answer whose headers are set (run = end the response).
 */
export interface TurnWork {
  /** Does the work (called once). */
  runNow(): void;
  /**
   * `runNow` threw. A review answers itself as a bug (a 200 deny); an answer's socket is in an
   * unknown state and is closed. Must not throw.
   */
  onRunError(err: unknown): void;
}

export class EndOfTurn {
  private reviews: TurnWork[] = [];
  private ends: TurnWork[] = [];
  private scheduled = false;
  private readonly flush = (): void => {
    try {
      // Reviews first: their answers join this flush's ends. A review decided later (after a
      // lookup) has its answer ended in the flush of the turn it is answered in.
      const reviews = this.reviews;
      this.reviews = [];
      runEach(reviews);
      const ends = this.ends;
      this.ends = [];
      runEach(ends);
    } finally {
      this.scheduled = false;
      // Anything queued while the ends were written goes in the next turn's flush.
      if (this.reviews.length !== 0 || this.ends.length !== 0) this.schedule();
    }
  };

  /** Decides `review` at the end of this turn, before the turn's answers are ended. */
  decide(review: TurnWork): void {
    this.schedule();
    this.reviews.push(review);
  }

  /** Ends `answer` at the end of this turn, after every review decided in it. */
  end(answer: TurnWork): void {
    this.schedule();
    this.ends.push(answer);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }
}

/**
 * Runs every item on its own: a throw goes to that item's `onRunError`, and if that throws too,
 * nothing more can be done for that one item; the rest must still run.
 */
function runEach(items: readonly TurnWork[]): void {
  for (const item of items) {
    try {
      item.runNow();
    } catch (err) {
      try {
        item.onRunError(err);
      } catch {
        /* ignored: see onRunError's contract */
      }
    }
  }
}
