import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer as createNetServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { RECOMMENDED_NODE_FLAGS } from '../server/cli/node-flags';
import type { TestPki } from '../test/helpers/pki';

/** The repository root (dist/bench/servers.js → ../..). */
export const ROOT = join(__dirname, '..', '..');

/** Cores: server on `server`, load generator on `load`; undefined = not pinned. */
export interface Pinning {
  server: string | undefined;
  load: string | undefined;
  /** Why pinning is off, when it is. */
  note: string;
}

export function choosePinning(cores: number, disabled = false): Pinning {
  if (disabled) return { server: undefined, load: undefined, note: 'pinning disabled (--no-pin)' };
  if (cores < 2) return { server: undefined, load: undefined, note: `not pinned: only ${cores} core` };
  const probe = spawnSync('taskset', ['-c', '0', 'true']);
  if (probe.error || probe.status !== 0) {
    return { server: undefined, load: undefined, note: 'not pinned: taskset (util-linux) is not available' };
  }
  return { server: '0', load: '1', note: 'server pinned to core 0, load generator to core 1 (taskset -c)' };
}

/** [command, args] for `node ARGS`, under `taskset -c CORES` when given. */
export function nodeCommand(cores: string | undefined, args: string[]): [string, string[]] {
  return cores === undefined ? [process.execPath, args] : ['taskset', ['-c', cores, process.execPath, ...args]];
}

export interface ServerProcess {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  kind: 'floor' | 'imagegate';
  pki: TestPki;
  dir: string;
  cores: string | undefined;
  /** imagegate only. */
  policyFile?: string;
  workers?: number;
  logLevel?: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** imagegate's heap flags; default the shipped ones (RECOMMENDED_NODE_FLAGS). */
  imagegateNodeFlags?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Send stdout to /dev/null instead of the log file (readiness is then probed on the port). */
  discardStdout?: boolean;
  /** Another build of imagegate to run (a checkout with its own bin/ and dist/); default this one. */
  root?: string;
}

/**
 * Starts a server with stdout going to a file (as a container runtime does with the audit log:
 * the log costs the server what it costs in production, and the harness does not read it live),
 * and waits for its `listening` line.
 */
export async function startServer(o: StartOptions): Promise<ServerProcess> {
  // Logs go to a folder of their own: imagegate watches its policy file's folder (policy-watcher.ts),
  // and a log growing beside the policy would wake that watch on every write — a cost a deployment
  // does not pay (the policy is a ConfigMap volume, the log a pipe).
  const logDir = join(o.dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${o.name}.log`);
  const fd = openSync(o.discardStdout ? '/dev/null' : logFile, 'w');
  // Above info (or with stdout discarded) there is no `listening` line to read: pick the port here and probe it.
  const quiet = o.discardStdout === true || (o.logLevel !== undefined && !['info', 'debug', 'trace'].includes(o.logLevel));
  const port = quiet ? await freePort() : 0;
  const tlsArgs = ['--cert', o.pki.serverCert, '--key', o.pki.serverKey, '--client-ca', o.pki.caCert];
  const script = o.kind === 'floor'
    ? [join(ROOT, 'dist', 'bench', 'floor-server.js'), '--host', '127.0.0.1', '--port', '0', ...tlsArgs]
    : [join(o.root ?? ROOT, 'bin', 'imagegate'), 'serve', '--host', '127.0.0.1', '--port', String(port), ...tlsArgs,
      ...(o.policyFile ? ['--config', o.policyFile] : []),
      ...(o.workers && o.workers > 1 ? ['--workers', String(o.workers)] : []),
      ...(o.logLevel ? ['--log-level', o.logLevel] : [])];
  // imagegate runs with the heap flags it ships with (server/cli/node-flags.ts) unless told otherwise.
  const heapFlags = o.kind === 'imagegate' ? (o.imagegateNodeFlags ?? RECOMMENDED_NODE_FLAGS) : [];
  const [cmd, args] = nodeCommand(o.cores, [...heapFlags, ...(o.nodeFlags ?? []), ...script]);
  const child = spawn(cmd, args, { cwd: o.dir, stdio: ['ignore', fd, 'pipe'], env: { ...process.env, ...o.env } });
  closeSync(fd);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const wantListening = o.kind === 'imagegate' && o.workers && o.workers > 1 ? o.workers : 1;
  const deadline = Date.now() + 20_000;
  let url: string | undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${o.name} exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.name} did not start within 20 s: ${stderr}`);
    }
    if (quiet) {
      if (await canConnect(port)) {
        await new Promise((r) => setTimeout(r, 300)); // let every worker bind
        url = `https://127.0.0.1:${port}`;
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
      continue;
    }
    const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"listening"'));
    if (lines.length >= wantListening) {
      url = String((JSON.parse(lines[0] as string) as { url: string }).url);
      // With --workers every worker binds the same port through the primary; port 0 is resolved by
      // the primary once, so all workers share the URL.
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    name: o.name,
    url,
    pid: child.pid as number,
    child,
    logFile,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
