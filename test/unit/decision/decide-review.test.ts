import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Decider } from '../../../server/decision/decide-review';
import type { ImageLookups } from '../../../server/decision/ports';
import { loadPolicyText } from '../../../server/policy/load';
import { LookupError, VerificationError } from '../../../server/errors';
import type { ReviewRequest } from '../../../server/imagereview/wire-types';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const BG = 'imagegate.image-policy.k8s.io/break-glass';

function policy(yaml: string, generation = 1) {
  return loadPolicyText(`apiVersion: imagegate/v1\nkind: Policy\n${yaml}`, 'test', generation);
}
function review(images: string[], namespace = 'default', annotations: Record<string, string> = {}): ReviewRequest {
  return { images, namespace, annotations };
}

const BASE = `registries: [docker.io, ghcr.io, "*.gcr.io", "127.0.0.1:5000"]
rules:
  - name: system
    images: ["docker.io/library/*"]
    namespaces: ["kube-*"]
    requireDigest: false
    allowLatest: true
  - name: blocked
    images: ["docker.io/bad/**"]
    action: deny
  - name: pinned
    images: ["ghcr.io/acme/**"]
  - name: tagged
    images: ["docker.io/**", "*.gcr.io/**"]
    requireDigest: false
  - name: watch
    images: ["127.0.0.1:5000/audit/**"]
    requireDigest: true
    mode: audit
`;

describe('Decider.decide', () => {
  describe('in config.md evaluation order', () => {
    const p = policy(BASE);
    const rows: Array<[string, string, string, boolean, string | undefined, string]> = [
      // image, namespace, expected code, allowed, rule, why
      ['nginx:1.25', 'default', 'ALLOWED', true, 'tagged', 'docker.io/library/nginx falls through "system" (namespace) to "tagged"'],
      ['nginx', 'default', 'LATEST_NOT_ALLOWED', false, 'tagged', 'implied :latest'],
      ['nginx:latest', 'default', 'LATEST_NOT_ALLOWED', false, 'tagged', 'explicit :latest'],
      [`nginx@${DIGEST}`, 'default', 'ALLOWED', true, 'tagged', 'a digest is never "latest"'],
      ['nginx', 'kube-system', 'ALLOWED', true, 'system', 'first matching rule wins; it allows latest'],
      ['docker.io/bad/x:1', 'default', 'RULE_DENIES', false, 'blocked', 'action deny'],
      ['ghcr.io/acme/api:1.2', 'default', 'DIGEST_REQUIRED', false, 'pinned', 'requireDigest defaults to true'],
      [`ghcr.io/acme/api@${DIGEST}`, 'default', 'ALLOWED', true, 'pinned', 'pinned'],
      ['ghcr.io/other/x:1', 'default', 'NO_MATCHING_RULE', false, undefined, 'defaultAction deny'],
      ['quay.io/x/y:1', 'default', 'REGISTRY_NOT_ALLOWED', false, undefined, 'registry not listed'],
      ['docker.io.evil.com/library/nginx:1', 'default', 'REGISTRY_NOT_ALLOWED', false, undefined, 'docker.io.evil.com is not docker.io'],
      ['gcr.io/x/y:1', 'default', 'REGISTRY_NOT_ALLOWED', false, undefined, '*.gcr.io does not match gcr.io'],
      ['eu.gcr.io/x/y:1', 'default', 'ALLOWED', true, 'tagged', '*.gcr.io matches eu.gcr.io'],
      ['NGINX:1', 'default', 'INVALID_REFERENCE', false, undefined, 'uppercase repository'],
      ['nginx:1 ', 'default', 'INVALID_REFERENCE', false, undefined, 'trailing space'],
      ['127.0.0.1:5000/audit/app:1', 'default', 'DIGEST_REQUIRED', true, 'watch', 'audit mode allows but records'],
    ];
    for (const [image, ns, code, allowed, rule, why] of rows) {
      it(`${image} in ${ns} → ${code} (${why})`, async () => {
        const d = await new Decider().decide(review([image], ns), p);
        const v = d.images[0]!;
        assert.equal(v.code, code);
        assert.equal(v.allowed, allowed);
        assert.equal(v.rule, rule);
        assert.equal(d.allowed, allowed);
      });
    }
  });

  it('denies the review when any image is denied, naming every denied image with rule and step', async () => {
    const d = await new Decider().decide(review(['nginx:1', 'nginx', 'quay.io/a/b:1']), policy(BASE));
    assert.equal(d.allowed, false);
    assert.match(d.reason!, /^nginx \(docker\.io\/library\/nginx:latest\) denied by rule "tagged": allowLatest: .*; quay\.io\/a\/b:1 denied: registry "quay\.io" is not in the allowed registries/);
    assert.doesNotMatch(d.reason!, /nginx:1 /);
  });

  it('allows an empty image list (nothing will run)', async () => {
    const d = await new Decider().decide(review([]), policy(BASE));
    assert.equal(d.allowed, true);
  });

  it('returns audit annotations for audit-mode violations with valid keys', async () => {
    const d = await new Decider().decide(review(['127.0.0.1:5000/audit/app:1']), policy(BASE));
    assert.equal(d.allowed, true);
    assert.match(d.auditAnnotations['audit-violation-0']!, /would be denied by rule "watch": requireDigest/);
    assert.equal(d.auditAnnotations['audit-required'], 'true');
    for (const k of Object.keys(d.auditAnnotations)) {
      assert.ok(k.length <= 63 && !k.includes('/') && /^[A-Za-z0-9][-_.A-Za-z0-9]*[A-Za-z0-9]$/.test(k), k);
    }
  });

  describe('break-glass', () => {
    const p = policy(`${BASE}breakGlass:\n  enabled: true\n  annotation: ${BG}\n  namespaces: ["prod-*"]\n`);
    it('allows a violating review in a listed namespace and audits the justification', async () => {
      const d = await new Decider().decide(review(['nginx'], 'prod-a', { [BG]: 'INC-42 outage' }), p);
      assert.equal(d.allowed, true);
      assert.equal(d.breakGlass, 'INC-42 outage');
      assert.equal(d.auditAnnotations['break-glass'], 'INC-42 outage');
      assert.match(d.auditAnnotations['break-glass-override-0']!, /allowed by break-glass/);
    });
    it('does not apply in a namespace that is not listed', async () => {
      assert.equal((await new Decider().decide(review(['nginx'], 'dev', { [BG]: 'x' }), p)).allowed, false);
    });
    it('does not apply with an empty justification', async () => {
      assert.equal((await new Decider().decide(review(['nginx'], 'prod-a', { [BG]: '  ' }), p)).allowed, false);
    });
    it('does not apply when disabled', async () => {
      assert.equal((await new Decider().decide(review(['nginx'], 'prod-a', { [BG]: 'x' }), policy(BASE))).allowed, false);
    });
    it('records skipped lookups as LOOKUPS_SKIPPED, never as a missing signature', async () => {
      const pv = policy(`registries: [ghcr.io]
rules:
  - name: r
    images: ["ghcr.io/**"]
    requireDigest: false
    resolveTags: true
breakGlass:
  enabled: true
  annotation: ${BG}
  namespaces: ["prod"]
`);
      let called = 0;
      const l: ImageLookups = { resolveTag: async () => { called++; return DIGEST; }, verify: async () => {} };
      const d = await new Decider({ lookups: l }).decide(review(['ghcr.io/a:1'], 'prod', { [BG]: 'INC-9' }), pv);
      assert.equal(d.allowed, true);
      assert.equal(d.images[0]!.code, 'LOOKUPS_SKIPPED');
      assert.equal(d.images[0]!.brokeGlass, true);
      assert.equal(called, 0);
    });
    it('never admits an unparseable reference', async () => {
      const d = await new Decider().decide(review(['Bad Image'], 'prod-a', { [BG]: 'x' }), p);
      assert.equal(d.allowed, false);
      assert.equal(d.images[0]!.code, 'INVALID_REFERENCE');
    });
  });

  describe('with lookups', () => {
    const VERIFY = `registries: [ghcr.io]
failurePolicy: FP
rules:
  - name: signed
    images: ["ghcr.io/acme/**"]
    requireDigest: false
    resolveTags: true
verifiers: {}
`;
    function lookups(over: Partial<ImageLookups>): ImageLookups {
      return {
        resolveTag: async () => DIGEST,
        verify: async () => {},
        ...over,
      };
    }
    it('records the digest a tag resolved to', async () => {
      const d = await new Decider({ lookups: lookups({}) }).decide(review(['ghcr.io/acme/a:1']), policy(VERIFY.replace('FP', 'closed')));
      assert.equal(d.allowed, true);
      assert.equal(d.images[0]!.digest, DIGEST);
    });
    it('denies a failed lookup under failurePolicy closed', async () => {
      const l = lookups({ resolveTag: async () => { throw new LookupError('LOOKUP_TIMEOUT', 'registry timeout after 5s'); } });
      const d = await new Decider({ lookups: l }).decide(review(['ghcr.io/acme/a:1']), policy(VERIFY.replace('FP', 'closed')));
      assert.equal(d.allowed, false);
      assert.equal(d.images[0]!.code, 'LOOKUP_TIMEOUT');
      assert.match(d.reason!, /denied by rule "signed": resolveTags: registry timeout after 5s/);
    });
    it('allows a failed lookup under failurePolicy open, loudly', async () => {
      const seen: string[] = [];
      const l = lookups({ resolveTag: async () => { throw new LookupError('CONNECTION_FAILED', 'connection refused'); } });
      const observer = { imageDecided() {}, cacheUsed() {}, internalError() {}, failedOpen: (image: string) => seen.push(image) };
      const d = await new Decider({ lookups: l, observer }).decide(review(['ghcr.io/acme/a:1']), policy(VERIFY.replace('FP', 'open')));
      assert.equal(d.allowed, true);
      assert.deepEqual(seen, ['ghcr.io/acme/a:1']);
      assert.match(d.auditAnnotations['lookup-failed-open-0']!, /connection refused/);
    });
    it('never fails open on wrong evidence', async () => {
      const l = lookups({ resolveTag: async () => { throw new VerificationError('SIGNATURE_INVALID', 'bad'); } });
      const d = await new Decider({ lookups: l }).decide(review(['ghcr.io/acme/a:1']), policy(VERIFY.replace('FP', 'open')));
      assert.equal(d.allowed, false);
    });
    it('turns an unexpected exception into an INTERNAL_ERROR deny', async () => {
      const l = lookups({ resolveTag: async () => { throw new TypeError('boom'); } });
      const d = await new Decider({ lookups: l }).decide(review(['ghcr.io/acme/a:1']), policy(VERIFY.replace('FP', 'open')));
      assert.equal(d.allowed, false);
      assert.equal(d.images[0]!.code, 'INTERNAL_ERROR');
    });
    it('denies when the review deadline passes, even if a lookup never settles', async () => {
      const l = lookups({ resolveTag: () => new Promise<string>(() => {}) });
      const p = policy(`${VERIFY.replace('FP', 'closed')}timeouts:\n  review: 200ms\n  lookup: 100ms\n`);
      const d = await new Decider({ lookups: l }).decide(review(['ghcr.io/acme/a:1']), p);
      assert.equal(d.allowed, false);
      assert.equal(d.images[0]!.code, 'REVIEW_DEADLINE_EXCEEDED');
      assert.match(d.reason!, /review deadline of 200ms exceeded/);
    });
  });

  describe('decision cache', () => {
    it('serves a repeated review from the cache within a generation', async () => {
      const decider = new Decider();
      const p = policy(BASE);
      assert.equal((await decider.decide(review(['nginx:1']), p)).cacheHit, false);
      assert.equal((await decider.decide(review(['nginx:1']), p)).cacheHit, true);
    });
    it('serves a denied decision with the reason it was first answered with (the cache keeps it without one)', async () => {
      const decider = new Decider();
      const p = policy(BASE);
      const images = ['nginx:1', 'nginx', 'quay.io/a/b:1', 'nginx'];
      const fresh = await decider.decide(review(images), p);
      assert.equal(fresh.allowed, false);
      assert.match(fresh.reason!, /; quay\.io\/a\/b:1 denied: /);
      for (let i = 0; i < 2; i++) {
        const hit = await decider.decide(review(images), p);
        assert.equal(hit.cacheHit, true);
        assert.deepEqual({ ...hit, cacheHit: false }, fresh);
      }
      // An allowed decision has no reason, fresh or cached.
      await decider.decide(review(['nginx:1']), p);
      const allowedHit = await decider.decide(review(['nginx:1']), p);
      assert.equal(allowedHit.cacheHit, true);
      assert.equal(allowedHit.reason, undefined);
    });
    it('keeps a copy made when the decision is stored, not the answered decision and its verdicts', async () => {
      // BENCHMARKS.md item 25: objects built per review must not be the ones the cache keeps.
      const decider = new Decider();
      const p = policy(BASE);
      const images = ['nginx:1', 'quay.io/a/b:1'];
      const fresh = await decider.decide(review(images), p);
      const hit = await decider.decide(review(images), p);
      assert.equal(hit.cacheHit, true);
      assert.notEqual(hit.images, fresh.images);
      assert.equal(hit.images.length, fresh.images.length);
      hit.images.forEach((v, i) => {
        assert.notEqual(v, fresh.images[i]);
        assert.deepEqual(v, fresh.images[i]);
      });
      const allowedFresh = await decider.decide(review(['nginx:1']), p);
      const allowedHit = await decider.decide(review(['nginx:1']), p);
      assert.equal(allowedHit.cacheHit, true);
      assert.notEqual(allowedHit.images[0], allowedFresh.images[0]);
      assert.deepEqual({ ...allowedHit, cacheHit: false }, allowedFresh);
    });
    it('never serves a decision from an older generation', async () => {
      const decider = new Decider();
      assert.equal((await decider.decide(review(['nginx:1']), policy(BASE, 1))).allowed, true);
      const stricter = policy(BASE.replace(/name: tagged\n    images: \["docker.io\/\*\*", "\*.gcr.io\/\*\*"\]\n    requireDigest: false/, 'name: tagged\n    images: ["docker.io/**"]'), 2);
      const d = await decider.decide(review(['nginx:1']), stricter);
      assert.equal(d.cacheHit, false);
      assert.equal(d.allowed, false);
    });
    it('keys on namespace and the break-glass annotation', async () => {
      const decider = new Decider();
      const p = policy(`${BASE}breakGlass:\n  enabled: true\n  annotation: ${BG}\n  namespaces: ["prod"]\n`);
      assert.equal((await decider.decide(review(['nginx'], 'prod'), p)).allowed, false);
      assert.equal((await decider.decide(review(['nginx'], 'prod', { [BG]: 'INC-1' }), p)).allowed, true);
      assert.equal((await decider.decide(review(['nginx'], 'prod'), p)).allowed, false);
    });
    it('does not cache a deadline overrun', async () => {
      let calls = 0;
      const l: ImageLookups = { resolveTag: () => { calls++; return new Promise<string>(() => {}); }, verify: async () => {} };
      const p = policy(`registries: [ghcr.io]\nrules:\n  - name: r\n    images: ["ghcr.io/**"]\n    requireDigest: false\n    resolveTags: true\ntimeouts:\n  review: 100ms\n  lookup: 50ms\n`);
      const decider = new Decider({ lookups: l });
      await decider.decide(review(['ghcr.io/a:1']), p);
      await decider.decide(review(['ghcr.io/a:1']), p);
      assert.equal(calls, 2);
    });
  });
});

describe('the digest on a verdict', () => {
  it('keeps the digest a tag resolved to when verification then fails', async () => {
    const p = loadPolicyText(`apiVersion: imagegate/v1
kind: Policy
registries: [ghcr.io]
rules:
  - name: signed
    images: ["ghcr.io/acme/**"]
    requireDigest: false
    resolveTags: true
    verify: [k]
verifiers:
  k:
    type: cosign
    publicKeys:
      - pem: |
          -----BEGIN PUBLIC KEY-----
          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzWjoZjW1a2Ch5KW+wzL08wXn2bbO
          d0HfVz4BhQxIq3+1B4xOo6qVnSmsFqHyqa4S9yP6hEtplK2Vzi9W8V0pCw==
          -----END PUBLIC KEY-----
`, 'test', 1);
    const lookups: ImageLookups = {
      resolveTag: async () => DIGEST,
      verify: async () => { throw new VerificationError('SIGNATURE_NOT_FOUND', `no cosign signature found for ${DIGEST}`); },
    };
    const d = await new Decider({ lookups }).decide(review(['ghcr.io/acme/a:1']), p);
    assert.equal(d.allowed, false);
    assert.equal(d.images[0]!.digest, DIGEST);
    assert.equal(d.images[0]!.code, 'SIGNATURE_NOT_FOUND');
  });
});

describe('decision cache admission when full', () => {
  const SMALL = `registries: [docker.io, ghcr.io]
rules:
  - name: tagged
    images: ["docker.io/**"]
    requireDigest: false
  - name: resolved
    images: ["ghcr.io/**"]
    requireDigest: false
    resolveTags: true
cache:
  maxEntries: 2
`;
  const hit = async (decider: Decider, p: ReturnType<typeof policy>, image: string) => (await decider.decide(review([image]), p)).cacheHit;

  it('stores every decision while there is room', async () => {
    const decider = new Decider();
    const p = policy(SMALL);
    assert.equal(await hit(decider, p, 'a:1'), false);
    assert.equal(await hit(decider, p, 'b:1'), false);
    assert.equal(await hit(decider, p, 'a:1'), true);
    assert.equal(await hit(decider, p, 'b:1'), true);
  });

  it('stores a policy-only decision into a full cache on its second sight, evicting the oldest', async () => {
    const decider = new Decider();
    const p = policy(SMALL);
    await decider.decide(review(['a:1']), p);
    await decider.decide(review(['b:1']), p);
    assert.equal(await hit(decider, p, 'c:1'), false); // first sight: answered, not stored
    assert.equal(await hit(decider, p, 'a:1'), true); // so nothing was evicted for it
    assert.equal(await hit(decider, p, 'c:1'), false); // second sight: stored, a (the oldest) evicted
    assert.equal(await hit(decider, p, 'c:1'), true);
    assert.equal(await hit(decider, p, 'b:1'), true);
    assert.equal(await hit(decider, p, 'a:1'), false);
  });

  it('always stores a decision that needed lookups, evicting the oldest', async () => {
    let resolved = 0;
    const l: ImageLookups = { resolveTag: async () => { resolved++; return DIGEST; }, verify: async () => {} };
    const decider = new Decider({ lookups: l });
    const p = policy(SMALL);
    await decider.decide(review(['a:1']), p);
    await decider.decide(review(['b:1']), p);
    assert.equal(await hit(decider, p, 'ghcr.io/acme/api:1'), false);
    assert.equal(await hit(decider, p, 'ghcr.io/acme/api:1'), true);
    assert.equal(resolved, 1);
    assert.equal(await hit(decider, p, 'b:1'), true);
    assert.equal(await hit(decider, p, 'a:1'), false);
  });

  it('answers the same whether a decision is stored or not', async () => {
    const decider = new Decider();
    const p = policy(`${SMALL.replace('maxEntries: 2', 'maxEntries: 1')}`);
    await decider.decide(review(['a:1']), p);
    for (const image of ['docker.io/bad:1', 'quay.io/x:1', 'b:1', 'quay.io/x:1', 'docker.io/bad:1', 'b:1']) {
      const fresh = await new Decider().decide(review([image]), p);
      const d = await decider.decide(review([image]), p);
      assert.deepEqual({ ...d, cacheHit: false }, fresh, image);
    }
  });
});
