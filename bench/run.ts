/**
 * `npm run bench` (quick, about 2 minutes) / `npm run bench -- --full`.
 * One command, one report: floor vs imagegate side by side, A B A B, pinned cores.
 * See bench/README.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTestPki } from '../test/helpers/pki';
import { describeMachine, sampleBackground } from './machine';
import type { BenchReport, BenchSettings, Mode, ScenarioReport } from './report-types';
import { renderReport } from './render';
import { memoryScenario } from './memory';
import { benchPolicy, cachedScenarios, startCoreServers, uncachedScenario, workersScenario, type Ctx } from './scenarios';
import { ROOT, choosePinning } from './servers';
import { signedScenarios } from './signed';

export const SCENARIO_IDS = ['floor', 'cached', 'uncached', 'cold', 'herd', 'memory', 'workers'] as const;

export function settingsFor(mode: Mode): BenchSettings {
  const common = { pin: true, cpuProfDir: undefined, imagegateNodeFlags: undefined, baselineRoot: undefined, baselineNodeFlags: undefined, only: undefined, client: 'raw' as const, herd: 100, backgroundSampleMs: 1000, memoryVerdicts: true };
  switch (mode) {
    case 'smoke':
      return { ...common, mode, rounds: 1, warmupMs: 150, durationMs: 400, connections: 4, latencyDurationMs: 250, memoryEntries: 300, herd: 20, coldReviews: 1, backgroundSampleMs: 200, memoryVerdicts: false };
    case 'quick':
      return { ...common, mode, rounds: 3, warmupMs: 1000, durationMs: 3000, connections: 16, latencyDurationMs: 2000, memoryEntries: 10_000, coldReviews: 5 };
    case 'full':
      return { ...common, mode, rounds: 5, warmupMs: 2000, durationMs: 10_000, connections: 16, latencyDurationMs: 5000, memoryEntries: 10_000, coldReviews: 20 };
  }
}

export async function runBench(settings: BenchSettings, log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<BenchReport> {
  const started = Date.now();
  const machine = await describeMachine(settings.backgroundSampleMs);
  const pinning = choosePinning(machine.nproc, !settings.pin);
  log(`imagegate bench (${settings.mode}): ${machine.nproc} cores, ${pinning.note}; machine ${Math.round(machine.busyBefore * 100)}% busy before start`);
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-bench-'));
  const pki = makeTestPki();
  const ctx: Ctx = { settings, pki, dir, pinning, log };
  const want = (id: string) => !settings.only || settings.only.includes(id);
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, benchPolicy(settings.memoryEntries));
  const scenarios: ScenarioReport[] = [];
  try {
    if (want('floor') || want('cached') || want('uncached')) {
      const core = await startCoreServers(ctx, policyFile);
      try {
        if (want('floor') || want('cached')) scenarios.push(...(await cachedScenarios(ctx, core)));
        if (want('uncached')) scenarios.push(await uncachedScenario(ctx, core, 1_000_000));
      } finally {
        await core.floor.stop();
        await core.imagegate.stop();
        await core.baseline?.stop();
      }
    }
    if (want('cold') || want('herd')) scenarios.push(...(await signedScenarios(ctx)).filter((s) => want(s.id)));
    if (want('memory')) scenarios.push(await memoryScenario(ctx));
    if (want('workers')) scenarios.push(await workersScenario(ctx, policyFile));
  } finally {
    if (!settings.cpuProfDir) rmSync(dir, { recursive: true, force: true });
  }
  const after = await sampleBackground(settings.backgroundSampleMs);
  const totalErrors = scenarios.reduce((a, s) => a + s.rows.reduce((b, r) => b + r.errors, 0) + Number(s.details.errors ?? 0), 0);
  return {
    date: new Date().toISOString(),
    mode: settings.mode,
    settings,
    machine,
    pinning: pinning.note,
    loadAvgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    busyAfter: Math.round(after.busy * 1000) / 1000,
    scenarios,
    totalErrors,
    elapsedSeconds: (Date.now() - started) / 1000,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      'node-flags': { type: 'string' },
      baseline: { type: 'string' },
      client: { type: 'string' },
      'baseline-node-flags': { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench [-- --full | --smoke] [--rounds N] [--duration MS] [--connections N]\n' +
      `       [--only ${SCENARIO_IDS.join(',')}] [--no-pin] [--cpu-prof DIR] [--node-flags "FLAGS"|none] [--baseline CHECKOUT] [--baseline-node-flags "FLAGS"|none] [--client raw|undici] [--json FILE] [--markdown FILE]\n`);
    return 0;
  }
  const settings = settingsFor(values.full ? 'full' : values.smoke ? 'smoke' : 'quick');
  if (values.rounds) settings.rounds = Number(values.rounds);
  if (values.duration) settings.durationMs = Number(values.duration);
  if (values.connections) settings.connections = Number(values.connections);
  if (values.only) settings.only = values.only.split(',');
  if (values['no-pin']) settings.pin = false;
  if (values.client !== undefined) {
    if (values.client !== 'raw' && values.client !== 'undici') throw new Error(`--client: raw or undici, not ${values.client}`);
    settings.client = values.client;
  }
  // imagegate's heap flags instead of the shipped ones ("none": node's defaults), to measure their effect.
  if (values['node-flags'] !== undefined) settings.imagegateNodeFlags = values['node-flags'] === 'none' ? [] : values['node-flags'].split(/\s+/).filter(Boolean);
  if (values.baseline) settings.baselineRoot = resolve(values.baseline);
  if (values['baseline-node-flags'] !== undefined) {
    // The same build with other flags, side by side: --baseline defaults to this checkout.
    settings.baselineNodeFlags = values['baseline-node-flags'] === 'none' ? [] : values['baseline-node-flags'].split(/\s+/).filter(Boolean);
    settings.baselineRoot ??= ROOT;
  }
  if (values['cpu-prof']) {
    settings.cpuProfDir = resolve(values['cpu-prof']);
    mkdirSync(settings.cpuProfDir, { recursive: true });
  }
  const report = await runBench(settings);
  const md = renderReport(report);
  process.stdout.write(`${md}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  if (values.markdown) writeFileSync(values.markdown, `${md}\n`);
  return report.totalErrors === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then((code) => (process.exitCode = code), (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 2;
  });
}
