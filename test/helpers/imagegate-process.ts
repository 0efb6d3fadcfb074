import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** A real `./bin/imagegate serve` child process, as an operator runs it. */
export interface ImagegateProcess {
  url: string;
  child: ChildProcess;
  /** Every stdout line (JSON log records) seen so far. */
  logs: string[];
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Waits until a log line satisfies `pred`. */
  waitForLog(pred: (rec: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export const BIN = join(process.cwd(), 'bin', 'imagegate');

/** Starts `imagegate serve ARGS --port 0` and resolves once it logs its URL. */
export function startImagegate(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<ImagegateProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ pred: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }> = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      logs.push(line);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const w of [...waiters]) {
        if (w.pred(rec)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(rec);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLog = (pred: (rec: Record<string, unknown>) => boolean, ms = 10_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      for (const line of logs) {
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          if (pred(rec)) return resolve(rec);
        } catch {
          /* not JSON */
        }
      }
      const t = setTimeout(() => reject(new Error(`log line not seen within ${ms} ms; stderr: ${stderr.join('')}`)), ms);
      waiters.push({ pred, resolve: (r) => { clearTimeout(t); resolve(r); } });
    });

  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`imagegate did not start within ${timeoutMs} ms; stderr: ${stderr.join('')}`));
    }, timeoutMs);
    exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`imagegate exited with ${code} before listening; stderr: ${stderr.join('')}`));
    });
    waitForLog((r) => r.event === 'listening', timeoutMs).then((rec) => {
      clearTimeout(t);
      resolve({
        url: String(rec.url),
        child,
        logs,
        stderr,
        waitForLog,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null) child.kill(signal);
          return exited;
        },
      });
    }, () => {});
  });
}

/** Runs `imagegate ARGS` to completion. */
export function runImagegate(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}
