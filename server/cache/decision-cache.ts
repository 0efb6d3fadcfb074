import { TtlCache } from './ttl-cache';

/**
 * Review decisions keyed by (policy generation, namespace, images, relevant annotations)
 * (config.md "Caching"). A new generation replaces the whole cache: no decision made under an old
 * policy is ever served after a reload, and the new policy's maxEntries takes effect.
 */
export class DecisionCache<V> {
  private generation = -1;
  private cache: TtlCache<V> | undefined;

  /** The cache for `generation`, replacing the old one when the policy changed. */
  private forGeneration(generation: number, maxEntries: number): TtlCache<V> {
    if (this.generation !== generation || !this.cache) {
      this.cache?.close();
      this.cache = new TtlCache<V>(maxEntries);
      this.generation = generation;
    }
    return this.cache;
  }

  get(generation: number, maxEntries: number, key: string): V | undefined {
    return this.forGeneration(generation, maxEntries).get(key);
  }

  set(generation: number, maxEntries: number, key: string, value: V, ttlSeconds: number): void {
    if (generation !== this.generation && this.generation > generation) return; // a late answer from an old policy
    this.forGeneration(generation, maxEntries).set(key, value, ttlSeconds);
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
