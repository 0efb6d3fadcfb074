/**
 * The notaryv1 verifier against a real notary-server + notary-signer (mTLS), behind Bearer token
 * auth, with trust data signed by the real `notary` client; verdicts cross-checked with
 * `notary lookup` pinned to the same root key (reference §4.8).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { VerificationError } from '../../../server/errors';
import { createNotaryV1Verifier } from '../../../server/verify/notaryv1/notaryv1-verifier';
import type { NotaryV1VerifierConfig } from '../../../server/policy/compiled-policy';
import { rejectsWithCode } from '../expect';
import { makeDelegationKey, notaryLookup, startNotaryPeer, type NotaryCli, type NotaryPeer } from '../notary-peer';
import { cachedRoot, notaryPolicy, randomDigestHex, ref, rootCertPem, rootKeyId, verifyContext, type NotaryPolicySpec } from './notary-fixtures';
import { tufKeyId } from '../../../server/verify/notaryv1/keys';
import { X509Certificate } from 'node:crypto';
import { createRegistryLookups } from '../../../server/verify/lookups';

const GUN = '127.0.0.1:5000/demo/app';
const REPO = '127.0.0.1:5000/demo/app';

describe('notaryv1 verifier against a real notary server behind token auth', () => {
  let peer: NotaryPeer;
  let owner: NotaryCli;
  let tufRootId: string;
  const v1 = randomDigestHex(); // in targets, tag v1
  const v2 = randomDigestHex(); // in targets/releases, tag v2
  const v3targets = randomDigestHex(); // tag v3 in targets
  const v3releases = randomDigestHex(); // tag v3 in targets/releases (Docker resolves this one)
  const unsigned = randomDigestHex();

  before(async () => {
    peer = await startNotaryPeer({ trustService: 'remote', tokenAuth: true });
    owner = peer.newClient();
    await owner.init(GUN);
    await owner.addHash(GUN, 'v1', v1, 527);
    await owner.addHash(GUN, 'v3', v3targets, 527);
    await owner.publish(GUN);
    const releases = makeDelegationKey(peer.dir, 'releases');
    await owner.importKey(releases.key, 'targets/releases');
    await owner.delegationAdd(GUN, 'targets/releases', releases.cert);
    await owner.publish(GUN);
    await owner.addHash(GUN, 'v2', v2, 1024, ['targets/releases']);
    await owner.addHash(GUN, 'v3', v3releases, 1024, ['targets/releases']);
    await owner.publish(GUN);
    tufRootId = rootKeyId(owner, GUN);
  });

  after(async () => {
    await peer?.stop();
  });

  function setup(overrides: Partial<NotaryPolicySpec> = {}) {
    const policy = notaryPolicy({ server: peer.url, caFiles: [peer.caCert], rootKeys: [{ keyID: tufRootId }], ...overrides });
    const config = policy.verifiers.get('dct') as NotaryV1VerifierConfig;
    const verifier = createNotaryV1Verifier('dct', config);
    const vc = verifyContext(policy);
    return { policy, verifier, ...vc };
  }

  describe('when the image is pinned by digest', () => {
    it('admits a digest signed as a target in targets, as notary lookup does', async () => {
      const { verifier, ctx, close } = setup();
      try {
        await verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx);
      } finally {
        await close();
      }
      const cross = await notaryLookup(peer, GUN, 'v1', tufRootId);
      assert.ok(cross.ok, cross.output);
      assert.match(cross.output, new RegExp(`sha256:${v1}`));
    });

    it('admits a digest signed only in the targets/releases delegation', async () => {
      const { verifier, ctx, close } = setup();
      try {
        await verifier.verify(ref(`${REPO}@sha256:${v2}`), `sha256:${v2}`, ctx);
      } finally {
        await close();
      }
      const cross = await notaryLookup(peer, GUN, 'v2', tufRootId);
      assert.ok(cross.ok, cross.output);
      assert.match(cross.output, new RegExp(`sha256:${v2}`));
    });

    it('denies a digest no trusted target carries with TARGET_NOT_FOUND naming the digest', async () => {
      const { verifier, ctx, close } = setup();
      try {
        const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${REPO}@sha256:${unsigned}`), `sha256:${unsigned}`, ctx), VerificationError, 'TARGET_NOT_FOUND');
        assert.match(err.message, new RegExp(`no trusted target for sha256:${unsigned}`));
      } finally {
        await close();
      }
      const cross = await notaryLookup(peer, GUN, 'nope', tufRootId);
      assert.equal(cross.ok, false);
    });

    it('ignores the tag of a reference that also carries a digest', async () => {
      const { verifier, ctx, close } = setup();
      try {
        await verifier.verify(ref(`${REPO}:v1@sha256:${v2}`), `sha256:${v2}`, ctx);
      } finally {
        await close();
      }
    });
  });

  describe('when the image is named by a tag and its digest was resolved in the registry', () => {
    it('admits the digest the tag is signed for', async () => {
      const { verifier, ctx, close } = setup();
      try {
        await verifier.verify(ref(`${REPO}:v1`), `sha256:${v1}`, ctx);
        await verifier.verify(ref(`${REPO}:v2`), `sha256:${v2}`, ctx);
      } finally {
        await close();
      }
    });

    it('denies a digest the tag is not signed for with DIGEST_MISMATCH, even if another tag signs it', async () => {
      const { verifier, ctx, close } = setup();
      try {
        const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${REPO}:v1`), `sha256:${v2}`, ctx), VerificationError, 'DIGEST_MISMATCH');
        assert.match(err.message, new RegExp(`tag v1 is signed in targets of ${GUN} for sha256:${v1}, not sha256:${v2}`));
      } finally {
        await close();
      }
    });

    it('resolves a tag in targets/releases before targets, as the Docker CLI does', async () => {
      const { verifier, ctx, close } = setup();
      try {
        await verifier.verify(ref(`${REPO}:v3`), `sha256:${v3releases}`, ctx);
        await rejectsWithCode(verifier.verify(ref(`${REPO}:v3`), `sha256:${v3targets}`, ctx), VerificationError, 'DIGEST_MISMATCH');
      } finally {
        await close();
      }
    });

    it('denies a tag that is not signed at all with TARGET_NOT_FOUND', async () => {
      const { verifier, ctx, close } = setup();
      try {
        const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${REPO}:latest`), `sha256:${v1}`, ctx), VerificationError, 'TARGET_NOT_FOUND');
        assert.match(err.message, /no trusted target for tag latest/);
      } finally {
        await close();
      }
    });
  });

  describe('when delegations are required', () => {
    it('admits only targets the listed delegation signed', async () => {
      const { verifier, ctx, close } = setup({ delegations: ['targets/releases'] });
      try {
        await verifier.verify(ref(`${REPO}@sha256:${v2}`), `sha256:${v2}`, ctx);
        const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'TARGET_NOT_FOUND');
        assert.match(err.message, /in targets\/releases/);
      } finally {
        await close();
      }
    });

    it('denies when a listed delegation does not exist', async () => {
      const { verifier, ctx, close } = setup({ delegations: ['targets/qa'] });
      try {
        await rejectsWithCode(verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'SIGNATURE_NOT_FOUND');
      } finally {
        await close();
      }
    });
  });

  describe('root pinning', () => {
    it('accepts the root pinned by notary canonical key id and by certificate PEM', async () => {
      const cert = new X509Certificate(rootCertPem(owner, GUN));
      const canonicalId = tufKeyId('ecdsa', cert.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'));
      assert.notEqual(canonicalId, tufRootId);
      for (const rootKeys of [[{ keyID: canonicalId }], [{ pem: rootCertPem(owner, GUN) }], [{ pem: cert.publicKey.export({ format: 'pem', type: 'spki' }).toString() }]]) {
        const { verifier, ctx, close } = setup({ rootKeys });
        try {
          await verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx);
        } finally {
          await close();
        }
      }
    });

    it('denies when no pinned key signs the root, with UNTRUSTED_SIGNER', async () => {
      const { verifier, ctx, close } = setup({ rootKeys: [{ keyID: randomDigestHex() }] });
      try {
        const err = await rejectsWithCode<VerificationError>(verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'UNTRUSTED_SIGNER');
        assert.match(err.message, /root is not signed by a pinned key/);
      } finally {
        await close();
      }
    });

    it('denies an image whose repository has no trust data with SIGNATURE_NOT_FOUND', async () => {
      const { verifier, ctx, close } = setup();
      try {
        await rejectsWithCode(verifier.verify(ref(`127.0.0.1:5000/demo/unsigned@sha256:${v1}`), `sha256:${v1}`, ctx), VerificationError, 'SIGNATURE_NOT_FOUND');
      } finally {
        await close();
      }
    });
  });

  describe('GUN mapping', () => {
    it('maps another repository name onto the GUN through the gun template', async () => {
      const { verifier, ctx, close } = setup({ gun: '127.0.0.1:5000/{path}' });
      try {
        await verifier.verify(ref(`mirror.example/demo/app@sha256:${v1}`), `sha256:${v1}`, ctx);
      } finally {
        await close();
      }
    });
  });

  describe('token auth, caching and single-flight', () => {
    it('asks the token realm for a pull token on the GUN for notary-server', () => {
      assert.ok(peer.tokenRequests.some((r) => r.service === 'notary-server' && r.scope.includes(`repository:${GUN}:pull`)), JSON.stringify(peer.tokenRequests));
    });

    it('answers a repeated verification from cache without contacting the server', async () => {
      const { verifier, ctx, reporter, close } = setup();
      try {
        await verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx);
        const fetched = reporter.get('signature');
        assert.ok(fetched >= 5, `root, 2.root, timestamp, snapshot, targets: ${fetched}`);
        await verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx);
        // Another digest of the same GUN within tagTTL: metadata reused, only the missing role is read.
        await verifier.verify(ref(`${REPO}@sha256:${v2}`), `sha256:${v2}`, ctx);
        assert.equal(reporter.get('signature'), fetched + 1, 'only targets/releases.json was fetched');
        assert.equal(reporter.get('token'), 1, 'one token for the whole GUN');
      } finally {
        await close();
      }
    });

    it('shares one update among concurrent verifications', async () => {
      const { verifier, ctx, reporter, close } = setup();
      try {
        await Promise.all([1, 2, 3, 4].map(() => verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx)));
        assert.equal(reporter.get('signature'), 5);
      } finally {
        await close();
      }
    });

    it('sees a target signed after the metadata was cached at once', async () => {
      const { verifier, ctx, close } = setup();
      const later = randomDigestHex();
      try {
        await verifier.verify(ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, ctx);
        await owner.addHash(GUN, 'later', later, 100);
        await owner.publish(GUN);
        await verifier.verify(ref(`${REPO}:later`), `sha256:${later}`, ctx);
      } finally {
        await close();
      }
    });
  });

  it('is reached through the lookups layer for a `type: notaryv1` verifier (build-verifiers registration)', async () => {
    const lookups = createRegistryLookups();
    const policy = notaryPolicy({ server: peer.url, caFiles: [peer.caCert], rootKeys: [{ keyID: tufRootId }] });
    try {
      // The notary server's host is not in `registries`: config.md lets the verifier contact it.
      assert.equal(policy.registryAllowed(peer.host), false);
      await lookups.verify(policy, 'dct', ref(`${REPO}@sha256:${v1}`), `sha256:${v1}`, AbortSignal.timeout(20_000));
      await rejectsWithCode(lookups.verify(policy, 'dct', ref(`${REPO}@sha256:${unsigned}`), `sha256:${unsigned}`, AbortSignal.timeout(20_000)), VerificationError, 'TARGET_NOT_FOUND');
    } finally {
      await lookups.close();
    }
  });

  it('reads the root key id from the real client cache as a 64-hex TUF id', () => {
    assert.match(tufRootId, /^[0-9a-f]{64}$/);
    assert.equal(cachedRoot(owner, GUN).signed.keys[tufRootId]?.keytype, 'ecdsa-x509');
  });
});
