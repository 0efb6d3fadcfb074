import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestPki, type TestPki } from '../helpers/pki';
import { startImagegate, type ImagegateProcess } from '../helpers/imagegate-process';
import { imageReview, postReview, send, type SimpleResponse } from '../helpers/http-client';

/**
 * 4xx answers are text/plain so kube-apiserver shows them to the user instead of "unknown"
 * (contract.md §5.4); the text carries the code.
 */
function assertRefusal(res: SimpleResponse, code: string): void {
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.ok(res.body.includes(`(${code})`), `expected ${code} in ${JSON.stringify(res.body)}`);
}

const POLICY = `apiVersion: imagegate/v1
kind: Policy
registries: [docker.io, "127.0.0.1:5000"]
defaultAction: deny
rules:
  - name: tagged
    images: ["docker.io/library/*"]
    requireDigest: false
    allowLatest: false
`;

describe('imagegate serve over plain HTTP on loopback', () => {
  let ig: ImagegateProcess;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagegate-http-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    ig = await startImagegate(['--config', join(dir, 'policy.yaml')]);
  });
  after(async () => {
    await ig.stop();
  });

  it('answers an allowed review with 200 and allowed true', async () => {
    const res = await postReview(ig.url, imageReview(['nginx:1.25']));
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
  });

  it('answers a denied review with 200, allowed false and a reason naming image, rule and step', async () => {
    const res = await postReview(ig.url, imageReview(['nginx:1.25', 'nginx']));
    assert.equal(res.status, 200);
    const body = res.json();
    assert.equal(body.status.allowed, false);
    assert.match(body.status.reason, /nginx \(docker\.io\/library\/nginx:latest\) denied by rule "tagged": allowLatest/);
  });

  it('serves the same handler on /imagereview and ignores the ?timeout=30s query', async () => {
    const res = await send(ig.url, { method: 'POST', path: '/imagereview?timeout=30s', headers: { 'content-type': 'application/json' }, body: imageReview(['evil.com/x:1']) });
    assert.equal(res.status, 200);
    assert.equal(res.json().status.allowed, false);
  });

  // The 413 part declares 2 MiB and sends 2 bytes: a server that waited for the body would hang, so a timeout fails it.
  it('frames a review answer with Content-Length, keeps the connection, and closes it after a 413', { timeout: 15_000 }, async () => {
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const u = new URL(ig.url);
    const sockets = new Set<unknown>();
    const once = () =>
      new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request({ hostname: u.hostname, port: u.port, method: 'POST', path: '/image_policy', headers: { 'content-type': 'application/json' }, agent }, (res) => {
          sockets.add(res.socket);
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end(imageReview(['nginx:1.25']));
      });
    const first = await once();
    const second = await once();
    agent.destroy();
    assert.equal(first.headers['content-length'], String(Buffer.byteLength(first.body)));
    assert.equal(first.headers['transfer-encoding'], undefined);
    assert.equal(first.headers['connection'], 'keep-alive');
    assert.equal(second.body, first.body);
    assert.equal(sockets.size, 1, 'both reviews on one kept-alive connection');
    const big = await send(ig.url, { method: 'POST', path: '/image_policy', headers: { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) }, body: '{}' });
    assert.equal(big.status, 413);
    assert.equal(big.headers['connection'], 'close', 'the unread body must never be parsed as a next request');
  });

  it('answers a percent-encoded review path (taken by the Hono route) exactly as the plain path', async () => {
    const body = imageReview(['nginx:1.25', 'nginx']);
    const plain = await postReview(ig.url, body);
    const encoded = await postReview(ig.url, body, undefined, '/image%5Fpolicy');
    assert.equal(encoded.status, 200);
    assert.equal(encoded.body, plain.body);
    assert.match(String(encoded.headers['content-type']), /^application\/json/);
    const refused = await postReview(ig.url, '{', undefined, '/image%5Fpolicy');
    assert.equal(refused.status, 400);
    assertRefusal(refused, 'MALFORMED_JSON');
  });

  it('refuses malformed JSON with 400 and the reason', async () => {
    const res = await postReview(ig.url, '{"kind":"ImageReview",');
    assert.equal(res.status, 400);
    assertRefusal(res, 'MALFORMED_JSON');
  });

  it('refuses a wrong apiVersion with 400', async () => {
    const res = await postReview(ig.url, JSON.stringify({ apiVersion: 'imagepolicy.k8s.io/v1', kind: 'ImageReview', spec: {} }));
    assert.equal(res.status, 400);
    assertRefusal(res, 'WRONG_API_VERSION');
  });

  it('refuses a missing spec with 400', async () => {
    const res = await postReview(ig.url, JSON.stringify({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview' }));
    assert.equal(res.status, 400);
    assertRefusal(res, 'MISSING_SPEC');
  });

  it('refuses a body over 1 MiB with 413 on its Content-Length, before reading it', { timeout: 10_000 }, async () => {
    // The client declares 1 MiB + 1 and sends only the first bytes, then waits: the answer must
    // come without the rest. (Sending the whole body raced the server's Connection: close — the
    // client's write could fail with EPIPE before it read the 413, a flaky CI failure.)
    const { request } = await import('node:http');
    const u = new URL(ig.url);
    const declared = 1024 * 1024 + 1;
    const res = await new Promise<SimpleResponse>((resolve, reject) => {
      const req = request(
        { hostname: u.hostname, port: u.port, method: 'POST', path: '/image_policy', agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(declared) },
          // A server that waited for the rest would never answer: fail then, do not hang.
          signal: AbortSignal.timeout(5_000) },
        (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (body += d));
          r.on('end', () => {
            resolve({ status: r.statusCode ?? 0, headers: r.headers, body, json: () => JSON.parse(body) });
            req.destroy();
          });
        },
      );
      req.on('error', reject);
      req.write(imageReview(['nginx:1']).slice(0, 20));
    });
    assert.equal(res.status, 413);
    assert.equal(res.headers.connection, 'close');
    assertRefusal(res, 'BODY_TOO_LARGE');
    assert.ok(res.body.includes(String(declared)), res.body);
  });

  it('refuses a chunked body over 1 MiB with 413 (no Content-Length to trust)', async () => {
    const { request } = await import('node:http');
    const u = new URL(ig.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ hostname: u.hostname, port: u.port, method: 'POST', path: '/image_policy', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (e) => (String(e).includes('EPIPE') || String(e).includes('ECONNRESET') ? resolve(-1) : reject(e)));
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 20; i++) req.write(chunk);
      req.end();
    });
    assert.ok(status === 413 || status === -1, `expected 413 (or a reset after it), got ${status}`);
  });

  it('refuses a wrong content type with 415', async () => {
    const res = await postReview(ig.url, imageReview(['nginx:1']), undefined, '/image_policy', 'text/plain');
    assert.equal(res.status, 415);
    assertRefusal(res, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers /healthz, /readyz and /metrics', async () => {
    assert.equal((await send(ig.url, { path: '/healthz' })).status, 200);
    assert.equal((await send(ig.url, { path: '/readyz' })).status, 200);
    const metrics = await send(ig.url, { path: '/metrics' });
    assert.equal(metrics.status, 200);
    for (const name of [
      'imagegate_reviews_total', 'imagegate_review_duration_seconds', 'imagegate_image_decisions_total',
      'imagegate_cache_requests_total', 'imagegate_policy_reloads_total', 'imagegate_policy_generation',
    ]) assert.ok(metrics.body.includes(name), `metrics lack ${name}`);
    assert.match(metrics.body, /imagegate_reviews_total\{result="allowed"\} [1-9]/);
  });

  it('writes one decision record per review with the normalised image and rule', async () => {
    await postReview(ig.url, imageReview(['busybox:1.36'], 'team-a'));
    const rec = await ig.waitForLog((r) => r.event === 'decision' && r.namespace === 'team-a');
    const images = rec.images as Array<Record<string, unknown>>;
    assert.equal(images[0]!.normalized, 'docker.io/library/busybox:1.36');
    assert.equal(images[0]!.rule, 'tagged');
    assert.equal(images[0]!.verdict, 'allowed');
    assert.equal(typeof rec.durationMs, 'number');
    assert.ok(rec.cache === 'hit' || rec.cache === 'miss');
  });

  it('answers an unknown path with 404', async () => {
    assert.equal((await send(ig.url, { path: '/nope' })).status, 404);
  });
});

describe('imagegate serve over TLS with a client CA (mTLS)', () => {
  let pki: TestPki;
  let ig: ImagegateProcess;
  before(async () => {
    pki = makeTestPki();
    writeFileSync(join(pki.dir, 'policy.yaml'), POLICY);
    ig = await startImagegate([
      '--config', join(pki.dir, 'policy.yaml'), '--host', '127.0.0.1',
      '--cert', pki.serverCert, '--key', pki.serverKey, '--client-ca', pki.caCert,
    ]);
  });
  after(async () => {
    await ig.stop();
  });

  it('serves https', () => assert.match(ig.url, /^https:\/\/127\.0\.0\.1:\d+$/));

  it('answers a review from a client with the apiserver certificate', async () => {
    const res = await postReview(ig.url, imageReview(['nginx:1.25']), { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });
    assert.equal(res.status, 200);
    assert.equal(res.json().status.allowed, true);
    const rec = await ig.waitForLog((r) => r.event === 'decision');
    assert.match(String(rec.client), /CN=kube-apiserver/);
  });

  it('refuses a review without a client certificate with 403', async () => {
    const res = await postReview(ig.url, imageReview(['nginx:1.25']), { ca: pki.caCert });
    assert.equal(res.status, 403);
    assertRefusal(res, 'CLIENT_CERTIFICATE_REQUIRED');
    const rec = await ig.waitForLog((r) => r.event === 'client-refused' && r.presented === 'no certificate');
    assert.equal(rec.level, 'warn');
  });

  it('refuses a review with a client certificate from another CA with 403', async () => {
    const res = await postReview(ig.url, imageReview(['nginx:1.25']), { ca: pki.caCert, cert: pki.rogueClientCert, key: pki.rogueClientKey });
    assert.equal(res.status, 403);
  });

  it('answers probes and metrics without a client certificate', async () => {
    assert.equal((await send(ig.url, { path: '/healthz', tls: { ca: pki.caCert } })).status, 200);
    assert.equal((await send(ig.url, { path: '/readyz', tls: { ca: pki.caCert } })).status, 200);
    assert.equal((await send(ig.url, { path: '/metrics', tls: { ca: pki.caCert } })).status, 200);
  });

  it('presents a server certificate the apiserver can verify by IP SAN', async () => {
    // A client that trusts only the test CA and checks the host name succeeds; one that trusts
    // another CA fails the handshake.
    await assert.rejects(send(ig.url, { path: '/healthz', tls: { ca: pki.rogueCaCert } }));
  });
});

describe('policy reload while serving', () => {
  let ig: ImagegateProcess;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imagegate-reload-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    ig = await startImagegate(['--config', join(dir, 'policy.yaml')]);
  });
  after(async () => {
    await ig.stop();
  });

  it('applies a changed file, never serving the old decision, and keeps the last good policy on a bad file', async () => {
    assert.equal((await postReview(ig.url, imageReview(['nginx:1.25']))).json().status.allowed, true);

    // Replace the file the way editors and ConfigMap updates do: write elsewhere, then rename.
    writeFileSync(join(dir, 'policy.tmp'), POLICY.replace('action: allow', '').replace('requireDigest: false', 'requireDigest: true'));
    renameSync(join(dir, 'policy.tmp'), join(dir, 'policy.yaml'));
    await ig.waitForLog((r) => r.event === 'policy-reloaded' && r.generation === 2);
    const denied = (await postReview(ig.url, imageReview(['nginx:1.25']))).json();
    assert.equal(denied.status.allowed, false, 'a decision cached under generation 1 was served after the reload');
    assert.match(denied.status.reason, /requireDigest/);

    writeFileSync(join(dir, 'policy.yaml'), 'apiVersion: imagegate/v1\nkind: Policy\nregistriez: []\n');
    await ig.waitForLog((r) => r.event === 'policy-reload-failed');
    assert.equal((await postReview(ig.url, imageReview(['nginx:1.25']))).json().status.allowed, false, 'the last good policy (generation 2) must stay');
    const metrics = await send(ig.url, { path: '/metrics' });
    assert.match(metrics.body, /imagegate_policy_reloads_total\{result="failure"\} [1-9]/);
    assert.match(metrics.body, /imagegate_policy_generation 2/);
  });

  it('reloads on SIGHUP', async () => {
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    await ig.waitForLog((r) => r.event === 'policy-reloaded' && r.generation === 3);
    ig.child.kill('SIGHUP');
    await ig.waitForLog((r) => r.event === 'policy-reloaded' && r.trigger === 'SIGHUP');
    assert.equal((await postReview(ig.url, imageReview(['nginx:1.25']))).json().status.allowed, true);
  });
});
