import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import type { LogLevel } from '../observe/logger';

/** A usage problem: exit code 2 with this message. */
export class UsageError extends Error {}

export interface ServeSettings {
  configFile: string | undefined;
  host: string;
  port: number;
  cert: string | undefined;
  key: string | undefined;
  clientCA: string | undefined;
  insecure: boolean;
  logLevel: LogLevel;
  /** kube-image-bouncer's --registry-whitelist: when set, the policy is built from it. */
  registryWhitelist: string[] | undefined;
  workers: number;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
type Env = Readonly<Record<string, string | undefined>>;

/** `serve`'s options for parseArgs (imagegate's spellings; kube-image-bouncer's are rewritten to these first). */
const SERVE_OPTIONS = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  cert: { type: 'string', short: 'c' },
  key: { type: 'string', short: 'k' },
  'client-ca': { type: 'string' },
  insecure: { type: 'boolean' },
  'log-level': { type: 'string' },
  'registry-whitelist': { type: 'string' },
  workers: { type: 'string' },
} as const;

/**
 * `serve` flags and their environment twins (interfaces.md "Command line"). kube-image-bouncer's
 * flags and BOUNCER_* variables are mapped here and nowhere else (style.md cli/args.ts):
 * `--cert/-c`, `--key/-k`, `--port/-p`, `--registry-whitelist`, `--debug`, in every spelling its
 * flag parser accepted (bouncerSpellings); its certificate variable is BOUNCER_CERTIFICATE
 * (BOUNCER_CERT is accepted too). Flags win over IMAGEGATE_*, which win over BOUNCER_*.
 */
export function parseServeArgs(argv: readonly string[], env: Env): ServeSettings {
  const bouncer = bouncerSpellings(argv);
  const { values, positionals } = parseArgs({
    args: bouncer.args,
    options: SERVE_OPTIONS,
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, found: ${positionals.join(' ')}`);

  const pick = (flag: string | undefined, ...names: string[]): string | undefined => {
    if (flag !== undefined) return flag;
    for (const n of names) {
      const v = env[n];
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  const cert = pick(values.cert, 'IMAGEGATE_CERT', 'BOUNCER_CERTIFICATE', 'BOUNCER_CERT');
  const key = pick(values.key, 'IMAGEGATE_KEY', 'BOUNCER_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--cert and --key must be given together');
  }
  const clientCA = pick(values['client-ca'], 'IMAGEGATE_CLIENT_CA');
  if (clientCA !== undefined && cert === undefined) {
    throw new UsageError('--client-ca needs --cert and --key: client certificates only exist over TLS');
  }
  // --log-level, then --debug (a flag), then IMAGEGATE_LOG_LEVEL, then BOUNCER_DEBUG (unless --debug=false).
  const bouncerDebug = bouncer.debug ?? parseBool(pick(undefined, 'BOUNCER_DEBUG'), 'BOUNCER_DEBUG') ?? false;
  const logLevel = (values['log-level'] ??
    (bouncer.debug === true ? 'debug' : undefined) ??
    pick(undefined, 'IMAGEGATE_LOG_LEVEL') ??
    (bouncerDebug ? 'debug' : 'info')) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, found "${logLevel}"`);
  }
  const port = parsePort(pick(values.port, 'IMAGEGATE_PORT', 'BOUNCER_PORT') ?? '1323');
  const host = pick(values.host, 'IMAGEGATE_HOST') ?? (cert ? '0.0.0.0' : '127.0.0.1');
  const insecure = values.insecure ?? parseBool(pick(undefined, 'IMAGEGATE_INSECURE'), 'IMAGEGATE_INSECURE') ?? false;
  const whitelistText = pick(values['registry-whitelist'], 'BOUNCER_REGISTRY_WHITELIST');
  const configFile = pick(values.config, 'IMAGEGATE_CONFIG');
  if (whitelistText !== undefined && configFile !== undefined) {
    throw new UsageError('--registry-whitelist and --config cannot be combined: put the registries in the policy file');
  }
  const workers = parseWorkers(pick(values.workers, 'IMAGEGATE_WORKERS') ?? '1');

  const settings: ServeSettings = {
    configFile,
    host,
    port,
    cert,
    key,
    clientCA,
    insecure,
    logLevel,
    registryWhitelist: whitelistText === undefined ? undefined : splitWhitelist(whitelistText),
    workers,
  };
  if (!cert && !insecure && !isLoopback(host)) {
    throw new UsageError(
      `refusing plain HTTP on ${host}: give --cert and --key, listen on a loopback address, or pass --insecure`,
    );
  }
  return settings;
}

/** kube-image-bouncer's flag names (its urfave/cli v1 `Name: "cert, c"` lists) → imagegate's option. */
const BOUNCER_FLAGS: ReadonlyMap<string, 'cert' | 'key' | 'port' | 'registry-whitelist' | 'debug'> = new Map([
  ['cert', 'cert'],
  ['c', 'cert'],
  ['key', 'key'],
  ['k', 'key'],
  ['port', 'port'],
  ['p', 'port'],
  ['registry-whitelist', 'registry-whitelist'],
  ['debug', 'debug'],
] as const);

/**
 * kube-image-bouncer parsed its flags with Go's `flag` package (urfave/cli v1): any of its names
 * with one dash or two, `-name value` or `-name=value`, and `-debug=true|false` for its boolean
 * (https://pkg.go.dev/flag, "Command line flag syntax"). Node's parseArgs reads `-cert` as `-c`
 * with the value "ert", `-c=/x` as the value "=/x", and refuses `--debug=true`; so that manifests
 * written for it keep working unchanged (interfaces.md), its names in those spellings are
 * rewritten to `--name=value` before parsing. `--debug` in any spelling is taken out and returned
 * (true, false, or undefined when absent). imagegate's own flags are left as they are, and so is
 * the value that follows one of them (`--host -p` keeps "-p" as the host, as Go would).
 */
function bouncerSpellings(argv: readonly string[]): { args: string[]; debug: boolean | undefined } {
  const args: string[] = [];
  let debug: boolean | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const m = /^--?([a-z][a-z-]*)(?:=([\s\S]*))?$/.exec(token);
    const name = m ? BOUNCER_FLAGS.get(m[1] as string) : undefined;
    if (m === null || name === undefined) {
      args.push(token);
      // The value of one of imagegate's string options is never read as a flag.
      const own = m !== null && m[2] === undefined ? ownStringOption(token) : false;
      if (own && i + 1 < argv.length) args.push(argv[++i] as string);
      continue;
    }
    const value = m[2];
    if (name === 'debug') {
      debug = value === undefined ? true : parseBool(value, '--debug');
    } else if (value !== undefined) {
      args.push(`--${name}=${value}`);
    } else if (i + 1 < argv.length) {
      args.push(`--${name}=${argv[++i] as string}`); // Go takes the next argument whatever it looks like
    } else {
      args.push(`--${name}`); // parseArgs reports the missing value
    }
  }
  return { args, debug };
}

/** `--config`, `--host`, … : an imagegate option that takes a value in the next argument. */
function ownStringOption(token: string): boolean {
  const name = token.slice(2);
  return token.startsWith('--') && Object.hasOwn(SERVE_OPTIONS, name) && SERVE_OPTIONS[name as keyof typeof SERVE_OPTIONS].type === 'string';
}

/** kube-image-bouncer splits on "," only; entries are trimmed and empty ones dropped. */
function splitWhitelist(text: string): string[] {
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (entries.length === 0) throw new UsageError('--registry-whitelist is empty');
  return entries;
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 0 || n > 65535) throw new UsageError(`--port must be 0–65535, found "${text}"`);
  return n;
}

function parseWorkers(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 64) throw new UsageError(`--workers must be 1–64, found "${text}"`);
  return n;
}

function parseBool(text: string | undefined, name: string): boolean | undefined {
  if (text === undefined) return undefined;
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off)$/i.test(text)) return false;
  throw new UsageError(`${name} must be true or false, found "${text}"`);
}

/** 127.0.0.0/8, ::1 and localhost: where plain HTTP is allowed without --insecure. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}
