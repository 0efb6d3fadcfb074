/**
 * Makes the frozen notation vectors of test/vectors/notation/ with the real tools: signatures by
 * `notation sign` (JWS and COSE, with and without RFC 3161 countersignatures from OpenSSL TSAs,
 * tsa-peer.ts) on a loopback docker-registry, the envelopes and the image manifests they sign
 * read back from the registry, a few raw TSA tokens, and expected.json with each case's verdict.
 * Cases judged at the signing time are also run through `notation verify` here, and its verdict
 * is recorded next to imagegate's. Not a test: run it by hand (test/vectors/notation/README.md).
 *
 *   npx tsc -p . && node dist/test/peers/notation/make-vectors.js test/vectors/notation
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildImage, pushImage, type BuiltLayout } from '../images';
import { startRegistry } from '../registry-peer';
import { OCI_MANIFEST, RELEASE, RELEASE_ID, getBlob, getRaw, signatureOf } from './notation-harness';
import { makeCa, makeLeaf, makeSelfSigned, notationSign, notationVerify, notationVersion, type SignOptions, type SigningKey } from './notation-tool';
import { startTsa, type TsaPeer } from './tsa-peer';

const DAY = 86_400_000;

interface CaseConfig {
  readonly trustStore: readonly string[];
  readonly trustedIdentities: readonly string[];
  readonly tsaTrustStore?: readonly string[];
  readonly verifyTimestamp?: 'always' | 'afterCertExpiry';
  readonly verificationLevel?: 'strict' | 'permissive' | 'audit';
}

interface Case {
  readonly name: string;
  readonly envelope: string;
  readonly at: 'signing' | 'leaf expired' | 'envelope expired';
  readonly config: CaseConfig;
  /** `allow` or the VerificationError code imagegate denies with. */
  readonly expect: string;
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'test/vectors/notation');
  mkdirSync(out, { recursive: true });
  const write = (name: string, data: string | Buffer) => writeFileSync(join(out, name), data);
  const reg = await startRegistry();
  const tsas: TsaPeer[] = [];
  try {
    const tsa = await startTsa({ accuracy: 'secs:1, millisecs:500' });
    const otherTsa = await startTsa({ accuracy: 'secs:1, millisecs:500' });
    const chainTsa = await startTsa({ intermediate: true });
    const baselineTsa = await startTsa({ policy: '0.4.0.2023.1.1' });
    const essV1Tsa = await startTsa({ essCertIdAlg: 'sha1' });
    tsas.push(tsa, otherTsa, chainTsa, baselineTsa, essV1Tsa);
    const t0 = Date.now();
    const ca = makeCa([['C', 'US'], ['ST', 'WA'], ['O', 'Acme'], ['CN', 'Acme Root CA']], 'rsa', { notBefore: new Date(t0 - 3_600_000), notAfter: new Date(t0 + 3650 * DAY) });
    const leaf = makeLeaf(ca, RELEASE, 'ec', { notBefore: new Date(t0 - 3_600_000), notAfter: new Date(t0 + 30 * DAY) });
    const self = makeSelfSigned([['C', 'US'], ['ST', 'WA'], ['L', 'Seattle'], ['O', 'Notary'], ['CN', 'test']]);
    write('ca.pem', ca.pem);
    write('self-signed.pem', self.pem);
    write('tsa-root.pem', tsa.rootPem);
    write('other-tsa-root.pem', otherTsa.rootPem);
    write('tsa-chain-root.pem', chainTsa.rootPem);
    write('tsa-baseline-root.pem', baselineTsa.rootPem);
    write('tsa-ess-v1-root.pem', essV1Tsa.rootPem);
    write('tsa-signer.pem', tsa.signerPem);

    const signed: Record<string, { img: BuiltLayout; mediaType: string; envelope: Buffer }> = {};
    const sign = async (name: string, key: SigningKey, options: SignOptions) => {
      const img = buildImage(`notation vector ${name}`);
      pushImage(img, reg, `vectors/app:${name}`);
      await notationSign(key, `${reg.host}/vectors/app@${img.digest}`, options);
      const { manifest } = await signatureOf(reg, 'vectors/app', img.digest);
      const layer = (manifest['layers'] as { digest: string; mediaType: string }[])[0]!;
      const envelope = await getBlob(reg, 'vectors/app', layer.digest);
      write(`${name}.sig`, envelope);
      write(`${name}.manifest.json`, await getRaw(reg, 'vectors/app', img.digest, OCI_MANIFEST));
      signed[name] = { img, mediaType: layer.mediaType, envelope };
    };
    const stamp = (t: TsaPeer) => ({ timestamp: { url: t.url, rootCert: t.rootCert } });
    await sign('jws', leaf, { format: 'jws' });
    await sign('cose', leaf, { format: 'cose' });
    await sign('cose-ps256-self-signed', self, { format: 'cose' });
    await sign('jws-timestamped', leaf, { format: 'jws', ...stamp(tsa) });
    await sign('cose-timestamped', leaf, { format: 'cose', ...stamp(tsa) });
    await sign('cose-timestamped-intermediate', leaf, { format: 'cose', ...stamp(chainTsa) });
    await sign('jws-other-tsa', leaf, { format: 'jws', ...stamp(otherTsa) });
    await sign('cose-expiry', leaf, { format: 'cose', expiry: '1h' });

    // Raw tokens over the signature value of jws-timestamped (what `notation sign` stamps).
    const jwsEnvelope = JSON.parse(signed['jws-timestamped']!.envelope.toString()) as { signature: string };
    const signature = Buffer.from(jwsEnvelope.signature, 'base64url');
    write('token-sha512.tst', await tsa.stamp(signature, 'sha512'));
    write('token-baseline.tst', await baselineTsa.stamp(signature));
    write('token-ess-v1.tst', await essV1Tsa.stamp(signature));

    const trusted: CaseConfig = { trustStore: ['ca.pem'], trustedIdentities: [RELEASE_ID] };
    const withTsa: CaseConfig = { ...trusted, tsaTrustStore: ['tsa-root.pem'] };
    const cases: Case[] = [
      { name: 'JWS by a trusted CA', envelope: 'jws', at: 'signing', config: trusted, expect: 'allow' },
      { name: 'COSE by a trusted CA', envelope: 'cose', at: 'signing', config: trusted, expect: 'allow' },
      { name: 'COSE PS256 by a self-signed certificate', envelope: 'cose-ps256-self-signed', at: 'signing', config: { trustStore: ['self-signed.pem'], trustedIdentities: ['x509.subject: C=US, ST=WA, O=Notary, CN=test'] }, expect: 'allow' },
      { name: 'JWS, untrusted identity', envelope: 'jws', at: 'signing', config: { trustStore: ['ca.pem'], trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=other'] }, expect: 'UNTRUSTED_IDENTITY' },
      { name: 'JWS without countersignature, TSA store (always)', envelope: 'jws', at: 'signing', config: withTsa, expect: 'TIMESTAMP_MISSING' },
      { name: 'JWS without countersignature, TSA store (afterCertExpiry, unexpired)', envelope: 'jws', at: 'signing', config: { ...withTsa, verifyTimestamp: 'afterCertExpiry' }, expect: 'allow' },
      { name: 'JWS stamped by a trusted TSA', envelope: 'jws-timestamped', at: 'signing', config: withTsa, expect: 'allow' },
      { name: 'JWS stamped by an untrusted TSA', envelope: 'jws-other-tsa', at: 'signing', config: withTsa, expect: 'TIMESTAMP_UNTRUSTED' },
      { name: 'JWS stamped by an untrusted TSA (afterCertExpiry, unexpired)', envelope: 'jws-other-tsa', at: 'signing', config: { ...withTsa, verifyTimestamp: 'afterCertExpiry' }, expect: 'allow' },
      { name: 'COSE with --expiry 1h, before it', envelope: 'cose-expiry', at: 'signing', config: trusted, expect: 'allow' },
      { name: 'COSE with --expiry 1h, after it', envelope: 'cose-expiry', at: 'envelope expired', config: trusted, expect: 'SIGNATURE_EXPIRED' },
      { name: 'JWS after the leaf expired, no TSA store', envelope: 'jws', at: 'leaf expired', config: trusted, expect: 'CERTIFICATE_INVALID' },
      { name: 'JWS after the leaf expired, no TSA store, permissive', envelope: 'jws', at: 'leaf expired', config: { ...trusted, verificationLevel: 'permissive' }, expect: 'allow' },
      { name: 'JWS without countersignature after the leaf expired (afterCertExpiry)', envelope: 'jws', at: 'leaf expired', config: { ...withTsa, verifyTimestamp: 'afterCertExpiry' }, expect: 'TIMESTAMP_MISSING' },
      { name: 'stamped JWS after the leaf expired', envelope: 'jws-timestamped', at: 'leaf expired', config: withTsa, expect: 'allow' },
      { name: 'stamped COSE after the leaf expired', envelope: 'cose-timestamped', at: 'leaf expired', config: withTsa, expect: 'allow' },
      { name: 'stamped COSE after the leaf expired (afterCertExpiry)', envelope: 'cose-timestamped', at: 'leaf expired', config: { ...withTsa, verifyTimestamp: 'afterCertExpiry' }, expect: 'allow' },
      { name: 'COSE stamped through a TSA intermediate, after the leaf expired', envelope: 'cose-timestamped-intermediate', at: 'leaf expired', config: { ...trusted, tsaTrustStore: ['tsa-chain-root.pem'] }, expect: 'allow' },
      { name: 'stamped JWS after the leaf expired, no TSA store', envelope: 'jws-timestamped', at: 'leaf expired', config: trusted, expect: 'CERTIFICATE_INVALID' },
      { name: 'stamped JWS after the leaf expired, TSA store of another TSA', envelope: 'jws-timestamped', at: 'leaf expired', config: { ...trusted, tsaTrustStore: ['other-tsa-root.pem'] }, expect: 'TIMESTAMP_UNTRUSTED' },
    ];

    // notation's own verdict for the cases it can judge now (it has no clock to inject).
    const pem = (f: string) => readFileSync(join(out, f), 'utf8');
    const recorded = [];
    for (const c of cases) {
      let notation: boolean | null = null;
      if (c.at === 'signing') {
        const r = await notationVerify(`${reg.host}/vectors/app@${signed[c.envelope]!.img.digest}`, {
          trustStore: c.config.trustStore.map(pem),
          trustedIdentities: c.config.trustedIdentities,
          ...(c.config.tsaTrustStore ? { tsaStore: c.config.tsaTrustStore.map(pem) } : {}),
          ...(c.config.verifyTimestamp ? { verifyTimestamp: c.config.verifyTimestamp } : {}),
          ...(c.config.verificationLevel ? { level: c.config.verificationLevel } : {}),
        });
        notation = r.ok;
      }
      recorded.push({ ...c, notationAllowed: notation });
    }
    const envelopes = Object.fromEntries(Object.entries(signed).map(([name, s]) => [name, { mediaType: s.mediaType, digest: s.img.digest }]));
    write(
      'expected.json',
      `${JSON.stringify(
        {
          notation: notationVersion(),
          signedAt: new Date(t0).toISOString(),
          times: { signing: new Date(t0 + 60_000).toISOString(), 'envelope expired': new Date(t0 + 2 * 3_600_000).toISOString(), 'leaf expired': new Date(t0 + 40 * DAY).toISOString() },
          envelopes,
          cases: recorded,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await Promise.all(tsas.map((t) => t.stop()));
    await reg.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
