/**
 * BatchedDestination (server/observe/logger.ts): records are written in order, in batches, never
 * later than the delay, at once past the size threshold, and everything pending on flush and exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BatchedDestination } from '../../../server/observe/logger';

/** A destination that records each write it receives (one entry per write call, decoded from UTF-8). */
function recorder() {
  const writes: string[] = [];
  let flushes = 0;
  const dest = {
    write: (b: Buffer) => void writes.push(b.toString('utf8')),
    flush: (cb?: (err?: Error) => void) => { flushes++; cb?.(); },
    flushSync: () => void flushes++,
  };
  return { writes, dest, flushes: () => flushes };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BatchedDestination', () => {
  it('writes the records of a burst as one write, in order, within the delay', async () => {
    const r = recorder();
    const d = new BatchedDestination(r.dest, 20, 1 << 20);
    for (let i = 0; i < 50; i++) d.write(`{"n":${i}}\n`);
    assert.equal(r.writes.length, 0, 'nothing is written synchronously below the size threshold');
    await sleep(60);
    assert.equal(r.writes.length, 1);
    assert.equal(r.writes[0], Array.from({ length: 50 }, (_, i) => `{"n":${i}}\n`).join(''));
  });

  it('writes the batch at once when the next record might not fit in its buffer', () => {
    const r = recorder();
    // 200 bytes: a record of n UTF-16 code units is taken only while 3n bytes are free.
    const d = new BatchedDestination(r.dest, 60_000, 200);
    d.write('a'.repeat(60));
    assert.equal(r.writes.length, 0);
    d.write('b'.repeat(60));
    assert.deepEqual(r.writes, ['a'.repeat(60)], 'the pending batch went first, the new record starts the next one');
    d.flushSync();
    assert.deepEqual(r.writes, ['a'.repeat(60), 'b'.repeat(60)]);
    d.flushSync(); // nothing pending: no empty write
    assert.equal(r.writes.length, 2);
  });

  it('writes a record larger than a whole batch on its own, after what was pending', () => {
    const r = recorder();
    const d = new BatchedDestination(r.dest, 60_000, 200);
    d.write('x\n');
    d.write('y'.repeat(100));
    assert.deepEqual(r.writes, ['x\n', 'y'.repeat(100)]);
    d.write('z\n');
    d.flushSync();
    assert.deepEqual(r.writes, ['x\n', 'y'.repeat(100), 'z\n']);
  });

  it('keeps every character: multi-byte UTF-8 and a lone surrogate as a UTF-8 write of the string gives it', () => {
    const r = recorder();
    const d = new BatchedDestination(r.dest, 60_000, 1 << 16);
    const records = ['{"image":"ghcr.io/ü/😀"}\n', '{"s":"\ud800"}\n', '{"t":"日本"}\n'];
    for (const rec of records) d.write(rec);
    d.flushSync();
    assert.equal(r.writes.length, 1);
    assert.equal(r.writes[0], Buffer.from(records.join(''), 'utf8').toString('utf8'));
  });

  it('hands on what is pending on flush and flushSync, and starts a fresh batch after', async () => {
    const r = recorder();
    const d = new BatchedDestination(r.dest, 60_000, 1 << 20);
    d.write('one\n');
    d.flushSync();
    assert.deepEqual(r.writes, ['one\n']);
    d.write('two\n');
    await new Promise<void>((resolve) => d.flush(() => resolve()));
    assert.deepEqual(r.writes, ['one\n', 'two\n']);
    assert.equal(r.flushes(), 2);
  });

  it('writes every pending record when the process exits, also on an uncaught error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagegate-batched-'));
    const logger = join(__dirname, '..', '..', '..', 'server', 'observe', 'logger.js');
    for (const ending of ['', 'throw new Error("boom");']) {
      const out = join(dir, `out-${ending ? 'throw' : 'exit'}.log`);
      // stdout is a regular file here (the synchronous destination), as when a runtime redirects it.
      const script = `const { createLogger } = require(${JSON.stringify(logger)});
        const log = createLogger('info', 'stdout');
        for (let i = 0; i < 1000; i++) log.info({ event: 'n', i }, 'record');
        ${ending}`;
      const child = spawnSync(process.execPath, ['-e', `require('fs').closeSync(1); require('fs').openSync(${JSON.stringify(out)}, 'w'); ${script}`], { encoding: 'utf8' });
      assert.equal(child.status, ending ? 1 : 0, child.stderr);
      const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { i: number });
      assert.deepEqual(lines.map((l) => l.i), Array.from({ length: 1000 }, (_, i) => i));
    }
  });
});
