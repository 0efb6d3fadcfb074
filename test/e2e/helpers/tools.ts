import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The repository root (tests run from it: `npm test`, `node --test dist/test/e2e/`). */
export const REPO = process.cwd();

/** Where scripts/tools/*.sh put their binaries (scripts/tools/common.sh: IMAGEGATE_TOOLS_DIR). */
export function toolsDir(): string {
  return process.env.IMAGEGATE_TOOLS_DIR || join(homedir(), '.cache', 'imagegate-tools');
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A binary built by scripts/tools/build-kube.sh. Missing means the suite fails, loudly and with the
 * command that fixes it: the e2e tier is never skipped.
 */
export function requireKubeTool(name: 'kube-apiserver' | 'etcd'): string {
  const p = join(toolsDir(), 'bin', name);
  if (!isExecutable(p)) {
    throw new Error(
      `${name} not found at ${p}. The e2e suite needs a real kube-apiserver and etcd: ` +
        `run scripts/tools/build-kube.sh (or bash .ci/run once on a fresh machine); ` +
        `IMAGEGATE_TOOLS_DIR overrides ${join(homedir(), '.cache', 'imagegate-tools')}.`,
    );
  }
  return p;
}

export function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error('openssl not found: scripts/gen-certs.sh needs it (scripts/install-test-deps.sh installs it)');
  }
}

export interface Kubectl {
  path: string;
  /** e.g. "v1.33.1" */
  version: string;
  minor: number;
}

/** `kubectl version --client -o json` → gitVersion, or undefined when it does not run. */
function clientVersion(path: string): { version: string; minor: number } | undefined {
  try {
    const out = execFileSync(path, ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 });
    const v = JSON.parse(out) as { clientVersion?: { gitVersion?: string; minor?: string } };
    const gitVersion = v.clientVersion?.gitVersion ?? '';
    const m = /^v1\.(\d+)\./.exec(gitVersion);
    if (!m) return undefined;
    return { version: gitVersion, minor: Number(m[1]) };
  } catch {
    return undefined;
  }
}

/**
 * A kubectl within the supported skew (±1 minor) of the apiserver: a versioned `kubectl.1.N` on
 * PATH or in Google Cloud CLI's bin folder (every machine image has kubectl.1.27 … kubectl.1.33
 * there), else a plain `kubectl` whose client version fits. IMAGEGATE_KUBECTL forces one (or none).
 */
export function findKubectl(serverMinor: number): Kubectl | undefined {
  // IMAGEGATE_KUBECTL=none exercises the REST fallbacks.
  if (process.env.IMAGEGATE_KUBECTL === 'none') return undefined;
  const candidates: string[] = [];
  if (process.env.IMAGEGATE_KUBECTL) candidates.push(process.env.IMAGEGATE_KUBECTL);
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/lib/google-cloud-sdk/bin'];
  for (const minor of [serverMinor, serverMinor + 1, serverMinor - 1]) {
    for (const d of dirs) candidates.push(join(d, `kubectl.1.${minor}`));
  }
  for (const d of dirs) candidates.push(join(d, 'kubectl'));
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c) || !existsSync(c) || !isExecutable(c)) continue;
    seen.add(c);
    const v = clientVersion(c);
    if (v && Math.abs(v.minor - serverMinor) <= 1) return { path: c, ...v };
  }
  return undefined;
}
