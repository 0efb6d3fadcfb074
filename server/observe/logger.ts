import pino, { type Logger, type DestinationStream, type LoggerOptions } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The redact backstop of every record except `decision` (see decisionLogger). */
const REDACT_PATHS = [
  '*.authorization', '*.Authorization', '*.password', '*.identitytoken', '*.token', '*.auth',
  '*.headers.authorization', 'headers.authorization', 'authorization', 'password', 'token',
];

/** logger → its twin for decision records (same destination and format, no redact pass). */
const decisionTwins = new WeakMap<Logger, Logger>();

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
  decisionTwins.set(logger, pino(options, dest));
  return logger;
}

/**
 * The logger for the one `decision` record per review: the same destination, level and format as
 * `logger`, without pino's redact pass. A decision record is built field by field from an
 * allowlist of facts (audit-record.ts: no raw request, header or error object, so none of the
 * redact paths can occur in it), and the wildcard redaction walked and cloned every field of
 * every record: about a sixth of the server's CPU per cached review (BENCHMARKS.md). Every other
 * record keeps the backstop. A logger not made by createLogger is returned as it is.
 */
export function decisionLogger(logger: Logger): Logger {
  const twin = decisionTwins.get(logger);
  if (!twin) return logger;
  if (twin.level !== logger.level) twin.level = logger.level;
  return twin;
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
