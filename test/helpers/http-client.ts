import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';

export interface TlsClientOptions {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/** One HTTP(S) request with a fresh connection (no agent reuse), so TLS settings apply each time. */
export function send(
  url: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; tls?: TlsClientOptions },
): Promise<SimpleResponse> {
  const u = new URL(opts.path, url);
  const tls = opts.tls ?? {};
  const reqOpts: RequestOptions = {
    method: opts.method ?? 'GET',
    hostname: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    headers: opts.headers ?? {},
    agent: false,
    ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
    ...(tls.key ? { key: readFileSync(tls.key) } : {}),
  };
  const doRequest = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = doRequest(reqOpts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export function imageReview(images: string[], namespace = 'default', annotations?: Record<string, string>): string {
  return JSON.stringify({
    kind: 'ImageReview',
    apiVersion: 'imagepolicy.k8s.io/v1alpha1',
    metadata: { creationTimestamp: null },
    spec: { containers: images.map((image) => ({ image })), ...(annotations ? { annotations } : {}), namespace },
    status: { allowed: false },
  });
}

export function postReview(url: string, body: string | Buffer, tls?: TlsClientOptions, path = '/image_policy', contentType = 'application/json'): Promise<SimpleResponse> {
  return send(url, { method: 'POST', path, headers: { 'content-type': contentType }, body, ...(tls ? { tls } : {}) });
}
