import { fstatSync } from 'node:fs';
import pino, { type Logger, type DestinationStream, type LoggerOptions } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The redact backstop of every record except `decision` (see decisionJsonWriter). */
const REDACT_PATHS = [
  '*.authorization', '*.Authorization', '*.password', '*.identitytoken', '*.token', '*.auth',
  '*.headers.authorization', 'headers.authorization', 'authorization', 'password', 'token',
];

/** logger → a writer of its `decision` records straight to its destination (see decisionJsonWriter). */
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
    destination === 'stdout' ? new BatchedDestination(bufferDestination(1)) :
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
    // `slice(1)` flattens the record into one string. Writing the record without its brace, to
    // skip that copy, measured no better in the server (BENCHMARKS.md "Measured and not shipped"),
    // so this stays as it is.
    decisionWriters.set(logger, (recordJson) => {
      dest.write(`{"level":"info","time":"${isoNow()}","service":"imagegate",${recordJson.slice(1)}\n`);
    });
  }
  return logger;
}

/**
 * A writer of the one `decision` record per review (an info record, serialised by the caller:
 * audit-record.ts decisionRecordJson) straight to `logger`'s destination, as the same line pino
 * writes for it (test/unit/observe/logger.test.ts compares them). Through pino the record went
 * through its redact pass, which walked and cloned every field of every record (about a sixth of
 * the server's CPU per cached review, BENCHMARKS.md), and its generic serializer. A decision
 * record has nothing to redact: it is built field by field from an allowlist of facts
 * (audit-record.ts: no raw request, header or error object); every other record keeps the redact
 * backstop. Undefined when info is off, or when `logger` was not made by createLogger or writes to
 * a stream that needs pino's per-record metadata: then log the record object through pino.
 */
export function decisionJsonWriter(logger: Logger): ((recordJson: string) => void) | undefined {
  return logger.isLevelEnabled('info') ? decisionWriters.get(logger) : undefined;
}

/**
 * pino's destination for `fd` taking bytes: sonic-boom's `contentMode: 'buffer'` (its
 * `writeBuffer`), whose typings still declare `write(string)`. Synchronous for a regular file.
 */
function bufferDestination(fd: number): BatchSink {
  return pino.destination({ fd, sync: isRegularFile(fd), contentMode: 'buffer' }) as unknown as BatchSink;
}

/**
 * stdout redirected to a regular file: a write never waits on a reader, so each batch is
 * written synchronously; libuv's thread pool would cost two context switches per write on a
 * pinned core. A pipe, socket or terminal can block (a stalled log reader): those stay
 * asynchronous, as before.
 */
function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

let isoMs = -1;
let isoText = '';
/** pino.stdTimeFunctions.isoTime's text; made once per millisecond (a busy server logs many reviews in one). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** A log record waits at most this long before it is written (see BatchedDestination). */
export const LOG_BATCH_MAX_DELAY_MS = 10;
/** The batch's buffer: a batch this full (in UTF-8 bytes) is written at once. */
export const LOG_BATCH_MAX_BYTES = 64 * 1024;

/** Where a batch goes: a sonic-boom in `contentMode: 'buffer'` (pino.destination), or anything that takes bytes. */
export type BatchSink = { write(chunk: Buffer): unknown; flush(cb?: (err?: Error) => void): void; flushSync(): void };

/**
 * Records go to the destination in batches: at the latest LOG_BATCH_MAX_DELAY_MS after the first
 * record of a batch, or at once when the next record might not fit in the batch's buffer. Each
 * write is a system call (for the asynchronous destination also a round trip through libuv's
 * thread pool): one per review cost 30–60 µs of CPU per review on one keep-alive connection, and
 * one per event-loop turn still a few µs per review under load (BENCHMARKS.md).
 *
 * A record is copied into the batch's buffer as UTF-8 when it arrives, not kept as a string until
 * the batch is written: a batch of strings was on the JavaScript heap for up to 10 ms, so every
 * scavenge in that time copied the records (and the pieces each was built from) that were still
 * waiting, and promoted some; in the buffer they are bytes the garbage collector never visits
 * (BENCHMARKS.md item 24). A batch is handed on as a copy of the bytes it holds, so the buffer is
 * reused at once and an asynchronous destination that holds a batch holds no more than its size.
 *
 * What a record may wait is bounded: flush/flushSync (graceful shutdown) and process exit (an
 * uncaught error included) write what is pending first, so only a process killed outright
 * (SIGKILL, the OOM killer) can lose up to the last 10 ms of records — as it can lose what an
 * asynchronous destination has not written yet. Order is kept: every record of the logger goes
 * through the same batch.
 */
export class BatchedDestination implements DestinationStream {
  private readonly buffer: Buffer;
  private used = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dest: BatchSink,
    private readonly maxDelayMs = LOG_BATCH_MAX_DELAY_MS,
    maxBytes = LOG_BATCH_MAX_BYTES,
  ) {
    this.buffer = Buffer.allocUnsafeSlow(maxBytes);
    exitFlush.add(this);
  }

  write(chunk: string): boolean {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: a record this short always fits whole.
    if (chunk.length * 3 > this.buffer.length - this.used) {
      this.handOn();
      if (chunk.length * 3 > this.buffer.length) {
        // Larger than a whole batch could be: written on its own, after everything before it.
        this.dest.write(Buffer.from(chunk, 'utf8'));
        return true;
      }
    }
    this.used += this.buffer.write(chunk, this.used, 'utf8');
    if (this.timer === undefined) {
      // unref: a pending batch never keeps the process alive (exit writes it, see exitFlush).
      this.timer = setTimeout(this.handOn, this.maxDelayMs).unref();
    }
    return true;
  }

  private readonly handOn = (): void => {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.used === 0) return;
    const out = Buffer.from(this.buffer.subarray(0, this.used));
    this.used = 0;
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
const exitFlush = new Set<BatchedDestination>();
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
