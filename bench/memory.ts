/**
 * Scenario 6: RSS of the imagegate process with maxEntries cached decisions and, when the
 * registry peers are there, maxEntries cached signature verdicts; again after twice as many of
 * each (the caches must stay bounded); and the peak under sustained load.
 *
 * Verdicts are made by reviews of `<registry>/demo/bench@sha256:<n>` for digests nobody signed:
 * each costs one registry request (the signature manifest: 404) and leaves a SIGNATURE_NOT_FOUND
 * verdict in the verdict cache (kept denyTTL, 10 minutes in this policy) and a deny in the
 * decision cache.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair } from '../test/peers/cosign-tool';
import { startRegistry } from '../test/peers/registry-peer';
import { bodyMaker, clientPool, postReview, type BodySpec } from './loadgen';
import { measure, type Measurement } from './measure';
import { memoryMiB, processTree } from './proc';
import type { ScenarioReport } from './report-types';
import { CACHED_IMAGE, loadOptions, target, tls, UNIQUE_PREFIX, type Ctx } from './scenarios';
import { startServer } from './servers';
import { describeEntry, signedPrerequisites } from './signed';
import { benchPolicyYaml } from './policies';

/** Issue 5: RSS ≤ 150 MB. /proc reports KiB, so the comparison is in MiB: 150 MB = 143.05 MiB. */
const RSS_TARGET_MIB = 150e6 / 2 ** 20;
const RSS_TARGET = '≤ 150 MB (143.1 MiB)';


interface HeapMiB {
  used: number;
  total: number;
  external: number;
}

/** V8 heap used/total and external memory, from imagegate's own /metrics (prom-client default metrics). */
async function heapFromMetrics(ctx: Ctx, url: string): Promise<HeapMiB | undefined> {
  const pool = clientPool(url, tls(ctx), 1);
  try {
    const res = await pool.request({ method: 'GET', path: '/metrics' });
    const text = await res.body.text();
    const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    return {
      used: Math.round(value('imagegate_nodejs_heap_size_used_bytes') * 10) / 10,
      total: Math.round(value('imagegate_nodejs_heap_size_total_bytes') * 10) / 10,
      external: Math.round(value('imagegate_nodejs_external_memory_bytes') * 10) / 10,
    };
  } catch {
    return undefined;
  } finally {
    await pool.close();
  }
}

/**
 * The decision record of `image` written after byte `from` of the log (the log is written in
 * batches, observe/logger.ts: a record can appear a few ms after its answer, so an older record of
 * the same image must not be taken for it).
 */
async function lastDecisionFor(logFile: string, image: string, from: number, timeoutMs = 5000): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lines = readFileSync(logFile).subarray(from).toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0 && i >= lines.length - 200; i--) {
      const line = lines[i] as string;
      if (!line.includes('"decision"') || !line.includes(image)) continue;
      let rec: { images?: Array<{ image: string }> };
      try {
        rec = JSON.parse(line) as { images?: Array<{ image: string }> };
      } catch {
        continue; // a line still being written
      }
      if (rec.images?.[0]?.image === image) return rec as Record<string, unknown>;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

export async function memoryScenario(ctx: Ctx): Promise<ScenarioReport> {
  const n = ctx.settings.memoryEntries;
  const withVerdicts = ctx.settings.memoryVerdicts && signedPrerequisites().length === 0;
  ctx.log(`scenario 6: memory with ${n} cached decisions${withVerdicts ? ` and ${n} cached verdicts` : ''} (maxEntries ${n})`);
  const reg = withVerdicts ? await startRegistry() : undefined;
  const keys = withVerdicts ? generateKeyPair('bench') : undefined;
  const policyFile = join(ctx.dir, 'memory-policy.yaml');
  writeFileSync(policyFile, benchPolicyYaml({
    library: true,
    ...(reg && keys ? { signed: { host: reg.host, publicKeyFile: keys.pub } } : {}),
    cache: { allowTTL: '10m', denyTTL: '10m', maxEntries: n },
  }));
  const ig = await startServer({ name: 'imagegate-memory', kind: 'imagegate', imagegateNodeFlags: ctx.settings.imagegateNodeFlags, pki: ctx.pki, dir: ctx.dir, cores: ctx.pinning.server, policyFile });
  try {
    const pids = processTree(ig.pid);
    const runs: Measurement[] = [];
    const send = async (body: BodySpec, requests: number, expectAllowed = true, connections = 16) => {
      const m = await measure(ig, { url: ig.url, tls: tls(ctx), connections, warmupMs: 0, durationMs: 0, body, requests, expectAllowed }, ctx.pinning.load);
      runs.push(m);
      return m;
    };
    const settle = () => new Promise((r) => setTimeout(r, ctx.settings.mode === 'smoke' ? 50 : 300));
    const repo = reg ? `${reg.host}/demo/bench` : '';

    await send({ kind: 'fixed', images: [CACHED_IMAGE] }, 200);
    await settle();
    const idle = memoryMiB(pids);
    const heap: Record<string, HeapMiB | undefined> = { idle: await heapFromMetrics(ctx, ig.url) };
    // n policy-only decisions.
    const decisionsFill = await send({ kind: 'unique', prefix: UNIQUE_PREFIX, start: 0 }, n);
    await settle();
    const decisions = memoryMiB(pids);
    heap.decisions = await heapFromMetrics(ctx, ig.url);
    // n verdicts (and n deny decisions, which push the policy-only ones out of the decision cache).
    let verdictsFill: Measurement | undefined;
    let both: ReturnType<typeof memoryMiB> | undefined;
    let perDigest: string[] = [];
    if (reg) {
      const before = (await reg.accessLog()).length;
      await send({ kind: 'digest', repository: repo, start: 0 }, 1, false);
      perDigest = (await reg.accessLog()).slice(before).map(describeEntry);
      // More in flight: each review waits on the registry, not on imagegate's core.
      verdictsFill = await send({ kind: 'digest', repository: repo, start: 1 }, n, false, 64);
      await settle();
      both = memoryMiB(pids);
      heap.decisionsAndVerdicts = await heapFromMetrics(ctx, ig.url);
    }
    // Twice as many of each: the caches must not grow past maxEntries.
    // (A second round of digests only in --full mode: the registry answers ~1000 requests/s.)
    const secondDigests = reg !== undefined && ctx.settings.mode === 'full';
    if (secondDigests) await send({ kind: 'digest', repository: repo, start: n + 1 }, n, false, 64);
    // Each image twice: the decision cache is full by now, and a full cache stores a policy-only
    // decision on its second sight (decision-cache.ts), so this round replaces its entries.
    await send({ kind: 'unique', prefix: UNIQUE_PREFIX, start: n, repeat: 2 }, 2 * n);
    await settle();
    const twice = memoryMiB(pids);
    heap.afterTwiceMaxEntries = await heapFromMetrics(ctx, ig.url);

    // Bounded: the oldest decision is gone (a miss), the newest still there (a hit).
    const pool = clientPool(ig.url, tls(ctx), 1);
    const oldest = `${UNIQUE_PREFIX}0:1.0`;
    const newest = `${UNIQUE_PREFIX}${2 * n - 1}:1.${2 * n - 1}`;
    const mk = (image: string) => bodyMaker({ kind: 'fixed', images: [image] })(0);
    const logMark = statSync(ig.logFile).size;
    await postReview(pool, mk(newest));
    await postReview(pool, mk(oldest));
    await pool.close();
    const newestRec = await lastDecisionFor(ig.logFile, newest, logMark);
    const oldestRec = await lastDecisionFor(ig.logFile, oldest, logMark);
    const registryRequests = reg ? (await reg.accessLog()).length : 0;

    ctx.log(`  sustained uncached load for ${ctx.settings.durationMs} ms`);
    const load = await measure(ig, loadOptions(ctx, ig, { kind: 'unique', prefix: UNIQUE_PREFIX, start: 50_000_000 }, ctx.settings.connections, ctx.settings.durationMs), ctx.pinning.load);
    runs.push(load);
    const afterLoad = memoryMiB(pids);
    heap.afterLoad = await heapFromMetrics(ctx, ig.url);
    const errors = runs.reduce((a, m) => a + m.errors, 0);
    const bounded = oldestRec?.cache === 'miss' && newestRec?.cache === 'hit';
    const r1 = (x: number) => Math.round(x * 10) / 10;
    const full = both ?? decisions;
    ctx.log(
      `  RSS idle ${r1(idle.rss)} MiB, ${n} decisions ${r1(decisions.rss)} MiB` +
        (both ? `, + ${n} verdicts ${r1(both.rss)} MiB` : '') +
        `, after twice as many ${r1(twice.rss)} MiB, peak ${r1(afterLoad.peak)} MiB; bounded: ${bounded}`,
    );
    return {
      id: 'memory',
      title: `6. Memory: RSS with ${n} cached decisions${reg ? ` and ${n} cached verdicts` : ''}, bounded by cache.maxEntries = ${n}`,
      status: 'measured',
      notes: [
        'RSS from /proc/<pid>/status (VmRSS; peak = VmHWM) of the imagegate process; V8 heap used/total from its /metrics ' +
          '(used includes garbage not yet collected: no GC is forced).',
        reg
          ? `Verdicts: reviews of ${n} unsigned digests ${repo}@sha256:<n>, each leaving a SIGNATURE_NOT_FOUND verdict (kept denyTTL = 10m) ` +
            `and a deny decision; one costs ${perDigest.length} registry requests (${perDigest.join(', ')}); ${registryRequests} registry requests in all.`
          : ctx.settings.memoryVerdicts
            ? `Cached signature verdicts not measured: needs ${signedPrerequisites().join('; ')}.`
            : 'Cached signature verdicts not measured in this mode.',
        `Fill order: ${n} policy-only reviews, ${reg ? `${n} digests, ` : ''}${reg && ctx.settings.mode === 'full' ? `${n} more digests, ` : ''}` +
          `${n} more policy-only images, each reviewed twice (a full cache stores a policy-only decision on its second sight) (16 connections, 64 for digests); then ${ctx.settings.durationMs} ms of uncached load. ` +
          'Bounded: at the end the first review is a decision-cache miss again (evicted) and the last one a hit (log field "cache").',
      ],
      rows: [],
      targets: [
        target(`RSS with the caches full (${n} decisions${reg ? ` + ${n} verdicts` : ''})`, RSS_TARGET, full.rss, (v) => v <= RSS_TARGET_MIB, ' MiB', 1),
        target('peak RSS (VmHWM) over the whole scenario, under load', RSS_TARGET, afterLoad.peak, (v) => v <= RSS_TARGET_MIB, ' MiB', 1),
        { what: 'decision cache bounded by maxEntries', target: 'oldest evicted, newest kept', measured: `oldest: ${String(oldestRec?.cache)}, newest: ${String(newestRec?.cache)}`, met: bounded },
        target('errors (non-200 answers)', '0', errors, (v) => v === 0, '', 0),
      ],
      details: {
        rssMiB: {
          idle: r1(idle.rss),
          decisions: r1(decisions.rss),
          ...(both ? { decisionsAndVerdicts: r1(both.rss) } : {}),
          afterTwiceMaxEntries: r1(twice.rss),
          afterLoad: r1(afterLoad.rss),
          peak: r1(afterLoad.peak),
        },
        heapMiB: heap,
        fillRps: { decisions: Math.round(decisionsFill.rps), ...(verdictsFill ? { verdicts: Math.round(verdictsFill.rps) } : {}) },
        loadRps: Math.round(load.rps),
        errors,
      },
    };
  } finally {
    await ig.stop();
    await reg?.stop();
  }
}
