import type { BenchReport, Row, ScenarioReport } from './report-types';
import type { Spread } from './stats';

function num(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** "median (min–max)", or just the value for one round. */
export function showSpread(s: Spread, digits = 2): string {
  if (s.n <= 1) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

function rowLine(r: Row): string {
  const ratio = r.vsBaseline ? `${showSpread(r.vsBaseline.rps)}` : '—';
  const cpuRatio = r.vsBaseline ? `${showSpread(r.vsBaseline.cpuMsPerReq)}` : '—';
  return `| ${r.label} | ${showSpread(r.rps, 0)} | ${ratio} | ${showSpread(r.cpuMsPerReq, 3)} | ${cpuRatio} | ` +
    `${num(r.serverCpu.median * 100, 0)}% / ${num(r.loaderCpu.median * 100, 0)}% | ` +
    `${Number.isFinite(r.serverCoreSteal.median) ? `${num(r.serverCoreSteal.max * 100, 0)}% / ${num(r.serverCoreOthers.max * 100, 0)}%` : '—'} | ` +
    `${num(r.p50Ms.median, 3)} | ${num(r.p90Ms.median, 3)} | ${showSpread(r.p99Ms, 3)} | ${num(r.maxMs.median, 2)} | ${r.errors} |`;
}

export function renderScenario(s: ScenarioReport): string {
  const out: string[] = [`### ${s.title}`, ''];
  if (s.status === 'not-measured') out.push('**Not yet measured.**', '');
  for (const n of s.notes) out.push(`- ${n}`);
  if (s.notes.length) out.push('');
  if (s.rows.length) {
    out.push(
      '| run | req/s median (range) | req/s ÷ baseline | server CPU ms/req | CPU/req ÷ baseline | CPU server / loader | server core steal / others (worst) | p50 ms | p90 ms | p99 ms (range) | max ms | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...s.rows.map(rowLine),
      '',
    );
    const baselines = [...new Set(s.rows.filter((r) => r.vsBaseline).map((r) => r.vsBaseline!.baseline))];
    if (baselines.length) out.push(`Ratios are to the ${baselines.join(', ')} run of the same round (pair by pair), then the median and range of those ratios.`, '');
  }
  if (Object.keys(s.details).length) out.push('```json', JSON.stringify(s.details, null, 2), '```', '');
  if (s.targets.length) {
    out.push('| target | wanted | measured | met |', '| --- | --- | --- | --- |');
    for (const t of s.targets) out.push(`| ${t.what} | ${t.target} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  return out.join('\n');
}

export function renderReport(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [
    `## imagegate benchmark, ${r.date} (${r.mode} mode)`,
    '',
    `- Machine: ${m.nproc} cores (nproc), ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}`,
    `- ${r.pinning}`,
    `- Settings: ${r.settings.rounds} rounds A B A B, warm-up ${r.settings.warmupMs} ms, window ${r.settings.durationMs} ms ` +
      `(1-connection latency ${r.settings.latencyDurationMs} ms), ${r.settings.connections} keep-alive connections, ` +
      `load generator's HTTP client: ${r.settings.client === 'undici' ? 'undici (as in sessions 1–7)' : 'raw-client.ts'}`,
    `- Background: load average ${m.loadAvgAtStart.join(' ')} at start, ${r.loadAvgAtEnd.join(' ')} at end; machine ` +
      `${Math.round(m.busyBefore * 100)}% busy just before the run, ${Math.round(r.busyAfter * 100)}% just after` +
      (m.busyProcesses.length ? ` (before: ${m.busyProcesses.map((p) => `${p.command} ${Math.round(p.cpu * 100)}%`).join(', ')})` : ''),
    `- Total errors: ${r.totalErrors}; took ${Math.round(r.elapsedSeconds)} s`,
    '',
    'Columns: req/s and latency are measured by the load generator (µs timer around each request); ' +
      'server CPU is utime+stime of the server process(es) from /proc over the same window; ' +
      '"CPU server / loader" is each side\'s CPU as a share of one core (a loader near 100% means the load generator, not the server, is the limit); ' +
      '"server core steal / others" is the worst round\'s share of the server\'s core taken by the hypervisor (steal) or by other processes: noise.',
    '',
  ];
  for (const s of r.scenarios) out.push(renderScenario(s));
  return out.join('\n');
}
