/**
 * DecisionCache (server/cache/decision-cache.ts): the stored form of a value is made only when the
 * value is stored — a one-off policy-only decision turned away by the doorkeeper is not copied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionCache } from '../../../server/cache/decision-cache';

describe('DecisionCache stored form', () => {
  it('makes the stored form once per value actually stored, and serves it', () => {
    let made = 0;
    const cache = new DecisionCache<{ n: number; form?: boolean }>((v) => {
      made++;
      return { ...v, form: true };
    });
    try {
      cache.set(1, 1, 'a', { n: 1 }, 60, 'policy'); // room: stored
      assert.equal(made, 1);
      assert.deepEqual(cache.get(1, 1, 'a'), { n: 1, form: true });
      cache.set(1, 1, 'b', { n: 2 }, 60, 'policy'); // full, first sight: turned away
      assert.equal(made, 1, 'no stored form for a value that is not stored');
      assert.equal(cache.get(1, 1, 'b'), undefined);
      cache.set(1, 1, 'b', { n: 2 }, 60, 'policy'); // second sight: stored, a evicted
      assert.equal(made, 2);
      assert.deepEqual(cache.get(1, 1, 'b'), { n: 2, form: true });
      cache.set(1, 1, 'c', { n: 3 }, 0, 'lookups'); // a TTL of 0 stores nothing
      assert.equal(made, 2);
      cache.set(1, 1, 'c', { n: 3 }, 60, 'lookups'); // lookups: always stored
      assert.equal(made, 3);
      assert.deepEqual(cache.get(1, 1, 'c'), { n: 3, form: true });
    } finally {
      cache.close();
    }
  });
});
