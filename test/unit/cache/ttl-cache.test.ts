import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TtlCache } from '../../../server/cache/ttl-cache';

function keys(c: TtlCache<number>, candidates: string[]): string[] {
  return candidates.filter((k) => c.get(k) !== undefined);
}

describe('TtlCache', () => {
  it('stays bounded by maxEntries and evicts the oldest first', () => {
    const c = new TtlCache<number>(3);
    try {
      for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) c.set(k, i, 60);
      assert.equal(c.size, 3);
      assert.deepEqual(keys(c, ['a', 'b', 'c', 'd', 'e']), ['c', 'd', 'e']);
    } finally {
      c.close();
    }
  });

  it('makes a key set again the newest, without evicting anything for it', () => {
    const c = new TtlCache<number>(3);
    try {
      c.set('a', 1, 60);
      c.set('b', 2, 60);
      c.set('c', 3, 60);
      c.set('a', 10, 60); // full, but a is already there: nothing evicted
      assert.deepEqual(keys(c, ['a', 'b', 'c']), ['a', 'b', 'c']);
      assert.equal(c.get('a'), 10);
      c.set('d', 4, 60); // evicts b, the oldest now
      assert.deepEqual(keys(c, ['a', 'b', 'c', 'd']), ['a', 'c', 'd']);
      c.set('e', 5, 60);
      c.set('f', 6, 60);
      assert.deepEqual(keys(c, ['a', 'c', 'd', 'e', 'f']), ['d', 'e', 'f']);
    } finally {
      c.close();
    }
  });

  it('frees the place of a deleted key', () => {
    const c = new TtlCache<number>(2);
    try {
      c.set('a', 1, 60);
      c.set('b', 2, 60);
      c.delete('a');
      c.set('c', 3, 60); // room for c without evicting b
      assert.deepEqual(keys(c, ['a', 'b', 'c']), ['b', 'c']);
    } finally {
      c.close();
    }
  });

  it('stores nothing for a TTL of 0 or less', () => {
    const c = new TtlCache<number>(2);
    try {
      c.set('a', 1, 0);
      c.set('b', 1, -1);
      assert.equal(c.size, 0);
    } finally {
      c.close();
    }
  });

  it('forgets an expired entry and frees its place', async () => {
    const c = new TtlCache<number>(2);
    try {
      c.set('a', 1, 0.05);
      c.set('b', 2, 60);
      await new Promise((r) => setTimeout(r, 80));
      assert.equal(c.get('a'), undefined); // expired: node-cache deletes it on read
      c.set('c', 3, 60);
      assert.deepEqual(keys(c, ['a', 'b', 'c']), ['b', 'c']);
    } finally {
      c.close();
    }
  });

  it('keeps exact oldest-first order through many evictions and re-sets (queue compaction)', () => {
    const max = 50;
    const c = new TtlCache<number>(max);
    const model: string[] = []; // oldest first
    try {
      for (let i = 0; i < 20_000; i++) {
        const k = i % 7 === 0 && model.length > 0 ? (model[(i * 31) % model.length] as string) : `k${i}`;
        const at = model.indexOf(k);
        if (at >= 0) model.splice(at, 1);
        else if (model.length >= max) model.shift();
        model.push(k);
        c.set(k, i, 60);
      }
      assert.equal(c.size, max);
      for (const k of model) assert.notEqual(c.get(k), undefined, k);
      // The next insert evicts the model's oldest.
      c.set('fresh', 1, 60);
      assert.equal(c.get(model[0] as string), undefined);
      assert.notEqual(c.get(model[1] as string), undefined);
    } finally {
      c.close();
    }
  });

  it('clear empties it', () => {
    const c = new TtlCache<number>(2);
    try {
      c.set('a', 1, 60);
      c.clear();
      assert.equal(c.size, 0);
      c.set('b', 1, 60);
      c.set('c', 1, 60);
      c.set('d', 1, 60);
      assert.deepEqual(keys(c, ['b', 'c', 'd']), ['c', 'd']);
    } finally {
      c.close();
    }
  });
});
