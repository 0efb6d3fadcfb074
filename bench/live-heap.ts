/**
 * Live heap per cached signature verdict and its deny decision — what scenario 6's RSS is made of,
 * without the heap slack and timing of a server under load (BENCHMARKS.md, session 6):
 *
 *   npm run build && node --expose-gc dist/bench/live-heap.js [N] [--snapshot FILE]
 *
 * Reviews N unsigned digests (default 10 000) of a real docker-registry through the real Decider
 * and registry lookups (cosign verifier; each leaves a SIGNATURE_NOT_FOUND verdict in the verdict
 * cache and a deny in the decision cache, as scenario 6 does), 64 at a time, serialising each
 * decision as the server's answer and audit record do (that flattens its strings), then reports
 * heapUsed after full collections, before and after, per entry. `--snapshot` writes a heap
 * snapshot at the end (open it in Chrome DevTools' Memory tab).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { createDecisionStack } from '../server/cli/compose';
import type { ReviewRequest } from '../server/imagereview/wire-types';
import { createLogger } from '../server/observe/logger';
import { Metrics } from '../server/observe/metrics';
import { loadPolicyFile } from '../server/policy/load';
import { generateKeyPair } from '../test/peers/cosign-tool';
import { startRegistry } from '../test/peers/registry-peer';
import { tempDir } from '../test/peers/temp-dirs';
import { benchPolicyYaml } from './policies';

const CONCURRENCY = 64;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { snapshot: { type: 'string' } } });
  const n = Number(positionals[0] ?? 10_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  if (!Number.isInteger(n) || n < 1) throw new Error(`N must be a positive integer, not ${positionals[0]}`);

  const registry = await startRegistry();
  const dir = tempDir('imagegate-live-heap-'); // removed at exit, as the peers' own
  const stack = createDecisionStack(createLogger('error', { write() {} }), new Metrics(false));
  try {
    const keys = generateKeyPair('bench');
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, benchPolicyYaml({
      library: true,
      signed: { host: registry.host, publicKeyFile: keys.pub },
      cache: { allowTTL: '10m', denyTTL: '10m', maxEntries: n },
    }));
    const policy = loadPolicyFile(policyFile, 1);
    // As the server gets it: JSON.parse of a body (flat strings), not string literals.
    const request = (i: number): ReviewRequest =>
      JSON.parse(`{"namespace":"default","annotations":{},"images":["${registry.host}/demo/bench@sha256:${i.toString(16).padStart(64, '0')}"]}`) as ReviewRequest;

    await stack.decider.decideNow(request(0), policy); // modules, pools and code warm
    const collect = (): number => {
      for (let i = 0; i < 3; i++) gc();
      return process.memoryUsage().heapUsed;
    };
    const before = collect();
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next <= n) {
        const decision = await stack.decider.decideNow(request(next++), policy);
        if (decision.allowed) throw new Error(`an unsigned digest was allowed: ${JSON.stringify(decision)}`);
        JSON.stringify(decision); // the answer and the audit record read every string of it
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const after = collect();
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    process.stdout.write(
      `${n} cached verdicts + deny decisions: heapUsed ${mib(before)} → ${mib(after)} MiB, ` +
        `${Math.round((after - before) / n)} bytes per entry\n`,
    );
    if (values.snapshot) process.stdout.write(`heap snapshot: ${writeHeapSnapshot(values.snapshot)}\n`);
  } finally {
    await stack.close();
    await registry.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
