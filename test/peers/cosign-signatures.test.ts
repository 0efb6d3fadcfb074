/**
 * cosign verification against real signatures made by the real cosign (v2, built by
 * scripts/tools/build-cosign.sh) on a real docker-registry, with `cosign verify` as the
 * cross-check of every verdict it can express. Tampered artefacts are made from the real ones.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { LookupError, VerificationError } from '../../server/errors';
import { Decider } from '../../server/decision/decide-review';
import { parseReference } from '../../server/reference/parse';
import { createRegistryLookups, type RegistryLookups } from '../../server/verify/lookups';
import { cosignSignAsync, cosignVerify, cosignVersion, generateKeyPair, importKeyPair, requireCosign, type KeyPair } from './cosign-tool';
import { rejectsWithCode } from './expect';
import { buildImage, buildMultiArchImage, buildSignatureArtifact, pushImageAsync, putBlob, putManifest, skopeoAsync, type BuiltLayout } from './images';
import { RegistryClient } from '../../server/registry/registry-client';
import { closeRegistryContext, createRegistryContext } from '../../server/registry/registry-context';
import { PAYLOAD_MAX_BYTES } from '../../server/verify/cosign/cosign-verifier';
import { makePolicy, RecordingObserver, type CosignVerifierSpec, type PolicySpec } from './policies';
import { startRegistry, type RegistryPeer } from './registry-peer';

const never = new AbortController().signal;

describe('cosign signatures made by the real cosign', () => {
  let reg: RegistryPeer;
  let keys: KeyPair;
  let otherKeys: KeyPair;
  let lookups: RegistryLookups;
  const signed = buildImage('signed image');
  const unsigned = buildImage('unsigned image');
  const twice = buildImage('signed by two keys');
  const annotated = buildImage('signed with annotations');
  const bundled = buildImage('signed in the new bundle format');
  const victim = buildImage('a signature for another image is copied here');
  const tampered = buildImage('its payload is edited after signing');
  const moved = buildImage('the tag is moved away from this signed image');
  const multi = buildMultiArchImage('signed index');

  before(async () => {
    requireCosign();
    reg = await startRegistry();
    keys = generateKeyPair('first-password');
    otherKeys = generateKeyPair('second-password');
    for (const [img, tag] of [
      [signed, 'signed'], [unsigned, 'unsigned'], [twice, 'twice'], [annotated, 'annotated'], [bundled, 'bundled'],
      [victim, 'victim'], [tampered, 'tampered'], [moved, 'moved'],
    ] as [BuiltLayout, string][]) {
      await pushImageAsync(img, reg, `demo/app:${tag}`);
    }
    await pushImageAsync(multi, reg, 'demo/app:multi', { all: true });
    await cosignSignAsync(keys, pinned(signed));
    await cosignSignAsync(keys, pinned(twice));
    await cosignSignAsync(otherKeys, pinned(twice));
    await cosignSignAsync(keys, pinned(annotated), { annotations: { team: 'core', env: 'prod' } });
    await cosignSignAsync(keys, pinned(bundled), { newBundleFormat: true });
    await cosignSignAsync(keys, pinned(tampered));
    await cosignSignAsync(keys, pinned(moved));
    await cosignSignAsync(keys, `${reg.host}/demo/app@${multi.digest}`);
    lookups = createRegistryLookups();
  });
  const extraLookups: RegistryLookups[] = [];
  /** A Decider on its own lookups (closed after the suite). */
  const decider = () => {
    const l = createRegistryLookups();
    extraLookups.push(l);
    return new Decider({ lookups: l });
  };
  after(async () => {
    await lookups?.close();
    await Promise.all(extraLookups.map((l) => l.close()));
    await reg?.stop();
  });

  const pinned = (img: BuiltLayout, repo = 'demo/app') => `${reg.host}/${repo}@${img.digest}`;
  const policyWith = (v: Partial<CosignVerifierSpec> = {}, extra: Partial<PolicySpec> = {}) =>
    makePolicy({ registries: [reg.host], plainHTTP: [reg.host], verifiers: { team: { publicKeys: [keys.pub], ...v } }, ...extra });
  const verify = (policy: ReturnType<typeof policyWith>, img: BuiltLayout, repo = 'demo/app') =>
    lookups.verify(policy, 'team', parseReference(pinned(img, repo)), img.digest, never);

  it(`uses cosign ${'v2'} (version reported by the binary)`, () => {
    assert.match(cosignVersion(), /^v2\./);
  });

  it('allows an image signed with the configured key, as cosign verify does', async () => {
    await verify(policyWith(), signed);
    assert.ok((await cosignVerify(keys.pub, pinned(signed))).ok);
  });

  it('denies an unsigned image with SIGNATURE_NOT_FOUND, as cosign verify does', async () => {
    const err = await rejectsWithCode(verify(policyWith(), unsigned), VerificationError, 'SIGNATURE_NOT_FOUND');
    assert.equal(err.message, `no cosign signature found for ${unsigned.digest}`);
    assert.equal((await cosignVerify(keys.pub, pinned(unsigned))).ok, false);
  });

  it('denies a signature by a key that is not configured, as cosign verify does', async () => {
    const policy = policyWith({ publicKeys: [otherKeys.pub] });
    const err = await rejectsWithCode(verify(policy, signed), VerificationError, 'SIGNATURE_INVALID');
    assert.equal(err.message, 'no signature verifies with the configured keys (1 signature checked)');
    assert.equal((await cosignVerify(otherKeys.pub, pinned(signed))).ok, false);
  });

  it('accepts two signatures when one of them verifies', async () => {
    await verify(policyWith({ publicKeys: [otherKeys.pub] }), twice);
    await verify(policyWith({ publicKeys: [keys.pub] }), twice);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const err = await rejectsWithCode(verify(policyWith({ publicKeys: [stranger] }), twice), VerificationError, 'SIGNATURE_INVALID');
    assert.match(err.message, /\(2 signatures checked\)/);
    assert.ok((await cosignVerify(otherKeys.pub, pinned(twice))).ok);
  });

  it('accepts any one of several configured keys', async () => {
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await verify(policyWith({ publicKeys: [stranger, keys.pub] }), signed);
  });

  it('denies a signature copied from another image (payload for another digest)', async () => {
    // The real .sig of `signed` (payload and signature intact), uploaded as the .sig of `victim`.
    const entries = await readSignatureLayers(reg, signed.digest);
    await pushImageAsync(buildSignatureArtifact(entries, 'sig'), reg, `demo/app:${sigTag(victim.digest)}`);
    const err = await rejectsWithCode(verify(policyWith(), victim), VerificationError, 'DIGEST_MISMATCH');
    assert.equal(err.message, `payload is for ${signed.digest}, not ${victim.digest}`);
    assert.equal((await cosignVerify(keys.pub, pinned(victim))).ok, false);
  });

  it('denies a payload edited after signing (signature no longer verifies)', async () => {
    const [entry] = await readSignatureLayers(reg, tampered.digest);
    assert.ok(entry);
    const edited = Buffer.from(entry.payload.toString('utf8').replace('"optional":null', '"optional":{"team":"core"}'));
    assert.notDeepEqual(edited, entry.payload);
    await pushImageAsync(buildSignatureArtifact([{ payload: edited, signature: entry.signature }], 'sig'), reg, `demo/app:${sigTag(tampered.digest)}`);
    await rejectsWithCode(verify(policyWith(), tampered), VerificationError, 'SIGNATURE_INVALID');
    assert.equal((await cosignVerify(keys.pub, pinned(tampered))).ok, false);
  });

  it('denies when the tag is moved to an unsigned image after signing (resolveTags)', async () => {
    const image = `${reg.host}/demo/app:moved`;
    const before = await decider().decide({ images: [image], annotations: {}, namespace: 'default' }, policyWith());
    assert.equal(before.allowed, true, before.reason);
    assert.equal(before.images[0]?.digest, moved.digest);
    await pushImageAsync(unsigned, reg, 'demo/app:moved'); // the tag now points to the unsigned image
    const fresh = createRegistryLookups();
    try {
      const after = await new Decider({ lookups: fresh }).decide({ images: [image], annotations: {}, namespace: 'default' }, policyWith());
      assert.equal(after.allowed, false);
      // (decision/evaluate-image.ts drops the resolved digest from a denied verdict; the reason carries it.)
      assert.equal(after.reason, `${image} denied by rule "peers": verifier "team": no cosign signature found for ${unsigned.digest}`);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a payload blob larger than 1 MiB while streaming, even when its descriptor claims 300 bytes', async () => {
    const target = buildImage('its .sig has an oversized payload');
    await pushImageAsync(target, reg, 'demo/app:oversize');
    const [entry] = await readSignatureLayers(reg, signed.digest);
    assert.ok(entry);
    const huge = Buffer.concat([entry.payload, Buffer.alloc(2 * PAYLOAD_MAX_BYTES, 0x20)]);
    const blob = await putBlob(reg, 'demo/app', huge);
    const config = await putBlob(reg, 'demo/app', Buffer.from('{}'));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: blob, size: 300, annotations: { 'dev.cosignproject.cosign/signature': entry.signature } }],
    }));
    await putManifest(reg, 'demo/app', sigTag(target.digest), manifest);
    // The client refuses the body once it passes the cap (RESPONSE_TOO_LARGE) …
    const policy = policyWith();
    const ctx = createRegistryContext(policy);
    try {
      await rejectsWithCode(new RegistryClient(ctx, reg.host).getBlob('demo/app', blob, PAYLOAD_MAX_BYTES, never), LookupError, 'RESPONSE_TOO_LARGE');
    } finally {
      await closeRegistryContext(ctx);
    }
    // … and the verifier counts that layer as a signature that does not verify.
    await rejectsWithCode(verify(policy, target), VerificationError, 'SIGNATURE_INVALID');
  });

  describe('matchReference', () => {
    before(async () => {
      // The same image and its real signature, copied to another repository (a mirror).
      await skopeoAsync(['copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${pinned(signed)}`, `docker://${reg.host}/mirror/app@${signed.digest}`]);
      await skopeoAsync(['copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/demo/app:${sigTag(signed.digest)}`, `docker://${reg.host}/mirror/app:${sigTag(signed.digest)}`]);
    });

    it('is off by default: a copy in another repository verifies, as cosign verify --key does', async () => {
      await verify(policyWith(), signed, 'mirror/app');
      assert.ok((await cosignVerify(keys.pub, pinned(signed, 'mirror/app'))).ok);
    });

    it('when on, accepts the repository the payload names', async () => {
      await verify(policyWith({ matchReference: true }), signed);
    });

    it('when on, denies the copy in another repository with REFERENCE_MISMATCH', async () => {
      const err = await rejectsWithCode(verify(policyWith({ matchReference: true }), signed, 'mirror/app'), VerificationError, 'REFERENCE_MISMATCH');
      assert.equal(err.message, `payload is for the repository ${reg.host}/demo/app, not ${reg.host}/mirror/app`);
    });
  });

  describe('required annotations (cosign sign -a)', () => {
    it('accepts when every required annotation is in the payload with the same value', async () => {
      await verify(policyWith({ annotations: { team: 'core' } }), annotated);
      await verify(policyWith({ annotations: { team: 'core', env: 'prod' } }), annotated);
      assert.ok((await cosignVerify(keys.pub, pinned(annotated), { annotations: { team: 'core' } })).ok);
    });

    it('denies a different value with ANNOTATION_MISMATCH, as cosign verify -a does', async () => {
      await rejectsWithCode(verify(policyWith({ annotations: { team: 'web' } }), annotated), VerificationError, 'ANNOTATION_MISMATCH');
      assert.equal((await cosignVerify(keys.pub, pinned(annotated), { annotations: { team: 'web' } })).ok, false);
    });

    it('denies a missing annotation, and a signature that carries none', async () => {
      await rejectsWithCode(verify(policyWith({ annotations: { owner: 'x' } }), annotated), VerificationError, 'ANNOTATION_MISMATCH');
      await rejectsWithCode(verify(policyWith({ annotations: { team: 'core' } }), signed), VerificationError, 'ANNOTATION_MISMATCH');
    });
  });

  describe('multi-arch', () => {
    it("verifies the index's own signature", async () => {
      await verify(policyWith(), multi);
    });

    it('does not take the index signature for a child manifest (children are neither required nor sufficient)', async () => {
      const child = { ...multi, digest: multi.children[0] as string };
      await rejectsWithCode(verify(policyWith(), child), VerificationError, 'SIGNATURE_NOT_FOUND');
    });
  });

  describe('the cosign v3 bundle format (--new-bundle-format, referrers tag schema on distribution 2.8)', () => {
    it('verifies a Sigstore bundle signature found through the referrers fallback', async () => {
      await verify(policyWith(), bundled);
    });

    it('denies it with a key that did not sign', async () => {
      await rejectsWithCode(verify(policyWith({ publicKeys: [otherKeys.pub] }), bundled), VerificationError, 'SIGNATURE_INVALID');
    });

    it('cannot satisfy matchReference (the statement names no repository): denied, not passed', async () => {
      await rejectsWithCode(verify(policyWith({ matchReference: true }), bundled), VerificationError, 'REFERENCE_MISMATCH');
    });
  });

  describe('key types cosign signs with (imported with cosign import-key-pair)', () => {
    const signWithImported = async (label: string, privatePem: string) => {
      const imported = importKeyPair(privatePem);
      const img = buildImage(`signed with ${label}`);
      await pushImageAsync(img, reg, `keys/app:${label.replace(/\W+/g, '-').toLowerCase()}`);
      const ref = `${reg.host}/keys/app@${img.digest}`;
      await cosignSignAsync(imported, ref);
      const policy = makePolicy({ registries: [reg.host], plainHTTP: [reg.host], verifiers: { team: { publicKeys: [imported.pub] } } });
      return { imported, img, ref, policy };
    };

    it('verifies ECDSA P-384 (cosign 2.6 signs it with SHA-384)', async () => {
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const { imported, img, ref, policy } = await signWithImported('ECDSA P-384', pem);
      assert.ok((await cosignVerify(imported.pub, ref, { digestAlgorithm: 'sha384' })).ok, 'cosign verify --signature-digest-algorithm sha384 agrees');
      await lookups.verify(policy, 'team', parseReference(ref), img.digest, never);
      await rejectsWithCode(lookups.verify(policyWith(), 'team', parseReference(ref), img.digest, never), VerificationError, 'SIGNATURE_INVALID');
    });

    it('verifies RSA 2048 (PKCS#1 v1.5, SHA-256)', async () => {
      const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      const { imported, img, ref, policy } = await signWithImported('RSA 2048', pem);
      assert.ok((await cosignVerify(imported.pub, ref)).ok, 'cosign verify agrees');
      await lookups.verify(policy, 'team', parseReference(ref), img.digest, never);
    });

    it("denies cosign 2.6's Ed25519ph signature, exactly as cosign verify --key does (pure Ed25519 only)", async () => {
      const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const { imported, img, ref, policy } = await signWithImported('Ed25519', pem);
      // cosign 2.6 signs Ed25519 keys with Ed25519ph (pkg/cosign/keys.go GetDefaultLoadOptions) but
      // verifies with pure Ed25519 (LoadVerifier): its own cross-check refuses the signature.
      assert.equal((await cosignVerify(imported.pub, ref)).ok, false);
      await rejectsWithCode(lookups.verify(policy, 'team', parseReference(ref), img.digest, never), VerificationError, 'SIGNATURE_INVALID');
    });

    it('verifies a pure Ed25519 signature over the simple-signing payload (older cosign, KMS keys)', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const img = buildImage('signed with pure Ed25519');
      await pushImageAsync(img, reg, 'keys/app:ed25519-pure');
      const payload = Buffer.from(JSON.stringify({
        critical: { identity: { 'docker-reference': `${reg.host}/keys/app` }, image: { 'docker-manifest-digest': img.digest }, type: 'cosign container image signature' },
        optional: null,
      }));
      const signature = sign(null, payload, privateKey).toString('base64');
      await pushImageAsync(buildSignatureArtifact([{ payload, signature }], 'sig'), reg, `keys/app:${sigTag(img.digest)}`);
      const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const policy = makePolicy({ registries: [reg.host], plainHTTP: [reg.host], verifiers: { team: { publicKeys: [pub] } } });
      await lookups.verify(policy, 'team', parseReference(`${reg.host}/keys/app@${img.digest}`), img.digest, never);
    });
  });

  describe('caching and round trips', () => {
    it('needs 2 registry round trips for a cold digest-pinned verification, 0 when warm', async () => {
      const observer = new RecordingObserver();
      const own = createRegistryLookups({ observer });
      const policy = policyWith();
      try {
        const before = (await reg.accessLog()).length;
        await own.verify(policy, 'team', parseReference(pinned(signed)), signed.digest, never);
        const cold = (await reg.accessLog()).slice(before);
        assert.deepEqual(cold.map((e) => `${e.method} ${e.path.replace(/[0-9a-f]{64}/g, 'H')} ${e.status}`), [
          'GET /v2/demo/app/manifests/sha256-H.sig 200',
          'GET /v2/demo/app/blobs/sha256:H 200',
        ]);
        await own.verify(policy, 'team', parseReference(pinned(signed)), signed.digest, never);
        assert.equal((await reg.accessLog()).length, before + cold.length);
        assert.deepEqual(observer.caches, [{ cache: 'verify', hit: false }, { cache: 'verify', hit: true }]);
        assert.equal(observer.count('signature', 'success'), 1);
      } finally {
        await own.close();
      }
    });

    it('keeps a verification failure only for denyTTL, and a new policy generation starts afresh', async () => {
      const own = createRegistryLookups();
      const policy = policyWith({}, { denyTTL: '1s' });
      try {
        const ref = parseReference(pinned(unsigned));
        const count = async () => (await reg.accessLog()).length;
        await rejectsWithCode(own.verify(policy, 'team', ref, unsigned.digest, never), VerificationError, 'SIGNATURE_NOT_FOUND');
        const afterFirst = await count();
        await rejectsWithCode(own.verify(policy, 'team', ref, unsigned.digest, never), VerificationError, 'SIGNATURE_NOT_FOUND');
        assert.equal(await count(), afterFirst, 'served from the cache within denyTTL');
        await new Promise((r) => setTimeout(r, 2100));
        await rejectsWithCode(own.verify(policy, 'team', ref, unsigned.digest, never), VerificationError, 'SIGNATURE_NOT_FOUND');
        assert.ok((await count()) > afterFirst, 'looked up again after denyTTL');
      } finally {
        await own.close();
      }
    });

    it('shares one upstream request between 10 concurrent cold verifications (counted at the registry)', async () => {
      const own = createRegistryLookups();
      const policy = policyWith();
      try {
        const before = (await reg.accessLog()).length;
        const ref = parseReference(pinned(twice));
        await Promise.all(Array.from({ length: 10 }, () => own.verify(policy, 'team', ref, twice.digest, never)));
        const seen = (await reg.accessLog()).slice(before);
        assert.equal(seen.filter((e) => e.path.endsWith('.sig')).length, 1, JSON.stringify(seen));
      } finally {
        await own.close();
      }
    });
  });

  describe('through the Decider (the full reason string)', () => {
    it('names the image, the rule, the verifier and the failure', async () => {
      const d = decider();
      const images = [pinned(signed), pinned(unsigned)];
      const decision = await d.decide({ images, annotations: {}, namespace: 'default' }, policyWith());
      assert.equal(decision.allowed, false);
      assert.equal(decision.reason, `${pinned(unsigned)} denied by rule "peers": verifier "team": no cosign signature found for ${unsigned.digest}`);
      assert.deepEqual(decision.images.map((v) => v.allowed), [true, false]);
    });

    it('is never let through by failurePolicy: open when the evidence is wrong', async () => {
      const d = decider();
      const decision = await d.decide({ images: [pinned(victim)], annotations: {}, namespace: 'default' }, policyWith({}, { failurePolicy: 'open' }));
      assert.equal(decision.allowed, false);
      assert.match(decision.reason ?? '', /payload is for sha256:[0-9a-f]{64}, not sha256:/);
    });

    it('reports a verifier whose key file is missing as a configuration error, never an allow', async () => {
      const d = decider();
      const policy = policyWith({ publicKeys: ['/nonexistent/cosign.pub'] }, { failurePolicy: 'open' });
      const decision = await d.decide({ images: [pinned(signed)], annotations: {}, namespace: 'default' }, policy);
      assert.equal(decision.allowed, false);
      assert.match(decision.reason ?? '', /publicKeys\[0\].*ENOENT/);
    });
  });

  it('refuses a token-less http registry that is not in plainHTTP (https by default)', async () => {
    const policy = makePolicy({ registries: [reg.host], verifiers: { team: { publicKeys: [keys.pub] } } });
    await rejectsWithCode(lookups.verify(policy, 'team', parseReference(pinned(signed)), signed.digest, never), LookupError, 'CONNECTION_FAILED');
  });

  it('reads the public key from inline PEM as well as from a file', async () => {
    await verify(policyWith({ publicKeys: [readFileSync(keys.pub, 'utf8')] }), signed);
  });
});

function sigTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** Reads the `.sig` layers (payload bytes and signature annotation) with plain HTTP, independently of imagegate. */
async function readSignatureLayers(reg: RegistryPeer, digest: string): Promise<{ payload: Buffer; signature: string }[]> {
  const res = await fetch(`${reg.url}/v2/demo/app/manifests/${sigTag(digest)}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200);
  const manifest = (await res.json()) as { layers: { digest: string; annotations: Record<string, string> }[] };
  return Promise.all(
    manifest.layers.map(async (l) => ({
      payload: Buffer.from(await (await fetch(`${reg.url}/v2/demo/app/blobs/${l.digest}`)).arrayBuffer()),
      signature: l.annotations['dev.cosignproject.cosign/signature'] as string,
    })),
  );
}
