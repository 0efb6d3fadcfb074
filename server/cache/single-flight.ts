/**
 * Concurrent identical lookups share one promise (config.md "Caching": "Concurrent identical
 * lookups share one upstream request"). The entry is removed when the promise settles, so a
 * failure is never remembered here; caching verdicts is the lookup cache's job.
 */
export class SingleFlight<V> {
  private readonly inflight = new Map<string, Promise<V>>();

  run(key: string, work: () => Promise<V>): Promise<V> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const p = work().finally(() => {
      this.inflight.delete(key);
    });
    this.inflight.set(key, p);
    return p;
  }

  get size(): number {
    return this.inflight.size;
  }
}
