/**
 * Decision records' request ids (server/observe/request-id.ts): version-4 UUID text, as
 * crypto.randomUUID writes it, and not repeated — across more ids than one draw of random bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newRequestId } from '../../../server/observe/request-id';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('writes lowercase version-4 UUIDs with the RFC variant, none repeated over several draws', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = newRequestId();
      assert.match(id, UUID_V4);
      seen.add(id);
    }
    assert.equal(seen.size, 5000);
  });

  it('uses every hex digit in the random positions (the bytes are random, not a counter)', () => {
    const digits = new Map<number, Set<string>>();
    for (let i = 0; i < 2000; i++) {
      const id = newRequestId().replaceAll('-', '');
      for (let p = 0; p < 32; p++) {
        if (p === 12 || p === 16) continue; // version nibble, variant nibble
        let s = digits.get(p);
        if (s === undefined) digits.set(p, (s = new Set()));
        s.add(id[p] as string);
      }
    }
    for (const [p, s] of digits) assert.equal(s.size, 16, `position ${p} saw ${[...s].join('')}`);
  });
});
