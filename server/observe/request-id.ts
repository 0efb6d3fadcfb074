import { randomFillSync } from 'node:crypto';

/** Random bytes for this many ids are drawn at once (crypto.randomUUID draws for 128). */
const IDS_PER_DRAW = 256;
const pool = Buffer.alloc(16 * IDS_PER_DRAW);
let nextId = IDS_PER_DRAW;
const text = Buffer.alloc(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A random (version 4, RFC 9562 §5.4) UUID for a decision record's `requestId`, as
 * `crypto.randomUUID()` makes one: 122 random bits from the same CSPRNG, lowercase text.
 *
 * Why not randomUUID itself: it builds its text by concatenating 20 small strings, about 0.9 KB
 * of garbage and 0.4 µs per review on the hot path (an allocation profile of scenario 3 put it
 * among the ten largest allocators, BENCHMARKS.md item 20); here the text is written into one
 * buffer and read out as one string. test/unit/observe/request-id.test.ts checks the format,
 * the version and variant bits, and that ids do not repeat.
 */
export function newRequestId(): string {
  if (nextId === IDS_PER_DRAW) {
    randomFillSync(pool);
    nextId = 0;
  }
  const at = nextId++ * 16;
  let j = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[j++] = 0x2d; // '-'
    let b = pool[at + i] as number;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10
    text[j++] = HEX[b >> 4] as number;
    text[j++] = HEX[b & 0x0f] as number;
  }
  return text.toString('latin1', 0, 36);
}
