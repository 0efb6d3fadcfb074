/**
 * bench/raw-client.ts, the load generator's HTTP client: its answer framing (Content-Length,
 * chunked, split across reads, Connection: close, unframeable answers), and one keep-alive mTLS
 * connection against a real node:https server that requires the client certificate.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseAnswer, RawConnection, rawRequest } from '../../bench/raw-client';
import { startMtlsServer, type MtlsServer } from '../helpers/mtls-server';
import { makeTestPki, type TestPki } from '../helpers/pki';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseAnswer', () => {
  const whole = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello';

  it('frames a Content-Length answer, and waits for every byte of it', () => {
    const parsed = parseAnswer(b(`${whole}HTTP/1.1 2`));
    assert.equal(parsed?.answer.status, 200);
    assert.equal(parsed?.answer.body.toString(), 'hello');
    assert.equal(parsed?.rest, whole.length, 'what follows the body is left for the next answer');
    assert.equal(parsed?.close, false);
    for (let cut = 0; cut < whole.length; cut++) assert.equal(parseAnswer(b(whole.slice(0, cut))), undefined, `incomplete at ${cut}`);
  });

  it('frames a chunked answer, and waits for its last chunk', () => {
    const chunked = 'HTTP/1.1 413 Payload Too Large\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n';
    const parsed = parseAnswer(b(chunked));
    assert.equal(parsed?.answer.status, 413);
    assert.equal(parsed?.answer.body.toString(), 'abc0123456789');
    assert.equal(parsed?.rest, chunked.length);
    assert.equal(parsed?.close, true);
    for (let cut = 0; cut < chunked.length; cut++) assert.equal(parseAnswer(b(chunked.slice(0, cut))), undefined, `incomplete at ${cut}`);
  });

  it('refuses an answer it cannot frame instead of waiting for it forever', () => {
    assert.throws(() => parseAnswer(b('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody')), /without Content-Length or chunked/);
    assert.throws(() => parseAnswer(b('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n')), /bad Content-Length/);
  });
});

describe('RawConnection against node:https with a required client certificate', () => {
  let pki: TestPki;
  let peer: MtlsServer;
  let port: number;
  let handshakes = 0;
  const clientTls = () => ({ ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });

  before(async () => {
    pki = makeTestPki();
    peer = await startMtlsServer(pki, (req, body, res) => {
      if (body === 'close me') res.writeHead(200, { connection: 'close' }).end('closing');
      else if (body === 'hang up') res.socket?.destroy();
      else if (body === 'chunked') { res.write('part one, '); res.end('part two'); }
      else res.writeHead(200, { 'content-type': 'application/json' }).end(`echo:${req.url}:${body}`);
    });
    peer.server.on('secureConnection', () => handshakes++);
    port = peer.port;
  });
  after(() => peer.close());

  it('sends many requests on one mTLS connection and reads each answer', async () => {
    const conn = new RawConnection('127.0.0.1', port, clientTls());
    const before = handshakes;
    for (let i = 0; i < 50; i++) {
      const answer = await conn.send(rawRequest(`127.0.0.1:${port}`, '/image_policy', `review ${i} ☃`));
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), `echo:/image_policy:review ${i} ☃`);
    }
    const chunked = await conn.send(rawRequest(`127.0.0.1:${port}`, '/x', 'chunked'));
    assert.equal(chunked.body.toString(), 'part one, part two');
    assert.equal(handshakes - before, 1, 'one TLS handshake for all requests: the connection was kept alive');
    conn.close();
  });

  it('opens a new connection after an answer with Connection: close', async () => {
    const conn = new RawConnection('127.0.0.1', port, clientTls());
    const before = handshakes;
    assert.equal((await conn.send(rawRequest('h', '/', 'close me'))).body.toString(), 'closing');
    assert.equal((await conn.send(rawRequest('h', '/', 'again'))).body.toString(), 'echo:/:again');
    assert.equal(handshakes - before, 2);
    conn.close();
  });

  it('rejects the request in flight when the server hangs up without answering', async () => {
    const conn = new RawConnection('127.0.0.1', port, clientTls());
    await assert.rejects(conn.send(rawRequest('h', '/', 'hang up')), /closed by the server|ECONNRESET/);
    assert.equal((await conn.send(rawRequest('h', '/', 'after'))).body.toString(), 'echo:/:after', 'usable again after the failure');
    conn.close();
  });

  it('fails to connect without a client certificate the server trusts', async () => {
    const rogue = new RawConnection('127.0.0.1', port, { ca: readFileSync(pki.caCert), cert: readFileSync(pki.rogueClientCert), key: readFileSync(pki.rogueClientKey) });
    await assert.rejects(rogue.send(rawRequest('h', '/', 'x')));
    rogue.close();
  });
});
