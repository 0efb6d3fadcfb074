import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second for /proc/<pid>/stat utime and stime (almost always 100). */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  ppid: number;
  /** utime + stime in clock ticks, over every thread of the process (GC and libuv pool included). */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** pid and every descendant (a `--workers N` primary and its workers). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user + system) used so far by the given processes together. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

/** VmRSS and VmHWM (peak) in MiB, summed over the processes. */
export function memoryMiB(pids: readonly number[]): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const pid of pids) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    rss += Number(/VmRSS:\s+(\d+) kB/.exec(text)?.[1] ?? 0) / 1024;
    peak += Number(/VmHWM:\s+(\d+) kB/.exec(text)?.[1] ?? 0) / 1024;
  }
  return { rss, peak };
}

export interface CoreTimes {
  /** Seconds the core ran anything (user, nice, system, irq, softirq). */
  busy: number;
  /** Seconds the hypervisor ran someone else on it. */
  steal: number;
  /** All of the above plus idle and iowait. */
  total: number;
}

/** Cumulative times of one core from /proc/stat (USER_HZ ticks, converted to seconds). */
export function coreTimes(core: number): CoreTimes {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `)) ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number) => (v[i] ?? 0) / CLK_TCK;
  const busy = at(0) + at(1) + at(2) + at(5) + at(6);
  const steal = at(7);
  return { busy, steal, total: busy + steal + at(3) + at(4) };
}
