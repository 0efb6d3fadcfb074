/**
 * The load generator: keep-alive connections presenting the apiserver's client certificate, a
 * closed loop of `connections` requests in flight (one per connection), a µs timer
 * (process.hrtime.bigint) around every request, and a check of every answer.
 *
 * The HTTP client is raw-client.ts by default: with undici the loader needed 90–95 % of its core
 * to drive the floor, so the floor's numbers were partly the loader's (BENCHMARKS.md item 28).
 * `client: 'undici'` keeps the earlier loader for comparison with sessions 1–7's results.
 *
 * In the benchmark it runs as its own process pinned to the load core
 * (`taskset -c 1 node dist/bench/loadgen.js '<json options>'`): it prints `{"phase":"measuring"}`
 * when the warm-up is over (the harness reads the server's CPU counters then), then the result
 * as one JSON line. `runLoad` is also usable in-process for the small scenarios.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { RawConnection, rawRequest } from './raw-client';

export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

export type BodySpec =
  /** The same review every time (a decision-cache hit after the first). */
  | { kind: 'fixed'; images: string[]; namespace?: string }
  /**
   * A different image every request: `${prefix}${n}:1.${n}`, n = start, start+1, … With `repeat`,
   * each image `repeat` times in a row (a full decision cache stores a policy-only decision on its
   * second sight, decision-cache.ts).
   */
  | { kind: 'unique'; prefix: string; start: number; namespace?: string; repeat?: number }
  /** A different digest every request: `${repository}@sha256:<n as 64 hex digits>`. */
  | { kind: 'digest'; repository: string; start: number; namespace?: string };

export interface LoadOptions {
  url: string;
  tls: ClientTls;
  path?: string;
  connections: number;
  body: BodySpec;
  /** Requests before the measured window, not counted (connections are opened here). */
  warmupMs: number;
  /** Length of the measured window; ignored when `requests` is set. */
  durationMs: number;
  /** Send exactly this many requests (no warm-up window) instead of running for durationMs. */
  requests?: number;
  /** Answers must say allowed: true (every scenario here expects allow). */
  expectAllowed?: boolean;
  /** The HTTP client: 'raw' (raw-client.ts, the default) or 'undici' (a Pool). */
  client?: 'raw' | 'undici';
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  errors: number;
  /** A few distinct error descriptions, for the report. */
  errorSamples: string[];
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU the load generator itself used in the window, as a share of one core (1 = saturated). */
  loaderCpu: number;
}

/** Builds the request body for request number `i`. */
export function bodyMaker(spec: BodySpec): (i: number) => string {
  const ns = spec.namespace ?? 'default';
  const review = (images: string[]) =>
    JSON.stringify({
      kind: 'ImageReview',
      apiVersion: 'imagepolicy.k8s.io/v1alpha1',
      metadata: { creationTimestamp: null },
      spec: { containers: images.map((image) => ({ image })), namespace: ns },
      status: { allowed: false },
    });
  if (spec.kind === 'fixed') {
    const fixed = review(spec.images);
    return () => fixed;
  }
  // Built by hand: the loader must not spend its core on JSON.stringify per request.
  const head = '{"kind":"ImageReview","apiVersion":"imagepolicy.k8s.io/v1alpha1","metadata":{"creationTimestamp":null},"spec":{"containers":[{"image":"';
  const tail = `"}],"namespace":${JSON.stringify(ns)}},"status":{"allowed":false}}`;
  if (spec.kind === 'digest') {
    return (i) => `${head}${spec.repository}@sha256:${(spec.start + i).toString(16).padStart(64, '0')}${tail}`;
  }
  const repeat = Math.max(1, spec.repeat ?? 1);
  return (i) => {
    const n = spec.start + Math.floor(i / repeat);
    return `${head}${spec.prefix}${n}:1.${n}${tail}`;
  };
}

export function clientPool(url: string, tls: ClientTls, connections: number): Pool {
  return new Pool(url, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 120_000,
    connect: { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
  });
}

/** One review on `pool`; resolves with the answer's status and text. */
export async function postReview(pool: Pool, body: string, path = '/image_policy'): Promise<{ status: number; text: string }> {
  const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Sends request number `n` on one connection; resolves with the answer's status and text. */
type Sender = { send(n: number): Promise<{ status: number; text: string }>; close(): void };

/** One sender per connection: each with its own RawConnection, or all sharing one undici Pool. */
function senders(opts: LoadOptions, path: string): { make(): Sender; close(): Promise<void> } {
  const makeBody = bodyMaker(opts.body);
  if (opts.client === 'undici') {
    const pool = clientPool(opts.url, opts.tls, opts.connections);
    return {
      make: () => ({ send: (n) => postReview(pool, makeBody(n), path), close: () => {} }),
      close: () => pool.close(),
    };
  }
  const url = new URL(opts.url);
  const tls = { ca: readFileSync(opts.tls.ca), cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) };
  // A fixed review is the same bytes every time: built once.
  const fixed = opts.body.kind === 'fixed' ? rawRequest(url.host, path, makeBody(0)) : undefined;
  return {
    make: () => {
      const conn = new RawConnection(url.hostname, Number(url.port), tls);
      return {
        send: async (n) => {
          const answer = await conn.send(fixed ?? rawRequest(url.host, path, makeBody(n)));
          return { status: answer.status, text: answer.body.toString('utf8') };
        },
        close: () => conn.close(),
      };
    },
    close: async () => {},
  };
}

export async function runLoad(opts: LoadOptions, onMeasuring: () => void = () => {}): Promise<LoadResult> {
  const path = opts.path ?? '/image_policy';
  const clients = senders(opts, path);
  const expectAllowed = opts.expectAllowed ?? true;
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  let errors = 0;
  let issued = 0;
  let phase: 'warmup' | 'measure' | 'stop' = opts.requests !== undefined || opts.warmupMs <= 0 ? 'measure' : 'warmup';
  let windowStart = process.hrtime.bigint();
  let cpuStart = process.cpuUsage();
  const noteError = (what: string) => {
    errors++;
    if (errorSamples.size < 5) errorSamples.add(what);
  };

  const worker = async () => {
    const sender = clients.make();
    while (phase !== 'stop') {
      if (opts.requests !== undefined && issued >= opts.requests) break;
      const n = issued++;
      const counted = phase === 'measure';
      const t0 = process.hrtime.bigint();
      try {
        const res = await sender.send(n);
        const t1 = process.hrtime.bigint();
        if (res.status !== 200) noteError(`HTTP ${res.status}: ${res.text.slice(0, 200)}`);
        else if (expectAllowed && !res.text.includes('"allowed":true')) noteError(`not allowed: ${res.text.slice(0, 200)}`);
        if (counted && phase === 'measure') latencies.push(Number(t1 - t0) / 1e6);
      } catch (err) {
        noteError(`${(err as Error).name}: ${(err as Error).message}`);
      }
    }
    sender.close();
  };

  const workers = Array.from({ length: opts.connections }, worker);
  let windowEnd: bigint;
  if (opts.requests === undefined) {
    if (phase === 'warmup') {
      await sleep(opts.warmupMs);
      phase = 'measure';
      windowStart = process.hrtime.bigint();
      cpuStart = process.cpuUsage();
      onMeasuring();
    } else {
      onMeasuring();
    }
    await sleep(opts.durationMs);
    windowEnd = process.hrtime.bigint();
    phase = 'stop';
    await Promise.all(workers);
  } else {
    onMeasuring();
    await Promise.all(workers);
    windowEnd = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpuStart);
  await clients.close();

  const seconds = Number(windowEnd - windowStart) / 1e9;
  latencies.sort((a, b) => a - b);
  const pick = (p: number) => latencies.length ? (latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] as number) : NaN;
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    errors,
    errorSamples: [...errorSamples],
    latencyMs: {
      p50: pick(50),
      p90: pick(90),
      p99: pick(99),
      max: latencies.length ? (latencies[latencies.length - 1] as number) : NaN,
      mean: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : NaN,
    },
    loaderCpu: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (require.main === module) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
  runLoad(opts, () => process.stdout.write(`${JSON.stringify({ phase: 'measuring' })}\n`)).then(
    (result) => {
      process.stdout.write(`${JSON.stringify({ phase: 'done', result })}\n`);
    },
    (err) => {
      process.stderr.write(`loadgen: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
