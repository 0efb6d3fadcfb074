/**
 * A real OCI registry for the peer tests: Debian's `docker-registry` (CNCF distribution 2.8),
 * started on 127.0.0.1 with its own config, port and storage, in one of four variants:
 *   - open (no auth), plain HTTP;
 *   - htpasswd (Basic challenge; bcrypt file made by the real `htpasswd -Bbn`);
 *   - token (Bearer challenge; a small Node token service issuing ES256 JWTs with an x5c header,
 *     as in reference appendix D, in front of htpasswd-style users);
 *   - TLS (certificate from a throwaway openssl CA), combinable with the others.
 * The registry's access log (Apache combined format on stdout) is parsed to count the requests
 * that reached it. A missing binary FAILS the test with the install hint; it never skips.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestPki } from '../helpers/pki';

export interface User {
  readonly username: string;
  readonly password: string;
}

export interface RegistryPeerOptions {
  readonly auth?: 'none' | 'htpasswd' | 'token';
  readonly tls?: boolean;
  /** Users for htpasswd and token auth; default one user `tester` / `testpass`. */
  readonly users?: readonly User[];
}

export interface AccessLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly userAgent: string;
}

export interface TokenService {
  /** `127.0.0.1:PORT` of the token service. */
  readonly host: string;
  readonly realm: string;
  /** Requests it received: query, whether Basic credentials came along, and for whom. */
  readonly requests: readonly { method: string; scope: string[]; account: string | undefined; authenticatedAs: string | undefined; grant: string | undefined }[];
  /** Refresh tokens (docker config `identitytoken`) it accepts, mapped to a user name. */
  readonly refreshTokens: Map<string, string>;
}

export interface RegistryPeer {
  /** `127.0.0.1:PORT`, as written in image references and in `registries`. */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly users: readonly User[];
  /** The CA certificate file that signed the registry's TLS certificate (tls: true). */
  readonly caCert: string | undefined;
  readonly tokenService: TokenService | undefined;
  /** Access log entries so far (waits until the log is quiet for a moment, then parses). */
  accessLog(): Promise<AccessLogEntry[]>;
  stop(): Promise<void>;
}

export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** Fails loudly when a peer binary is missing (peer tests never skip). */
export function requireBinary(path: string, hint: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: the peer tests need the real tool. Install it: ${hint}`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRegistry(options: RegistryPeerOptions = {}): Promise<RegistryPeer> {
  requireBinary(REGISTRY_BIN, 'apt-get install -y docker-registry (or scripts/install-test-deps.sh)');
  const auth = options.auth ?? 'none';
  const users = options.users ?? [{ username: 'tester', password: 'testpass' }];
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines: string[] = [
    'version: 0.1',
    'log: { level: info, accesslog: { disabled: false } }',
    'storage:',
    `  filesystem: { rootdirectory: ${join(dir, 'data')} }`,
    '  delete: { enabled: true }',
    'http:',
    `  addr: ${host}`,
    '  headers: { X-Content-Type-Options: [nosniff] }',
  ];

  let caCert: string | undefined;
  let pkiDir: string | undefined;
  if (options.tls) {
    const pki = makeTestPki();
    pkiDir = pki.dir;
    caCert = pki.caCert;
    lines.push(`  tls: { certificate: ${pki.serverCert}, key: ${pki.serverKey} }`);
  }

  let tokenService: TokenService | undefined;
  let tokenServer: Server | undefined;
  if (auth === 'htpasswd' || auth === 'token') {
    requireBinary('/usr/bin/htpasswd', 'apt-get install -y apache2-utils');
    const htpasswd = users.map((u) => execFileSync('htpasswd', ['-Bbn', u.username, u.password], { encoding: 'utf8' }).trim()).join('\n');
    writeFileSync(join(dir, 'htpasswd'), `${htpasswd}\n`);
  }
  if (auth === 'htpasswd') {
    lines.push('auth:', `  htpasswd: { realm: imagegate-basic, path: ${join(dir, 'htpasswd')} }`);
  }
  if (auth === 'token') {
    const started = await startTokenService(dir, users);
    tokenService = started.service;
    tokenServer = started.server;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${tokenService.realm}`,
      '    service: imagegate-test-registry',
      '    issuer: imagegate-test-issuer',
      `    rootcertbundle: ${started.certFile}`,
    );
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `${lines.join('\n')}\n`);

  const logFile = join(dir, 'registry.log');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://${host}`;
  await waitReady(host, () => exited, logFile);

  const peer: RegistryPeer = {
    host,
    port,
    url,
    dir,
    users,
    caCert,
    tokenService,
    async accessLog() {
      // The access log line is written after the response; wait until the file stops growing.
      let last = -1;
      for (let i = 0; i < 20; i += 1) {
        const size = readFileSync(logFile).length;
        if (size === last) break;
        last = size;
        await sleep(100);
      }
      return parseAccessLog(readFileSync(logFile, 'utf8'));
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([done, sleep(5000)]);
        if (!exited) child.kill('SIGKILL');
      }
      await new Promise<void>((r) => (tokenServer ? tokenServer.close(() => r()) : r()));
      rmSync(dir, { recursive: true, force: true });
      if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
    },
  };
  return peer;
}

/** Waits until the registry accepts TCP connections and answers /v2/ (any HTTP status). */
async function waitReady(host: string, exited: () => boolean, logFile: string): Promise<void> {
  const [h, p] = host.split(':') as [string, string];
  for (let i = 0; i < 100; i += 1) {
    if (exited()) throw new Error(`docker-registry exited at start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(Number(p), h);
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`docker-registry did not listen on ${host} within 10s:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/** `127.0.0.1 - - [date] "GET /v2/… HTTP/1.1" 200 123 "" "imagegate"` → entries. */
export function parseAccessLog(text: string): AccessLogEntry[] {
  const out: AccessLogEntry[] = [];
  const re = /^\S+ \S+ \S+ \[[^\]]+\] "([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m) out.push({ method: m[1] as string, path: m[2] as string, status: Number(m[3]), userAgent: m[4] as string });
  }
  return out;
}

/**
 * The token service of reference appendix D: ES256 JWTs with the signing certificate in x5c,
 * `access` from the requested scopes. It checks Basic credentials (a wrong password gets 401)
 * and accepts the OAuth2 refresh-token POST for identity tokens. Anonymous requests get a token
 * with no access, so the registry refuses them (as a private registry would).
 */
async function startTokenService(dir: string, users: readonly User[]): Promise<{ service: TokenService; server: Server; certFile: string }> {
  const keyFile = join(dir, 'token-signing-key.pem');
  const certFile = join(dir, 'token-signing-cert.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'ec.pem')], { stdio: 'ignore' });
  execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', join(dir, 'ec.pem'), '-out', keyFile], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-subj', '/CN=imagegate-token-issuer', '-days', '2', '-out', certFile], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyFile));
  const certDer = new X509Certificate(readFileSync(certFile)).raw;
  const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const requests: TokenService['requests'][number][] = [];
  const refreshTokens = new Map<string, string>();

  const issue = (service: string, scopes: string[], who: string | undefined) => {
    const now = Math.floor(Date.now() / 1000);
    const access = who
      ? scopes.map((s) => {
          const [type, ...rest] = s.split(':');
          const actions = (rest.pop() ?? '').split(',').filter((a) => a === 'pull' || a === 'push' || a === '*');
          return { type, name: rest.join(':'), actions };
        })
      : [];
    const input = `${b64u(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }))}.${b64u(
      JSON.stringify({ iss: 'imagegate-test-issuer', sub: who ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }),
    )}`;
    return `${input}.${b64u(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))}`;
  };

  const server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const body = await readBody(req);
      let who: string | undefined;
      let grant: string | undefined;
      let service = u.searchParams.get('service') ?? '';
      let scopes = u.searchParams.getAll('scope');
      const header = req.headers.authorization;
      if (header?.startsWith('Basic ')) {
        const [name, ...pw] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
        const user = users.find((x) => x.username === name && x.password === pw.join(':'));
        if (!user) {
          requests.push({ method: req.method ?? '', scope: scopes, account: u.searchParams.get('account') ?? undefined, authenticatedAs: undefined, grant });
          res.statusCode = 401;
          res.end('{"details":"wrong credentials"}');
          return;
        }
        who = user.username;
      }
      if (req.method === 'POST') {
        const form = new URLSearchParams(body);
        grant = form.get('grant_type') ?? undefined;
        service = form.get('service') ?? service;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const user = grant === 'refresh_token' ? refreshTokens.get(form.get('refresh_token') ?? '') : undefined;
        if (!user) {
          requests.push({ method: 'POST', scope: scopes, account: undefined, authenticatedAs: undefined, grant });
          res.statusCode = 401;
          res.end('{"error":"invalid_grant"}');
          return;
        }
        who = user;
      }
      requests.push({ method: req.method ?? '', scope: scopes, account: u.searchParams.get('account') ?? undefined, authenticatedAs: who, grant });
      const token = issue(service, scopes, who);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
    })();
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const host = `127.0.0.1:${port}`;
  return { service: { host, realm: `http://${host}/token`, requests, refreshTokens }, server, certFile };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
