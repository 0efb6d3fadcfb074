import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Child processes of the e2e suite (etcd, kube-apiserver, imagegate). Each native peer runs in its
 * own process group (`detached: true`), so that stopping it also stops anything it started; every
 * group still alive when this test process exits, however it exits, is SIGKILLed.
 */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Combined stdout/stderr file. */
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader has exited. */
  stop(graceMs?: number): Promise<void>;
  /** The last `maxChars` characters of the log file, for error messages. */
  tail(maxChars?: number): string;
}

const liveGroups = new Set<number>();
const livePids = new Set<number>();
const tempDirs = new Set<string>();

/** Removes `dir` when this process exits, unless IMAGEGATE_E2E_KEEP is set (or it was released). */
export function registerTempDir(dir: string): () => void {
  installExitHandlers();
  tempDirs.add(dir);
  return () => {
    tempDirs.delete(dir);
    if (!process.env.IMAGEGATE_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  };
}

function killEverything(): void {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveGroups.clear();
  livePids.clear();
  if (!process.env.IMAGEGATE_E2E_KEEP) {
    for (const dir of tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  }
  tempDirs.clear();
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killEverything);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killEverything();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Registers a plain child (not a group leader) to be SIGKILLed if this process exits first. */
export function trackChild(child: ChildProcess): void {
  installExitHandlers();
  const pid = child.pid;
  if (pid === undefined) return;
  livePids.add(pid);
  child.once('exit', () => livePids.delete(pid));
}

/** Spawns `command` in a new process group with stdout and stderr going to `logFile`. */
export function spawnGroup(name: string, command: string, args: readonly string[], logFile: string, options: SpawnOptions = {}): ManagedProcess {
  installExitHandlers();
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, [...args], { ...options, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  liveGroups.add(pid);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      /* the group is gone */
    }
  };
  return {
    name,
    pid,
    child,
    logFile,
    exited,
    hasExited: () => done,
    async stop(graceMs = 5_000) {
      if (!liveGroups.has(pid)) return;
      killGroup('SIGTERM');
      const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // The leader is gone; make sure nothing else of the group lingers.
      killGroup('SIGKILL');
      liveGroups.delete(pid);
    },
    tail: (maxChars = 4_000) => tailFile(logFile, maxChars),
  };
}

export function tailFile(file: string, maxChars = 4_000): string {
  try {
    const size = statSync(file).size;
    const text = readFileSync(file, 'utf8');
    return size > maxChars ? `…${text.slice(-maxChars)}` : text;
  } catch {
    return '(no log)';
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every `intervalMs` until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; failFast?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const fatal = opts.failFast?.();
    if (fatal !== undefined) throw new Error(`${what}: ${fatal}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${opts.timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
