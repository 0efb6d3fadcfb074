import NodeCache from 'node-cache';

/**
 * A typed, bounded TTL cache on node-cache. node-cache's own `maxKeys` throws when full; every
 * cache here must instead stay bounded and keep working (config.md `cache.maxEntries`), so the
 * oldest entry is evicted first (insertion order, tracked in a Set that node-cache's del/expired
 * events keep in step). `useClones: false`: values are immutable and cloning costs on every hit.
 */
export class TtlCache<V> {
  private readonly cache: NodeCache;
  private readonly order = new Set<string>();

  constructor(private readonly maxEntries: number, checkPeriodSeconds = 60) {
    this.cache = new NodeCache({ stdTTL: 0, checkperiod: checkPeriodSeconds, useClones: false, deleteOnExpire: true });
    this.cache.on('del', (key: string) => this.order.delete(key));
    this.cache.on('expired', (key: string) => this.order.delete(key));
  }

  get(key: string): V | undefined {
    return this.cache.get<V>(key);
  }

  /** Stores `value` for `ttlSeconds`; a TTL of 0 or less stores nothing (node-cache reads 0 as forever). */
  set(key: string, value: V, ttlSeconds: number): void {
    if (!(ttlSeconds > 0)) return;
    if (this.order.has(key)) this.order.delete(key);
    while (this.order.size >= this.maxEntries) {
      const oldest = this.order.values().next().value as string;
      this.order.delete(oldest);
      this.cache.del(oldest);
    }
    this.order.add(key);
    this.cache.set(key, value, ttlSeconds);
  }

  delete(key: string): void {
    this.cache.del(key);
  }

  get size(): number {
    return this.cache.keys().length;
  }

  clear(): void {
    this.cache.flushAll();
    this.order.clear();
  }

  /** Stops node-cache's expiry timer. */
  close(): void {
    this.cache.close();
  }
}
