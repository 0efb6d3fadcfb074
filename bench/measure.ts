import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { LoadOptions, LoadResult } from './loadgen';
import { coreTimes, cpuSeconds, processTree, type CoreTimes } from './proc';
import { nodeCommand, ROOT, type ServerProcess } from './servers';

export interface Measurement extends LoadResult {
  server: string;
  /** Server CPU (user + system, all threads, every worker) per request, in ms. */
  serverCpuMsPerReq: number;
  /** Server CPU in the window as a share of one core. */
  serverCpu: number;
  /**
   * Interference on the server's core in the window (pinned runs only, else NaN): time the
   * hypervisor gave the core to someone else (steal), and time other processes used it.
   */
  serverCoreSteal: number;
  serverCoreOthers: number;
}

/**
 * One load run against `server` from a separate load-generator process (pinned to `loadCores`
 * when given). The server's CPU counters are read when the loader reports the end of its warm-up
 * and again when it is done, so CPU per request covers exactly the measured window.
 */
export function measure(server: ServerProcess, opts: LoadOptions, loadCores: string | undefined, serverCore?: number): Promise<Measurement> {
  const pids = processTree(server.pid);
  let core0: CoreTimes | undefined;
  let core1: CoreTimes | undefined;
  const [cmd, args] = nodeCommand(loadCores, [join(ROOT, 'dist', 'bench', 'loadgen.js'), JSON.stringify(opts)]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let cpu0 = cpuSeconds(pids);
    let out = '';
    let err = '';
    let result: LoadResult | undefined;
    let cpu1 = cpu0;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      let i;
      while ((i = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        const msg = JSON.parse(line) as { phase: string; result?: LoadResult };
        if (msg.phase === 'measuring') {
          cpu0 = cpuSeconds(pids);
          if (serverCore !== undefined) core0 = coreTimes(serverCore);
        }
        if (msg.phase === 'done') {
          cpu1 = cpuSeconds(pids);
          if (serverCore !== undefined) core1 = coreTimes(serverCore);
          result = msg.result;
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!result) return reject(new Error(`load generator exited with ${code}: ${err}`));
      const cpu = cpu1 - cpu0;
      const coreSecs = core0 && core1 ? core1.total - core0.total : NaN;
      resolve({
        serverCoreSteal: core0 && core1 ? (core1.steal - core0.steal) / coreSecs : NaN,
        serverCoreOthers: core0 && core1 ? Math.max(0, core1.busy - core0.busy - cpu) / coreSecs : NaN,
        ...result,
        server: server.name,
        serverCpuMsPerReq: result.requests ? (cpu * 1000) / result.requests : NaN,
        serverCpu: cpu / result.seconds,
      });
    });
  });
}
