import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import YAML from 'yaml';

/** The checkout: the first folder above this file that holds scripts/gen-certs.sh. */
function findRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'scripts', 'gen-certs.sh'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('scripts/gen-certs.sh not found above ' + __dirname);
    dir = up;
  }
  return dir;
}
const ROOT = findRoot();
const GEN_CERTS = join(ROOT, 'scripts', 'gen-certs.sh');
const FIXTURE_MANIFEST = join(ROOT, 'test', 'fixtures', 'kubeadm', 'kube-apiserver.yaml');
const DEFAULT_DNS = [
  'localhost',
  'imagegate',
  'imagegate.imagegate',
  'imagegate.imagegate.svc',
  'imagegate.imagegate.svc.cluster.local',
];
const PEM_FILES = ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'apiserver-client.crt', 'apiserver-client.key'];

/** The environment without any IMAGEGATE_* setting of the machine, and no kubeadm manifest. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IMAGEGATE_')) env[k] = v;
  return { ...env, KUBE_APISERVER_MANIFEST: '/nonexistent/kube-apiserver.yaml', ...extra };
}

function genCerts(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', [GEN_CERTS, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8' });
}

function assertOk(r: SpawnSyncReturns<string>): void {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

function openssl(args: string[]): SpawnSyncReturns<string> {
  return spawnSync('openssl', args, { encoding: 'utf8' });
}

/** `openssl x509 -noout -ext NAME` of a certificate, as text. */
function ext(cert: string, name: string): string {
  const r = openssl(['x509', '-in', cert, '-noout', '-ext', name]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Every file of a folder with its bytes and modification time. */
function snapshot(dir: string): Map<string, { bytes: string; mtimeMs: number }> {
  const out = new Map<string, { bytes: string; mtimeMs: number }>();
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    out.set(name, { bytes: readFileSync(p, 'utf8'), mtimeMs: statSync(p).mtimeMs });
  }
  return out;
}

const temps: string[] = [];
function newTemp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe('scripts/gen-certs.sh', () => {
  describe('on an empty folder', () => {
    let out: string;
    before(() => {
      out = join(newTemp('gen-certs-'), 'certs');
      assertOk(genCerts(['--out', out, '--node-ip', 'none', '--san', 'IP:10.20.30.40', '--san', 'DNS:Webhook.Example.Test']));
    });

    it('writes the CA, the serving certificate, the client certificate and the Secret manifest', () => {
      for (const f of [...PEM_FILES, 'imagegate-tls-secret.yaml']) assert.ok(existsSync(join(out, f)), `${f} missing`);
      assert.ok(!existsSync(join(out, 'kubeconf')), 'kubeconf is only rendered with --kubeconf-server');
      assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('.')), [], 'no scratch files are left behind');
    });

    it('keeps every private key readable by its owner only', () => {
      for (const f of ['ca.key', 'server.key', 'apiserver-client.key', 'imagegate-tls-secret.yaml']) {
        assert.equal(statSync(join(out, f)).mode & 0o077, 0, `${f} is readable by others`);
      }
    });

    it('makes a CA whose basicConstraints are critical and CA:TRUE', () => {
      const bc = ext(join(out, 'ca.crt'), 'basicConstraints');
      assert.match(bc, /Basic Constraints: critical/);
      assert.match(bc, /CA:TRUE/);
      assert.equal(new X509Certificate(readFileSync(join(out, 'ca.crt'))).ca, true);
    });

    it('issues a serving certificate that openssl verifies against the CA for serverAuth', () => {
      const r = openssl(['verify', '-CAfile', join(out, 'ca.crt'), '-purpose', 'sslserver', join(out, 'server.crt')]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /server\.crt: OK/);
      assert.match(ext(join(out, 'server.crt'), 'extendedKeyUsage'), /TLS Web Server Authentication/);
      assert.match(ext(join(out, 'server.crt'), 'basicConstraints'), /CA:FALSE/);
    });

    it('names 127.0.0.1, the Service names and every --san in subjectAltName', () => {
      const san = ext(join(out, 'server.crt'), 'subjectAltName');
      for (const dns of [...DEFAULT_DNS, 'webhook.example.test']) assert.match(san, new RegExp(`DNS:${dns.replace(/\./g, '\\.')}(,|\\s|$)`));
      assert.match(san, /IP Address:127\.0\.0\.1(,|\s|$)/);
      assert.match(san, /IP Address:10\.20\.30\.40(,|\s|$)/);
      const cert = new X509Certificate(readFileSync(join(out, 'server.crt')));
      assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(cert.checkHost('imagegate.imagegate.svc'), 'imagegate.imagegate.svc');
    });

    it('issues the apiserver a clientAuth certificate that cannot serve', () => {
      const crt = join(out, 'apiserver-client.crt');
      const eku = ext(crt, 'extendedKeyUsage');
      assert.match(eku, /TLS Web Client Authentication/);
      assert.doesNotMatch(eku, /Server Authentication/);
      const ok = openssl(['verify', '-CAfile', join(out, 'ca.crt'), '-purpose', 'sslclient', crt]);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      const asServer = openssl(['verify', '-CAfile', join(out, 'ca.crt'), '-purpose', 'sslserver', crt]);
      assert.notEqual(asServer.status, 0, 'a client certificate must not verify as a serving one');
      assert.match(new X509Certificate(readFileSync(crt)).subject, /CN=kube-apiserver-imagepolicy/);
    });

    it('pairs each certificate with its own ECDSA P-256 key', () => {
      for (const base of ['ca', 'server', 'apiserver-client']) {
        const key = createPublicKey(readFileSync(join(out, `${base}.key`)));
        const cert = new X509Certificate(readFileSync(join(out, `${base}.crt`)));
        assert.equal(key.asymmetricKeyType, 'ec');
        assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
        assert.ok(cert.publicKey.equals(key), `${base}.key does not match ${base}.crt`);
      }
    });

    it('renders Secret imagegate/imagegate-tls with tls.crt, tls.key and the client CA', () => {
      const secret = YAML.parse(readFileSync(join(out, 'imagegate-tls-secret.yaml'), 'utf8'));
      assert.equal(secret.kind, 'Secret');
      assert.equal(secret.type, 'kubernetes.io/tls');
      assert.deepEqual(secret.metadata, { name: 'imagegate-tls', namespace: 'imagegate', labels: { 'app.kubernetes.io/name': 'imagegate' } });
      const decoded = (k: string): string => Buffer.from(secret.data[k], 'base64').toString('utf8');
      assert.equal(decoded('tls.crt'), readFileSync(join(out, 'server.crt'), 'utf8'));
      assert.equal(decoded('tls.key'), readFileSync(join(out, 'server.key'), 'utf8'));
      assert.equal(decoded('ca.crt'), readFileSync(join(out, 'ca.crt'), 'utf8'));
    });

    it('lets Node TLS complete a mutual handshake on 127.0.0.1 with these files', async () => {
      const read = (f: string): Buffer => readFileSync(join(out, f));
      const server = createTlsServer({
        cert: read('server.crt'),
        key: read('server.key'),
        ca: read('ca.crt'),
        requestCert: true,
        rejectUnauthorized: true,
      });
      // The server answers with the client certificate's CN once it has verified it. (With TLS 1.3
      // the client's handshake ends before the server has checked the client's certificate, so
      // the client waits for that answer rather than for its own secureConnect.)
      server.on('secureConnection', (s: TLSSocket) => s.end(String(s.getPeerCertificate().subject.CN)));
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const answer = await new Promise<{ authorized: boolean; error: unknown; body: string }>((resolve, reject) => {
          timer = setTimeout(() => reject(new Error('no TLS answer within 10 s')), 10_000);
          server.once('tlsClientError', reject);
          const client = tlsConnect({ host: '127.0.0.1', port, ca: read('ca.crt'), cert: read('apiserver-client.crt'), key: read('apiserver-client.key') });
          let body = '';
          client.setEncoding('utf8');
          client.on('data', (chunk: string) => (body += chunk));
          client.once('end', () => {
            resolve({ authorized: client.authorized, error: client.authorizationError, body });
            client.destroy();
          });
          client.once('error', reject);
        });
        assert.equal(answer.authorized, true, String(answer.error));
        assert.equal(answer.body, 'kube-apiserver-imagepolicy');
      } finally {
        clearTimeout(timer);
        server.close();
      }
    });

    describe('when run again', () => {
      it('changes no file when asked for the same thing', () => {
        const first = snapshot(out);
        const r = genCerts(['--out', out, '--node-ip', 'none', '--san', 'IP:10.20.30.40', '--san', 'DNS:Webhook.Example.Test']);
        assertOk(r);
        assert.match(r.stderr, /nothing written/);
        assert.deepEqual(snapshot(out), first);
      });

      it('changes no file when asked for fewer SANs than the certificate has', () => {
        const first = snapshot(out);
        assertOk(genCerts(['--out', out, '--node-ip', 'none']));
        assert.deepEqual(snapshot(out), first);
      });
    });
  });

  describe('when a SAN is added on a later run', () => {
    it('issues a new serving certificate with it and keeps the CA and the client certificate', () => {
      const out = newTemp('gen-certs-san-');
      assertOk(genCerts(['--out', out, '--node-ip', 'none']));
      const first = snapshot(out);
      const r = genCerts(['--out', out, '--node-ip', 'none', '--san', 'IP:192.0.2.7']);
      assertOk(r);
      const second = snapshot(out);
      for (const f of ['ca.crt', 'ca.key', 'apiserver-client.crt', 'apiserver-client.key']) assert.deepEqual(second.get(f), first.get(f), `${f} changed`);
      assert.notEqual(second.get('server.crt')?.bytes, first.get('server.crt')?.bytes);
      assert.notEqual(second.get('imagegate-tls-secret.yaml')?.bytes, first.get('imagegate-tls-secret.yaml')?.bytes);
      assert.match(ext(join(out, 'server.crt'), 'subjectAltName'), /IP Address:192\.0\.2\.7/);
    });
  });

  describe('with --force', () => {
    it('issues a new CA and new certificates even though the old ones are valid', () => {
      const out = newTemp('gen-certs-force-');
      assertOk(genCerts(['--out', out, '--node-ip', 'none']));
      const first = snapshot(out);
      assertOk(genCerts(['--out', out, '--node-ip', 'none', '--force']));
      const second = snapshot(out);
      for (const f of PEM_FILES) assert.notEqual(second.get(f)?.bytes, first.get(f)?.bytes, `${f} was kept`);
      const r = openssl(['verify', '-CAfile', join(out, 'ca.crt'), join(out, 'server.crt'), join(out, 'apiserver-client.crt')]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });
  });

  describe('with --node-ip auto on a kubeadm node', () => {
    it("adds the manifest's --advertise-address as an IP SAN", () => {
      const out = newTemp('gen-certs-auto-');
      const r = genCerts(['--out', out], { KUBE_APISERVER_MANIFEST: FIXTURE_MANIFEST });
      assertOk(r);
      assert.match(r.stderr, /node IP 172\.30\.1\.2/);
      assert.match(ext(join(out, 'server.crt'), 'subjectAltName'), /IP Address:172\.30\.1\.2/);
    });
  });

  describe('with --kubeconf-server', () => {
    let out: string;
    before(() => {
      out = newTemp('gen-certs-kubeconf-');
      assertOk(genCerts(['--out', out, '--node-ip', 'none', '--kubeconf-server', 'https://127.0.0.1:41323/image_policy']));
    });

    it('renders a kubeconf with the server URL, the files in DIR, a context and current-context', () => {
      const kc = YAML.parse(readFileSync(join(out, 'kubeconf'), 'utf8'));
      assert.equal(kc.kind, 'Config');
      assert.equal(kc.clusters[0].cluster.server, 'https://127.0.0.1:41323/image_policy');
      assert.equal(kc.clusters[0].cluster['certificate-authority'], join(out, 'ca.crt'));
      assert.equal(kc.users[0].user['client-certificate'], join(out, 'apiserver-client.crt'));
      assert.equal(kc.users[0].user['client-key'], join(out, 'apiserver-client.key'));
      assert.equal(kc['current-context'], kc.contexts[0].name);
      assert.equal(kc.contexts[0].context.cluster, kc.clusters[0].name);
      assert.equal(kc.contexts[0].context.user, kc.users[0].name);
    });

    it('renders the admission config pointing at that kubeconf, with the CKS-lab values', () => {
      const ac = YAML.parse(readFileSync(join(out, 'admission_config.yaml'), 'utf8'));
      assert.equal(ac.kind, 'AdmissionConfiguration');
      assert.deepEqual(ac.plugins[0].configuration.imagePolicy, {
        kubeConfigFile: join(out, 'kubeconf'),
        allowTTL: 50,
        denyTTL: 50,
        retryBackoff: 500,
        defaultAllow: false,
      });
    });

    it('points the paths at --kubeconf-dir when one is given', () => {
      const r = genCerts(['--out', out, '--node-ip', 'none', '--kubeconf-server', 'https://10.0.0.1:30080/image_policy', '--kubeconf-dir', '/etc/kubernetes/admission']);
      assertOk(r);
      assert.match(r.stderr, /10\.0\.0\.1 \(from --kubeconf-server\) is not a SAN of server\.crt/);
      const kc = YAML.parse(readFileSync(join(out, 'kubeconf'), 'utf8'));
      assert.equal(kc.clusters[0].cluster['certificate-authority'], '/etc/kubernetes/admission/ca.crt');
      const ac = YAML.parse(readFileSync(join(out, 'admission_config.yaml'), 'utf8'));
      assert.equal(ac.plugins[0].configuration.imagePolicy.kubeConfigFile, '/etc/kubernetes/admission/kubeconf');
    });
  });

  describe('with --key-type rsa', () => {
    it('issues RSA 2048 keys, with keyEncipherment on the serving certificate', () => {
      const out = newTemp('gen-certs-rsa-');
      assertOk(genCerts(['--out', out, '--node-ip', 'none', '--key-type', 'rsa']));
      const key = createPublicKey(readFileSync(join(out, 'server.key')));
      assert.equal(key.asymmetricKeyType, 'rsa');
      assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
      assert.match(ext(join(out, 'server.crt'), 'keyUsage'), /Key Encipherment/);
    });
  });

  describe('when ca.key is missing and a certificate must be issued', () => {
    it('stops with a message instead of replacing the CA, and changes nothing', () => {
      const out = newTemp('gen-certs-nokey-');
      assertOk(genCerts(['--out', out, '--node-ip', 'none']));
      unlinkSync(join(out, 'ca.key'));
      const first = snapshot(out);
      const kept = genCerts(['--out', out, '--node-ip', 'none']);
      assertOk(kept);
      const r = genCerts(['--out', out, '--node-ip', 'none', '--san', 'DNS:new.example.test']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /ca\.key is missing/);
      assert.deepEqual(snapshot(out), first);
    });
  });

  describe('on bad arguments', () => {
    const cases: Array<[string[], RegExp, string]> = [
      [['--bogus'], /unknown argument/, 'an unknown flag'],
      [['--san', 'URI:https://x'], /must start with IP: or DNS:/, 'a SAN type openssl would take but the apiserver never dials'],
      [['--san', 'IP:300.1.1.1'], /not an IP address/, 'an IPv4 octet over 255'],
      [['--san', 'DNS:bad_name'], /not a DNS name/, 'an underscore in a host name'],
      [['--key-type', 'dsa'], /--key-type must be ec or rsa/, 'an unsupported key type'],
      [['--kubeconf-server', 'http://127.0.0.1:1323/image_policy'], /must be an https:\/\/ URL/, 'plain http'],
      [['--kubeconf-dir', '/x'], /only makes sense with --kubeconf-server/, '--kubeconf-dir alone'],
    ];
    for (const [args, message, why] of cases) {
      it(`exits 2 and writes nothing for ${why}`, () => {
        const parent = newTemp('gen-certs-bad-');
        const out = join(parent, 'certs');
        const r = genCerts(['--out', out, ...args]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, message);
        assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing may be written');
      });
    }
  });
});
