/** Hand-made JWS and COSE envelopes (node:crypto + cbor-x) for the header rules notation itself never breaks. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Encoder, Tag } from 'cbor-x';
import { EnvelopeError } from '../../../../server/verify/notation/envelope';
import { openCoseEnvelope, sigStructure } from '../../../../server/verify/notation/envelope-cose';
import { openJwsEnvelope } from '../../../../server/verify/notation/envelope-jws';

const dir = mkdtempSync(join(tmpdir(), 'imagegate-envelope-unit-'));
const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
writeFileSync(join(dir, 'x.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'k.pem']);
ossl(['req', '-new', '-x509', '-key', 'k.pem', '-subj', '/C=US/ST=WA/O=Acme/CN=self', '-days', '2', '-out', 'c.pem', '-config', 'x.cnf', '-extensions', 'ext']);
const key = createPrivateKey(readFileSync(join(dir, 'k.pem')));
const certDer = Buffer.from(readFileSync(join(dir, 'c.pem'), 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

const PAYLOAD = Buffer.from(JSON.stringify({ targetArtifact: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 } }));
const CTY = 'application/vnd.cncf.notary.payload.v1+json';
const SCHEME = 'io.cncf.notary.signingScheme';

function jws(header: Record<string, unknown>, unprotected: Record<string, unknown> = {}): Buffer {
  const prot = Buffer.from(JSON.stringify(header)).toString('base64url');
  const payload = PAYLOAD.toString('base64url');
  const signature = sign('sha256', Buffer.from(`${prot}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return Buffer.from(JSON.stringify({ payload, protected: prot, header: { x5c: [certDer.toString('base64')], ...unprotected }, signature }));
}

const goodJws = () => ({ alg: 'ES256', crit: [SCHEME], cty: CTY, [SCHEME]: 'notary.x509', 'io.cncf.notary.signingTime': new Date().toISOString().replace(/\.\d+Z$/, 'Z') });

function cose(prot: Map<unknown, unknown>, tagged = true, unprotected: [unknown, unknown][] = []): Buffer {
  const enc = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false } as ConstructorParameters<typeof Encoder>[0]);
  const protBytes = enc.encode(prot);
  const signature = sign('sha256', sigStructure(protBytes, PAYLOAD), { key, dsaEncoding: 'ieee-p1363' });
  const body = [protBytes, new Map<unknown, unknown>([[33, [certDer]], ...unprotected]), PAYLOAD, signature];
  return enc.encode(tagged ? new Tag(body, 18) : body);
}

const goodCose = () =>
  new Map<unknown, unknown>([
    [1, -7],
    [2, [SCHEME]],
    [3, CTY],
    [SCHEME, 'notary.x509'],
    ['io.cncf.notary.signingTime', new Date(Math.floor(Date.now() / 1000) * 1000)],
  ]);

describe('notation envelopes: header rules', () => {
  it('opens a well-formed JWS', async () => {
    const c = await openJwsEnvelope(jws(goodJws()));
    assert.deepEqual(c.payload, PAYLOAD);
    assert.equal(c.signingScheme, 'notary.x509');
  });

  it('refuses unknown or missing critical headers (JWS)', async () => {
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), crit: [SCHEME, 'io.example.new'], 'io.example.new': 1 })), EnvelopeError);
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), crit: ['io.cncf.notary.expiry'], 'io.cncf.notary.expiry': '2099-01-01T00:00:00Z' })), EnvelopeError);
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), 'io.cncf.notary.expiry': '2099-01-01T00:00:00Z' })), /not marked critical/);
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), crit: [SCHEME, 'io.cncf.notary.expiry'] })), /listed but absent/);
  });

  it('refuses an algorithm the key does not call for, a plugin, and another payload type (JWS)', async () => {
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), alg: 'ES384' })), /requires ES256|does not verify/);
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), crit: [SCHEME, 'io.cncf.notary.verificationPlugin'], 'io.cncf.notary.verificationPlugin': 'x' })), /plugins are not supported/);
    await assert.rejects(openJwsEnvelope(jws({ ...goodJws(), cty: 'application/json' })), /content type/);
  });

  it('opens a well-formed COSE_Sign1', async () => {
    const c = await openCoseEnvelope(cose(goodCose()));
    assert.deepEqual(c.payload, PAYLOAD);
  });

  it('refuses an untagged COSE_Sign1, unknown crit labels and a wrong algorithm (COSE)', async () => {
    await assert.rejects(openCoseEnvelope(cose(goodCose(), false)), /tag 18/);
    const unknown = goodCose();
    unknown.set(2, [SCHEME, 'io.example.new']);
    unknown.set('io.example.new', 1);
    await assert.rejects(openCoseEnvelope(cose(unknown)), /not understood/);
    const ps = goodCose();
    ps.set(1, -37);
    await assert.rejects(openCoseEnvelope(cose(ps)), /requires ES256/);
    await assert.rejects(openCoseEnvelope(Buffer.from([0xff, 0x00, 0x12])), EnvelopeError);
  });

  describe('the timestamp countersignature header (unprotected, verified later by the authentic timestamp step)', () => {
    const TS = 'io.cncf.notary.timestampSignature';

    it('hands over the raw signature value and the token bytes (JWS)', async () => {
      const bytes = jws(goodJws(), { [TS]: Buffer.from('token bytes').toString('base64') });
      const c = await openJwsEnvelope(bytes);
      const env = JSON.parse(bytes.toString()) as { signature: string };
      assert.deepEqual(c.signature, Buffer.from(env.signature, 'base64url'));
      assert.deepEqual(c.timestampToken, Buffer.from('token bytes'));
      assert.equal((await openJwsEnvelope(jws(goodJws()))).timestampToken, undefined);
    });

    it('refuses a JWS countersignature that is not base64 (Go JSON []byte), as an integrity failure', async () => {
      await assert.rejects(openJwsEnvelope(jws(goodJws(), { [TS]: 'not base64!' })), /is not base64/);
      await assert.rejects(openJwsEnvelope(jws(goodJws(), { [TS]: 42 })), EnvelopeError);
    });

    it('hands over the token bytes (COSE) and refuses a countersignature that is not a byte string', async () => {
      const c = await openCoseEnvelope(cose(goodCose(), true, [[TS, Buffer.from('token bytes')]]));
      assert.deepEqual(c.timestampToken, Buffer.from('token bytes'));
      assert.equal(c.signature.length, 64); // ES256 r‖s
      await assert.rejects(openCoseEnvelope(cose(goodCose(), true, [[TS, 'text']])), /not a byte string/);
    });
  });
});
