import cluster from 'node:cluster';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors';
import { createApp } from '../http/app';
import type { AppDeps } from '../http/app-deps';
import { createRequestListener } from '../http/review-listener';
import { ReviewMemo } from '../http/review-memo';
import { gracefulClose } from '../http/shutdown';
import { httpsServerOptions, watchTlsFiles, type TlsFiles } from '../http/tls';
import { createLogger, type Logger } from '../observe/logger';
import { Metrics } from '../observe/metrics';
import { PolicyStore } from '../policy/policy-store';
import { watchPolicy } from '../policy/policy-watcher';
import { errorSummary } from '../http/review-route';
import { parseServeArgs, type ServeSettings } from './args';
import { createDecisionStack } from './compose';
import { loadServedPolicy, type PolicyOrigin } from './policy-source';
import { unreadableTrustFiles } from './readiness';

/** Keep-alive longer than the apiserver's idle reuse (Go's http.Transport IdleConnTimeout, 90 s). */
const KEEP_ALIVE_MS = 120_000;
/** In-flight reviews get this long after SIGTERM; a review is bounded by timeouts.review (< 30 s). */
const SHUTDOWN_GRACE_MS = 25_000;

export interface RunningServer {
  readonly url: string;
  readonly server: Server | HttpsServer;
  close(): Promise<void>;
}

/** `imagegate serve`: parse flags, then run one server, or a primary with `--workers N`. */
export async function runServe(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const settings = parseServeArgs(argv, env);
  if (settings.workers > 1 && cluster.isPrimary) return runPrimary(settings);
  const logger = createLogger(settings.logLevel, 'stdout');
  let running: RunningServer;
  try {
    running = await startServer(settings, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`imagegate: the policy is invalid:\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ event: 'shutdown', signal }, 'shutting down: finishing in-flight reviews');
      running.close().then(() => {
        logger.flush();
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function originOf(settings: ServeSettings): PolicyOrigin {
  if (settings.registryWhitelist) return { kind: 'bouncer', whitelist: settings.registryWhitelist };
  if (settings.configFile) return { kind: 'file', path: settings.configFile };
  return { kind: 'default' };
}

/**
 * The composition root: policy store and watcher, decider, Hono app, TLS, listening socket.
 * Throws ConfigError when the initial policy is invalid (exit 2).
 */
export async function startServer(settings: ServeSettings, logger: Logger): Promise<RunningServer> {
  const origin = originOf(settings);
  const store = new PolicyStore((generation) => loadServedPolicy(origin, generation));
  const initial = store.reload();
  if (!initial.ok) throw initial.error;

  const metrics = new Metrics();
  metrics.policyReloads.inc({ result: 'success' });
  metrics.policyGeneration.set(initial.policy.generation);
  const stack = createDecisionStack(logger, metrics);
  const decider = stack.decider;
  logger.info(
    { event: 'policy-loaded', source: initial.policy.source, generation: initial.policy.generation, rules: initial.policy.rules.length },
    'policy loaded',
  );

  const appDeps: AppDeps = {
    decider,
    currentPolicy: () => store.current(),
    metrics,
    logger,
    reviewMemo: new ReviewMemo(),
    requireClientCert: settings.clientCA !== undefined,
    readiness: () => {
      const problems = unreadableTrustFiles(store.current());
      return { ready: problems.length === 0, problems };
    },
  };
  const app = createApp(appDeps);

  const tls: TlsFiles | undefined = settings.cert && settings.key
    ? { cert: settings.cert, key: settings.key, clientCA: settings.clientCA }
    : undefined;
  // Reviews are answered by the Node listener itself; everything else goes through Hono.
  const listener = createRequestListener(appDeps, app);
  const server: Server | HttpsServer = tls ? createHttpsServer(httpsServerOptions(tls), listener) : createHttpServer(listener);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 5_000;
  server.requestTimeout = 30_000; // the apiserver gives up after 30 s anyway (contract.md §5.3)

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls ? 'https' : 'http'}://${hostForUrl}:${address.port}`;
  // nodeFlags: whether the heap flags imagegate ships with are in effect (server/cli/node-flags.ts).
  logger.info({ event: 'listening', url, mtls: settings.clientCA !== undefined, pid: process.pid, nodeFlags: process.execArgv }, `listening on ${url}`);
  if (!tls) {
    logger.warn(
      { event: 'plain-http', host: settings.host },
      'serving plain HTTP: this is for trying imagegate out; kube-apiserver needs --cert/--key (and --client-ca for mTLS)',
    );
  }

  const onReload = (result: ReturnType<PolicyStore['reload']>, trigger: string) => {
    if (result.ok) {
      metrics.policyReloads.inc({ result: 'success' });
      metrics.policyGeneration.set(result.policy.generation);
      logger.info({ event: 'policy-reloaded', trigger, generation: result.policy.generation }, 'policy reloaded');
    } else {
      metrics.policyReloads.inc({ result: 'failure' });
      logger.error(
        { event: 'policy-reload-failed', trigger, code: result.error.code, issues: result.error.issues, generation: store.current().generation },
        'policy reload failed; the last good policy stays in force',
      );
    }
  };
  const stopWatching = watchPolicy({
    store,
    file: origin.kind === 'file' ? origin.path : undefined,
    onReload,
  });
  const stopTls = tls
    ? watchTlsFiles(server as unknown as HttpsServer, tls, (ok, err) => {
        if (ok) logger.info({ event: 'tls-reloaded' }, 'TLS material reloaded');
        else logger.error({ event: 'tls-reload-failed', err: errorSummary(err) }, 'TLS reload failed; keeping the current certificate');
      })
    : () => {};

  return {
    url,
    server,
    close: async () => {
      stopWatching();
      stopTls();
      await gracefulClose(server, SHUTDOWN_GRACE_MS);
      await stack.close();
    },
  };
}

/**
 * `--workers N`: one process per core (node:cluster), sharing nothing but the policy file; each
 * worker watches the file itself, and SIGHUP to the primary is forwarded to every worker so a
 * reload reaches all of them.
 */
async function runPrimary(settings: ServeSettings): Promise<number> {
  const logger = createLogger(settings.logLevel, 'stdout');
  // Validate once up front so a bad policy is exit 2, not N crashing workers.
  try {
    loadServedPolicy(originOf(settings), 1);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`imagegate: the policy is invalid:\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < settings.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ event: 'worker-exit', pid: worker.process.pid, code, signal }, 'worker exited; starting a new one');
    fork();
  });
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  return new Promise<number>((resolve) => {
    const stop = () => {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      let left = workers.length;
      if (left === 0) resolve(0);
      for (const w of workers) {
        w!.once('exit', () => {
          if (--left === 0) resolve(0);
        });
        w!.process.kill('SIGTERM');
      }
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
