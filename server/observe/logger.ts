import pino, { type Logger, type DestinationStream } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * JSON lines (interfaces.md "Logs"): stdout for `serve`, stderr for the other commands, whose
 * stdout is their answer. Records are built field by field (audit-record.ts); these redact paths
 * are only the backstop of style.md anti-pattern 5.
 */
export function createLogger(level: LogLevel, destination: 'stdout' | 'stderr' | DestinationStream): Logger {
  const dest =
    destination === 'stdout' ? pino.destination({ fd: 1, sync: false }) :
    destination === 'stderr' ? pino.destination({ fd: 2, sync: true }) :
    destination;
  return pino(
    {
      level,
      base: { service: 'imagegate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          '*.authorization', '*.Authorization', '*.password', '*.identitytoken', '*.token', '*.auth',
          '*.headers.authorization', 'headers.authorization', 'authorization', 'password', 'token',
        ],
        censor: '[redacted]',
      },
    },
    dest,
  );
}

export type { Logger };
