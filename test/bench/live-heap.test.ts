/**
 * bench/live-heap.ts runs end to end against the real registry and cosign (a missing tool fails
 * it, as every peer test): its reviews of unsigned digests are denied (the tool throws on an
 * allow) and it reports a per-entry figure. Like the bench smoke test, it asserts no size: the
 * number is BENCHMARKS.md's to read, not a test's to pin.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const SCRIPT = join(__dirname, '..', '..', 'bench', 'live-heap.js');

test('live-heap: 40 unsigned digests reviewed and denied, a bytes-per-entry report', { timeout: 120_000 }, () => {
  const run = spawnSync(process.execPath, ['--expose-gc', SCRIPT, '40'], { encoding: 'utf8', timeout: 110_000 });
  assert.equal(run.status, 0, `exit ${run.status}: ${run.stderr}`);
  assert.match(run.stdout, /^40 cached verdicts \+ deny decisions: heapUsed [\d.]+ → [\d.]+ MiB, -?\d+ bytes per entry$/m);
});

test('live-heap refuses to run without --expose-gc (its numbers need full collections)', { timeout: 30_000 }, () => {
  const run = spawnSync(process.execPath, [SCRIPT, '40'], { encoding: 'utf8', timeout: 25_000 });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /run with node --expose-gc/);
});
