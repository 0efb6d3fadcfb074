import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Doorkeeper } from '../../../server/cache/doorkeeper';

describe('Doorkeeper', () => {
  it('says a key is new the first time and seen the second', () => {
    const d = new Doorkeeper(100);
    assert.equal(d.seenBefore('["1","default","",["nginx:1"]]'), false);
    assert.equal(d.seenBefore('["1","default","",["nginx:1"]]'), true);
    assert.equal(d.seenBefore('["1","default","",["nginx:2"]]'), false);
  });

  it('has no false negatives before its reset, and few false positives', () => {
    const capacity = 1000;
    const d = new Doorkeeper(capacity);
    let falsePositives = 0;
    // 2 × capacity distinct keys: exactly the marks it holds before clearing itself.
    for (let i = 0; i < 2 * capacity; i++) if (d.seenBefore(`docker.io/library/app-${i}:1.${i}`)) falsePositives++;
    for (let i = 0; i < 2 * capacity; i++) assert.equal(d.seenBefore(`docker.io/library/app-${i}:1.${i}`), true, `key ${i}`);
    // Two bits per key in 32 per entry of capacity: at most ~1.4 % just before the reset, ~0.5 % on average.
    assert.ok(falsePositives < capacity / 50, `${falsePositives} false positives in ${2 * capacity}`);
  });

  it('forgets after 2 × capacity new keys, so a key seen long ago counts as new again', () => {
    const d = new Doorkeeper(10);
    assert.equal(d.seenBefore('old'), false);
    let cleared = false;
    for (let i = 0; i < 64 && !cleared; i++) {
      d.seenBefore(`filler-${i}`);
      cleared = !d.seenBefore('old'); // checking marks 'old' again when it was forgotten
    }
    assert.ok(cleared, 'never forgot the first key');
  });
});
