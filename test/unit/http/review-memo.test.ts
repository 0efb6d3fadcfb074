/**
 * The memo of decoded review bodies (server/http/review-memo.ts): bounded, least recently used
 * first out, its requests frozen; and, through the real listener and decider, a remembered body
 * is still decided by the policy in force (a reload re-keys it), and a one-off body is not kept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Decider } from '../../../server/decision/decide-review';
import type { ReviewRequest } from '../../../server/imagereview/wire-types';
import { ReviewMemo } from '../../../server/http/review-memo';
import { loadPolicyText } from '../../../server/policy/load';
import { imageReview, postReview } from '../../helpers/http-client';
import { inProcessReviews } from '../../helpers/in-process-reviews';

function request(image: string): ReviewRequest {
  return { images: [image], annotations: {}, namespace: 'default' };
}

describe('ReviewMemo', () => {
  it('gives back what was remembered for exactly that text, and nothing for other text', () => {
    const memo = new ReviewMemo();
    const r = request('nginx:1');
    memo.remember('{"a":1}', r, 3, 'key-3');
    const hit = memo.get('{"a":1}');
    assert.equal(hit?.request, r);
    assert.equal(hit?.key, 'key-3');
    assert.equal(hit?.keyGeneration, 3);
    assert.equal(memo.get('{"a":1} '), undefined, 'one more byte is another body');
    assert.equal(memo.get('{"a":2}'), undefined);
  });

  it('never remembers a body longer than its limit', () => {
    const memo = new ReviewMemo(8, 10);
    memo.remember('x'.repeat(11), request('nginx:1'), 1, 'k');
    memo.remember('x'.repeat(10), request('nginx:2'), 1, 'k');
    assert.equal(memo.get('x'.repeat(11)), undefined);
    assert.equal(memo.get('x'.repeat(10))?.request.images[0], 'nginx:2');
    assert.equal(memo.size, 1);
  });

  it('holds at most twice its entries and drops the least recently used first', () => {
    const memo = new ReviewMemo(2);
    for (const t of ['a', 'b', 'c']) memo.remember(t, request(t), 1, t);
    // young {c}, old {a, b}: reading a moves it back to the young map
    assert.equal(memo.get('a')?.key, 'a');
    for (const t of ['d', 'e']) memo.remember(t, request(t), 1, t);
    assert.equal(memo.get('b'), undefined, 'b was not used since a, c and d came: dropped');
    for (const t of ['a', 'e']) assert.equal(memo.get(t)?.key, t);
    for (let i = 0; i < 100; i++) memo.remember(`n${i}`, request(`n${i}`), 1, `n${i}`);
    assert.ok(memo.size <= 4, `size ${memo.size}`);
  });

  it('freezes a remembered request: later reviews of the body share it', () => {
    const memo = new ReviewMemo();
    const r = { images: ['nginx:1'], annotations: { 'x.image-policy.k8s.io/y': 'z' }, namespace: 'default' };
    memo.remember('t', r, 1, 'k');
    assert.throws(() => (r.images as string[]).push('evil:1'), TypeError);
    assert.throws(() => { (r.annotations as Record<string, string>)['x'] = 'y'; }, TypeError);
    assert.throws(() => { (r as { namespace: string }).namespace = 'kube-system'; }, TypeError);
  });
});

describe('review memo in the server: the policy in force decides a remembered body', () => {
  const policyText = (registries: string) => `apiVersion: imagegate/v1
kind: Policy
registries: [${registries}]
cache:
  allowTTL: 5m
  denyTTL: 5m
rules:
  - name: tagged
    images: ["**"]
    requireDigest: false
`;
  const GEN1 = loadPolicyText(policyText('docker.io'), 'test', 1);
  const GEN2 = loadPolicyText(policyText('quay.io'), 'test', 2);
  let current = GEN1;
  const reviews = inProcessReviews(new Decider(), () => current);
  const { records, deps } = reviews;
  let url: string;

  before(async () => {
    url = await reviews.start();
  });
  after(() => reviews.stop());

  const body = imageReview(['nginx:1.27'], 'web');
  const decisions = () => records.filter((r) => r.event === 'decision');

  it('remembers a body only once its decision came from the cache, and answers the same from the memo', async () => {
    const first = await postReview(url, body);
    assert.equal(first.json().status.allowed, true);
    assert.equal(deps.reviewMemo.size, 0, 'a first (uncached) review is not remembered');
    const second = await postReview(url, body);
    assert.equal(deps.reviewMemo.size, 1, 'remembered on its first cache hit');
    const third = await postReview(url, body);
    assert.equal(second.body, first.body);
    assert.equal(third.body, first.body);
    const [r1, r2, r3] = decisions().slice(-3);
    assert.deepEqual([r1?.cache, r2?.cache, r3?.cache], ['miss', 'hit', 'hit']);
    for (const r of [r2, r3]) {
      assert.equal(r?.namespace, 'web');
      assert.deepEqual((r?.images as { normalized: string }[]).map((i) => i.normalized), ['docker.io/library/nginx:1.27']);
    }
  });

  it('decides a remembered body by the new policy after a reload', async () => {
    current = GEN2;
    const r = await postReview(url, body);
    assert.equal(r.status, 200);
    assert.equal(r.json().status.allowed, false, 'docker.io is no longer allowed under generation 2');
    assert.match(r.json().status.reason, /docker\.io/);
    const rec = decisions().at(-1);
    assert.equal(rec?.policyGeneration, 2);
    assert.equal(rec?.cache, 'miss');
    assert.equal(deps.reviewMemo.get(body)?.keyGeneration, 2, 'its key was made again for generation 2');
    current = GEN1;
    assert.equal((await postReview(url, body)).json().status.allowed, true);
  });

  it('refuses a body that differs from a remembered one, as it would without the memo', async () => {
    const broken = body.replace('"ImageReview"', '"ImageReviewX"');
    const r = await postReview(url, broken);
    assert.equal(r.status, 400);
    assert.match(r.body, /WRONG_KIND/);
  });
});
