/**
 * Smoke run of the benchmark harness (bench/): every scenario at a tiny size, asserting that it
 * runs, that nothing failed (0 errors: every review answered 200 allowed) and that the report has
 * the fields BENCHMARKS.md is written from. It never asserts speed: timings on a shared machine
 * are not a test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench, SCENARIO_IDS, settingsFor } from '../../bench/run';
import { renderReport } from '../../bench/render';
import type { Row } from '../../bench/report-types';

function assertRow(row: Row, where: string): void {
  assert.ok(row.runs >= 1, `${where}: no runs`);
  for (const key of ['rps', 'cpuMsPerReq', 'serverCpu', 'loaderCpu', 'p50Ms', 'p90Ms', 'p99Ms', 'maxMs'] as const) {
    const s = row[key];
    assert.ok(Number.isFinite(s.median) && s.median >= 0, `${where}: ${key} median is ${s.median}`);
    assert.ok(s.min <= s.median && s.median <= s.max, `${where}: ${key} range`);
  }
  assert.ok(row.rps.median > 0, `${where}: no requests completed`);
  assert.equal(row.errors, 0, `${where}: errors ${row.errorSamples.join(' | ')}`);
}

test('bench smoke: every scenario at tiny size, 0 errors, a complete report', { timeout: 180_000 }, async () => {
  const settings = settingsFor('smoke');
  const log: string[] = [];
  const report = await runBench(settings, (m) => log.push(m));

  assert.equal(report.totalErrors, 0, log.join('\n'));
  assert.equal(report.mode, 'smoke');
  assert.match(report.date, /^\d{4}-\d\d-\d\dT/);
  assert.ok(report.machine.nproc >= 1);
  assert.match(report.machine.node, /^v\d+/);
  assert.equal(typeof report.pinning, 'string');
  assert.deepEqual(report.scenarios.map((s) => s.id), ['floor', 'cached', 'uncached', 'cold', 'herd', 'memory', 'workers']);
  assert.deepEqual([...SCENARIO_IDS].sort(), report.scenarios.map((s) => s.id).sort());

  for (const s of report.scenarios) {
    assert.ok(s.title.length > 0);
    // `npm run bench` reports "not yet measured: needs …" for the registry scenarios on a machine
    // without docker-registry, skopeo or cosign; `npm test` needs those peers anyway, so here a
    // missing one fails loudly instead of passing as a skip.
    assert.equal(s.status, 'measured', `${s.id}: ${s.notes.join(' ')}`);
    for (const row of s.rows) assertRow(row, `${s.id} / ${row.label}`);
    for (const t of s.targets) {
      assert.ok(t.what && t.target && t.measured, `${s.id}: incomplete target ${JSON.stringify(t)}`);
      assert.ok(t.met === true || t.met === false || t.met === null);
    }
    const errorTargets = s.targets.filter((t) => /errors/.test(t.what));
    for (const t of errorTargets) assert.equal(t.measured, '0', `${s.id}: ${t.what}`);
  }

  const byId = new Map(report.scenarios.map((s) => [s.id, s]));
  // Ratios to the floor are computed pair by pair.
  const cached = byId.get('cached')!;
  assert.equal(cached.rows[0]!.vsBaseline?.baseline, 'floor');
  assert.ok(cached.rows[0]!.vsBaseline!.rps.median > 0);
  assert.ok(cached.targets.some((t) => /p99 on 1 keep-alive connection/.test(t.what)));
  assert.equal(byId.get('uncached')!.rows[1]!.vsBaseline?.baseline, 'floor');
  // Memory: the cache is bounded by maxEntries (oldest evicted, newest kept).
  const memory = byId.get('memory')!;
  const rss = memory.details.rssMiB as Record<string, number>;
  assert.ok(rss.decisions! > 0 && rss.peak! >= rss.decisions!, JSON.stringify(rss));
  assert.equal(memory.targets.find((t) => t.what === 'decision cache bounded by maxEntries')?.met, true, JSON.stringify(memory.targets));
  // Registry scenarios: counted requests and exactly one set of lookups for the herd.
  const perReview = byId.get('cold')!.details.registryRequestsPerReview as number[];
  assert.ok(perReview.length > 0 && perReview.every((n) => n > 0));
  assert.equal(byId.get('herd')!.targets[0]!.met, true, JSON.stringify(byId.get('herd')!.details));

  const md = renderReport(report);
  assert.match(md, /## imagegate benchmark/);
  assert.match(md, /\| target \| wanted \| measured \| met \|/);
  // The load generator is the raw client unless --client undici (bench/raw-client.ts): said in the report.
  assert.equal(settings.client, 'raw');
  assert.match(md, /load generator's HTTP client: raw-client\.ts/);
});
