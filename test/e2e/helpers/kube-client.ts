import { request } from 'node:https';

/** What the apiserver answered: status, parsed JSON body (a Pod, a Status, …) and the raw text. */
export interface KubeResponse {
  status: number;
  body: any;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The apiserver's REST API as any client sees it: HTTPS with a static bearer token (group
 * system:masters). The serving certificate is the apiserver's self-signed one from --cert-dir,
 * so it is not verified (loopback only).
 */
export class KubeClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    const u = new URL(path, this.url);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          hostname: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          rejectUnauthorized: false,
          agent: false,
          timeout: 60_000,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            'user-agent': 'imagegate-e2e',
            ...(payload !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Creates a namespace (201), or accepts that it exists (409). */
  async ensureNamespace(name: string): Promise<void> {
    const res = await this.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    if (res.status !== 201 && res.status !== 409) throw new Error(`create namespace ${name}: ${res.status} ${res.text}`);
  }

  createPod(namespace: string, pod: object, query = ''): Promise<KubeResponse> {
    return this.call('POST', `/api/v1/namespaces/${namespace}/pods${query}`, pod);
  }
}

export interface PodOptions {
  images: string[];
  initImages?: string[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

/** A minimal valid Pod. Nothing schedules it (no scheduler runs); admission is all that matters. */
export function podManifest(name: string, opts: PodOptions): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
    },
    spec: {
      containers: opts.images.map((image, i) => ({ name: `c${i}`, image })),
      ...(opts.initImages ? { initContainers: opts.initImages.map((image, i) => ({ name: `init${i}`, image })) } : {}),
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
    },
  };
}

/** Asserts-free helper: a one-line description of an apiserver answer for assertion messages. */
export function describeResponse(res: KubeResponse): string {
  const msg = res.body && typeof res.body === 'object' && 'message' in res.body ? String(res.body.message) : res.text.slice(0, 500);
  return `HTTP ${res.status}: ${msg}`;
}
