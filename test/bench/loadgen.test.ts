/**
 * bench/loadgen.ts with each of its HTTP clients (raw-client.ts, the default, and undici) against
 * a real node:https server requiring the client certificate: every request counted, every answer
 * checked — a 200 that does not say allowed, or another status, is an error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runLoad } from '../../bench/loadgen';
import { startMtlsServer, type MtlsServer } from '../helpers/mtls-server';
import { makeTestPki, type TestPki } from '../helpers/pki';

describe('runLoad', () => {
  let pki: TestPki;
  let peer: MtlsServer;
  let url: string;
  const seen: string[] = [];

  before(async () => {
    pki = makeTestPki();
    peer = await startMtlsServer(pki, (_req, body, res) => {
      const image = JSON.parse(body).spec.containers[0].image as string;
      seen.push(image);
      if (image.includes('refuse')) res.writeHead(400, { 'content-type': 'text/plain' }).end('not a review');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: { allowed: !image.includes('deny') } }));
    });
    url = peer.url;
  });
  after(() => peer.close());

  const tls = () => ({ ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });

  for (const client of ['raw', 'undici'] as const) {
    it(`${client}: sends exactly the requests asked for, each body its own, with 0 errors`, async () => {
      seen.length = 0;
      const r = await runLoad({ url, tls: tls(), connections: 4, body: { kind: 'unique', prefix: `${client}/app`, start: 0 }, warmupMs: 0, durationMs: 0, requests: 40, client });
      assert.equal(r.errors, 0, r.errorSamples.join(' | '));
      assert.equal(r.requests, 40);
      assert.deepEqual([...seen].sort(), Array.from({ length: 40 }, (_, n) => `${client}/app${n}:1.${n}`).sort());
      assert.ok(r.latencyMs.p50 > 0 && r.latencyMs.max >= r.latencyMs.p99);
    });

    it(`${client}: counts a denied answer and a 4xx as errors`, async () => {
      const denied = await runLoad({ url, tls: tls(), connections: 2, body: { kind: 'fixed', images: ['deny/me:1'] }, warmupMs: 0, durationMs: 0, requests: 6, client });
      assert.equal(denied.errors, 6);
      assert.match(denied.errorSamples[0]!, /not allowed/);
      const refused = await runLoad({ url, tls: tls(), connections: 2, body: { kind: 'fixed', images: ['refuse/me:1'] }, warmupMs: 0, durationMs: 0, requests: 4, client });
      assert.equal(refused.errors, 4);
      assert.match(refused.errorSamples[0]!, /HTTP 400: not a review/);
    });
  }
});
