/**
 * Tag resolution, limits, allowlist, single-flight and timeouts against a real
 * docker-registry (distribution 2.8) on 127.0.0.1, with images pushed by the real skopeo.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LookupError } from '../../server/errors';
import { parseReference } from '../../server/reference/parse';
import { createRegistryLookups } from '../../server/verify/lookups';
import { Decider } from '../../server/decision/decide-review';
import { rejectsWithCode } from './expect';
import { buildImage, buildMultiArchImage, pushImageAsync, registryDigest } from './images';
import { makePolicy, RecordingObserver } from './policies';
import { freePort, startRegistry, type RegistryPeer } from './registry-peer';

const never = new AbortController().signal;

describe('registry lookups against a real docker-registry', () => {
  let reg: RegistryPeer;
  let other: RegistryPeer;
  const oci = buildImage('tag resolution, OCI');
  const multi = buildMultiArchImage('multi-arch');

  before(async () => {
    reg = await startRegistry();
    other = await startRegistry();
    await pushImageAsync(oci, reg, 'demo/app:oci');
    await pushImageAsync(oci, reg, 'demo/app:docker', { format: 'v2s2' });
    await pushImageAsync(multi, reg, 'demo/app:multi', { all: true });
    await pushImageAsync(oci, other, 'elsewhere/app:v1');
  });
  after(async () => {
    await reg?.stop();
    await other?.stop();
  });

  const policyFor = (extra: Partial<Parameters<typeof makePolicy>[0]> = {}) =>
    makePolicy({ registries: [reg.host], plainHTTP: [reg.host], ...extra });

  describe('resolveTag', () => {
    it('returns the digest of an OCI manifest, as the registry serves it', async () => {
      const lookups = createRegistryLookups();
      try {
        const digest = await lookups.resolveTag(policyFor(), parseReference(`${reg.host}/demo/app:oci`), never);
        assert.equal(digest, oci.digest);
        assert.equal(digest, registryDigest(reg, 'demo/app:oci')); // skopeo's independent view
      } finally {
        await lookups.close();
      }
    });

    it('returns the digest of a Docker schema 2 manifest (a different digest from the OCI one)', async () => {
      const lookups = createRegistryLookups();
      try {
        const digest = await lookups.resolveTag(policyFor(), parseReference(`${reg.host}/demo/app:docker`), never);
        assert.equal(digest, registryDigest(reg, 'demo/app:docker'));
        assert.notEqual(digest, oci.digest);
      } finally {
        await lookups.close();
      }
    });

    it('returns the INDEX digest for a multi-arch tag, never a child manifest', async () => {
      const lookups = createRegistryLookups();
      try {
        const digest = await lookups.resolveTag(policyFor(), parseReference(`${reg.host}/demo/app:multi`), never);
        assert.equal(digest, multi.digest);
        assert.equal(digest, registryDigest(reg, 'demo/app:multi'));
        assert.ok(!multi.children.includes(digest));
      } finally {
        await lookups.close();
      }
    });

    it('fails with NOT_FOUND for a tag that does not exist', async () => {
      const lookups = createRegistryLookups();
      try {
        await rejectsWithCode(lookups.resolveTag(policyFor(), parseReference(`${reg.host}/demo/app:nope`), never), LookupError, 'NOT_FOUND');
      } finally {
        await lookups.close();
      }
    });

    it('answers from the tag cache the second time (one HEAD at the registry)', async () => {
      const observer = new RecordingObserver();
      const lookups = createRegistryLookups({ observer });
      const policy = policyFor();
      try {
        const before = (await reg.accessLog()).length;
        const ref = parseReference(`${reg.host}/demo/app:oci`);
        assert.equal(await lookups.resolveTag(policy, ref, never), oci.digest);
        assert.equal(await lookups.resolveTag(policy, ref, never), oci.digest);
        const seen = (await reg.accessLog()).slice(before);
        assert.deepEqual(seen.map((e) => `${e.method} ${e.path} ${e.status}`), [`HEAD /v2/demo/app/manifests/oci 200`]);
        assert.deepEqual(observer.caches, [{ cache: 'tag', hit: false }, { cache: 'tag', hit: true }]);
        assert.equal(observer.count('manifest', 'success'), 1);
        assert.equal(observer.count('tag', 'success'), 1);
      } finally {
        await lookups.close();
      }
    });

    it('shares one upstream request between concurrent identical lookups (counted at the registry)', async () => {
      const lookups = createRegistryLookups();
      const policy = policyFor();
      try {
        const before = (await reg.accessLog()).length;
        const ref = parseReference(`${reg.host}/demo/app:multi`);
        const results = await Promise.all(Array.from({ length: 20 }, () => lookups.resolveTag(policy, ref, never)));
        assert.ok(results.every((d) => d === multi.digest));
        const seen = (await reg.accessLog()).slice(before);
        assert.equal(seen.filter((e) => e.path === '/v2/demo/app/manifests/multi').length, 1, JSON.stringify(seen));
      } finally {
        await lookups.close();
      }
    });

    it('lets a review that gives up leave without cancelling the others sharing the request', async () => {
      const lookups = createRegistryLookups();
      const policy = policyFor();
      try {
        const ref = parseReference(`${reg.host}/demo/app:docker`);
        const impatient = new AbortController();
        const a = lookups.resolveTag(policy, ref, impatient.signal);
        const b = lookups.resolveTag(policy, ref, never);
        impatient.abort(new Error('review deadline'));
        await assert.rejects(a, /review deadline/);
        assert.equal(await b, registryDigest(reg, 'demo/app:docker'));
      } finally {
        await lookups.close();
      }
    });
  });

  describe('the registries allowlist', () => {
    it('never contacts a registry that is not listed (zero requests reach it)', async () => {
      const lookups = createRegistryLookups();
      const policy = makePolicy({ registries: [reg.host], plainHTTP: [reg.host], verifiers: { k: { publicKeys: [PUBLIC_KEY_PEM] } } });
      try {
        const before = (await other.accessLog()).length;
        const ref = parseReference(`${other.host}/elsewhere/app:v1`);
        await rejectsWithCode(lookups.resolveTag(policy, ref, never), LookupError, 'REGISTRY_NOT_ALLOWED_TO_CONTACT');
        await rejectsWithCode(lookups.verify(policy, 'k', ref, oci.digest, never), LookupError, 'REGISTRY_NOT_ALLOWED_TO_CONTACT');
        // And through the whole decision path: denied at the registry step.
        const decision = await new Decider({ lookups }).decide({ images: [`${other.host}/elsewhere/app:v1`], annotations: {}, namespace: 'default' }, policy);
        assert.equal(decision.allowed, false);
        assert.match(decision.reason ?? '', /is not in the allowed registries/);
        assert.equal((await other.accessLog()).length, before, 'the unlisted registry received a request');
      } finally {
        await lookups.close();
      }
    });
  });

  describe('timeouts (a TCP server that accepts and never answers)', () => {
    // The ONLY mock in the peer tests: a real registry cannot be made to hang on demand. It
    // stands for a registry that accepted the connection and then went silent.
    let hang: Server;
    let hangHost: string;
    const sockets: Socket[] = [];
    before(async () => {
      const port = await freePort();
      hang = createServer((s) => {
        sockets.push(s);
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => hang.listen(port, '127.0.0.1', () => r()));
      hangHost = `127.0.0.1:${port}`;
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hang.close(r));
    });

    const hangPolicy = (failurePolicy: 'open' | 'closed') =>
      makePolicy({
        registries: [hangHost],
        plainHTTP: [hangHost],
        lookupTimeout: '1s',
        reviewTimeout: '5s',
        failurePolicy,
        verifiers: { k: { publicKeys: [PUBLIC_KEY_PEM] } },
      });

    it('fails the lookup with LOOKUP_TIMEOUT after timeouts.lookup', async () => {
      const lookups = createRegistryLookups();
      try {
        const started = Date.now();
        const err = await rejectsWithCode(lookups.resolveTag(hangPolicy('closed'), parseReference(`${hangHost}/x/y:v1`), never), LookupError, 'LOOKUP_TIMEOUT');
        assert.match(err.message, /^registry timeout after 1s/);
        assert.ok(Date.now() - started < 4000);
      } finally {
        await lookups.close();
      }
    });

    it('denies with the timeout as the reason under failurePolicy: closed', async () => {
      const lookups = createRegistryLookups();
      try {
        const image = `${hangHost}/x/y@${oci.digest}`;
        const decision = await new Decider({ lookups }).decide({ images: [image], annotations: {}, namespace: 'default' }, hangPolicy('closed'));
        assert.equal(decision.allowed, false);
        assert.match(decision.reason ?? '', /denied by rule "peers": verifier "k": registry timeout after 1s/);
        assert.equal(decision.images[0]?.code, 'LOOKUP_TIMEOUT');
      } finally {
        await lookups.close();
      }
    });

    it('allows (and marks it failed open) under failurePolicy: open', async () => {
      const lookups = createRegistryLookups();
      const failedOpen: string[] = [];
      try {
        const image = `${hangHost}/x/y@${oci.digest}`;
        const decider = new Decider({
          lookups,
          observer: { imageDecided() {}, cacheUsed() {}, internalError() {}, failedOpen: (_i, _r, detail) => failedOpen.push(detail) },
        });
        const decision = await decider.decide({ images: [image], annotations: {}, namespace: 'default' }, hangPolicy('open'));
        assert.equal(decision.allowed, true);
        assert.equal(decision.images[0]?.failedOpen, true);
        assert.match(failedOpen[0] ?? '', /registry timeout after 1s/);
      } finally {
        await lookups.close();
      }
    });
  });
});

/** A valid P-256 public key that signed nothing here (for policies that need a verifier). */
const PUBLIC_KEY_PEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFNLqFhf4fiN6o/glAuYnq2jYUeL0
vRuLu/z39pmbVwS9ff5AYnlwaP9sxREajdLY9ynM6G1sy6AAmb7Z63TsLg==
-----END PUBLIC KEY-----`;
