import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { makeTestPki } from '../helpers/pki';
import { startImagegate } from '../helpers/imagegate-process';
import { imageReview, postReview } from '../helpers/http-client';

/** The serving certificate's fingerprint as a new TLS connection sees it. */
function servedFingerprint(url: string, ca: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), ca: readFileSync(ca) }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

describe('certificate reload while serving', () => {
  it('serves a replaced certificate to new connections without a restart', async () => {
    const a = makeTestPki();
    const b = makeTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'imagegate-tlsreload-'));
    copyFileSync(a.serverCert, join(dir, 'tls.crt'));
    copyFileSync(a.serverKey, join(dir, 'tls.key'));
    const ig = await startImagegate(['--host', '127.0.0.1', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key')]);
    try {
      const before = await servedFingerprint(ig.url, a.caCert);
      copyFileSync(b.serverKey, join(dir, 'tls.key'));
      copyFileSync(b.serverCert, join(dir, 'tls.crt'));
      await ig.waitForLog((r) => r.event === 'tls-reloaded');
      // The next connection may race the last file event; allow a second reload to settle.
      let after = '';
      for (let i = 0; i < 20 && (after === '' || after === before); i++) {
        try {
          after = await servedFingerprint(ig.url, b.caCert);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.notEqual(after, '');
      assert.notEqual(after, before);
      // And it still answers reviews.
      const res = await postReview(ig.url, imageReview(['nginx:1.27']), { ca: b.caCert });
      assert.equal(res.status, 200);
    } finally {
      await ig.stop();
    }
  });
});

describe('graceful shutdown', () => {
  it('answers a review already in flight before exiting on SIGTERM', async () => {
    // A registry that accepts connections and never answers: the one fault no real registry
    // shows on demand, so this is a deliberate stand-in (CONTRIBUTING.md "Rules of the house").
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'imagegate-shutdown-'));
    writeFileSync(join(dir, 'policy.yaml'), `apiVersion: imagegate/v1
kind: Policy
registries: ["127.0.0.1:${port}"]
rules:
  - name: resolve
    images: ["127.0.0.1:${port}/**"]
    requireDigest: false
    resolveTags: true
transport:
  plainHTTP: ["127.0.0.1:${port}"]
timeouts:
  review: 1500ms
  lookup: 1s
`);
    const ig = await startImagegate(['--config', join(dir, 'policy.yaml')]);
    try {
      const inflight = postReview(ig.url, imageReview([`127.0.0.1:${port}/app:1`]));
      // Wait until imagegate is waiting on the silent registry, then ask it to stop.
      for (let i = 0; i < 50 && sockets.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(sockets.length > 0, 'imagegate never contacted the registry');
      const exited = ig.stop('SIGTERM');
      const res = await inflight;
      assert.equal(res.status, 200, 'the in-flight review must be answered, not cut');
      const body = res.json();
      assert.equal(body.status.allowed, false);
      assert.match(body.status.reason, /timeout|deadline/);
      assert.equal(await exited, 0);
    } finally {
      await ig.stop('SIGKILL');
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
