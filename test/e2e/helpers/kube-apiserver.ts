import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { KubeClient } from './kube-client';
import { freePort, spawnGroup, waitFor, type ManagedProcess } from './processes';
import { requireKubeTool } from './tools';

export interface KubeApiserverOptions {
  /** Work folder (cert-dir, keys, token file, logs). */
  dir: string;
  etcdUrl: string;
  /** Absolute path of the AdmissionConfiguration (--admission-control-config-file). */
  admissionConfigFile: string;
  /** Write a Metadata-level audit log (--audit-log-path + --audit-policy-file). */
  audit?: boolean;
}

export interface KubeApiserver {
  url: string;
  /** Static admin bearer token (group system:masters). */
  token: string;
  kube: KubeClient;
  process: ManagedProcess;
  /** The audit log file, when audit was asked for. */
  auditLog: string | undefined;
  /** /version gitVersion, e.g. v1.33.13 */
  gitVersion: string;
  minor: number;
  stop(): Promise<void>;
}

/** Every audit event of the log so far (one JSON object a line). */
export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number; message?: string };
  annotations?: Record<string, string>;
}

export function readAuditEvents(file: string): AuditEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditEvent);
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

function getAnonymous(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, agent: false, timeout: 3_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A real kube-apiserver on 127.0.0.1 (shared/reference/real-apiserver.md §3): etcd storage, a
 * self-signed serving certificate in --cert-dir, RBAC with a static system:masters token,
 * ImagePolicyWebhook enabled with the given admission config, ServiceAccount admission disabled
 * (no controller-manager creates the default ServiceAccount). Resolves once /readyz is ok and
 * namespace default exists.
 */
export async function startKubeApiserver(opts: KubeApiserverOptions): Promise<KubeApiserver> {
  const bin = requireKubeTool('kube-apiserver');
  const dir = opts.dir;
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const saKey = join(dir, 'service-account.key');
  execFileSync('openssl', ['genrsa', '-out', saKey, '2048'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  writeFileSync(tokenFile, `${token},e2e-admin,e2e-admin,"system:masters"\n`, { mode: 0o600 });
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;

  const args = [
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--etcd-servers=${opts.etcdUrl}`,
    `--cert-dir=${join(dir, 'pki')}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    `--service-account-issuer=${url}`,
    `--service-account-key-file=${saKey}`,
    `--service-account-signing-key-file=${saKey}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${tokenFile}`,
    '--enable-admission-plugins=ImagePolicyWebhook',
    '--disable-admission-plugins=ServiceAccount',
    `--admission-control-config-file=${opts.admissionConfigFile}`,
    '--profiling=false',
    // The plugin logs "error contacting webhook backend" at V(2) (admission.go).
    '--v=2',
  ];
  let auditLog: string | undefined;
  if (opts.audit) {
    auditLog = join(dir, 'audit.log');
    const policy = join(dir, 'audit-policy.yaml');
    writeFileSync(policy, AUDIT_POLICY);
    // The log backend's default mode is "blocking": an event is on disk when the response is sent.
    args.push(`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-mode=blocking');
  }

  const proc = spawnGroup('kube-apiserver', bin, args, join(dir, 'kube-apiserver.log'), { cwd: dir });
  const failFast = () => (proc.hasExited() ? `kube-apiserver exited:\n${proc.tail(6_000)}` : undefined);
  const kube = new KubeClient(url, token);
  try {
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        const r = await getAnonymous(`${url}/readyz`);
        return r.status === 200 && r.body.trim() === 'ok' ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, failFast },
    );
    await waitFor(
      'namespace default',
      async () => ((await kube.call('GET', '/api/v1/namespaces/default')).status === 200 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200, failFast },
    );
  } catch (err) {
    await proc.stop(2_000);
    throw new Error(`${(err as Error).message}\n--- kube-apiserver log (tail) ---\n${proc.tail(4_000)}`);
  }
  const version = (await kube.call('GET', '/version')).body as { gitVersion: string; minor: string };
  return {
    url,
    token,
    kube,
    process: proc,
    auditLog,
    gitVersion: version.gitVersion,
    minor: Number.parseInt(version.minor, 10),
    stop: () => proc.stop(5_000),
  };
}
