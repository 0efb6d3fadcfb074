/**
 * A real Notary v1 service for the peer tests (reference §4.2–4.4, §4.7): Debian's
 * `notary-server` with in-memory storage on 127.0.0.1 over TLS, backed by
 *   - `notary-signer` over mutual TLS gRPC (trustService 'remote', the production layout; the
 *     server-held timestamp key is then ECDSA), or
 *   - the server's own key service (trustService 'local'; timestamp keys are Ed25519, method eddsa),
 * optionally behind token auth: a small HTTPS token service issuing ES256 JWTs with an x5c header
 * (reference appendix D), which notary-server validates against its signing certificate.
 * Certificates come from a throwaway openssl CA. Trust data is signed with the real `notary` client
 * (NotaryCli). A missing binary FAILS the test with the install hint; it never skips.
 */
import { connect, type AddressInfo } from 'node:net';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary } from './registry-peer';

export const NOTARY_BIN = '/usr/bin/notary';
export const NOTARY_SERVER_BIN = '/usr/bin/notary-server';
export const NOTARY_SIGNER_BIN = '/usr/bin/notary-signer';
const INSTALL_HINT = 'apt-get install -y notary (Debian ships notary, notary-server and notary-signer)';

export interface NotaryPeerOptions {
  /** 'remote': notary-signer over mTLS (default); 'local': the server holds its keys itself. */
  readonly trustService?: 'remote' | 'local';
  /** Put the server behind Bearer token auth (default false). */
  readonly tokenAuth?: boolean;
}

export interface TokenRequestRecord {
  readonly scope: readonly string[];
  readonly service: string | null;
  readonly basic: boolean;
}

export interface NotaryPeer {
  /** `https://127.0.0.1:PORT`, the verifier's `server`. */
  readonly url: string;
  readonly host: string;
  readonly dir: string;
  /** The throwaway CA that signed the server (and token service) certificates. */
  readonly caCert: string;
  /** Certificate and key with SAN IP:127.0.0.1 from the same CA, for proxies in tests. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Token requests seen (tokenAuth only). */
  readonly tokenRequests: TokenRequestRecord[];
  /** The token realm (tokenAuth only). */
  readonly realm: string | undefined;
  /** A `notary` client with its own, fresh trust directory (its own keys). */
  newClient(): NotaryCli;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** §4.2: a CA and two leaf certificates (server, signer) with SAN 127.0.0.1. */
function makeCerts(dir: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'root-ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'root-ca.key', '-subj', '/CN=imagegate-notary-test-ca', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'root-ca.crt'], dir);
  for (const n of ['notary-server', 'notary-signer']) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${n}.key`], dir);
    openssl(['req', '-new', '-key', `${n}.key`, '-subj', `/CN=${n}`, '-out', `${n}.csr`], dir);
    writeFileSync(join(dir, `${n}.ext`),
      `subjectAltName=DNS:${n},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`);
    openssl(['x509', '-req', '-in', `${n}.csr`, '-CA', 'root-ca.crt', '-CAkey', 'root-ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${n}.ext`, '-out', `${n}.crt`], dir);
  }
  // The token service's JWT signing key and self-signed certificate (notary-server's rootcertbundle).
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'token-signing.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'token-signing.key', '-subj', '/CN=imagegate-token-issuer', '-days', '2', '-out', 'token-signing.crt'], dir);
}

export async function startNotaryPeer(options: NotaryPeerOptions = {}): Promise<NotaryPeer> {
  for (const bin of [NOTARY_BIN, NOTARY_SERVER_BIN, NOTARY_SIGNER_BIN]) requireBinary(bin, INSTALL_HINT);
  const trustService = options.trustService ?? 'remote';
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-notary-'));
  makeCerts(dir);
  const children: ChildProcess[] = [];
  const tokenRequests: TokenRequestRecord[] = [];
  let tokenServer: Server | undefined;
  let realm: string | undefined;

  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    if (tokenServer) await new Promise((r) => tokenServer!.close(() => r(undefined)));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    let trust: Record<string, unknown> = { type: 'local' };
    if (trustService === 'remote') {
      const signerPort = await freePort();
      writeFileSync(join(dir, 'signer.json'), JSON.stringify({
        server: { grpc_addr: `127.0.0.1:${signerPort}`, tls_cert_file: './notary-signer.crt', tls_key_file: './notary-signer.key', client_ca_file: './root-ca.crt' },
        logging: { level: 'info' },
        storage: { backend: 'memory' },
      }));
      children.push(startChild(NOTARY_SIGNER_BIN, ['-config', join(dir, 'signer.json'), '-logf', 'logfmt'], dir, 'signer.log'));
      // The server's health check does not reach the signer: without this wait the first `notary
      // init` could meet "connection refused" from it (a 500 for timestamp.key, 4 of 15 starts).
      await waitListening(signerPort, children, dir);
      trust = {
        type: 'remote', hostname: '127.0.0.1', port: String(signerPort), key_algorithm: 'ecdsa',
        tls_ca_file: './root-ca.crt', tls_client_cert: './notary-server.crt', tls_client_key: './notary-server.key',
      };
    }
    let auth: Record<string, unknown> | undefined;
    if (options.tokenAuth) {
      const started = await startTokenService(dir, tokenRequests);
      tokenServer = started.server;
      realm = started.realm;
      // rootcertbundle is NOT resolved against the config file's folder (reference §4.3).
      auth = { type: 'token', options: { realm, service: 'notary-server', issuer: 'imagegate-test-issuer', rootcertbundle: join(dir, 'token-signing.crt') } };
    }
    const port = await freePort();
    writeFileSync(join(dir, 'server.json'), JSON.stringify({
      server: { http_addr: `127.0.0.1:${port}`, tls_key_file: './notary-server.key', tls_cert_file: './notary-server.crt' },
      trust_service: trust,
      logging: { level: 'info' },
      storage: { backend: 'memory' },
      ...(auth ? { auth } : {}),
    }));
    children.push(startChild(NOTARY_SERVER_BIN, ['-config', join(dir, 'server.json'), '-logf', 'logfmt'], dir, 'server.log'));
    const url = `https://127.0.0.1:${port}`;
    await waitHealthy(url, join(dir, 'root-ca.crt'), children, dir);
    return {
      url,
      host: `127.0.0.1:${port}`,
      dir,
      caCert: join(dir, 'root-ca.crt'),
      serverCert: join(dir, 'notary-server.crt'),
      serverKey: join(dir, 'notary-server.key'),
      tokenRequests,
      realm,
      newClient: () => new NotaryCli(url, dir),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function startChild(bin: string, args: string[], dir: string, log: string): ChildProcess {
  const fd = openSync(join(dir, log), 'a');
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

async function waitHealthy(url: string, ca: string, children: ChildProcess[], dir: string): Promise<void> {
  const caPem = readFileSync(ca);
  for (let i = 0; i < 100; i += 1) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) break;
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpsRequest(`${url}/_notary_server/health`, { ca: caPem, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await sleep(100);
  }
  const logs = ['signer.log', 'server.log'].map((f) => { try { return `${f}:\n${readFileSync(join(dir, f), 'utf8').slice(-2000)}`; } catch { return ''; } });
  throw new Error(`notary-server did not become healthy at ${url}\n${logs.join('\n')}`);
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection (a child's listener is up). */
async function waitListening(port: number, children: ChildProcess[], dir: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (children.some((c) => c.exitCode !== null)) break;
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  const log = (() => { try { return readFileSync(join(dir, 'signer.log'), 'utf8').slice(-2000); } catch { return ''; } })();
  throw new Error(`notary-signer did not listen on 127.0.0.1:${port}\nsigner.log:\n${log}`);
}

/** Appendix D over HTTPS: every requested scope is granted, to `tester` when Basic credentials came along. */
async function startTokenService(dir: string, requests: TokenRequestRecord[]): Promise<{ server: Server; realm: string }> {
  const key = createPrivateKey(readFileSync(join(dir, 'token-signing.key')));
  const certDer = new X509Certificate(readFileSync(join(dir, 'token-signing.crt'))).raw;
  const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const server = createHttpsServer({ cert: readFileSync(join(dir, 'notary-server.crt')), key: readFileSync(join(dir, 'notary-server.key')) }, (req, res) => {
    const u = new URL(req.url ?? '/', 'https://x');
    const scopes = u.searchParams.getAll('scope');
    requests.push({ scope: scopes, service: u.searchParams.get('service'), basic: (req.headers.authorization ?? '').startsWith('Basic ') });
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = (rest.pop() ?? '').split(',');
      return { type, name: rest.join(':'), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64u(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }))}.${b64u(JSON.stringify({
      iss: 'imagegate-test-issuer', sub: req.headers.authorization ? 'tester' : '', aud: u.searchParams.get('service'),
      exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access,
    }))}`;
    const token = `${input}.${b64u(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))}`;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  });
  // Port 0, not freePort(): a port picked and released before listening can be picked again by the
  // next freePort() (notary-server, notary-signer) before this server binds it. The likely cause
  // (not proven) of one CI run where `notary init` got no token and prompted for a username (EOF).
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { server, realm: `https://127.0.0.1:${port}/token` };
}

/** Passphrases for the client's encrypted keys (reference §4.4); prompts are never answered. */
const PASSPHRASES = {
  NOTARY_ROOT_PASSPHRASE: 'rootpass',
  NOTARY_TARGETS_PASSPHRASE: 'targetspass',
  NOTARY_SNAPSHOT_PASSPHRASE: 'snappass',
  NOTARY_DELEGATION_PASSPHRASE: 'delegpass',
};

/** The real `notary` client with its own trust directory, run with stdin closed (`< /dev/null`). */
export class NotaryCli {
  readonly dir: string;
  private readonly config: string;
  private readonly caFile: string;

  constructor(
    readonly serverUrl: string,
    peerDir: string,
    trustPinning?: Record<string, unknown>,
  ) {
    this.dir = mkdtempSync(join(peerDir, 'client-'));
    this.config = join(this.dir, 'config.json');
    writeFileSync(this.config, JSON.stringify({
      trust_dir: join(this.dir, 'trust'),
      remote_server: { url: serverUrl, root_ca: join(peerDir, 'root-ca.crt') },
      ...(trustPinning ? { trust_pinning: trustPinning } : {}),
    }));
    this.caFile = join(peerDir, 'root-ca.crt');
  }

  /** Runs `notary -c <config> …args`; resolves stdout, rejects with stderr on a non-zero exit. */
  run(...args: string[]): Promise<string> {
    return this.runWithInput(undefined, ...args);
  }

  /** Like run, with `input` written to stdin (the client's yes/no prompts), else stdin closed. */
  runWithInput(input: string | undefined, ...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(NOTARY_BIN, ['-c', this.config, ...args], {
        // SSL_CERT_FILE: the token realm is https with the same throwaway CA.
        env: { ...process.env, ...PASSPHRASES, SSL_CERT_FILE: this.caFile },
        timeout: 20_000,
      }, (err, stdout, stderr) => {
        // Exit code or signal, and both streams: a failure with an empty stderr said nothing before.
        if (err) reject(new Error(`notary ${args.join(' ')} failed (exit ${String(err.code)}${err.signal ? `, signal ${err.signal}` : ''}): ${stderr || err.message}${stdout ? `\nstdout: ${stdout}` : ''}`));
        else resolve(stdout);
      });
      child.stdin?.end(input);
    });
  }

  init(gun: string): Promise<string> {
    return this.run('init', gun);
  }

  /** `addhash` with a sha256 hex and a size, into `targets` or the given delegation roles. */
  addHash(gun: string, target: string, sha256Hex: string, size: number, roles: readonly string[] = []): Promise<string> {
    return this.run('addhash', gun, target, String(size), '--sha256', sha256Hex, ...roles.flatMap((r) => ['--roles', r]));
  }

  remove(gun: string, target: string, roles: readonly string[] = []): Promise<string> {
    return this.run('remove', gun, target, ...roles.flatMap((r) => ['--roles', r]));
  }

  publish(gun: string): Promise<string> {
    return this.run('publish', gun);
  }

  /** Imports a PEM private key for `role` (a delegation's signing key). */
  importKey(keyFile: string, role: string): Promise<string> {
    return this.run('key', 'import', keyFile, '--role', role);
  }

  delegationAdd(gun: string, role: string, certFile: string, paths: readonly string[] | 'all' = 'all'): Promise<string> {
    return this.run('delegation', 'add', gun, role, certFile, ...(paths === 'all' ? ['--all-paths'] : paths.flatMap((p) => ['--paths', p])));
  }

  delegationRemove(gun: string, role: string, keyId: string): Promise<string> {
    return this.run('delegation', 'remove', gun, role, keyId);
  }

  /** Rotates the root key (`notary key rotate GUN root`), which publishes a new root version. */
  rotateRoot(gun: string): Promise<string> {
    return this.runWithInput('yes\n', 'key', 'rotate', gun, 'root');
  }
}

/**
 * The independent verifier of reference §4.8: a fresh `notary` client that trusts only the given
 * TUF root key id (`trust_pinning.certs`, `disable_tofu`). Resolves the `lookup` line, or the
 * failure text.
 */
export async function notaryLookup(peer: NotaryPeer, gun: string, tag: string, rootKeyId: string): Promise<{ ok: boolean; output: string }> {
  const cli = new NotaryCli(peer.url, peer.dir, { disable_tofu: true, certs: { [gun]: [rootKeyId] } });
  try {
    return { ok: true, output: (await cli.run('lookup', gun, tag)).trim() };
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
}

/** Makes an ECDSA P-256 key and a self-signed certificate for a delegation (reference §4.4). */
export function makeDelegationKey(dir: string, name: string): { key: string; cert: string } {
  const sub = join(dir, `deleg-${name}-${randomUUID().slice(0, 8)}`);
  mkdirSync(sub);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'key.pem'], sub);
  openssl(['req', '-x509', '-new', '-key', 'key.pem', '-subj', `/CN=${name}`, '-days', '2', '-out', 'cert.pem'], sub);
  return { key: join(sub, 'key.pem'), cert: join(sub, 'cert.pem') };
}
