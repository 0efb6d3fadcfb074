import type { Counter } from 'prom-client';

/**
 * Increments of a prom-client Counter with one or two labels, kept as plain numbers on the hot
 * path and added to the counter when it is collected (its `collect` hook: a scrape of /metrics,
 * or `counter.get()`), so a scrape always sees every increment made before it.
 *
 * Why: prom-client's `inc(labels)` hashes the label object and validates its names on every call
 * (0.25–0.4 µs each in isolation, two or three per review); here an increment is two Map reads
 * and a write (BENCHMARKS.md, "What was optimised").
 */
export class PendingCounts<L extends string> {
  private readonly counts = new Map<string, Map<string, number>>();

  /** `names`: the counter's label names, first and (if any) second, in the order `add` takes values. */
  constructor(private readonly counter: Counter<L>, private readonly names: readonly [L] | readonly [L, L]) {}

  /** One more for the label values (`first`, `second`); `second` is ignored for a one-label counter. */
  add(first: string, second = ''): void {
    let inner = this.counts.get(first);
    if (inner === undefined) {
      inner = new Map();
      this.counts.set(first, inner);
    }
    inner.set(second, (inner.get(second) ?? 0) + 1);
  }

  /** Hands every pending increment to the counter. */
  flush(): void {
    for (const [first, inner] of this.counts) {
      for (const [second, n] of inner) {
        if (n === 0) continue;
        inner.set(second, 0);
        this.counter.inc(this.labels(first, second), n);
      }
    }
  }

  private labels(first: string, second: string): Partial<Record<L, string>> {
    const [a, b] = this.names;
    return (b === undefined ? { [a]: first } : { [a]: first, [b]: second }) as Partial<Record<L, string>>;
  }
}
