/**
 * LookupCache on its own (the registry peer tests prove single-flight end to end with the
 * registry's access log): outcomes cached for their TTL, one flight for concurrent callers, the
 * shared work cancelled only when every caller has left, and cached errors holding no stack
 * frames (issue 5's memory scenario).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LookupCache } from '../../../server/cache/lookup-cache';
import { LookupError } from '../../../server/errors';

const never = new AbortController().signal;

describe('LookupCache', () => {
  it('answers a second get from the cache while the TTL lasts', async () => {
    const cache = new LookupCache<string>(10, () => 60);
    let calls = 0;
    const work = async () => `v${++calls}`;
    const hits: boolean[] = [];
    assert.equal(await cache.get('k', never, work, (h) => hits.push(h)), 'v1');
    assert.equal(await cache.get('k', never, work, (h) => hits.push(h)), 'v1');
    assert.equal(calls, 1);
    assert.deepEqual(hits, [false, true]);
    cache.close();
  });

  it('does not cache an outcome whose TTL is 0', async () => {
    const cache = new LookupCache<string>(10, (o) => (o.ok ? 60 : 0));
    let calls = 0;
    const work = async () => {
      calls += 1;
      throw new LookupError('CONNECTION_FAILED', 'down');
    };
    await assert.rejects(cache.get('k', never, work), /down/);
    await assert.rejects(cache.get('k', never, work), /down/);
    assert.equal(calls, 2);
    cache.close();
  });

  it('runs one flight for concurrent callers of one key', async () => {
    const cache = new LookupCache<number>(10, () => 60);
    let calls = 0;
    let release!: (v: number) => void;
    const work = () => {
      calls += 1;
      return new Promise<number>((r) => (release = r));
    };
    const all = Promise.all([cache.get('k', never, work), cache.get('k', never, work), cache.get('k', never, work)]);
    await new Promise((r) => setImmediate(r));
    release(7);
    assert.deepEqual(await all, [7, 7, 7]);
    assert.equal(calls, 1);
    cache.close();
  });

  it('cancels the shared work only when the last waiter leaves, and caches nothing then', async () => {
    const cache = new LookupCache<number>(10, () => 60);
    let workSignal!: AbortSignal;
    const work = (s: AbortSignal) => {
      workSignal = s;
      return new Promise<number>((_, reject) => s.addEventListener('abort', () => reject(s.reason)));
    };
    const a = new AbortController();
    const b = new AbortController();
    const pa = cache.get('k', a.signal, work);
    const pb = cache.get('k', b.signal, work);
    a.abort(new Error('a left'));
    await assert.rejects(pa, /a left/);
    assert.equal(workSignal.aborted, false, 'b still waits: the work goes on');
    b.abort(new Error('b left'));
    await assert.rejects(pb, /b left/);
    assert.equal(workSignal.aborted, true);
    await new Promise((r) => setImmediate(r));
    assert.equal(cache.size, 0);
    cache.close();
  });

  it('keeps no stack on a cached typed error, and a formatted one on any other error', async () => {
    const cache = new LookupCache<number>(10, () => 60);
    await assert.rejects(cache.get('typed', never, async () => {
      throw new LookupError('CONNECTION_FAILED', 'registry down');
    }), (err: unknown) => {
      assert.ok(err instanceof LookupError);
      assert.equal(err.stack, undefined);
      assert.equal(err.message, 'registry down');
      return true;
    });
    await assert.rejects(cache.get('bug', never, async () => {
      throw new TypeError('a bug');
    }), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.match(String(err.stack), /TypeError: a bug\n\s+at /);
      return true;
    });
    cache.close();
  });
});
