/**
 * The real cosign (sigstore/cosign v2, built from the Go module proxy by
 * scripts/tools/build-cosign.sh into `${IMAGEGATE_TOOLS_DIR:-$HOME/.cache/imagegate-tools}/bin`).
 * Used to make keys and signatures against the loopback registry, and as the cross-check of
 * imagegate's verdicts. Offline flags: `--tlog-upload=false` to sign, `--insecure-ignore-tlog`
 * to verify, `--allow-http-registry --allow-insecure-registry` for the loopback registry.
 * A missing binary fails the test with the build command; it never skips.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { tempDir } from './temp-dirs';
import { join } from 'node:path';
import { requireBinary, type User } from './registry-peer';

export const TOOLS_DIR = process.env['IMAGEGATE_TOOLS_DIR'] || join(homedir(), '.cache', 'imagegate-tools');
export const COSIGN_BIN = join(TOOLS_DIR, 'bin', 'cosign');

export function requireCosign(): void {
  requireBinary(COSIGN_BIN, 'build it with scripts/tools/build-cosign.sh (go install github.com/sigstore/cosign/v2/cmd/cosign, cached in the tools dir)');
}

/** An isolated HOME and DOCKER_CONFIG for cosign, so nothing of the user's leaks in or out. */
function cosignEnv(password: string, creds?: { host: string; user: User }): NodeJS.ProcessEnv {
  const home = tempDir('imagegate-cosign-home-');
  const dockerConfig = join(home, 'docker');
  mkdirSync(dockerConfig);
  const auths: Record<string, { auth: string }> = {};
  if (creds) auths[creds.host] = { auth: Buffer.from(`${creds.user.username}:${creds.user.password}`).toString('base64') };
  writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths }));
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    DOCKER_CONFIG: dockerConfig,
    COSIGN_PASSWORD: password,
    // No TUF or Rekor lookups: the machine may be offline.
    SIGSTORE_NO_CACHE: '1',
    TUF_ROOT: join(home, 'tuf'),
  };
}

/** `cosign version` GitVersion, e.g. `v2.6.5`. */
export function cosignVersion(): string {
  requireCosign();
  const out = spawnSync(COSIGN_BIN, ['version'], { encoding: 'utf8' });
  const m = /GitVersion:\s*(\S+)/.exec(`${out.stdout}${out.stderr}`);
  return m ? (m[1] as string) : 'unknown';
}

export interface KeyPair {
  readonly key: string;
  readonly pub: string;
  readonly password: string;
}

/** `cosign generate-key-pair` in a fresh directory (ECDSA P-256, encrypted with `password`). */
export function generateKeyPair(password = 'imagegate-test'): KeyPair {
  requireCosign();
  const dir = tempDir('imagegate-cosign-keys-');
  runSync(['generate-key-pair'], dir, cosignEnv(password));
  return { key: join(dir, 'cosign.key'), pub: join(dir, 'cosign.pub'), password };
}

/** `cosign import-key-pair` of a PEM private key (EC P-384, Ed25519, RSA …) into cosign's format. */
export function importKeyPair(privatePem: string, password = 'imagegate-test'): KeyPair {
  requireCosign();
  const dir = tempDir('imagegate-cosign-import-');
  writeFileSync(join(dir, 'private.pem'), privatePem, { mode: 0o600 });
  runSync(['import-key-pair', '--key', 'private.pem', '--output-key-prefix', 'imported', '-y'], dir, cosignEnv(password));
  return { key: join(dir, 'imported.key'), pub: join(dir, 'imported.pub'), password };
}

export interface SignOptions {
  readonly annotations?: Readonly<Record<string, string>>;
  /** cosign v3's format: a Sigstore bundle as an OCI referrer (`--new-bundle-format`). */
  readonly newBundleFormat?: boolean;
  /** Registry credentials (written into cosign's own DOCKER_CONFIG). */
  readonly creds?: { host: string; user: User };
}

function signArgs(keys: KeyPair, imageRef: string, options: SignOptions): string[] {
  const args = ['sign', '--key', keys.key, '--tlog-upload=false', '--allow-http-registry', '--allow-insecure-registry', '-y'];
  for (const [k, v] of Object.entries(options.annotations ?? {})) args.push('-a', `${k}=${v}`);
  if (options.newBundleFormat) args.push('--new-bundle-format');
  args.push(imageRef);
  return args;
}

/** `cosign sign --key … --tlog-upload=false -y <host/repo@digest>`. */
export function cosignSign(keys: KeyPair, imageRef: string, options: SignOptions = {}): void {
  requireCosign();
  runSync(signArgs(keys, imageRef, options), tmpdir(), cosignEnv(keys.password, options.creds));
}

/** cosignSign without blocking the event loop (a token service in this process must answer). */
export async function cosignSignAsync(keys: KeyPair, imageRef: string, options: SignOptions = {}): Promise<void> {
  requireCosign();
  await run(signArgs(keys, imageRef, options), tmpdir(), cosignEnv(keys.password, options.creds));
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly output: string;
}

/** `cosign verify --key … --insecure-ignore-tlog=true <ref>`: the cross-check. */
export async function cosignVerify(
  pub: string,
  imageRef: string,
  options: { annotations?: Readonly<Record<string, string>>; creds?: { host: string; user: User }; digestAlgorithm?: 'sha256' | 'sha384' | 'sha512' } = {},
): Promise<VerifyResult> {
  requireCosign();
  const args = ['verify', '--key', pub, '--insecure-ignore-tlog=true', '--allow-http-registry', '--allow-insecure-registry'];
  if (options.digestAlgorithm) args.push('--signature-digest-algorithm', options.digestAlgorithm);
  for (const [k, v] of Object.entries(options.annotations ?? {})) args.push('-a', `${k}=${v}`);
  args.push(imageRef);
  try {
    const r = await execFileAsync(COSIGN_BIN, args, { encoding: 'utf8', env: cosignEnv('', options.creds), timeout: 60_000 });
    return { ok: true, output: `${r.stdout}${r.stderr}` };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: unknown };
    if (typeof e.code !== 'number') throw err; // could not run at all: not a verdict
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function runSync(args: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(COSIGN_BIN, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`cosign ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** Asynchronous: a token service in the test process must keep answering while cosign runs. */
async function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    return (await execFileAsync(COSIGN_BIN, args, { cwd, env, encoding: 'utf8', timeout: 60_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`cosign ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}
