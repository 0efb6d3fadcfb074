import type { ReviewRequest } from '../imagereview/wire-types';

/** A decoded review remembered by its exact body text, with its decision-cache key for one policy generation. */
export interface MemoisedReview {
  readonly request: ReviewRequest;
  /** The generation `key` was made for (decide-review.ts `keyFor`); another generation makes it again. */
  keyGeneration: number;
  key: string;
}

/** Younger-map capacity: the memo holds at most twice this many bodies. */
export const REVIEW_MEMO_ENTRIES = 512;
/**
 * Bodies longer than this (UTF-16 code units) are never remembered. A real ImageReview is a few
 * hundred characters (contract.md §3); so at most 1 024 bodies of ≤ 4 096 characters, with their
 * decoded requests and keys (each about as long as the body), are held: a few MiB at worst.
 */
export const REVIEW_MEMO_MAX_BODY_CHARS = 4096;

/**
 * Decoded reviews by their exact body text, for bodies whose decision was already a cache hit.
 *
 * kube-apiserver sends byte-identical ImageReviews for identical pods: every replica of a
 * Deployment has the same images, namespace and forwarded annotations, and Go's encoding/json
 * writes them with map keys sorted (contract.md §2 "body encoding", §3). For such a body, parsing the JSON, validating it
 * and serialising its decision key again were most of what a cached review cost beyond the floor
 * (BENCHMARKS.md item 19); a body seen before skips all three. The memo stores what `decodeReview`
 * made of that very text, and the decision itself is still looked up in the decision cache under
 * the key of the policy in force, so a hit here can never carry a stale decision: a reload makes a
 * new generation, whose key is made again, and whose cache starts empty.
 *
 * Only bodies whose review was already answered from the decision cache are remembered (the
 * caller's rule): a flood of one-off reviews costs one failed lookup each and stores nothing.
 * Bounded by count and by body length; two maps (young and old) give least-recently-used
 * eviction without a per-entry list: when the young map is full it becomes the old one and the
 * previous old one is dropped, and a hit in the old map moves the entry back to the young one.
 * Entries are never mutated except for their key, which is a function of (request, generation).
 */
export class ReviewMemo {
  private young = new Map<string, MemoisedReview>();
  private old = new Map<string, MemoisedReview>();

  constructor(
    private readonly entries = REVIEW_MEMO_ENTRIES,
    private readonly maxBodyChars = REVIEW_MEMO_MAX_BODY_CHARS,
  ) {}

  get(text: string): MemoisedReview | undefined {
    // Nothing this long is ever remembered: do not hash it (a body may be up to 1 MiB).
    if (text.length > this.maxBodyChars) return undefined;
    const recent = this.young.get(text);
    if (recent !== undefined) return recent;
    const older = this.old.get(text);
    if (older !== undefined) {
      this.old.delete(text);
      this.put(text, older);
    }
    return older;
  }

  /** Remembers `request` as the decoding of `text`, with its key for `generation`. */
  remember(text: string, request: ReviewRequest, generation: number, key: string): void {
    if (text.length > this.maxBodyChars || this.young.has(text)) return;
    this.old.delete(text);
    this.put(text, { request: frozen(request), keyGeneration: generation, key });
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private put(text: string, entry: MemoisedReview): void {
    if (this.young.size >= this.entries) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(text, entry);
  }
}

/** The request shared by every later review of the same body: nothing may change it. */
function frozen(request: ReviewRequest): ReviewRequest {
  Object.freeze(request.images);
  Object.freeze(request.annotations);
  return Object.freeze(request);
}
