/**
 * Attacks on Docker Content Trust, with real metadata from a real notary-server (+ notary-signer)
 * signed by the real `notary` client. Faults a real server cannot show (replayed old metadata,
 * another repository's files, modified bytes) are served by a tampering HTTPS proxy that only
 * replays or edits what the real server answered; an expired timestamp is seen with a clock the
 * test controls (notary-server has no setting for the timestamp's 14-day expiry).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LookupError, VerificationError } from '../../../server/errors';
import type { NotaryV1VerifierConfig } from '../../../server/policy/compiled-policy';
import { tufKeyId } from '../../../server/verify/notaryv1/keys';
import { createNotaryV1Verifier } from '../../../server/verify/notaryv1/notaryv1-verifier';
import { rejectsWithCode } from '../expect';
import { makeDelegationKey, notaryLookup, startNotaryPeer, type NotaryCli, type NotaryPeer } from '../notary-peer';
import { notaryPolicy, randomDigestHex, ref, rootKeyId, startTamperingProxy, verifyContext, type NotaryPolicySpec, type TamperingProxy } from './notary-fixtures';

const GUN = '127.0.0.1:5000/attack/app';
const OTHER = '127.0.0.1:5000/attack/other';
const DAY = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tuf = (gun: string) => `/v2/${gun}/_trust/tuf`;

describe('notaryv1 verifier under attack, with real notary metadata', () => {
  let peer: NotaryPeer;
  let proxy: TamperingProxy;
  let owner: NotaryCli;
  let rootId: string;
  let otherRootId: string;
  const v1 = randomDigestHex();

  before(async () => {
    peer = await startNotaryPeer({ trustService: 'remote' });
    proxy = await startTamperingProxy(peer);
    owner = peer.newClient();
    await owner.init(GUN);
    await owner.addHash(GUN, 'v1', v1, 527);
    await owner.publish(GUN);
    await owner.init(OTHER);
    await owner.addHash(OTHER, 'v1', v1, 527);
    await owner.publish(OTHER);
    rootId = rootKeyId(owner, GUN);
    otherRootId = rootKeyId(owner, OTHER);
  });

  after(async () => {
    await proxy?.close();
    await peer?.stop();
  });

  /** A verifier reading through the proxy (`direct`: straight from the server). */
  function setup(overrides: Partial<NotaryPolicySpec> = {}, now?: () => number, direct = false) {
    const policy = notaryPolicy({ server: direct ? peer.url : proxy.url, caFiles: [peer.caCert], rootKeys: [{ keyID: rootId }], ...overrides });
    const verifier = createNotaryV1Verifier('dct', policy.verifiers.get('dct') as NotaryV1VerifierConfig, now ? { now } : {});
    return { verifier, ...verifyContext(policy) };
  }

  it('denies a target that was removed and re-published, once the cached verdict expires', async () => {
    const gun = '127.0.0.1:5000/attack/removal';
    const d = randomDigestHex();
    await owner.init(gun);
    await owner.addHash(gun, 'v1', d, 100);
    await owner.publish(gun);
    const { verifier, ctx, close } = setup({ rootKeys: [{ keyID: rootKeyId(owner, gun) }], verifyTTL: '1s', tagTTL: '1s', denyTTL: '1s' }, undefined, true);
    try {
      await verifier.verify(ref(`${gun}@sha256:${d}`), `sha256:${d}`, ctx);
      await owner.remove(gun, 'v1');
      await owner.publish(gun);
      await sleep(1100);
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${gun}@sha256:${d}`), `sha256:${d}`, ctx), VerificationError, 'TARGET_NOT_FOUND');
      assert.match(err.message, new RegExp(`no trusted target for sha256:${d}`));
    } finally {
      await close();
    }
    const cross = await notaryLookup(peer, gun, 'v1', rootKeyId(owner, gun));
    assert.equal(cross.ok, false, cross.output);
  });

  it('denies when the timestamp has expired (the clock 15 days ahead of the 14-day timestamp)', async () => {
    const { verifier, ctx, close } = setup({}, () => Date.now() + 15 * DAY);
    try {
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'TRUST_METADATA_EXPIRED');
      assert.match(err.message, /^timestamp expired at \d{4}-\d\d-\d\dT/);
    } finally {
      await close();
    }
  });

  it('detects a rollback to older metadata replayed by the proxy', async () => {
    const { verifier, ctx, close } = setup();
    try {
      await verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx);
      const old = new Map([...proxy.served].filter(([p]) => p.startsWith(tuf(GUN))).map(([p, bodies]) => [p, bodies.at(-1)!]));
      const oldVersion = JSON.parse(old.get(`${tuf(GUN)}/timestamp.json`)!.toString()).signed.version as number;
      // The owner signs something new; the verifier sees it (and the newer versions).
      const newer = randomDigestHex();
      await owner.addHash(GUN, 'v2', newer, 100);
      await owner.publish(GUN);
      await verifier.verify(ref(`${GUN}@sha256:${newer}`), `sha256:${newer}`, ctx);
      // Now the proxy serves the old, validly signed files again.
      proxy.hook = (path, upstream) => (old.has(path) ? { ...upstream, status: 200, body: old.get(path)! } : undefined);
      const unsigned = randomDigestHex();
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${GUN}@sha256:${unsigned}`), `sha256:${unsigned}`, ctx), VerificationError, 'ROLLBACK_DETECTED');
      assert.match(err.message, new RegExp(`^timestamp version ${oldVersion} is older than ${oldVersion + 1} \\(rollback\\)`));
    } finally {
      proxy.hook = undefined;
      await close();
    }
  });

  it('refuses a root that no pinned key signs (another repository\'s root key pinned)', async () => {
    const { verifier, ctx, close } = setup({ rootKeys: [{ keyID: otherRootId }] });
    try {
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'UNTRUSTED_SIGNER');
      assert.match(err.message, /root is not signed by a pinned key/);
    } finally {
      await close();
    }
    const cross = await notaryLookup(peer, GUN, 'v1', otherRootId);
    assert.equal(cross.ok, false, cross.output);
  });

  it('refuses another repository\'s trust data served under this GUN, even with its root pinned', async () => {
    const { verifier, ctx, close } = setup({ rootKeys: [{ keyID: otherRootId }, { keyID: rootId }] });
    proxy.rewrite = (path) => path.replace(tuf(GUN), tuf(OTHER));
    try {
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'UNTRUSTED_SIGNER');
      assert.match(err.message, /no usable root certificate for GUN 127\.0\.0\.1:5000\/attack\/app .*CN "127\.0\.0\.1:5000\/attack\/other" is not the GUN/);
    } finally {
      proxy.rewrite = undefined;
      await close();
    }
  });

  describe('a delegation signed by a key its parent does not list', () => {
    const gun = '127.0.0.1:5000/attack/deleg';
    const signed = randomDigestHex();
    let early: ReturnType<typeof setup>;
    before(async () => {
      // Real workflow: the releases key is replaced in targets.json, but releases.json is not
      // re-signed (the new key's owner never published), so the server keeps serving a
      // releases.json signed by the old key.
      const oldKey = makeDelegationKey(peer.dir, 'releases-old');
      const newKey = makeDelegationKey(peer.dir, 'releases-new');
      await owner.init(gun);
      await owner.importKey(oldKey.key, 'targets/releases');
      await owner.delegationAdd(gun, 'targets/releases', oldKey.cert);
      await owner.publish(gun);
      await owner.addHash(gun, 'v2', signed, 100, ['targets/releases']);
      await owner.publish(gun);
      // A verifier that trusted targets/releases while its key was still the listed one.
      early = setup({ rootKeys: [{ keyID: rootKeyId(owner, gun) }], verifyTTL: '1s', tagTTL: '1s', denyTTL: '1s' }, undefined, true);
      await early.verifier.verify(ref(`${gun}@sha256:${signed}`), `sha256:${signed}`, early.ctx);
      const spki = new X509Certificate(readFileSync(oldKey.cert)).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
      await owner.delegationRemove(gun, 'targets/releases', tufKeyId('ecdsa', spki));
      await owner.delegationAdd(gun, 'targets/releases', newKey.cert);
      await owner.publish(gun);
    });

    it('denies when the delegation is required, naming the failed threshold', async () => {
      const { verifier, ctx, close } = setup({ rootKeys: [{ keyID: rootKeyId(owner, gun) }], delegations: ['targets/releases'] }, undefined, true);
      try {
        const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${gun}@sha256:${signed}`), `sha256:${signed}`, ctx), VerificationError, 'THRESHOLD_NOT_MET');
        assert.match(err.message, /^targets\/releases role signed by 0 of 1 required keys/);
      } finally {
        await close();
      }
      const cross = await notaryLookup(peer, gun, 'v2', rootKeyId(owner, gun));
      assert.equal(cross.ok, false, cross.output);
    });

    after(async () => {
      await early?.close();
    });

    it('denies it to a verifier that trusted the role before the key was replaced (nothing stale is reused)', async () => {
      await sleep(1100);
      const err = await rejectsWithCode<VerificationError>(early.verifier.verify(ref(`${gun}@sha256:${signed}`), `sha256:${signed}`, early.ctx), VerificationError, 'THRESHOLD_NOT_MET');
      assert.match(err.message, /^targets\/releases role signed by 0 of 1 required keys/);
    });

    it('denies when any delegation may sign: the search ends at the role that fails', async () => {
      const { verifier, ctx, close } = setup({ rootKeys: [{ keyID: rootKeyId(owner, gun) }] }, undefined, true);
      try {
        await rejectsWithCode(verifier.verify(ref(`${gun}@sha256:${signed}`), `sha256:${signed}`, ctx), VerificationError, 'THRESHOLD_NOT_MET');
      } finally {
        await close();
      }
    });
  });

  it('refuses targets.json whose target hash was swapped (the snapshot\'s hash no longer matches)', async () => {
    const wanted = randomDigestHex();
    const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
    proxy.hook = (path, upstream) =>
      path === `${tuf(GUN)}/targets.json` ? { ...upstream, body: Buffer.from(upstream.body.toString().replace(b64(v1), b64(wanted))) } : undefined;
    const { verifier, ctx, close } = setup();
    try {
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${GUN}@sha256:${wanted}`), `sha256:${wanted}`, ctx), VerificationError, 'TRUST_METADATA_INVALID');
      assert.match(err.message, /^targets\.json of .* does not match the sha256 and length snapshot lists for it/);
    } finally {
      proxy.hook = undefined;
      await close();
    }
  });

  it('refuses a timestamp whose signed content was modified', async () => {
    proxy.hook = (path, upstream) =>
      path === `${tuf(GUN)}/timestamp.json` ? { ...upstream, body: Buffer.from(upstream.body.toString().replace(/"expires":"\d{4}/, '"expires":"2999')) } : undefined;
    const { verifier, ctx, close } = setup();
    try {
      const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'THRESHOLD_NOT_MET');
      assert.match(err.message, /^timestamp role signed by 0 of 1 required keys/);
    } finally {
      proxy.hook = undefined;
      await close();
    }
  });

  it('refuses a timestamp larger than its byte cap', async () => {
    proxy.hook = (path, upstream) => (path === `${tuf(GUN)}/timestamp.json` ? { ...upstream, body: Buffer.alloc(20_000, 0x20) } : undefined);
    const { verifier, ctx, close } = setup();
    try {
      await rejectsWithCode(verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx), LookupError, 'RESPONSE_TOO_LARGE');
    } finally {
      proxy.hook = undefined;
      await close();
    }
  });

  it('still admits the signed image through the proxy when nothing is tampered with', async () => {
    const { verifier, ctx, close } = setup();
    try {
      await verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx);
    } finally {
      await close();
    }
  });
});
