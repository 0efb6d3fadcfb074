/**
 * server/http/end-of-turn.ts: the reviews read in one turn of the event loop are decided after
 * it, in arrival order, and then every answer of the turn is ended, back to back; one item
 * failing never keeps the others from running, and nothing queued is ever left behind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndOfTurn, type TurnWork } from '../../../server/http/end-of-turn';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Probe {
  errors: unknown[];
}

function answer(log: string[], name: string, opts: { fail?: boolean; handlerThrows?: boolean } = {}): TurnWork & Probe {
  const errors: unknown[] = [];
  return {
    errors,
    runNow() {
      if (opts.fail) throw new Error(`${name} cannot end`);
      log.push(`end ${name}`);
    },
    onRunError(err) {
      errors.push(err);
      if (opts.handlerThrows) throw new Error('the handler failed too');
    },
  };
}

/** A review that, when decided, logs and queues its answer (as ResponseSink does). */
function review(turn: EndOfTurn, log: string[], name: string, opts: { fail?: boolean } = {}): TurnWork & Probe {
  const errors: unknown[] = [];
  return {
    errors,
    runNow() {
      if (opts.fail) throw new Error(`${name} cannot be decided`);
      log.push(`decide ${name}`);
      turn.end(answer(log, name));
    },
    onRunError(err) {
      errors.push(err);
      turn.end(answer(log, `${name} (a 200 deny)`));
    },
  };
}

describe('EndOfTurn', () => {
  it('runs nothing in the turn that queues, then decides every review of the turn and ends every answer', async () => {
    const turn = new EndOfTurn();
    const log: string[] = [];
    turn.decide(review(turn, log, 'a'));
    await Promise.resolve(); // microtasks of the same turn
    turn.end(answer(log, 'x')); // an answer of a review decided earlier (after a lookup)
    turn.decide(review(turn, log, 'b'));
    assert.deepEqual(log, [], 'nothing is decided or written before the turn ends');
    await nextTurn();
    assert.deepEqual(log, ['decide a', 'decide b', 'end x', 'end a', 'end b'], 'decisions first, then all answers, in order');
  });

  it('answers a review whose decision throws through its own handler, and still runs the others', async () => {
    const turn = new EndOfTurn();
    const log: string[] = [];
    const bad = review(turn, log, 'bad', { fail: true });
    turn.decide(review(turn, log, 'a'));
    turn.decide(bad);
    turn.decide(review(turn, log, 'c'));
    await nextTurn();
    assert.deepEqual(log, ['decide a', 'decide c', 'end a', 'end bad (a 200 deny)', 'end c']);
    assert.match(String(bad.errors[0]), /bad cannot be decided/);
  });

  it('ends the other answers when one throws, even if its error handler throws too', async () => {
    const turn = new EndOfTurn();
    const log: string[] = [];
    const bad = answer(log, 'bad', { fail: true, handlerThrows: true });
    turn.end(answer(log, 'a'));
    turn.end(bad);
    turn.end(answer(log, 'c'));
    await nextTurn();
    assert.deepEqual(log, ['end a', 'end c']);
    assert.equal(bad.errors.length, 1);
    // The queue still works in later turns.
    turn.end(answer(log, 'later'));
    await nextTurn();
    assert.deepEqual(log, ['end a', 'end c', 'end later']);
  });

  it('ends in a next flush what is queued while answers are being ended, and each item once', async () => {
    const turn = new EndOfTurn();
    const log: string[] = [];
    turn.end({
      runNow() {
        log.push('end first');
        turn.end(answer(log, 'queued while ending'));
      },
      onRunError() {},
    });
    await nextTurn();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(log, ['end first', 'end queued while ending']);
  });
});
