import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startImagegate, type ImagegateProcess } from '../../helpers/imagegate-process';
import { startEtcd, type Etcd } from './etcd';
import { readAuditEvents, startKubeApiserver, type AuditEvent, type KubeApiserver } from './kube-apiserver';
import type { KubeClient } from './kube-client';
import { freePort, registerTempDir, trackChild } from './processes';
import { REPO, requireKubeTool, requireOpenssl } from './tools';

const execFileP = promisify(execFile);

/** The files scripts/gen-certs.sh writes (absolute paths). */
export interface CertFiles {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  secretYaml: string;
  /** Only with --kubeconf-server: the rendered control-plane files. */
  kubeconf: string;
  admissionConfig: string;
}

/**
 * Runs the shipped scripts/gen-certs.sh. With `kubeconfServer`, it also renders the shipped
 * manifests/control-plane/kubeconf and admission_config.yaml into `out`, with absolute paths.
 */
export async function genCerts(out: string, kubeconfServer?: string): Promise<CertFiles> {
  const args = [join(REPO, 'scripts', 'gen-certs.sh'), '--out', out, '--node-ip', 'none'];
  if (kubeconfServer) args.push('--kubeconf-server', kubeconfServer);
  const env = { ...process.env };
  // Only this test's arguments decide what the script writes.
  for (const k of Object.keys(env)) if (k.startsWith('IMAGEGATE_') || k === 'KUBE_APISERVER_MANIFEST') delete env[k];
  try {
    await execFileP('bash', args, { env, cwd: REPO, timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`scripts/gen-certs.sh failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  const files: CertFiles = {
    dir: out,
    caCert: join(out, 'ca.crt'),
    caKey: join(out, 'ca.key'),
    serverCert: join(out, 'server.crt'),
    serverKey: join(out, 'server.key'),
    clientCert: join(out, 'apiserver-client.crt'),
    clientKey: join(out, 'apiserver-client.key'),
    secretYaml: join(out, 'imagegate-tls-secret.yaml'),
    kubeconf: join(out, 'kubeconf'),
    admissionConfig: join(out, 'admission_config.yaml'),
  };
  const expected = [files.caCert, files.serverCert, files.serverKey, files.clientCert, files.clientKey, files.secretYaml];
  if (kubeconfServer) expected.push(files.kubeconf, files.admissionConfig);
  for (const f of expected) if (!existsSync(f)) throw new Error(`scripts/gen-certs.sh did not write ${f}`);
  return files;
}

export interface E2eOptions {
  /** Short name for the temp folder. */
  name: string;
  /** imagegate's policy file text. */
  policy: string;
  /** Rewrites the rendered kubeconf before the apiserver reads it (the wrong-certificate variant). */
  editKubeconf?: (text: string, env: { dir: string; certs: CertFiles }) => Promise<string> | string;
  /** Metadata-level audit log on the apiserver. */
  audit?: boolean;
}

/**
 * The whole chain on 127.0.0.1: certificates from scripts/gen-certs.sh, imagegate over TLS with
 * mTLS, etcd, and kube-apiserver reading the shipped admission_config.yaml and kubeconf as
 * rendered by gen-certs.sh (allowTTL 50, denyTTL 50, retryBackoff 500, defaultAllow false).
 */
export class E2eEnvironment {
  dir = '';
  certs!: CertFiles;
  imagegatePort = 0;
  imagegate: ImagegateProcess | undefined;
  policyFile = '';
  etcd: Etcd | undefined;
  apiserver: KubeApiserver | undefined;
  private removeDir: () => void = () => {};

  get kube(): KubeClient {
    if (!this.apiserver) throw new Error('kube-apiserver is not running');
    return this.apiserver.kube;
  }

  /** https://127.0.0.1:<port>/image_policy as the apiserver dials it. */
  get webhookUrl(): string {
    return `https://127.0.0.1:${this.imagegatePort}/image_policy`;
  }

  static async start(opts: E2eOptions): Promise<E2eEnvironment> {
    const env = new E2eEnvironment();
    try {
      await env.init(opts);
    } catch (err) {
      await env.teardown();
      throw err;
    }
    return env;
  }

  private async init(opts: E2eOptions): Promise<void> {
    // Fail before anything starts when a peer binary is missing (never skip).
    requireKubeTool('kube-apiserver');
    requireKubeTool('etcd');
    requireOpenssl();
    this.dir = mkdtempSync(join(tmpdir(), `imagegate-e2e-${opts.name}-`));
    this.removeDir = registerTempDir(this.dir);
    this.imagegatePort = await freePort();
    this.certs = await genCerts(join(this.dir, 'certs'), this.webhookUrl);
    if (opts.editKubeconf) {
      const text = readFileSync(this.certs.kubeconf, 'utf8');
      writeFileSync(this.certs.kubeconf, await opts.editKubeconf(text, { dir: this.dir, certs: this.certs }));
    }
    mkdirSync(join(this.dir, 'policy'));
    this.policyFile = join(this.dir, 'policy', 'policy.yaml');
    writeFileSync(this.policyFile, opts.policy);

    // imagegate and etcd start side by side; the apiserver needs etcd.
    const [, etcd] = await Promise.all([this.startImagegate(), startEtcd(this.dir)]);
    this.etcd = etcd;
    this.apiserver = await startKubeApiserver({
      dir: join(this.dir, 'apiserver'),
      etcdUrl: etcd.url,
      admissionConfigFile: this.certs.admissionConfig,
      audit: opts.audit ?? false,
    });
  }

  /** (Re)starts imagegate on the same port with the gen-certs.sh files, as an operator would. */
  async startImagegate(): Promise<ImagegateProcess> {
    if (this.imagegate && this.imagegate.child.exitCode === null) throw new Error('imagegate is already running');
    const ig = await startImagegate([
      '--config', this.policyFile,
      '--host', '127.0.0.1',
      '--port', String(this.imagegatePort),
      '--cert', this.certs.serverCert,
      '--key', this.certs.serverKey,
      '--client-ca', this.certs.caCert,
      '--log-level', 'info',
    ]);
    trackChild(ig.child);
    this.imagegate = ig;
    return ig;
  }

  async stopImagegate(): Promise<void> {
    const ig = this.imagegate;
    if (!ig) return;
    const timer = setTimeout(() => ig.child.kill('SIGKILL'), 5_000);
    await ig.stop('SIGTERM');
    clearTimeout(timer);
  }

  /** Every `decision` record imagegate has logged (this process only). */
  decisions(ig: ImagegateProcess | undefined = this.imagegate): Record<string, any>[] {
    if (!ig) return [];
    const out: Record<string, any>[] = [];
    for (const line of ig.logs) {
      try {
        const rec = JSON.parse(line) as Record<string, any>;
        if (rec.event === 'decision') out.push(rec);
      } catch {
        /* not JSON */
      }
    }
    return out;
  }

  /** Waits for imagegate's decision record for `namespace` whose images include `image`. */
  waitForDecision(namespace: string, image: string, timeoutMs = 5_000): Promise<Record<string, any>> {
    if (!this.imagegate) throw new Error('imagegate is not running');
    return this.imagegate.waitForLog(
      (r) =>
        r.event === 'decision' &&
        r.namespace === namespace &&
        Array.isArray(r.images) &&
        (r.images as Array<{ image?: string }>).some((i) => i.image === image),
      timeoutMs,
    );
  }

  /**
   * Replaces the policy file (atomic rename, as an editor or the kubelet does) and waits until
   * imagegate has loaded it.
   */
  async replacePolicy(text: string): Promise<void> {
    const ig = this.imagegate;
    if (!ig) throw new Error('imagegate is not running');
    const generations = ig.logs
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, any>;
        } catch {
          return {};
        }
      })
      .filter((r) => r.event === 'policy-loaded' || r.event === 'policy-reloaded')
      .map((r) => Number(r.generation));
    const before = Math.max(0, ...generations);
    const tmp = `${this.policyFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.policyFile);
    await ig.waitForLog((r) => r.event === 'policy-reloaded' && Number(r.generation) > before, 10_000);
  }

  auditEvents(): AuditEvent[] {
    if (!this.apiserver?.auditLog) throw new Error('the apiserver was started without an audit log');
    return readAuditEvents(this.apiserver.auditLog);
  }

  /** Stops everything that was started, in reverse order, and removes the temp folder. */
  async teardown(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (f: () => Promise<void>) => {
      try {
        await f();
      } catch (err) {
        errors.push(err);
      }
    };
    await Promise.all([
      attempt(async () => {
        await this.apiserver?.stop();
        await this.etcd?.stop();
      }),
      attempt(() => this.stopImagegate()),
    ]);
    this.removeDir();
    if (this.dir && process.env.IMAGEGATE_E2E_KEEP) process.stderr.write(`e2e: kept ${this.dir}\n`);
    if (errors.length) throw errors[0];
  }
}

/** A kubeconfig for the static admin token; the apiserver's self-signed certificate is not verified. */
export function adminKubeconfig(server: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: ${server}
      insecure-skip-tls-verify: true
users:
  - name: e2e-admin
    user:
      token: ${token}
contexts:
  - name: e2e
    context:
      cluster: e2e
      user: e2e-admin
current-context: e2e
`;
}
