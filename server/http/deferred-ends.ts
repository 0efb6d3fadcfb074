/**
 * Answers are ended together after the event loop's poll phase (one `setImmediate` per turn),
 * not each the moment its review is decided.
 *
 * Why: writing an answer to a socket whose reader sleeps wakes the reader, and on a VM that
 * wake-up (an inter-processor interrupt to the client's vCPU) is paid inside the writer's
 * `writev`. Ended one by one, with a review's work between two writes, every answer woke the
 * client again: in scenario 3 of the benchmark imagegate's `writev` cost ~43 µs per review
 * against the floor's ~21 (BENCHMARKS.md item 28, `--cpu-prof`). Ended back to back, the answers
 * of every review decided in one turn reach a client already awake. On a quiet server (one review
 * per turn) it costs one `setImmediate` hop: the answer leaves at the end of the same turn.
 *
 * A failure ending one answer never stops the others: each is ended on its own, and a throw is
 * handed to that answer's `onEndError` (which reports it and closes that connection).
 */
export interface DeferredEnd {
  /** Ends the response (called once, from the flush). */
  endNow(): void;
  /** `endNow` threw: the response's socket is in an unknown state. */
  onEndError(err: unknown): void;
}

export class DeferredEnds {
  private queue: DeferredEnd[] = [];
  private readonly flush = (): void => {
    const queue = this.queue;
    this.queue = [];
    for (const item of queue) {
      try {
        item.endNow();
      } catch (err) {
        item.onEndError(err);
      }
    }
  };

  /** Ends `item` at the end of this turn of the event loop, after every review decided in it. */
  defer(item: DeferredEnd): void {
    if (this.queue.length === 0) setImmediate(this.flush);
    this.queue.push(item);
  }
}
