/**
 * imagegate's review listener on plain HTTP in this process, with the real app, decider, memo
 * and metrics and a logger whose records are kept in `records`: for tests that need to change
 * the policy in force or inject a fault between two reviews (a spawned server cannot).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Decider } from '../../server/decision/decide-review';
import { createApp } from '../../server/http/app';
import type { AppDeps } from '../../server/http/app-deps';
import { createRequestListener } from '../../server/http/review-listener';
import { ReviewMemo } from '../../server/http/review-memo';
import { createLogger } from '../../server/observe/logger';
import { Metrics } from '../../server/observe/metrics';
import type { CompiledPolicy } from '../../server/policy/compiled-policy';

export interface InProcessReviews {
  readonly deps: AppDeps;
  /** Every log record written so far, parsed. */
  readonly records: Record<string, unknown>[];
  /** Listens on 127.0.0.1 and returns the base URL. */
  start(): Promise<string>;
  /** Closes the server and the decider it was given (its cache's expiry timer). */
  stop(): Promise<void>;
}

export function inProcessReviews(decider: Decider, currentPolicy: () => CompiledPolicy): InProcessReviews {
  const records: Record<string, unknown>[] = [];
  const deps: AppDeps = {
    decider,
    currentPolicy,
    metrics: new Metrics(false),
    logger: createLogger('info', { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) }),
    reviewMemo: new ReviewMemo(),
    requireClientCert: false,
    readiness: () => ({ ready: true, problems: [] }),
  };
  let server: Server | undefined;
  return {
    deps,
    records,
    async start() {
      const s = createServer(createRequestListener(deps, createApp(deps)));
      server = s;
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    },
    async stop() {
      const s = server;
      if (s !== undefined) await new Promise((resolve) => s.close(resolve));
      decider.close();
    },
  };
}
