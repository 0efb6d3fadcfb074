/**
 * Remembers, approximately and in a fixed number of bytes, which keys were offered recently: the
 * "doorkeeper" of TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
 * Admission Policy", ACM Transactions on Storage, 2017), used by the decision cache to admit a
 * cheap-to-remake entry into a full cache only on its second sight (decision-cache.ts).
 *
 * A Bloom filter (two bits per key, from a 32-bit hash of it) over 32 bits per entry of capacity:
 * 0.15 % false positives over 20 000 distinct decision keys at capacity 10 000 (BENCHMARKS.md
 * item 17). No key is kept, so a flood of distinct keys costs no memory and no garbage
 * collection. A collision makes a first sight look like a second one: the entry is then admitted
 * at once, which is what the cache did before it had a doorkeeper, so a false positive costs some
 * work (an insert and its garbage collection) and is never wrong. There are no false negatives
 * between resets. After 2 × capacity marks the set is cleared (TinyLFU's reset), so "seen" means
 * "seen among the last ~2 × capacity first sights"; the false-positive rate is at most
 * (1 − e^(−1/8))² ≈ 1.4 % just before a reset, under 0.5 % on average.
 */
export class Doorkeeper {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private readonly resetAfter: number;
  private marks = 0;

  constructor(capacity: number) {
    // 32 bits per entry of capacity, a power of two (a mask instead of a modulo), 1 KiB … 4 MiB.
    const wanted = Math.min(Math.max(32 * Math.max(1, capacity), 1 << 13), 1 << 25);
    const size = 2 ** Math.ceil(Math.log2(wanted));
    this.bits = new Uint32Array(size >>> 5);
    this.mask = size - 1;
    this.resetAfter = 2 * Math.max(1, capacity);
  }

  /** True if `key` was offered before (since the last reset); otherwise remembers it and says false. */
  seenBefore(key: string): boolean {
    const h = hash(key);
    // Two positions, the second from a remix of the same 32-bit hash (a Bloom filter with k = 2;
    // both derive from one hash, which is enough at these sizes: 0.15 % measured, see above).
    const a = h & this.mask;
    const b = (h + Math.imul((h >>> 16) | (h << 16), 0x9e3779b1)) & this.mask;
    if (this.has(a) && this.has(b)) return true;
    if (++this.marks > this.resetAfter) {
      this.bits.fill(0);
      this.marks = 1;
    }
    this.set(a);
    this.set(b);
    return false;
  }

  private has(i: number): boolean {
    return ((this.bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }

  private set(i: number): void {
    this.bits[i >>> 5] = (this.bits[i >>> 5] as number) | (1 << (i & 31));
  }
}

/**
 * FNV-1a over the UTF-16 code units (http://www.isthe.com/chongo/tech/comp/fnv/), then
 * MurmurHash3's fmix32 finaliser: FNV's multiply carries a change in the last characters only
 * towards the high bits, and the set is indexed by the low ones (keys that differ in their last
 * digits collided three times too often without it).
 */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
