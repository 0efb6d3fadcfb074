import pino, { type Logger, type DestinationStream, type LoggerOptions } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The redact backstop of every record except `decision` (see writeDecisionRecord). */
const REDACT_PATHS = [
  '*.authorization', '*.Authorization', '*.password', '*.identitytoken', '*.token', '*.auth',
  '*.headers.authorization', 'headers.authorization', 'authorization', 'password', 'token',
];

/** logger → a writer of its `decision` records straight to its destination (see writeDecisionRecord). */
const decisionWriters = new WeakMap<Logger, (recordJson: string) => void>();

/** Streams that need pino's per-record metadata (pino.multistream routes by it) always go through pino. */
const NEEDS_METADATA = Symbol.for('pino.metadata');

/**
 * JSON lines (interfaces.md "Logs"): stdout for `serve`, stderr for the other commands, whose
 * stdout is their answer. Records are built field by field (audit-record.ts); these redact paths
 * are only the backstop of style.md anti-pattern 5.
 */
export function createLogger(level: LogLevel, destination: 'stdout' | 'stderr' | DestinationStream): Logger {
  const dest =
    destination === 'stdout' ? new TurnBatchedDestination(pino.destination({ fd: 1, sync: false })) :
    destination === 'stderr' ? pino.destination({ fd: 2, sync: true }) :
    destination;
  const options: LoggerOptions = {
    level,
    base: { service: 'imagegate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const logger = pino({ ...options, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
  if (!(dest as { [NEEDS_METADATA]?: unknown })[NEEDS_METADATA]) {
    // pino's own line for these options: {"level":"info","time":"<ISO>","service":"imagegate",<record fields>}
    decisionWriters.set(logger, (recordJson) => {
      dest.write(`{"level":"info","time":"${new Date().toISOString()}","service":"imagegate",${recordJson.slice(1)}\n`);
    });
  }
  return logger;
}

/**
 * Writes the one `decision` record per review (an info record) to `logger`'s destination: the
 * same line pino writes for it (test/unit/observe/logger.test.ts compares them), made with one
 * JSON.stringify. pino would run its redact pass over it, which walked and cloned every field of
 * every record (about a sixth of the server's CPU per cached review, BENCHMARKS.md), and its
 * generic serializer; a decision record has nothing to redact: it is built field by field from an
 * allowlist of facts (audit-record.ts: no raw request, header or error object), and every other
 * record keeps the redact backstop. A logger not made by createLogger gets `logger.info(record)`.
 */
export function writeDecisionRecord(logger: Logger, record: Record<string, unknown>): void {
  if (!logger.isLevelEnabled('info')) return;
  const write = decisionWriters.get(logger);
  if (write === undefined) {
    logger.info(record);
    return;
  }
  write(JSON.stringify(record));
}

/**
 * The records of one event-loop turn go to the destination together, as one write: under load a
 * turn answers several reviews, and each write of the asynchronous destination is a round trip
 * through libuv's thread pool (with `serve` pinned to one core: two context switches per write).
 * A record is handed on at the end of the turn it was logged in (setImmediate), never later;
 * flush/flushSync (shutdown, process exit) hand on what is pending first.
 */
class TurnBatchedDestination implements DestinationStream {
  private pending = '';
  private scheduled = false;

  constructor(private readonly dest: pino.DestinationStream & { flush(cb?: (err?: Error) => void): void; flushSync(): void }) {
    exitFlush.add(this);
  }

  write(chunk: string): boolean {
    this.pending += chunk;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.handOn);
    }
    return true;
  }

  private readonly handOn = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const out = this.pending;
    this.pending = '';
    this.dest.write(out);
  };

  flush(cb?: (err?: Error) => void): void {
    this.handOn();
    this.dest.flush(cb);
  }

  flushSync(): void {
    this.handOn();
    this.dest.flushSync();
  }
}

/** On exit, records still pending in a batch are written synchronously (as pino does for its own). */
const exitFlush = new Set<TurnBatchedDestination>();
process.once('exit', () => {
  for (const d of exitFlush) {
    try {
      d.flushSync();
    } catch {
      /* destination closed or not ready: nothing more can be done at exit */
    }
  }
});

export type { Logger };
