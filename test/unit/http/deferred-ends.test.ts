/**
 * server/http/deferred-ends.ts: answers decided in one turn of the event loop are ended together
 * after it, in the order they were decided, and one answer failing to end never keeps the others
 * from being ended (each review gets exactly one answer).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeferredEnds, type DeferredEnd } from '../../../server/http/deferred-ends';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function item(log: string[], name: string, fail = false): DeferredEnd & { errors: unknown[] } {
  const errors: unknown[] = [];
  return {
    errors,
    endNow() {
      if (fail) throw new Error(`${name} cannot end`);
      log.push(name);
    },
    onEndError(err) {
      errors.push(err);
    },
  };
}

describe('DeferredEnds', () => {
  it('ends nothing in the turn that defers, then every answer of the turn in order', async () => {
    const ends = new DeferredEnds();
    const log: string[] = [];
    ends.defer(item(log, 'a'));
    await Promise.resolve(); // microtasks of the same turn
    ends.defer(item(log, 'b'));
    ends.defer(item(log, 'c'));
    assert.deepEqual(log, [], 'nothing is written before the turn ends');
    await nextTurn();
    assert.deepEqual(log, ['a', 'b', 'c']);
  });

  it('ends the others when one answer throws, and hands the error to that answer alone', async () => {
    const ends = new DeferredEnds();
    const log: string[] = [];
    const a = item(log, 'a');
    const bad = item(log, 'bad', true);
    const c = item(log, 'c');
    ends.defer(a);
    ends.defer(bad);
    ends.defer(c);
    await nextTurn();
    assert.deepEqual(log, ['a', 'c']);
    assert.equal(bad.errors.length, 1);
    assert.match(String(bad.errors[0]), /bad cannot end/);
    assert.deepEqual([a.errors.length, c.errors.length], [0, 0]);
  });

  it('starts a new batch for answers decided in a later turn, and ends each answer once', async () => {
    const ends = new DeferredEnds();
    const log: string[] = [];
    ends.defer(item(log, 'first'));
    await nextTurn();
    ends.defer(item(log, 'second'));
    await nextTurn();
    await nextTurn();
    assert.deepEqual(log, ['first', 'second']);
  });
});
