/**
 * The review path's fail-closed edges, in process (server/http/review-listener.ts, review-route.ts):
 * a bug anywhere in deciding — thrown synchronously, or a rejected decision — is a 200 deny, never
 * a 5xx (contract.md §5.1: a 5xx lets the apiserver apply defaultAllow); a client that goes away
 * mid-body gets nothing and the server keeps answering. The decider is the real one with one
 * method replaced to inject the fault (no real peer can make the decider throw).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Decider } from '../../../server/decision/decide-review';
import { loadPolicyText } from '../../../server/policy/load';
import { imageReview, postReview } from '../../helpers/http-client';
import { inProcessReviews } from '../../helpers/in-process-reviews';
import { TAGGED_DOCKER_IO_POLICY } from '../../helpers/policies';

const POLICY = loadPolicyText(TAGGED_DOCKER_IO_POLICY, 'test', 1);

describe('review listener: bugs are 200 denies, aborted bodies are harmless', () => {
  const decider = new Decider();
  let fault: 'none' | 'throw' | 'reject' | 'policy' = 'none';
  const original = decider.decideNow.bind(decider);
  decider.decideNow = (request, policy, key) => {
    if (fault === 'throw') throw new Error('injected synchronous bug');
    if (fault === 'reject') return Promise.reject(new Error('injected asynchronous bug'));
    return original(request, policy, key);
  };
  const reviews = inProcessReviews(decider, () => {
    if (fault === 'policy') throw new Error('injected bug outside the decider');
    return POLICY;
  });
  const { records, deps } = reviews;
  let url: string;

  before(async () => {
    url = await reviews.start();
  });
  after(() => reviews.stop());

  it('answers normally without a fault (the harness itself works)', async () => {
    fault = 'none';
    const r = await postReview(url, imageReview(['nginx:1.27']));
    assert.equal(r.status, 200);
    assert.equal(r.json().status.allowed, true);
  });

  // throw / reject: a bug in the decider, synchronous or in its promise; policy: a bug thrown
  // outside the decider, which only the listener's sink catches (the last line of defence).
  for (const [kind, image] of [['throw', 'nginx:1.1'], ['reject', 'nginx:1.2'], ['policy', 'nginx:1.3']] as const) {
    it(`answers 200 allowed:false when deciding fails (${kind}), and logs the bug`, async () => {
      fault = kind;
      const before = records.length;
      const r = await postReview(url, imageReview([image]));
      fault = 'none';
      assert.equal(r.status, 200);
      assert.equal(r.json().status.allowed, false);
      assert.match(r.json().status.reason, /internal error/);
      assert.ok(records.slice(before).some((rec) => rec.event === 'internal-error'), 'the bug is logged');
    });
  }

  it('keeps answering after a client closes the connection in the middle of a body', async () => {
    const port = Number(new URL(url).port);
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.write('POST /image_policy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"kind":"Imag');
        setTimeout(() => { socket.destroy(); resolve(); }, 50);
      });
      socket.on('error', reject);
      socket.on('data', () => reject(new Error('nothing may be answered to an incomplete body')));
    });
    const r = await postReview(url, imageReview(['nginx:1.27']));
    assert.equal(r.status, 200);
    assert.equal(r.json().status.allowed, true);
  });

  it('gives each of many concurrent reviews its own answer (decided and ended together per turn)', async () => {
    fault = 'none';
    // docker.io images are allowed, quay.io ones denied with a reason naming the image. Every
    // connection is open before any request is written, and all requests are written in one
    // synchronous loop, so the server reads many bodies in the same turns: no answer may go to
    // another review.
    const images = Array.from({ length: 48 }, (_, i) => (i % 2 === 0 ? `nginx:7.${i}` : `quay.io/team/app${i}:1`));
    const port = Number(new URL(url).port);
    const sockets = await Promise.all(images.map(() => new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
      socket.on('error', reject);
    })));
    // The server accepts a connection in a later turn than the client sees it open: let it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const answers = sockets.map((socket) => new Promise<string>((resolve, reject) => {
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => {
        text += d;
        if (/\r\n\r\n[\s\S]*\}\}$/.test(text)) { socket.destroy(); resolve(text); }
      });
      socket.on('error', reject);
    }));
    images.forEach((image, i) => {
      const body = imageReview([image]);
      sockets[i]!.write(`POST /image_policy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    (await Promise.all(answers)).forEach((text, i) => {
      assert.match(text, /^HTTP\/1\.1 200 /);
      const status = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).status;
      if (i % 2 === 0) assert.equal(status.allowed, true, images[i]);
      else {
        assert.equal(status.allowed, false, images[i]);
        assert.match(status.reason, new RegExp(`quay\\.io/team/app${i}:1`), `the answer to ${images[i]} names it`);
      }
    });
  });

  it('counts every answered review, whatever path it took, once the metrics are scraped', async () => {
    const text = await deps.metrics.registry.metrics();
    const count = (result: string) => Number(new RegExp(`imagegate_reviews_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1]);
    assert.equal(count('allowed'), 2 + 24);
    // The three injected bugs are denials, and the 24 quay.io images.
    assert.equal(count('denied'), 3 + 24);
  });
});
