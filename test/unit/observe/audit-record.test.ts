/**
 * decisionRecordJson (the review hot path's serialiser) must give exactly
 * JSON.stringify(buildDecisionRecord(...)): same keys, same order, same values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReviewDecision } from '../../../server/decision/decide-review';
import type { ImageVerdict } from '../../../server/decision/image-verdict';
import { buildDecisionRecord, decisionRecordJson, type RequestFacts } from '../../../server/observe/audit-record';

function verdict(over: Partial<ImageVerdict>): ImageVerdict {
  return {
    image: 'nginx:1.27', normalized: 'docker.io/library/nginx:1.27', digest: undefined, rule: 'tagged', allowed: true,
    step: 'verify', code: 'ALLOWED', detail: '', audited: false, failedOpen: false, brokeGlass: false, ...over,
  };
}

function decision(over: Partial<ReviewDecision>): ReviewDecision {
  return { allowed: true, reason: undefined, auditAnnotations: {}, images: [verdict({})], breakGlass: undefined, generation: 3, cacheHit: false, ...over };
}

const FACTS: RequestFacts[] = [
  { requestId: '4a1c2d6e-0000-4000-8000-000000000001', clientSubject: 'CN=kube-apiserver,O=system:masters', namespace: 'default', durationMs: 0.123456 },
  { requestId: 'x', clientSubject: undefined, namespace: '', durationMs: 12 },
  { requestId: 'y', clientSubject: 'CN="quoted" \\ back\nslash', namespace: 'ns-ünïcode', durationMs: 1e-7 },
  { requestId: 'z', clientSubject: 'CN=a', namespace: 'kube-system', durationMs: Number.NaN },
];

const DECISIONS: Record<string, ReviewDecision> = {
  allowed: decision({}),
  denied: decision({
    allowed: false,
    reason: 'nginx (docker.io/library/nginx:latest) denied by rule "tagged": allowLatest: "latest" is not allowed; use a version tag',
    images: [verdict({ image: 'nginx', normalized: 'docker.io/library/nginx:latest', allowed: false, step: 'allowLatest', code: 'LATEST_NOT_ALLOWED', detail: 'allowLatest: "latest" is not allowed' })],
  }),
  twoImagesOneInvalid: decision({
    allowed: false,
    reason: 'UPPER/x:1 denied: invalid',
    images: [verdict({}), verdict({ image: 'UPPER/x:1', normalized: undefined, rule: undefined, allowed: false, step: 'reference', code: 'INVALID_REFERENCE', detail: 'invalid' })],
  }),
  auditedBreakGlass: decision({
    breakGlass: 'incident 42: "registry down"',
    auditAnnotations: { 'audit-violation-0': 'x would be denied', 'break-glass': 'incident 42', 'audit-required': 'true' },
    images: [
      verdict({ digest: `sha256:${'a'.repeat(64)}`, audited: true, step: 'requireDigest', code: 'DIGEST_REQUIRED', detail: 'pin it' }),
      verdict({ image: 'b:1', brokeGlass: true, step: 'verify', code: 'LOOKUPS_SKIPPED', detail: 'lookups skipped' }),
      verdict({ image: 'c:1', failedOpen: true, step: 'verify', code: 'CONNECTION_FAILED', detail: 'down' }),
    ],
  }),
  noImages: decision({ images: [] }),
};

describe('decisionRecordJson', () => {
  for (const [name, d] of Object.entries(DECISIONS)) {
    it(`equals JSON.stringify(buildDecisionRecord()) for a ${name} decision, miss and hit, any facts`, () => {
      for (const facts of FACTS) {
        for (const cacheHit of [false, true]) {
          const copy: ReviewDecision = { ...d, cacheHit }; // a cache hit is such a copy, sharing the verdicts
          assert.equal(decisionRecordJson(facts, copy), JSON.stringify(buildDecisionRecord(facts, copy)));
        }
      }
    });
  }

  it('does not reuse the parts of another decision that shares the verdict list', () => {
    const d = DECISIONS.denied!;
    const facts = FACTS[0]!;
    decisionRecordJson(facts, d);
    for (const other of [{ ...d, generation: 4 }, { ...d, allowed: true, reason: undefined }, { ...d, breakGlass: 'why' }, { ...d, auditAnnotations: { a: 'b' } }]) {
      assert.equal(decisionRecordJson(facts, other), JSON.stringify(buildDecisionRecord(facts, other)));
    }
  });

  it('equals JSON.stringify(buildDecisionRecord()) over generated hostile strings (seeded)', () => {
    // Quotes, backslashes, control characters, non-ASCII, lone surrogates, U+2028: every string
    // field of the record, in decisions with 0-3 images and every verdict flag.
    let seed = 0x1badb002;
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\ud800', '\udfff', '\u2028', '/', ':', '@'];
    const text = () => Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join('');
    const maybe = () => (next() % 3 === 0 ? undefined : text());
    for (let n = 0; n < 500; n++) {
      const images = Array.from({ length: next() % 4 }, () =>
        verdict({
          image: text(), normalized: maybe(), digest: maybe(), rule: maybe(), allowed: next() % 2 === 0,
          code: next() % 2 === 0 ? 'ALLOWED' : 'RULE_DENIES', detail: text(),
          audited: next() % 4 === 0, failedOpen: next() % 4 === 0, brokeGlass: next() % 4 === 0,
        }));
      const annotations: Record<string, string> = {};
      for (let k = next() % 3; k > 0; k--) annotations[text()] = text();
      const d = decision({ allowed: next() % 2 === 0, reason: maybe(), breakGlass: maybe(), auditAnnotations: annotations, images, generation: next() % 1000, cacheHit: next() % 2 === 0 });
      const facts: RequestFacts = { requestId: text(), clientSubject: maybe(), namespace: text(), durationMs: (next() % 100000) / 7 };
      assert.equal(decisionRecordJson(facts, d), JSON.stringify(buildDecisionRecord(facts, d)));
    }
  });

  it('parses back to the record', () => {
    const facts = FACTS[0]!;
    const d = DECISIONS.auditedBreakGlass!;
    assert.deepEqual(JSON.parse(decisionRecordJson(facts, d)), JSON.parse(JSON.stringify(buildDecisionRecord(facts, d))));
  });
});
