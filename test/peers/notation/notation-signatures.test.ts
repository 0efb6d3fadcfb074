/**
 * Notation (Notary Project) verification against real signatures made by the real notation CLI
 * (v1, scripts/tools/build-notation.sh) on a real docker-registry (no referrers API, so notation
 * and imagegate both use the `sha256-<hex>` referrers tag schema). Every verdict is cross-checked
 * with `notation verify` under an equivalent trust policy and trust store. Tampered artefacts are
 * made from the real ones with plain registry uploads.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConfigError, VerificationError } from '../../../server/errors';
import { Decider } from '../../../server/decision/decide-review';
import { parseReference } from '../../../server/reference/parse';
import { createRegistryLookups, type RegistryLookups } from '../../../server/verify/lookups';
import { rejectsWithCode } from '../expect';
import { buildImage, pushImage, type BuiltLayout } from '../images';
import { startRegistry, type RegistryPeer } from '../registry-peer';
import {
  OCI_INDEX,
  OCI_MANIFEST,
  RELEASE,
  RELEASE_ID,
  getBlob,
  getRaw,
  never,
  notationPolicy,
  putBlob,
  putManifest,
  replaceEnvelope,
  setIndex,
  sha256,
  signatureOf,
  type NotationSpec,
} from './notation-harness';
import { makeCa, makeLeaf, makeSelfSigned, notationSign, notationVerify, notationVersion, requireNotation, type Ca, type SigningKey } from './notation-tool';

describe('notation signatures made by the real notation CLI', () => {
  let reg: RegistryPeer;
  let ca: Ca;
  let otherCa: Ca;
  let release: SigningKey;
  let stranger: SigningKey;
  let lookups: RegistryLookups;
  let expiringSignedAt = 0;
  const jws = buildImage('notation jws');
  const cose = buildImage('notation cose');
  const unsigned = buildImage('notation unsigned');
  const byOtherCa = buildImage('notation signed under an untrusted CA');
  const expiring = buildImage('notation signed with --expiry 1s');
  const victim = buildImage('notation: a signature for another image is pointed here');
  const flippedJws = buildImage('notation: jws envelope with a flipped byte');
  const flippedCose = buildImage('notation: cose envelope with a flipped byte');
  const garbage = buildImage('notation: referrers index pointing at garbage');
  const selfSigned = buildImage('notation: cose by a self-signed RSA certificate');
  let self: ReturnType<typeof makeSelfSigned>;

  before(async () => {
    requireNotation();
    reg = await startRegistry();
    ca = makeCa([['C', 'US'], ['ST', 'WA'], ['O', 'Acme'], ['CN', 'Acme Root CA']]);
    otherCa = makeCa([['C', 'US'], ['ST', 'WA'], ['O', 'Acme'], ['CN', 'Acme Root CA']]); // same name, other key
    release = makeLeaf(ca, RELEASE);
    stranger = makeLeaf(otherCa, RELEASE, 'rsa');
    self = makeSelfSigned([['C', 'US'], ['ST', 'WA'], ['L', 'Seattle'], ['O', 'Notary'], ['CN', 'test']]);
    const images: [BuiltLayout, string][] = [
      [jws, 'jws'], [cose, 'cose'], [unsigned, 'unsigned'], [byOtherCa, 'other-ca'], [expiring, 'expiring'],
      [victim, 'victim'], [flippedJws, 'flipped-jws'], [flippedCose, 'flipped-cose'], [garbage, 'garbage'], [selfSigned, 'self-signed'],
    ];
    for (const [img, tag] of images) pushImage(img, reg, `demo/app:${tag}`);
    // One at a time: concurrent pushes of the same (empty config) blob race in distribution 2.8.
    await notationSign(release, pinned(jws), { format: 'jws' });
    await notationSign(release, pinned(cose), { format: 'cose' });
    await notationSign(stranger, pinned(byOtherCa), { format: 'jws' });
    await notationSign(release, pinned(flippedJws), { format: 'jws' });
    await notationSign(release, pinned(flippedCose), { format: 'cose' });
    await notationSign(self, pinned(selfSigned), { format: 'cose' });
    await notationSign(release, pinned(expiring), { format: 'cose', expiry: '1s' });
    expiringSignedAt = Date.now();
    lookups = createRegistryLookups();
  });
  after(async () => {
    await lookups?.close();
    await reg?.stop();
  });

  const pinned = (img: BuiltLayout) => `${reg.host}/demo/app@${img.digest}`;
  const trusted = (extra: Partial<NotationSpec> = {}): NotationSpec => ({ trustStore: [ca.pem], trustedIdentities: [RELEASE_ID], ...extra });
  const verify = (spec: NotationSpec, img: BuiltLayout) => lookups.verify(notationPolicy(reg, spec), 'team', parseReference(pinned(img)), img.digest, never);
  const crossCheck = async (spec: NotationSpec, img: BuiltLayout) => {
    const r = await notationVerify(pinned(img), { trustStore: spec.trustStore, trustedIdentities: spec.trustedIdentities, ...(spec.level ? { level: spec.level } : {}) });
    if (process.env['NOTATION_DEBUG']) console.error(`--- notation verify ${img.tag} ${r.ok}\n${r.output}`);
    return r;
  };
  /** notation verify denies too, for the same reason (its --verbose failure text). */
  const notationDenies = async (spec: NotationSpec, img: BuiltLayout, reason: RegExp) => {
    const n = await crossCheck(spec, img);
    assert.equal(n.ok, false, n.output);
    assert.match(n.output, reason);
  };

  it('uses notation v1 (version reported by the binary)', () => {
    assert.match(notationVersion(), /^v1\./);
  });

  it('allows a JWS signature by a trusted CA and identity, as notation verify does', async () => {
    await verify(trusted(), jws);
    const n = await crossCheck(trusted(), jws);
    assert.ok(n.ok, n.output);
  });

  it('allows a COSE signature by a trusted CA and identity, as notation verify does', async () => {
    await verify(trusted(), cose);
    const n = await crossCheck(trusted(), cose);
    assert.ok(n.ok, n.output);
  });

  it('allows a COSE (PS256) signature by a self-signed certificate in the trust store, as notation verify does', async () => {
    // The identity omits L: like notation, every named attribute must match and the leaf may carry more.
    const spec = { trustStore: [self.pem], trustedIdentities: ['x509.subject: C=US, ST=WA, O=Notary, CN=test'] };
    await verify(spec, selfSigned);
    const n = await crossCheck(spec, selfSigned);
    assert.ok(n.ok, n.output);
  });

  it('matches the identity regardless of attribute order and spacing, never by substring', async () => {
    await verify(trusted({ trustedIdentities: ['x509.subject:CN=release,O=Acme ,  ST=WA,C=US'] }), jws);
    const n = await crossCheck(trusted({ trustedIdentities: ['x509.subject:CN=release,O=Acme ,  ST=WA,C=US'] }), jws);
    assert.ok(n.ok, n.output);
    const sub = trusted({ trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=releas'] });
    await rejectsWithCode(verify(sub, jws), VerificationError, 'UNTRUSTED_IDENTITY');
    await notationDenies(sub, jws, /does not match the X\.509 trusted identities/);
  });

  it('allows any identity from the trust store with "*"', async () => {
    await verify(trusted({ trustedIdentities: ['*'] }), cose);
    assert.ok((await crossCheck(trusted({ trustedIdentities: ['*'] }), cose)).ok);
  });

  it('denies an unsigned image with SIGNATURE_NOT_FOUND, as notation verify does', async () => {
    const err = await rejectsWithCode(verify(trusted(), unsigned), VerificationError, 'SIGNATURE_NOT_FOUND');
    assert.equal(err.message, `no notation signature found for ${unsigned.digest}`);
    await notationDenies(trusted(), unsigned, /no signature is associated/);
  });

  it('denies a signature whose chain leads to an untrusted CA (same CA name, other key)', async () => {
    const err = await rejectsWithCode(verify(trusted(), byOtherCa), VerificationError, 'UNTRUSTED_SIGNER');
    assert.equal(err.message, 'certificate chain does not lead to a trusted CA');
    await notationDenies(trusted(), byOtherCa, /certificate chain does not contain any trusted certificate/);
  });

  it('denies a trusted CA but an untrusted identity', async () => {
    const spec = trusted({ trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=someone-else'] });
    const err = await rejectsWithCode(verify(spec, jws), VerificationError, 'UNTRUSTED_IDENTITY');
    assert.equal(err.message, 'identity C=US, ST=WA, O=Acme, CN=release not trusted');
    await notationDenies(spec, jws, /does not match the X\.509 trusted identities/);
  });

  it('audit level ignores authenticity (untrusted CA allowed), as notation verify does', async () => {
    const spec = trusted({ level: 'audit' });
    await verify(spec, byOtherCa);
    const n = await crossCheck(spec, byOtherCa);
    assert.ok(n.ok, n.output);
    assert.match(n.output, /authenticity was set to "log"/);
  });

  it('denies an expired signature (--expiry 1s) under strict; permissive allows it, as notation verify does', async () => {
    const wait = expiringSignedAt + 1500 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const err = await rejectsWithCode(verify(trusted(), expiring), VerificationError, 'SIGNATURE_EXPIRED');
    assert.match(err.message, /^envelope expired at \d{4}-\d{2}-\d{2}T/);
    await notationDenies(trusted(), expiring, /expiry validation failed.*has expired/);
    const permissive = trusted({ level: 'permissive' });
    await verify(permissive, expiring);
    const n = await crossCheck(permissive, expiring);
    assert.ok(n.ok, n.output);
    assert.match(n.output, /expiry was set to "log"/);
  });

  it('denies a real signature pointed at another image (payload for another digest)', async () => {
    const { manifest } = await signatureOf(reg, 'demo/app', jws.digest);
    const size = (await getRaw(reg, 'demo/app', victim.digest, OCI_MANIFEST)).length;
    const copy = { ...manifest, subject: { mediaType: OCI_MANIFEST, digest: victim.digest, size } };
    const put = await putManifest(reg, 'demo/app', sha256(Buffer.from(JSON.stringify(copy))), copy, OCI_MANIFEST);
    await setIndex(reg, 'demo/app', victim.digest, [put]);
    const err = await rejectsWithCode(verify(trusted(), victim), VerificationError, 'DIGEST_MISMATCH');
    assert.equal(err.message, `signature is for ${jws.digest}, not ${victim.digest}`);
    await notationDenies(trusted(), victim, /content descriptor mismatch/);
  });

  it('denies a JWS envelope with a flipped signature byte', async () => {
    const { manifest } = await signatureOf(reg, 'demo/app', flippedJws.digest);
    const layer = (manifest['layers'] as { digest: string; mediaType: string }[])[0]!;
    const env = JSON.parse((await getBlob(reg, 'demo/app', layer.digest)).toString()) as Record<string, string>;
    const sig = Buffer.from(env['signature']!, 'base64url');
    sig[10] = (sig[10] as number) ^ 0x01;
    const tampered = Buffer.from(JSON.stringify({ ...env, signature: sig.toString('base64url') }));
    await replaceEnvelope(reg, 'demo/app', manifest, flippedJws.digest, tampered);
    const err = await rejectsWithCode(verify(trusted(), flippedJws), VerificationError, 'SIGNATURE_INVALID');
    assert.match(err.message, /JWS signature does not verify/);
    await notationDenies(trusted(), flippedJws, /integrity validation failed.*signature is invalid/);
  });

  it('denies a COSE envelope with a flipped payload byte', async () => {
    const { manifest } = await signatureOf(reg, 'demo/app', flippedCose.digest);
    const layer = (manifest['layers'] as { digest: string }[])[0]!;
    const bytes = Buffer.from(await getBlob(reg, 'demo/app', layer.digest));
    const at = bytes.indexOf('targetArtifact');
    assert.ok(at > 0);
    bytes[at + 2] = (bytes[at + 2] as number) ^ 0x01; // "targetArtifact" → "tasgetArtifact"
    await replaceEnvelope(reg, 'demo/app', manifest, flippedCose.digest, bytes);
    const err = await rejectsWithCode(verify(trusted(), flippedCose), VerificationError, 'SIGNATURE_INVALID');
    assert.match(err.message, /COSE signature does not verify/);
    await notationDenies(trusted(), flippedCose, /integrity validation failed.*signature is invalid/);
  });

  it('denies when the referrers index points at garbage (missing manifests, a plain image)', async () => {
    const junk = Buffer.from('{"this is":"not a manifest"}');
    const missing = { digest: await putBlob(reg, 'demo/app', junk), size: junk.length };
    const size = (await getRaw(reg, 'demo/app', garbage.digest, OCI_MANIFEST)).length;
    await setIndex(reg, 'demo/app', garbage.digest, [missing, { digest: garbage.digest, size }]);
    const err = await rejectsWithCode(verify(trusted(), garbage), VerificationError, 'SIGNATURE_INVALID');
    assert.match(err.message, /is not a notation signature manifest/);
    await notationDenies(trusted(), garbage, /unable to retrieve digital signature/);
  });

  it('examines at most maxSignatures signatures', async () => {
    // A referrer that is not a manifest first, the real signature second: a limit of 1 never reaches it.
    const real = await signatureOf(reg, 'demo/app', cose.digest);
    const realSize = (await getRaw(reg, 'demo/app', real.digest, OCI_MANIFEST)).length;
    const junk = Buffer.from('{"junk":1}');
    await setIndex(reg, 'demo/app', cose.digest, [{ digest: await putBlob(reg, 'demo/app', junk), size: junk.length }, { digest: real.digest, size: realSize }]);
    await rejectsWithCode(verify(trusted({ maxSignatures: 1 }), cose), VerificationError, 'SIGNATURE_INVALID');
    await verify(trusted({ maxSignatures: 2 }), cose);
  });

  it('decides whole reviews through the Decider: tag resolved and allowed, a denial names the failing check', async () => {
    const d = new Decider({ lookups });
    const ok = await d.decide({ images: [`${reg.host}/demo/app:jws`], annotations: {}, namespace: 'default' }, notationPolicy(reg, trusted()));
    assert.equal(ok.allowed, true, ok.reason);
    const image = `${reg.host}/demo/app:other-ca`;
    const denied = await d.decide({ images: [image], annotations: {}, namespace: 'default' }, notationPolicy(reg, trusted()));
    assert.equal(denied.allowed, false);
    assert.equal(denied.reason, `${image} denied by rule "peers": verifier "team": certificate chain does not lead to a trusted CA`);
  });

  describe('through the OCI referrers API (a stub in front of the registry serves it; the tag schema is hidden)', () => {
    let stub: Server;
    let host = '';
    const seen: string[] = [];
    before(async () => {
      stub = createServer((req, res) => {
        void (async () => {
          const url = req.url ?? '/';
          seen.push(`${req.method} ${url.split('?')[0]}`);
          const referrers = /^\/v2\/demo\/app\/referrers\/(sha256:[0-9a-f]{64})/.exec(url);
          if (referrers) {
            const tag = await fetch(`${reg.url}/v2/demo/app/manifests/${referrers[1]!.replace(':', '-')}`, { headers: { accept: OCI_INDEX } });
            const listed = tag.status === 200 ? ((await tag.json()) as { manifests: unknown[] }).manifests : [];
            // A non-notation referrer first (a cosign bundle type pointing at nothing): it must be skipped.
            const other = { mediaType: OCI_MANIFEST, digest: `sha256:${'b'.repeat(64)}`, size: 100, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' };
            res.writeHead(200, { 'content-type': OCI_INDEX });
            res.end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [other, ...listed] }));
            return;
          }
          if (/^\/v2\/demo\/app\/manifests\/sha256-/.test(url)) {
            res.writeHead(404, { 'content-type': 'application/json' });
            res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
            return;
          }
          const headers: Record<string, string> = {};
          if (req.headers.accept) headers['accept'] = req.headers.accept;
          const up = await fetch(`${reg.url}${url}`, { method: req.method ?? 'GET', headers });
          const out: Record<string, string> = {};
          for (const h of ['content-type', 'docker-content-digest', 'docker-distribution-api-version']) {
            const v = up.headers.get(h);
            if (v) out[h] = v;
          }
          const body = Buffer.from(await up.arrayBuffer());
          out['content-length'] = String(body.length);
          res.writeHead(up.status, out);
          res.end(req.method === 'HEAD' ? undefined : body);
        })().catch((err: unknown) => {
          res.writeHead(502);
          res.end(String(err));
        });
      });
      await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
      host = `127.0.0.1:${(stub.address() as AddressInfo).port}`;
    });
    after(async () => {
      await new Promise((r) => stub?.close(r));
    });

    const viaStub = (spec: NotationSpec, img: BuiltLayout) =>
      lookups.verify(notationPolicy({ host }, spec), 'team', parseReference(`${host}/demo/app@${img.digest}`), img.digest, never);

    it('allows a signed image found through the API', async () => {
      await viaStub(trusted(), jws);
      await viaStub(trusted(), cose);
      assert.ok(seen.some((s) => s.startsWith(`GET /v2/demo/app/referrers/${jws.digest}`)));
      assert.ok(!seen.some((s) => s.includes(`/manifests/sha256:${'b'.repeat(64)}`)), 'the non-notation referrer is never fetched');
    });

    it('denies an unsigned image and an untrusted signer found through the API', async () => {
      await rejectsWithCode(viaStub(trusted(), unsigned), VerificationError, 'SIGNATURE_NOT_FOUND');
      await rejectsWithCode(viaStub(trusted(), byOtherCa), VerificationError, 'UNTRUSTED_SIGNER');
    });
  });

  it('refuses a trusted identity without the mandatory C, ST, O at build (ConfigError on use)', async () => {
    await rejectsWithCode(verify(trusted({ trustedIdentities: ['x509.subject: CN=release'] }), jws), ConfigError, 'CONFIG_INVALID');
  });
});
