import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeReview, parseReviewJson, MAX_IMAGES_PER_REVIEW } from '../../../server/imagereview/decode';
import { encodeReview } from '../../../server/imagereview/encode';
import { DecodeError } from '../../../server/errors';

const VECTORS = join(process.cwd(), 'test', 'vectors', 'imagereview');

function rejectsWith(raw: unknown, code: string) {
  assert.throws(
    () => decodeReview(raw),
    (err: unknown) => err instanceof DecodeError && err.code === code,
    `expected DecodeError ${code}`,
  );
}

const base = { kind: 'ImageReview', apiVersion: 'imagepolicy.k8s.io/v1alpha1' };

describe('decodeReview', () => {
  describe('with request bodies as the apiserver sends them', () => {
    for (const file of readdirSync(VECTORS).filter((f) => f.endsWith('.json'))) {
      it(`accepts ${file}`, () => {
        const req = decodeReview(parseReviewJson(readFileSync(join(VECTORS, file))));
        assert.ok(req.images.length > 0);
        assert.ok(req.namespace.length > 0);
      });
    }
    it('keeps images in order, duplicates included (contract.md §3)', () => {
      const req = decodeReview({ ...base, spec: { containers: [{ image: 'b' }, { image: 'a' }, { image: 'b' }], namespace: 'ns' } });
      assert.deepEqual(req.images, ['b', 'a', 'b']);
    });
    it('decodes escaped HTML characters in annotation values', () => {
      const req = decodeReview(parseReviewJson(readFileSync(join(VECTORS, 'derived-1.33-old-metadata.json'))));
      assert.equal(req.annotations['mycluster.image-policy.k8s.io/ticket-1234'], 'break-glass & more');
    });
    it('accepts missing containers and annotations (omitempty)', () => {
      const req = decodeReview({ ...base, spec: { namespace: 'x' } });
      assert.deepEqual(req.images, []);
      assert.deepEqual({ ...req.annotations }, {});
    });
    it('ignores status and unknown members', () => {
      const req = decodeReview({ ...base, spec: { containers: [{ image: 'x', name: 'ignored' }], namespace: 'n', future: 1 }, status: { allowed: true } });
      assert.deepEqual(req.images, ['x']);
    });
  });

  describe('with input that is not an ImageReview', () => {
    const rows: Array<[string, unknown, string]> = [
      ['a list', [], 'NOT_AN_OBJECT'],
      ['a string', 'x', 'NOT_AN_OBJECT'],
      ['null', null, 'NOT_AN_OBJECT'],
      ['no apiVersion', { kind: 'ImageReview', spec: {} }, 'WRONG_API_VERSION'],
      ['v1beta1 (does not exist)', { ...base, apiVersion: 'imagepolicy.k8s.io/v1beta1', spec: {} }, 'WRONG_API_VERSION'],
      ['admission.k8s.io/v1 AdmissionReview', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }, 'WRONG_API_VERSION'],
      ['apiVersion with different case', { ...base, apiVersion: 'ImagePolicy.k8s.io/v1alpha1', spec: {} }, 'WRONG_API_VERSION'],
      ['wrong kind', { ...base, kind: 'AdmissionReview', spec: {} }, 'WRONG_KIND'],
      ['no spec', { ...base }, 'MISSING_SPEC'],
      ['null spec', { ...base, spec: null }, 'MISSING_SPEC'],
      ['spec a string', { ...base, spec: 'x' }, 'INVALID_FIELD'],
      ['containers an object', { ...base, spec: { containers: { image: 'x' } } }, 'INVALID_FIELD'],
      ['container without image', { ...base, spec: { containers: [{}] } }, 'INVALID_FIELD'],
      ['empty image', { ...base, spec: { containers: [{ image: '' }] } }, 'INVALID_FIELD'],
      ['image a number', { ...base, spec: { containers: [{ image: 5 }] } }, 'INVALID_FIELD'],
      ['annotation value a number', { ...base, spec: { annotations: { 'a.image-policy.k8s.io/x': 1 } } }, 'INVALID_FIELD'],
      ['annotations a list', { ...base, spec: { annotations: [] } }, 'INVALID_FIELD'],
      ['namespace a number', { ...base, spec: { namespace: 3 } }, 'INVALID_FIELD'],
      ['too many containers', { ...base, spec: { containers: Array.from({ length: MAX_IMAGES_PER_REVIEW + 1 }, () => ({ image: 'x' })) } }, 'INVALID_FIELD'],
      ['an image longer than 4096 characters', { ...base, spec: { containers: [{ image: 'a'.repeat(5000) }] } }, 'INVALID_FIELD'],
    ];
    for (const [name, raw, code] of rows) it(`refuses ${name} with ${code}`, () => rejectsWith(raw, code));
  });
});

describe('parseReviewJson', () => {
  it('refuses malformed JSON with MALFORMED_JSON', () => {
    assert.throws(() => parseReviewJson('{"kind":'), (e: unknown) => e instanceof DecodeError && e.code === 'MALFORMED_JSON');
  });
  it('refuses an empty body with MALFORMED_JSON', () => {
    assert.throws(() => parseReviewJson(''), (e: unknown) => e instanceof DecodeError && e.code === 'MALFORMED_JSON');
  });
});

describe('encodeReview', () => {
  it('sets apiVersion and kind and omits an empty reason and annotations', () => {
    assert.deepEqual(encodeReview({ allowed: true, reason: undefined, auditAnnotations: {} }), {
      apiVersion: 'imagepolicy.k8s.io/v1alpha1',
      kind: 'ImageReview',
      status: { allowed: true },
    });
  });
  it('carries reason and audit annotations on deny', () => {
    const out = encodeReview({ allowed: false, reason: 'r', auditAnnotations: { 'audit-required': 'true' } });
    assert.equal(out.status.allowed, false);
    assert.equal(out.status.reason, 'r');
    assert.deepEqual(out.status.auditAnnotations, { 'audit-required': 'true' });
  });
});
