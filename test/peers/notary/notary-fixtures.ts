/**
 * Shared pieces of the Notary v1 peer tests: policies with a `type: notaryv1` verifier loaded
 * through the real loader, the VerifyContext the lookups layer would give a verifier, the TUF key
 * ids of a GUN's root (read from the real client's cache), and a tampering HTTPS proxy for the
 * faults a real notary server cannot show (replayed or modified metadata).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import { join } from 'node:path';
import type { CompiledPolicy, VerifierType } from '../../../server/policy/compiled-policy';
import { loadPolicyText } from '../../../server/policy/load';
import { parseReference } from '../../../server/reference/parse';
import type { Reference } from '../../../server/reference/reference';
import { RegistryClient } from '../../../server/registry/registry-client';
import { closeRegistryContext, createRegistryContext, type LookupKind, type RegistryContext } from '../../../server/registry/registry-context';
import type { VerifyContext } from '../../../server/verify/verifier';
import { freePort } from '../registry-peer';
import type { NotaryCli, NotaryPeer } from '../notary-peer';

const ALL_TYPES: ReadonlySet<VerifierType> = new Set<VerifierType>(['cosign', 'notaryv1', 'notation']);
let generation = 7000;

export interface NotaryPolicySpec {
  readonly server: string;
  readonly caFiles: readonly string[];
  /** YAML flow items: `{keyID: …}`, `{pem: "…"}`, `{file: …}`. */
  readonly rootKeys: readonly ({ keyID: string } | { pem: string } | { file: string })[];
  readonly gun?: string;
  readonly delegations?: readonly string[];
  readonly verifyTTL?: string;
  readonly tagTTL?: string;
  readonly denyTTL?: string;
  readonly lookupTimeout?: string;
  readonly credentialsFile?: string;
}

/** A policy with one notaryv1 verifier `dct`, loaded through server/policy/load.ts. */
export function notaryPolicy(spec: NotaryPolicySpec): CompiledPolicy {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    'apiVersion: imagegate/v1',
    'kind: Policy',
    'registries: ["127.0.0.1:5000", "mirror.example"]',
    'rules:',
    '  - name: signed',
    '    images: ["127.0.0.1:5000/**", "mirror.example/**"]',
    '    requireDigest: false',
    '    resolveTags: true',
    '    verify: [dct]',
    'verifiers:',
    '  dct:',
    '    type: notaryv1',
    `    server: ${q(spec.server)}`,
    ...(spec.gun ? [`    gun: ${q(spec.gun)}`] : []),
    '    rootKeys:',
    ...spec.rootKeys.map((k) => `      - ${JSON.stringify(k)}`),
    `    delegations: [${(spec.delegations ?? []).map(q).join(', ')}]`,
    'transport:',
    `  caFiles: [${spec.caFiles.map(q).join(', ')}]`,
    ...(spec.credentialsFile ? ['credentials:', `  file: ${q(spec.credentialsFile)}`] : []),
    'cache:',
    `  verifyTTL: ${spec.verifyTTL ?? '1h'}`,
    `  tagTTL: ${spec.tagTTL ?? '1m'}`,
    `  denyTTL: ${spec.denyTTL ?? '30s'}`,
    'timeouts:',
    '  review: 20s',
    `  lookup: ${spec.lookupTimeout ?? '10s'}`,
  ];
  generation += 1;
  return loadPolicyText(`${lines.join('\n')}\n`, 'test/peers/notary', generation, { implementedVerifierTypes: ALL_TYPES });
}

/** Counts requests per lookup kind (the metrics the generation's context reports). */
export class CountingReporter {
  readonly counts = new Map<string, number>();
  lookupDone(kind: LookupKind, result: 'success' | 'failure'): void {
    const k = `${kind}:${result}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  get(kind: LookupKind, result: 'success' | 'failure' = 'success'): number {
    return this.counts.get(`${kind}:${result}`) ?? 0;
  }
}

/** The VerifyContext verify/lookups.ts builds for a generation, plus a way to close it. */
export function verifyContext(policy: CompiledPolicy, reporter = new CountingReporter(), signal = AbortSignal.timeout(20_000)): {
  ctx: VerifyContext;
  context: RegistryContext;
  reporter: CountingReporter;
  close(): Promise<void>;
} {
  const context = createRegistryContext(policy, reporter);
  return {
    ctx: { registry: (host) => new RegistryClient(context, host), registryContext: context, signal },
    context,
    reporter,
    close: () => closeRegistryContext(context),
  };
}

export function ref(text: string): Reference {
  return parseReference(text);
}

/** A random sha256 digest, as hex. */
export function randomDigestHex(): string {
  return createHash('sha256').update(randomBytes(32)).digest('hex');
}

/** The GUN's root.json as the real client cached it after publishing (trust_dir/tuf/<gun>/metadata). */
export function cachedRoot(cli: NotaryCli, gun: string): { signed: { keys: Record<string, { keytype: string; keyval: { public: string } }>; roles: { root: { keyids: string[] } } } } {
  return JSON.parse(readFileSync(join(cli.dir, 'trust', 'tuf', gun, 'metadata', 'root.json'), 'utf8'));
}

/** The TUF key id of the GUN's (first) root key, as notary's trust_pinning.certs wants it. */
export function rootKeyId(cli: NotaryCli, gun: string): string {
  return cachedRoot(cli, gun).signed.roles.root.keyids[0]!;
}

/** The PEM certificate of the GUN's root key. */
export function rootCertPem(cli: NotaryCli, gun: string): string {
  const root = cachedRoot(cli, gun);
  const key = root.signed.keys[rootKeyId(cli, gun)]!;
  return Buffer.from(key.keyval.public, 'base64').toString('utf8');
}

/** Tampering proxy: what a hook sees and may replace. */
export interface ProxiedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type ProxyHook = (path: string, upstream: ProxiedResponse) => ProxiedResponse | undefined;

export interface TamperingProxy {
  /** `https://127.0.0.1:PORT`: use as the verifier's `server`. */
  readonly url: string;
  /** Every response body served so far, by path (the last one last). */
  readonly served: Map<string, Buffer[]>;
  hook: ProxyHook | undefined;
  /** Rewrites the upstream path of a request (serve another GUN's files under this one). */
  rewrite: ((path: string) => string) | undefined;
  close(): Promise<void>;
}

/**
 * An HTTPS proxy in front of the real notary server (certificate from the peer's CA) that
 * forwards every request, records the real responses and lets a test replay or modify them.
 */
export async function startTamperingProxy(peer: NotaryPeer): Promise<TamperingProxy> {
  const ca = readFileSync(peer.caCert);
  const served = new Map<string, Buffer[]>();
  const proxy: TamperingProxy = {
    url: '',
    served,
    hook: undefined,
    rewrite: undefined,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
  const server: Server = createHttpsServer({ cert: readFileSync(peer.serverCert), key: readFileSync(peer.serverKey) }, (req, res) => {
    const path = req.url ?? '/';
    const headers: Record<string, string> = {};
    if (req.headers.authorization) headers['authorization'] = req.headers.authorization;
    const up = httpsRequest(`${peer.url}${proxy.rewrite?.(path) ?? path}`, { method: req.method, headers, ca }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        const upstream: ProxiedResponse = { status: upRes.statusCode ?? 502, headers: {}, body: Buffer.concat(chunks) };
        for (const h of ['content-type', 'www-authenticate']) {
          const v = upRes.headers[h];
          if (typeof v === 'string') upstream.headers[h] = v;
        }
        if (upstream.status === 200) served.set(path, [...(served.get(path) ?? []), upstream.body]);
        const out = proxy.hook?.(path, upstream) ?? upstream;
        res.writeHead(out.status, { ...out.headers, 'content-length': String(out.body.length) });
        res.end(out.body);
      });
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    up.end();
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  (proxy as { url: string }).url = `https://127.0.0.1:${port}`;
  return proxy;
}
