/**
 * The notaryv1 verifier against a notary-server that holds its own keys (trust_service local:
 * Ed25519 timestamp key, method eddsa; no auth), and across a real root key rotation made with
 * `notary key rotate <gun> root` (TUF client workflow 5.3: N+1.root.json signed by the old and
 * the new root keys).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { VerificationError } from '../../../server/errors';
import type { NotaryV1VerifierConfig } from '../../../server/policy/compiled-policy';
import { createNotaryV1Verifier } from '../../../server/verify/notaryv1/notaryv1-verifier';
import { rejectsWithCode } from '../expect';
import { notaryLookup, startNotaryPeer, type NotaryCli, type NotaryPeer } from '../notary-peer';
import { notaryPolicy, randomDigestHex, ref, rootKeyId, verifyContext, type NotaryPolicySpec } from './notary-fixtures';

const GUN = '127.0.0.1:5000/local/app';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function getJson(peer: NotaryPeer, path: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    request(`${peer.url}${path}`, { ca: readFileSync(peer.caCert) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined }));
    })
      .on('error', reject)
      .end();
  });
}

describe('notaryv1 verifier with a server-held Ed25519 timestamp key and a root rotation', () => {
  let peer: NotaryPeer;
  let owner: NotaryCli;
  let oldRootId: string;
  const v1 = randomDigestHex();

  before(async () => {
    peer = await startNotaryPeer({ trustService: 'local' });
    owner = peer.newClient();
    await owner.init(GUN);
    await owner.addHash(GUN, 'v1', v1, 300);
    await owner.publish(GUN);
    oldRootId = rootKeyId(owner, GUN);
  });

  after(async () => {
    await peer?.stop();
  });

  function setup(rootKeyIdPin: string, overrides: Partial<NotaryPolicySpec> = {}) {
    const policy = notaryPolicy({ server: peer.url, caFiles: [peer.caCert], rootKeys: [{ keyID: rootKeyIdPin }], ...overrides });
    return { verifier: createNotaryV1Verifier('dct', policy.verifiers.get('dct') as NotaryV1VerifierConfig), ...verifyContext(policy) };
  }

  it('verifies a timestamp signed with eddsa by the server\'s Ed25519 key', async () => {
    const ts = await getJson(peer, `/v2/${GUN}/_trust/tuf/timestamp.json`);
    assert.equal((ts.json as { signatures: { method: string }[] }).signatures[0]?.method, 'eddsa');
    const { verifier, ctx, close } = setup(oldRootId);
    try {
      await verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, ctx);
    } finally {
      await close();
    }
  });

  describe('after `notary key rotate <gun> root`', () => {
    let newRootId: string;
    let before1: ReturnType<typeof setup>;
    const v2 = randomDigestHex();

    before(async () => {
      // A verifier that trusted root version 1 before the rotation.
      before1 = setup(oldRootId, { tagTTL: '1s' });
      await before1.verifier.verify(ref(`${GUN}@sha256:${v1}`), `sha256:${v1}`, before1.ctx);
      await owner.rotateRoot(GUN);
      await owner.addHash(GUN, 'v2', v2, 300);
      await owner.publish(GUN);
      newRootId = rootKeyId(owner, GUN);
    });

    after(async () => {
      await before1?.close();
    });

    it('publishes root version 2 with a new root key', async () => {
      assert.notEqual(newRootId, oldRootId);
      assert.equal((await getJson(peer, `/v2/${GUN}/_trust/tuf/2.root.json`)).status, 200);
    });

    it('follows the rotation from the trusted root version 1 (N+1.root.json signed by old and new keys)', async () => {
      await sleep(1100); // past tagTTL: the cached metadata is updated
      await before1.verifier.verify(ref(`${GUN}@sha256:${v2}`), `sha256:${v2}`, before1.ctx);
    });

    it('bootstraps from 1.root.json when only the old root key is pinned', async () => {
      const { verifier, ctx, close } = setup(oldRootId);
      try {
        await verifier.verify(ref(`${GUN}@sha256:${v2}`), `sha256:${v2}`, ctx);
      } finally {
        await close();
      }
    });

    it('trusts the new root when its key is pinned, as notary lookup does', async () => {
      const { verifier, ctx, close } = setup(newRootId);
      try {
        await verifier.verify(ref(`${GUN}:v2`), `sha256:${v2}`, ctx);
      } finally {
        await close();
      }
      const cross = await notaryLookup(peer, GUN, 'v2', newRootId);
      assert.ok(cross.ok, cross.output);
      assert.match(cross.output, new RegExp(`sha256:${v2}`));
    });

    it('still refuses a pin that matches neither root', async () => {
      const { verifier, ctx, close } = setup(randomDigestHex());
      try {
        await rejectsWithCode(verifier.verify(ref(`${GUN}@sha256:${v2}`), `sha256:${v2}`, ctx), VerificationError, 'UNTRUSTED_SIGNER');
      } finally {
        await close();
      }
    });
  });
});
