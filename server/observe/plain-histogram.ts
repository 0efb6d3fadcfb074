import type { Histogram, Registry } from 'prom-client';

/** One exported sample, as prom-client's registry reads it (registry.js getMetricsAsString). */
interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
  /** null on bucket samples, as prom-client's (no exemplars are kept). */
  readonly exemplar?: null;
}

/** What `get()` resolves to: the fields prom-client's registry and `getMetricsAsJSON` use. */
export interface HistogramSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: readonly Sample[];
  readonly aggregator: 'sum';
}

/**
 * A histogram without labels whose `observe` is a loop over the bucket bounds and three additions,
 * exported in exactly the form prom-client's `Histogram` gives (test/unit/observe/plain-histogram
 * .test.ts compares the two expositions for the same observations).
 *
 * Why: `imagegate_review_duration_seconds` is observed once per review, and prom-client's
 * `observe` makes a closure and two label objects, validates the (absent) labels and hashes them
 * on every call: 2–2.5 % of the server's CPU per one-off review in a profile of issue 5's scenario 3
 * (BENCHMARKS.md item 21). The counters got the same treatment earlier (pending-counts.ts).
 */
export class PlainHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); those above every bound are only in `count` (+Inf). */
  private counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.bounds = [...buckets].sort((a, b) => a - b);
    this.counts = new Array<number>(this.bounds.length).fill(0);
    // Registry only calls name, help, type, get() and reset(): the members a Histogram has too.
    registry.registerMetric(this as unknown as Histogram);
  }

  /** One observation. A value that is not a finite number is dropped (prom-client would throw, on the review path). */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    if (i < bounds.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }

  /** prom-client's `Histogram.get()` shape: cumulative `_bucket` series by `le`, then `_sum` and `_count`. */
  get(): Promise<HistogramSnapshot> {
    const values: Sample[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      values.push({ labels: { le: this.bounds[i] as number }, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
    }
    values.push(
      { labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket`, exemplar: null },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    );
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** Back to zero counts (prom-client's reset drops the series until the next observation; zeros are kept here). */
  reset(): void {
    this.counts = new Array<number>(this.bounds.length).fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
