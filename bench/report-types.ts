import type { Spread } from './stats';
import type { MachineInfo } from './machine';

export type Mode = 'smoke' | 'quick' | 'full';

export interface BenchSettings {
  mode: Mode;
  /** A B A B rounds per comparison. */
  rounds: number;
  warmupMs: number;
  durationMs: number;
  /** Keep-alive connections (= requests in flight) for throughput runs. */
  connections: number;
  /** Window of the one-connection latency runs. */
  latencyDurationMs: number;
  /** Cached decisions for scenario 6 (and cache.maxEntries of the benchmark policy). */
  memoryEntries: number;
  /** Fill the verdict cache too in scenario 6 (needs the registry peers). */
  memoryVerdicts: boolean;
  /** Concurrent reviews of one cold signed image in scenario 5. */
  herd: number;
  /** Cold signed reviews in scenario 4. */
  coldReviews: number;
  pin: boolean;
  /** How long to sample what else the machine is doing, before and after. */
  backgroundSampleMs: number;
  /** Another build of imagegate (a checkout with bin/ and dist/) to run beside this one in scenarios 2 and 3. */
  baselineRoot: string | undefined;
  /** The baseline's V8 flags; undefined = the same as imagegate's. */
  baselineNodeFlags: readonly string[] | undefined;
  /** imagegate's V8 heap flags; undefined = the shipped ones (server/cli/node-flags.ts). */
  imagegateNodeFlags: string[] | undefined;
  /** Write --cpu-prof profiles of the floor, imagegate and the baseline here (scenarios 1–3: floor.cpuprofile, imagegate.cpuprofile, baseline.cpuprofile). */
  cpuProfDir: string | undefined;
  /** Scenario ids to run (default all): floor, cached, uncached, cold, herd, memory, workers. */
  only: string[] | undefined;
  /** The load generator's HTTP client (loadgen.ts): 'raw' (default) or 'undici' (sessions 1–7's). */
  client: LoadClient;
}

export type LoadClient = 'raw' | 'undici';

/** One server in one scenario: medians and ranges over the rounds. */
export interface Row {
  label: string;
  runs: number;
  rps: Spread;
  /** Server CPU per request, ms (user + system, all threads and workers). */
  cpuMsPerReq: Spread;
  /** Server CPU during the window, share of one core. */
  serverCpu: Spread;
  /** Load generator CPU during the window, share of one core. */
  loaderCpu: Spread;
  /** Steal and other processes' use of the server's core during the windows (pinned runs). */
  serverCoreSteal: Spread;
  serverCoreOthers: Spread;
  p50Ms: Spread;
  p90Ms: Spread;
  p99Ms: Spread;
  maxMs: Spread;
  errors: number;
  errorSamples: string[];
  /** This row ÷ the baseline row, computed round by round (same round, same conditions). */
  vsBaseline?: { baseline: string; rps: Spread; cpuMsPerReq: Spread };
}

export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  /** null: not measured. */
  met: boolean | null;
}

export interface ScenarioReport {
  id: string;
  title: string;
  status: 'measured' | 'not-measured';
  /** Why it was not measured, or what to keep in mind reading it. */
  notes: string[];
  rows: Row[];
  targets: TargetCheck[];
  details: Record<string, unknown>;
}

export interface BenchReport {
  date: string;
  mode: Mode;
  settings: BenchSettings;
  machine: MachineInfo;
  pinning: string;
  /** Machine load sampled again at the end. */
  loadAvgAtEnd: number[];
  busyAfter: number;
  scenarios: ScenarioReport[];
  totalErrors: number;
  elapsedSeconds: number;
}
