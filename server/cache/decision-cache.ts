import { Doorkeeper } from './doorkeeper';
import { TtlCache } from './ttl-cache';

/** What a decision cost to make: `lookups` (registry or trust-server answers) or `policy` only. */
export type RemakeCost = 'lookups' | 'policy';

/**
 * Review decisions keyed by (policy generation, namespace, images, relevant annotations)
 * (config.md "Caching"). A new generation replaces the whole cache: no decision made under an old
 * policy is ever served after a reload, and the new policy's maxEntries takes effect.
 *
 * Admission (docs/architecture.md "Decisions worth knowing"): while the cache has room every
 * decision is stored. Once it is full, storing one evicts the oldest, so a decision made by policy
 * rules alone (a few µs to make again) is stored only on the second time its key is seen
 * (a TinyLFU doorkeeper, doorkeeper.ts). A flood of one-off reviews (unique tags from CI, or an
 * attacker creating pods with random references) then neither pushes out the decisions that cost
 * registry lookups nor pays an insert, an eviction and the garbage collection of an entry that is
 * never read (a few per cent of a one-off review's CPU in paired runs, BENCHMARKS.md item 17).
 * Decisions that needed lookups are always stored. Whether stored or not, the answer is the same:
 * a policy-only decision depends on nothing but the key.
 */
export class DecisionCache<V> {
  private generation = -1;
  private cache: TtlCache<V> | undefined;
  private doorkeeper: Doorkeeper | undefined;

  /**
   * @param storedForm what is kept for a value that is stored: applied only when `set` does store
   *   it (a one-off decision turned away by the doorkeeper is not copied for nothing).
   */
  constructor(private readonly storedForm: (value: V) => V = (value) => value) {}

  /** The cache for `generation`, replacing the old one when the policy changed. */
  private forGeneration(generation: number, maxEntries: number): TtlCache<V> {
    if (this.generation !== generation || !this.cache) {
      this.cache?.close();
      this.cache = new TtlCache<V>(maxEntries);
      this.doorkeeper = undefined; // made when the new cache first fills
      this.generation = generation;
    }
    return this.cache;
  }

  get(generation: number, maxEntries: number, key: string): V | undefined {
    return this.forGeneration(generation, maxEntries).get(key);
  }

  set(generation: number, maxEntries: number, key: string, value: V, ttlSeconds: number, cost: RemakeCost): void {
    if (generation !== this.generation && this.generation > generation) return; // a late answer from an old policy
    const cache = this.forGeneration(generation, maxEntries);
    if (cost === 'policy' && cache.full && !this.admitCheap(key, maxEntries)) return;
    // TtlCache stores nothing for a TTL of 0 or less: checked here so no stored form is made for it.
    if (ttlSeconds > 0) cache.set(key, this.storedForm(value), ttlSeconds);
  }

  private admitCheap(key: string, maxEntries: number): boolean {
    this.doorkeeper ??= new Doorkeeper(maxEntries);
    return this.doorkeeper.seenBefore(key);
  }

  get size(): number {
    return this.cache?.size ?? 0;
  }

  close(): void {
    this.cache?.close();
  }
}

/** The cache key: JSON of the parts that decide; order of images kept (it shapes the reason). */
export function decisionKey(generation: number, namespace: string, images: readonly string[], annotationPart: string): string {
  return JSON.stringify([generation, namespace, annotationPart, images]);
}
