import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { CLK_TCK } from './proc';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  /** `lscpu` lines that describe the CPU (model, cores, caches, hypervisor). */
  lscpu: string[];
  memoryGiB: number;
  node: string;
  kernel: string;
  loadAvgAtStart: number[];
  /** Share of the whole machine busy during a short sample before the benchmark, 0–1. */
  busyBefore: number;
  /** Processes using CPU in that sample (besides the benchmark itself). */
  busyProcesses: Array<{ pid: number; command: string; cpu: number }>;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function totalTicks(): { busy: number; all: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const all = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: all - idle, all };
}

function processTicks(): Map<number, { command: string; ticks: number }> {
  const out = new Map<number, { command: string; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const command = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { command, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** What else is running: machine busy share and the top CPU users over `ms`. */
export async function sampleBackground(ms = 1000): Promise<{ busy: number; processes: MachineInfo['busyProcesses'] }> {
  const t0 = totalTicks();
  const p0 = processTicks();
  await new Promise((r) => setTimeout(r, ms));
  const t1 = totalTicks();
  const p1 = processTicks();
  const secs = ms / 1000;
  const processes: MachineInfo['busyProcesses'] = [];
  for (const [pid, now] of p1) {
    if (pid === process.pid) continue;
    const before = p0.get(pid);
    const cpu = (now.ticks - (before?.ticks ?? now.ticks)) / CLK_TCK / secs;
    if (cpu >= 0.05) processes.push({ pid, command: now.command, cpu: Math.round(cpu * 100) / 100 });
  }
  processes.sort((a, b) => b.cpu - a.cpu);
  return { busy: (t1.busy - t0.busy) / Math.max(1, t1.all - t0.all), processes: processes.slice(0, 6) };
}

export async function describeMachine(sampleMs = 1000): Promise<MachineInfo> {
  const lscpuText = run('lscpu', []);
  const keep = /^(Architecture|CPU\(s\)|Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|CPU max MHz|L2 cache|L3 cache|Hypervisor vendor|Virtualization type|BogoMIPS):/;
  const lscpu = lscpuText.split('\n').filter((l) => keep.test(l)).map((l) => l.replace(/\s{2,}/g, ' ').trim());
  const bg = await sampleBackground(sampleMs);
  return {
    nproc: Number(run('nproc', []).trim()) || availableParallelism(),
    cpuModel: /Model name:\s*(.*)/.exec(lscpuText)?.[1]?.trim() ?? 'unknown',
    lscpu,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: run('uname', ['-sr']).trim(),
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    busyBefore: Math.round(bg.busy * 1000) / 1000,
    busyProcesses: bg.processes,
  };
}
