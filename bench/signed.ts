/**
 * Scenarios 4 and 5: cold signed reviews against a real local registry (Debian's docker-registry,
 * images pushed by skopeo, signed by the real cosign), counting the requests that reach the
 * registry in its own access log.
 *
 * Through `imagegate serve` (pinned like the other scenarios) when the server wires registry
 * lookups; otherwise in-process through the same Decider + createRegistryLookups the server will
 * use, and the report says so.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decider } from '../server/decision/decide-review';
import { loadPolicyText } from '../server/policy/load';
import * as compose from '../server/cli/compose';
import { createRegistryLookups } from '../server/verify/lookups';
import { COSIGN_BIN, cosignSign, generateKeyPair } from '../test/peers/cosign-tool';
import { buildImage, pushImage, SKOPEO_BIN, type BuiltLayout } from '../test/peers/images';
import { REGISTRY_BIN, startRegistry, type AccessLogEntry } from '../test/peers/registry-peer';
import { bodyMaker, clientPool, postReview } from './loadgen';
import type { ScenarioReport, TargetCheck } from './report-types';
import { CACHED_IMAGE, type Ctx } from './scenarios';
import { startServer, type ServerProcess } from './servers';
import { percentile, spread } from './stats';
import { benchPolicyYaml } from './policies';

const COLD_TITLE = '4. Cold signed review: digest-pinned image, cosign verifier, local registry';
const HERD_TITLE = '5. Thundering herd: concurrent reviews of one not-yet-cached signed image';

function notMeasured(needs: string[]): ScenarioReport[] {
  const note = `not yet measured: needs ${needs.join('; ')}`;
  return [
    { id: 'cold', title: COLD_TITLE, status: 'not-measured', notes: [note], rows: [], targets: [], details: {} },
    { id: 'herd', title: HERD_TITLE, status: 'not-measured', notes: [note], rows: [], targets: [], details: {} },
  ];
}

/** What is missing for scenarios 4 and 5, if anything. */
export function signedPrerequisites(): string[] {
  const needs: string[] = [];
  if (!existsSync(REGISTRY_BIN)) needs.push(`${REGISTRY_BIN} (apt-get install docker-registry)`);
  if (!existsSync(SKOPEO_BIN)) needs.push(`${SKOPEO_BIN} (apt-get install skopeo)`);
  if (!existsSync(COSIGN_BIN)) needs.push(`${COSIGN_BIN} (scripts/tools/build-cosign.sh)`);
  return needs;
}


/** `GET /v2/demo/bench/manifests/sha256-<hex>.sig 200` with digests shortened. */
export function describeEntry(e: AccessLogEntry): string {
  return `${e.method} ${e.path.replace(/[0-9a-f]{64}/g, (h) => `${h.slice(0, 8)}…`)} ${e.status}`;
}

interface Reviewer {
  /** Where the reviews ran, for the report. */
  readonly via: string;
  /** One review; resolves with allowed and the client-side latency in ms. */
  review(image: string): Promise<{ allowed: boolean; ms: number; answer: string }>;
  close(): Promise<void>;
}

async function httpReviewer(ctx: Ctx, server: ServerProcess, connections: number): Promise<Reviewer> {
  const pool = clientPool(server.url, { ca: ctx.pki.caCert, cert: ctx.pki.clientCert, key: ctx.pki.clientKey }, connections);
  // Open every connection first (an mTLS handshake is not what is measured here).
  const warm = bodyMaker({ kind: 'fixed', images: [CACHED_IMAGE] })(0);
  await Promise.all(Array.from({ length: connections }, () => postReview(pool, warm)));
  return {
    via: `imagegate serve over mTLS (${ctx.pinning.server !== undefined ? 'pinned to core 0' : 'not pinned'})`,
    async review(image) {
      const body = bodyMaker({ kind: 'fixed', images: [image] })(0);
      const t0 = process.hrtime.bigint();
      const res = await postReview(pool, body);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { allowed: res.status === 200 && res.text.includes('"allowed":true'), ms, answer: res.text.slice(0, 300) };
    },
    close: () => pool.close(),
  };
}

function inProcessReviewer(policyYaml: string): Reviewer {
  const lookups = createRegistryLookups();
  const decider = new Decider({ lookups });
  const policy = loadPolicyText(policyYaml, 'bench', 1);
  return {
    via: 'in-process Decider + createRegistryLookups (this build of imagegate serve does not wire registry lookups)',
    async review(image) {
      const t0 = process.hrtime.bigint();
      const d = await decider.decide({ images: [image], annotations: {}, namespace: 'default' }, policy);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { allowed: d.allowed, ms, answer: d.reason ?? 'allowed' };
    },
    async close() {
      decider.close();
      await lookups.close();
    },
  };
}

export async function signedScenarios(ctx: Ctx): Promise<ScenarioReport[]> {
  const needs = signedPrerequisites();
  if (needs.length) return notMeasured(needs);
  // `serve` builds its Decider on registry lookups since createDecisionStack (cli/compose.ts).
  const wired = 'createDecisionStack' in compose;
  const cold = ctx.settings.coldReviews;
  ctx.log(`scenarios 4+5: starting a registry, pushing and signing ${cold + 1} images with cosign`);
  const reg = await startRegistry();
  let server: ServerProcess | undefined;
  let reviewer: Reviewer | undefined;
  try {
    const keys = generateKeyPair('bench');
    const images: BuiltLayout[] = [];
    for (let i = 0; i <= cold; i++) {
      const img = buildImage(`imagegate bench signed image ${i} ${Date.now()}`, `v${i}`);
      pushImage(img, reg, `demo/bench:v${i}`);
      cosignSign(keys, `${reg.host}/demo/bench@${img.digest}`);
      images.push(img);
    }
    const policyYaml = benchPolicyYaml({ library: false, signed: { host: reg.host, publicKeyFile: keys.pub }, cache: { maxEntries: ctx.settings.memoryEntries } });
    if (wired) {
      const policyFile = join(ctx.dir, 'signed-policy.yaml');
      writeFileSync(policyFile, policyYaml);
      server = await startServer({ name: 'imagegate-signed', kind: 'imagegate', imagegateNodeFlags: ctx.settings.imagegateNodeFlags, pki: ctx.pki, dir: ctx.dir, cores: ctx.pinning.server, policyFile });
      reviewer = await httpReviewer(ctx, server, ctx.settings.herd);
    } else {
      reviewer = inProcessReviewer(policyYaml);
    }

    // Scenario 4: one review per cold image, one at a time; requests counted per review.
    const perReview: number[] = [];
    const latencies: number[] = [];
    const warmLatencies: number[] = [];
    let errors = 0;
    let sample: string[] = [];
    for (const img of images.slice(0, cold)) {
      const ref = `${reg.host}/demo/bench@${img.digest}`;
      const before = (await reg.accessLog()).length;
      const r = await reviewer.review(ref);
      const seen = (await reg.accessLog()).slice(before);
      if (!r.allowed) errors++;
      perReview.push(seen.length);
      latencies.push(r.ms);
      if (sample.length === 0) sample = seen.map(describeEntry);
      const again = await reviewer.review(ref); // now a decision-cache hit
      if (!again.allowed) errors++;
      warmLatencies.push(again.ms);
      ctx.log(`  cold review ${perReview.length}/${cold}: ${seen.length} registry requests, ${r.ms.toFixed(1)} ms (cached again: ${again.ms.toFixed(2)} ms)`);
    }
    const trips = spread(perReview);
    const lat = [...latencies].sort((a, b) => a - b);
    const coldReport: ScenarioReport = {
      id: 'cold',
      title: COLD_TITLE,
      status: 'measured',
      notes: [
        `Via ${reviewer.via}.`,
        `Registry requests of one cold review, from the registry's access log: ${sample.join(', ') || 'none'}.`,
        `${cold} reviews, each of a different freshly signed image (nothing cached), one at a time; then the same review again (decision-cache hit).`,
      ],
      rows: [],
      targets: [
        { what: 'registry round trips per cold review (max over reviews)', target: '≤ 3', measured: `${trips.max} (median ${trips.median})`, met: trips.max <= 3 },
        { what: 'errors (a signed image not allowed)', target: '0', measured: String(errors), met: errors === 0 },
      ],
      details: {
        via: wired ? 'http' : 'in-process',
        registryRequestsPerReview: perReview,
        coldLatencyMs: { p50: round(percentile(lat, 50)), max: round(lat[lat.length - 1] ?? NaN), all: latencies.map(round) },
        cachedAgainLatencyMs: { median: round(spread(warmLatencies).median) },
        errors,
      },
    };

    // Scenario 5: N concurrent reviews of one image nobody has asked about yet.
    const herdImg = images[cold] as BuiltLayout;
    const herdRef = `${reg.host}/demo/bench@${herdImg.digest}`;
    const before = (await reg.accessLog()).length;
    const t0 = process.hrtime.bigint();
    const answers = await Promise.all(Array.from({ length: ctx.settings.herd }, () => reviewer!.review(herdRef)));
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const seen = (await reg.accessLog()).slice(before);
    const herdErrors = answers.filter((a) => !a.allowed).length;
    const oneSet = trips.max;
    ctx.log(`  herd: ${ctx.settings.herd} concurrent reviews → ${seen.length} registry requests (one cold review: ${oneSet}), ${wallMs.toFixed(1)} ms`);
    const herdTargets: TargetCheck[] = [
      { what: `registry requests for ${ctx.settings.herd} concurrent reviews`, target: `exactly one set of lookups (${oneSet}, as one cold review)`, measured: String(seen.length), met: seen.length === oneSet },
      { what: 'errors', target: '0', measured: String(herdErrors), met: herdErrors === 0 },
    ];
    const herdLat = answers.map((a) => a.ms).sort((a, b) => a - b);
    const herdReport: ScenarioReport = {
      id: 'herd',
      title: HERD_TITLE,
      status: 'measured',
      notes: [
        `Via ${reviewer.via}${wired ? `, ${ctx.settings.herd} keep-alive connections opened beforehand` : ''}.`,
        `Registry requests seen: ${seen.map(describeEntry).join(', ') || 'none'}.`,
      ],
      rows: [],
      targets: herdTargets,
      details: {
        concurrent: ctx.settings.herd,
        registryRequests: seen.length,
        wallMs: round(wallMs),
        latencyMs: { p50: round(percentile(herdLat, 50)), p99: round(percentile(herdLat, 99)), max: round(herdLat[herdLat.length - 1] ?? NaN) },
        errors: herdErrors,
        firstWrongAnswer: answers.find((a) => !a.allowed)?.answer ?? null,
      },
    };
    if (errors && server) coldReport.notes.push(`Server log tail: ${readFileSync(server.logFile, 'utf8').split('\n').slice(-3).join(' ')}`);
    return [coldReport, herdReport];
  } finally {
    await reviewer?.close();
    await server?.stop();
    await reg.stop();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
