import NodeCache from 'node-cache';

/**
 * A typed, bounded TTL cache on node-cache. node-cache's own `maxKeys` throws when full; every
 * cache here must instead stay bounded and keep working (config.md `cache.maxEntries`), so the
 * oldest entry is evicted first (insertion order; setting a key again makes it the newest).
 * `useClones: false`: values are immutable and cloning costs on every hit.
 *
 * The insertion order is a queue of (key, sequence number) with a head index, and `live` maps each
 * key to the sequence number of its latest insertion; a queue entry whose number is no longer its
 * key's is stale and skipped. Eviction is O(1) amortised. (It used to be a Set whose oldest member
 * was found with `values().next()`: V8 leaves a hole per deleted member at the front of the
 * table until it rehashes, so with a full cache every insert walked thousands of holes — about
 * 20 µs per uncached review at maxEntries 10000, BENCHMARKS.md.) node-cache's expired event and
 * this class's own removals keep `live` in step.
 */
export class TtlCache<V> {
  private readonly cache: NodeCache;
  /** key → sequence number of its latest insertion, for keys node-cache still holds. */
  private readonly live = new Map<string, number>();
  private queueKeys: string[] = [];
  private queueSeqs: number[] = [];
  private head = 0;
  private seq = 0;

  constructor(private readonly maxEntries: number, checkPeriodSeconds = 60) {
    this.cache = new NodeCache({ stdTTL: 0, checkperiod: checkPeriodSeconds, useClones: false, deleteOnExpire: true });
    // Expiry is node-cache's own doing; every other removal goes through this class, which keeps
    // `live` in step itself (a 'del' listener would run on each eviction for nothing).
    this.cache.on('expired', (key: string) => this.live.delete(key));
  }

  get(key: string): V | undefined {
    // `live` holds exactly the keys node-cache holds, so a miss is answered by one Map probe: a
    // lookup in node-cache's dictionary object first looks the key up in V8's string table, about
    // 1 µs for a ~100-character decision key (a tenth of an uncached review's decision work).
    if (!this.live.has(key)) return undefined;
    return this.cache.get<V>(key);
  }

  /** Stores `value` for `ttlSeconds`; a TTL of 0 or less stores nothing (node-cache reads 0 as forever). */
  set(key: string, value: V, ttlSeconds: number): void {
    if (!(ttlSeconds > 0)) return;
    this.live.delete(key); // its queue entry, if any, is stale from now on
    while (this.live.size >= this.maxEntries) this.evictOldest();
    const seq = ++this.seq;
    this.live.set(key, seq);
    this.queueKeys.push(key);
    this.queueSeqs.push(seq);
    this.cache.set(key, value, ttlSeconds);
    // Evicted and stale entries (keys set again, deleted, expired) are dropped once they outnumber the live ones.
    if (this.queueKeys.length > 2 * this.live.size + 1024) this.compact();
  }

  delete(key: string): void {
    this.live.delete(key);
    this.cache.del(key);
  }

  get size(): number {
    return this.cache.keys().length;
  }

  /** True when the next new key will evict the oldest one. */
  get full(): boolean {
    return this.live.size >= this.maxEntries;
  }

  clear(): void {
    this.cache.flushAll();
    this.live.clear();
    this.queueKeys = [];
    this.queueSeqs = [];
    this.head = 0;
  }

  /** Stops node-cache's expiry timer. */
  close(): void {
    this.cache.close();
  }

  private evictOldest(): void {
    while (this.head < this.queueKeys.length) {
      const key = this.queueKeys[this.head] as string;
      const seq = this.queueSeqs[this.head] as number;
      this.head++;
      if (this.live.get(key) === seq) {
        this.live.delete(key);
        this.cache.del(key);
        return;
      }
    }
    // Only reached if `live` and the queue disagree, which set/compact never let happen; stay bounded anyway.
    const oldest = this.live.keys().next();
    if (!oldest.done) {
      this.live.delete(oldest.value);
      this.cache.del(oldest.value);
    }
  }

  /** Rebuilds the queue from `live`, whose iteration order is insertion order (a re-set key is deleted and re-added). */
  private compact(): void {
    this.queueKeys = [...this.live.keys()];
    this.queueSeqs = [...this.live.values()];
    this.head = 0;
  }
}
