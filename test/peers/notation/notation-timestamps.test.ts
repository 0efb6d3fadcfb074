/**
 * RFC 3161 timestamp countersignatures made by the real notation CLI (`notation sign
 * --timestamp-url … --timestamp-root-cert …`) against a real TSA (OpenSSL's `openssl ts -reply`
 * behind tsa-peer.ts), on a real docker-registry. Every verdict is cross-checked with
 * `notation verify` under a trust policy with an equivalent `tsa:` trust store and
 * `verifyTimestamp`.
 *
 * The expired-certificate cases use a signing certificate that really expires while the suite
 * runs (notAfter ~25 s after it is issued, `openssl ca -enddate`), so that imagegate and
 * notation both judge it with the real clock: notation has no clock to inject. Those cases run
 * last and wait for the expiry; the frozen vectors (test/unit/verify/notation/frozen-vectors)
 * cover the same rules offline with an injected clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VerificationError } from '../../../server/errors';
import { parseReference } from '../../../server/reference/parse';
import { createRegistryLookups, type RegistryLookups } from '../../../server/verify/lookups';
import { rejectsWithCode } from '../expect';
import { buildImage, pushImage, type BuiltLayout } from '../images';
import { startRegistry, type RegistryPeer } from '../registry-peer';
import { RELEASE, RELEASE_ID, getBlob, never, notationPolicy, replaceEnvelope, signatureOf, type NotationSpec } from './notation-harness';
import { makeCa, makeLeaf, notationSign, notationVerify, requireNotation, type Ca, type SigningKey } from './notation-tool';
import { startTsa, type TsaPeer } from './tsa-peer';

const TSA_ACCURACY = 'secs:1, millisecs:500';
/** How long the expiring signing certificate lives after it is issued. */
const SHORT_LIFETIME_MS = 25_000;

describe('notation timestamp countersignatures (RFC 3161) from a real TSA', () => {
  let reg: RegistryPeer;
  let tsa: TsaPeer;
  let otherTsa: TsaPeer;
  let chainTsa: TsaPeer;
  let ca: Ca;
  let release: SigningKey;
  let shortLived: SigningKey;
  let shortLivedUntil = 0;
  let lookups: RegistryLookups;
  const stampedJws = buildImage('notation timestamp: jws stamped by the trusted TSA');
  const stampedCose = buildImage('notation timestamp: cose stamped by the trusted TSA');
  const plain = buildImage('notation timestamp: jws without a countersignature');
  const byOtherTsa = buildImage('notation timestamp: jws stamped by an untrusted TSA');
  const viaIntermediate = buildImage('notation timestamp: cose stamped by a TSA under an intermediate CA');
  const swapped = buildImage('notation timestamp: countersignature of another signature');
  const flipped = buildImage('notation timestamp: countersignature with a flipped byte');
  const expiringJws = buildImage('notation timestamp: jws by a certificate that expires');
  const expiringCose = buildImage('notation timestamp: cose by a certificate that expires');
  const expiringPlain = buildImage('notation timestamp: unstamped jws by a certificate that expires');

  before(async () => {
    requireNotation();
    reg = await startRegistry();
    tsa = await startTsa({ accuracy: TSA_ACCURACY });
    otherTsa = await startTsa({ accuracy: TSA_ACCURACY }); // same names, other keys
    chainTsa = await startTsa({ intermediate: true });
    const now = Date.now();
    // The CA must already be valid at genTime − accuracy: notation (and imagegate) require the
    // whole timestamp range inside every chain certificate's validity.
    ca = makeCa([['C', 'US'], ['ST', 'WA'], ['O', 'Acme'], ['CN', 'Acme Root CA']], 'rsa', { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 30 * 86_400_000) });
    release = makeLeaf(ca, RELEASE, 'ec', { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 10 * 86_400_000) });
    const images: [BuiltLayout, string][] = [
      [stampedJws, 'ts-jws'], [stampedCose, 'ts-cose'], [plain, 'ts-plain'], [byOtherTsa, 'ts-other'], [viaIntermediate, 'ts-chain'],
      [swapped, 'ts-swapped'], [flipped, 'ts-flipped'], [expiringJws, 'ts-exp-jws'], [expiringCose, 'ts-exp-cose'], [expiringPlain, 'ts-exp-plain'],
    ];
    for (const [img, tag] of images) pushImage(img, reg, `demo/app:${tag}`);
    const stamp = (t: TsaPeer) => ({ timestamp: { url: t.url, rootCert: t.rootCert } });
    // Signed first so that the wait for its expiry overlaps the other tests.
    shortLivedUntil = Math.floor((Date.now() + SHORT_LIFETIME_MS) / 1000) * 1000;
    shortLived = makeLeaf(ca, RELEASE, 'ec', { notBefore: new Date(now - 3_600_000), notAfter: new Date(shortLivedUntil) });
    await notationSign(shortLived, pinned(expiringJws), { format: 'jws', ...stamp(tsa) });
    await notationSign(shortLived, pinned(expiringCose), { format: 'cose', ...stamp(tsa) });
    await notationSign(shortLived, pinned(expiringPlain), { format: 'jws' });
    // One at a time: concurrent pushes of the same (empty config) blob race in distribution 2.8.
    await notationSign(release, pinned(stampedJws), { format: 'jws', ...stamp(tsa) });
    await notationSign(release, pinned(stampedCose), { format: 'cose', ...stamp(tsa) });
    await notationSign(release, pinned(plain), { format: 'jws' });
    await notationSign(release, pinned(byOtherTsa), { format: 'jws', ...stamp(otherTsa) });
    await notationSign(release, pinned(viaIntermediate), { format: 'cose', ...stamp(chainTsa) });
    await notationSign(release, pinned(swapped), { format: 'jws' });
    await notationSign(release, pinned(flipped), { format: 'jws', ...stamp(tsa) });
    lookups = createRegistryLookups();
  });
  after(async () => {
    await lookups?.close();
    await Promise.all([tsa?.stop(), otherTsa?.stop(), chainTsa?.stop()]);
    await reg?.stop();
  });

  const pinned = (img: BuiltLayout) => `${reg.host}/demo/app@${img.digest}`;
  const spec = (extra: Partial<NotationSpec> = {}): NotationSpec => ({ trustStore: [ca.pem], trustedIdentities: [RELEASE_ID], tsaStore: [tsa.rootPem], ...extra });
  const noTsa = (): NotationSpec => ({ trustStore: [ca.pem], trustedIdentities: [RELEASE_ID] });
  const verify = (s: NotationSpec, img: BuiltLayout) => lookups.verify(notationPolicy(reg, s), 'team', parseReference(pinned(img)), img.digest, never);
  const crossCheck = async (s: NotationSpec, img: BuiltLayout) => {
    const r = await notationVerify(pinned(img), {
      trustStore: s.trustStore,
      trustedIdentities: s.trustedIdentities,
      ...(s.level ? { level: s.level } : {}),
      ...(s.tsaStore ? { tsaStore: s.tsaStore } : {}),
      ...(s.verifyTimestamp ? { verifyTimestamp: s.verifyTimestamp } : {}),
    });
    if (process.env['NOTATION_DEBUG']) console.error(`--- notation verify ${img.tag} ${r.ok}\n${r.output}`);
    return r;
  };
  const notationAllows = async (s: NotationSpec, img: BuiltLayout) => {
    const n = await crossCheck(s, img);
    assert.equal(n.ok, true, n.output);
    return n;
  };
  const notationDenies = async (s: NotationSpec, img: BuiltLayout, reason: RegExp) => {
    const n = await crossCheck(s, img);
    assert.equal(n.ok, false, n.output);
    assert.match(n.output, reason);
  };

  /** The envelope of the (single) signature of `img`, and its signature manifest. */
  async function envelopeOf(img: BuiltLayout): Promise<{ manifest: Record<string, unknown>; envelope: Record<string, unknown> }> {
    const { manifest } = await signatureOf(reg, 'demo/app', img.digest);
    const layer = (manifest['layers'] as { digest: string }[])[0]!;
    return { manifest, envelope: JSON.parse((await getBlob(reg, 'demo/app', layer.digest)).toString()) as Record<string, unknown> };
  }
  const TS = 'io.cncf.notary.timestampSignature';

  it('allows JWS and COSE signatures stamped by a trusted TSA (verifyTimestamp: always), as notation verify does', async () => {
    await verify(spec(), stampedJws);
    await notationAllows(spec(), stampedJws);
    await verify(spec(), stampedCose);
    await notationAllows(spec(), stampedCose);
  });

  it('follows the TSA path through an intermediate CA carried in the token, as notation verify does', async () => {
    const s = spec({ tsaStore: [chainTsa.rootPem] });
    await verify(s, viaIntermediate);
    await notationAllows(s, viaIntermediate);
  });

  it('denies a signature without a countersignature when a TSA store is set, unless afterCertExpiry and the chain is unexpired', async () => {
    const err = await rejectsWithCode(verify(spec(), plain), VerificationError, 'TIMESTAMP_MISSING');
    assert.match(err.message, /^no timestamp countersignature was found/);
    await notationDenies(spec(), plain, /no timestamp countersignature was found in the signature envelope/);
    const later = spec({ verifyTimestamp: 'afterCertExpiry' });
    await verify(later, plain);
    await notationAllows(later, plain);
  });

  it('denies a countersignature by an untrusted TSA (same names, other keys); afterCertExpiry and permissive do not look at it', async () => {
    const err = await rejectsWithCode(verify(spec(), byOtherTsa), VerificationError, 'TIMESTAMP_UNTRUSTED');
    assert.match(err.message, /^timestamp countersignature is not signed by a trusted TSA/);
    await notationDenies(spec(), byOtherTsa, /failed to verify the timestamp countersignature.*certificate signed by unknown authority/);
    const later = spec({ verifyTimestamp: 'afterCertExpiry' });
    await verify(later, byOtherTsa);
    await notationAllows(later, byOtherTsa);
    const permissive = spec({ level: 'permissive' });
    await verify(permissive, byOtherTsa);
    const n = await notationAllows(permissive, byOtherTsa);
    assert.match(n.output, /authenticTimestamp was set to "log"/);
  });

  it('denies the countersignature of another signature put into this envelope', async () => {
    const donor = await envelopeOf(stampedJws);
    const { manifest, envelope } = await envelopeOf(swapped);
    const header = { ...(envelope['header'] as Record<string, unknown>), [TS]: (donor.envelope['header'] as Record<string, unknown>)[TS] };
    await replaceEnvelope(reg, 'demo/app', manifest, swapped.digest, Buffer.from(JSON.stringify({ ...envelope, header })));
    const err = await rejectsWithCode(verify(spec(), swapped), VerificationError, 'TIMESTAMP_MISMATCH');
    assert.match(err.message, /^timestamp is for another signature/);
    await notationDenies(spec(), swapped, /failed to get timestamp from timestamp countersignature.*mismatched message/);
  });

  it('denies a countersignature with a flipped byte in its TSA signature', async () => {
    const { manifest, envelope } = await envelopeOf(flipped);
    const header = envelope['header'] as Record<string, string>;
    const token = Buffer.from(header[TS]!, 'base64');
    token[token.length - 10] = (token[token.length - 10] as number) ^ 0x01; // inside the SignerInfo signature, the token's last field
    await replaceEnvelope(reg, 'demo/app', manifest, flipped.digest, Buffer.from(JSON.stringify({ ...envelope, header: { ...header, [TS]: token.toString('base64') } })));
    const err = await rejectsWithCode(verify(spec(), flipped), VerificationError, 'TIMESTAMP_INVALID');
    assert.match(err.message, /TSA signature does not verify/);
    await notationDenies(spec(), flipped, /failed to verify the timestamp countersignature/);
  });

  describe('once the signing certificate has expired (real clock, see the file comment)', () => {
    before(async () => {
      const wait = shortLivedUntil + 1500 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    });

    it('allows JWS and COSE signatures stamped while it was valid, with always and afterCertExpiry, as notation verify does', async () => {
      for (const img of [expiringJws, expiringCose]) {
        await verify(spec(), img);
        await notationAllows(spec(), img);
        await verify(spec({ verifyTimestamp: 'afterCertExpiry' }), img);
        await notationAllows(spec({ verifyTimestamp: 'afterCertExpiry' }), img);
      }
    });

    it('denies them without a TSA store: the chain must then be valid now', async () => {
      const err = await rejectsWithCode(verify(noTsa(), expiringJws), VerificationError, 'CERTIFICATE_INVALID');
      assert.match(err.message, /not valid at the current time.*no trusted timestamp vouches for the signing time/);
      await notationDenies(noTsa(), expiringJws, /verification time is after certificate .* validity period/);
    });

    it('denies an unstamped signature by the expired certificate, with or without a TSA store', async () => {
      await rejectsWithCode(verify(spec(), expiringPlain), VerificationError, 'TIMESTAMP_MISSING');
      await notationDenies(spec(), expiringPlain, /no timestamp countersignature was found/);
      await rejectsWithCode(verify(spec({ verifyTimestamp: 'afterCertExpiry' }), expiringPlain), VerificationError, 'TIMESTAMP_MISSING');
      await notationDenies(spec({ verifyTimestamp: 'afterCertExpiry' }), expiringPlain, /no timestamp countersignature was found/);
      await rejectsWithCode(verify(noTsa(), expiringPlain), VerificationError, 'CERTIFICATE_INVALID');
      await notationDenies(noTsa(), expiringPlain, /verification time is after certificate/);
    });

    it('denies a stamped signature whose TSA is not trusted, even with afterCertExpiry', async () => {
      const s = spec({ tsaStore: [otherTsa.rootPem], verifyTimestamp: 'afterCertExpiry' });
      await rejectsWithCode(verify(s, expiringCose), VerificationError, 'TIMESTAMP_UNTRUSTED');
      await notationDenies(s, expiringCose, /certificate signed by unknown authority/);
    });
  });
});
