/**
 * The certificate most users start with: `notation cert generate-test` (self-signed RSA, subject
 * C=US, ST=WA, L=Seattle, O=Notary, CN=<name>), made by the real notation CLI, used by
 * `notation sign` in both envelope formats, trusted by imagegate as a one-certificate trust store.
 * Every verdict is cross-checked with `notation verify`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { VerificationError } from '../../../server/errors';
import { parseReference } from '../../../server/reference/parse';
import { createRegistryLookups, type RegistryLookups } from '../../../server/verify/lookups';
import { buildImage, pushImage } from '../images';
import { startRegistry, type RegistryPeer } from '../registry-peer';
import { never, notationPolicy } from './notation-harness';
import { notationGenerateTest, notationSign, notationVerify, requireNotation } from './notation-tool';

describe('a `notation cert generate-test` certificate, end to end', () => {
  let reg: RegistryPeer;
  let lookups: RegistryLookups;
  let key: Awaited<ReturnType<typeof notationGenerateTest>>;
  const jws = buildImage('generate-test jws');
  const cose = buildImage('generate-test cose');
  const identity = 'x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=imagegate-test';

  before(async () => {
    requireNotation();
    reg = await startRegistry();
    key = await notationGenerateTest('imagegate-test');
    pushImage(jws, reg, 'demo/gen:jws');
    pushImage(cose, reg, 'demo/gen:cose');
    await notationSign(key, `${reg.host}/demo/gen@${jws.digest}`, { format: 'jws' });
    await notationSign(key, `${reg.host}/demo/gen@${cose.digest}`, { format: 'cose' });
    lookups = createRegistryLookups();
  });
  after(async () => {
    await lookups?.close();
    await reg?.stop();
  });

  async function verify(digest: string, trustedIdentities: string[]) {
    const policy = notationPolicy(reg, { trustStore: [key.pem], trustedIdentities });
    return lookups.verify(policy, 'team', parseReference(`${reg.host}/demo/gen@${digest}`), digest, never);
  }

  it('is the self-signed certificate notation documents', () => {
    const cert = new X509Certificate(key.pem);
    assert.equal(cert.subject.replace(/\n/g, ', '), 'C=US, ST=WA, L=Seattle, O=Notary, CN=imagegate-test');
    // Self-signed (checkIssued would say no: OpenSSL also wants keyCertSign, which it lacks).
    assert.equal(cert.issuer, cert.subject);
    assert.equal(cert.verify(cert.publicKey), true);
    assert.equal(cert.ca, false);
  });

  for (const [format, image] of [['jws', jws], ['cose', cose]] as const) {
    it(`admits its ${format} signature for its exact subject identity, as notation verify does`, async () => {
      const cross = await notationVerify(`${reg.host}/demo/gen@${image.digest}`, { trustStore: [key.pem], trustedIdentities: [identity] });
      assert.equal(cross.ok, true, cross.output);
      await verify(image.digest, [identity]); // resolves only when the signature verifies
    });

    it(`denies its ${format} signature for another CN, as notation verify does`, async () => {
      const other = 'x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=someone-else';
      const cross = await notationVerify(`${reg.host}/demo/gen@${image.digest}`, { trustStore: [key.pem], trustedIdentities: [other] });
      assert.equal(cross.ok, false, cross.output);
      await assert.rejects(verify(image.digest, [other]), (err: unknown) => {
        assert.ok(err instanceof VerificationError, String(err));
        assert.match(err.message, /not trusted|identity/i);
        return true;
      });
    });
  }
});
