import { accessSync, constants, existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort, registerTempDir, spawnGroup, waitFor, type ManagedProcess } from './processes';
import { requireKubeTool } from './tools';

export interface Etcd {
  /** http://127.0.0.1:<client port> */
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** A throw-away data folder: on tmpfs when there is one (etcd fsyncs a lot; nothing here must survive). */
function dataRoot(fallback: string): string {
  try {
    if (existsSync('/dev/shm')) {
      accessSync('/dev/shm', constants.W_OK);
      return '/dev/shm';
    }
  } catch {
    /* not writable */
  }
  return fallback;
}

function health(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/health`, { timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Starts a single-member etcd on two free loopback ports with a fresh data folder. */
export async function startEtcd(workDir: string): Promise<Etcd> {
  const bin = requireKubeTool('etcd');
  const dataDir = mkdtempSync(join(dataRoot(workDir), 'imagegate-e2e-etcd-'));
  const removeDataDir = registerTempDir(dataDir);
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = spawnGroup(
    'etcd',
    bin,
    [
      '--name', 'e2e',
      '--data-dir', dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `e2e=${peer}`,
      '--initial-cluster-state', 'new',
      '--log-level', 'warn',
    ],
    join(workDir, 'etcd.log'),
    { cwd: workDir },
  );
  const stop = async () => {
    await proc.stop(3_000);
    removeDataDir();
  };
  try {
    await waitFor('etcd healthy', async () => ((await health(url)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 100,
      failFast: () => (proc.hasExited() ? `etcd exited:\n${proc.tail()}` : undefined),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, process: proc, stop };
}
