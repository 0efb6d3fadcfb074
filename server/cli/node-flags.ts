/**
 * The V8 heap flags imagegate is launched with (Dockerfile ENTRYPOINT, manifests/deployment.yaml,
 * `npm start`; test/unit/cli/node-flags.test.ts keeps the three in step, and `npm run bench`
 * measures the server with them).
 *
 * Why: with Node's defaults on a machine with plenty of RAM, V8 lets the young generation grow to
 * 3 × 16 MiB and the old generation grow to about twice its live size before collecting, so a
 * burst of cold reviews left imagegate at ~230 MiB RSS for ~35 MiB of live objects (10 000 cached
 * decisions + 10 000 cached verdicts, issue 5 scenario 6). These two flags bound the slack, not
 * the heap:
 *   --max-semi-space-size=4     young generation of at most 2 × 4 MiB: short-lived request
 *                               objects are collected sooner, at some extra scavenges;
 *   --heap-growing-percent=30   after a full GC the old generation may grow 30 % past what is live
 *                               before the next one (V8 picks 1.1–4× by itself).
 * With them the same run stays at ~135 MiB (BENCHMARKS.md). There is deliberately no
 * --max-old-space-size: a cap makes V8 abort the process when the live set reaches it (a large
 * `cache.maxEntries`), and an imagegate that crash-loops denies every pod.
 */
export const RECOMMENDED_NODE_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=30'] as const;
