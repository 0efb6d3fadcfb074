/**
 * RFC 3161 countersignatures: the token parser and the verifier, on tokens captured from a real
 * OpenSSL TSA (test/vectors/notation: inside the timestamped envelopes `notation sign` wrote, and
 * raw `.tst` tokens for other imprints, policies and ESS forms), and the TSA certificate rules on
 * openssl-made certificates that a TSA would not sign with.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData, CertificateSet } from '@peculiar/asn1-cms';
import { Decoder, type Tag } from 'cbor-x';
import { VerificationError } from '../../../../server/errors';
import { verifyTimestampCountersignature } from '../../../../server/verify/notation/timestamp-countersignature';
import { MAX_TOKEN_BYTES, parseGeneralizedTime, parseTimestampToken } from '../../../../server/verify/notation/timestamp-token';
import { buildTsaPath, checkTimestampingChain, checkTsaTrustStoreCertificate } from '../../../../server/verify/notation/tsa-chain';
import { certificatesFromBytes, type ParsedCertificate } from '../../../../server/verify/notation/x509-chain';

const DIR = join(process.cwd(), 'test', 'vectors', 'notation');
const TS = 'io.cncf.notary.timestampSignature';
const file = (name: string) => readFileSync(join(DIR, name));
const store = (...names: string[]) => names.flatMap((n) => certificatesFromBytes(file(n)));

/** The countersignature and the signature value it stamps, from an envelope notation wrote. */
function stamped(name: string): { token: Buffer; signature: Buffer } {
  const bytes = file(`${name}.sig`);
  if (name.startsWith('jws')) {
    const env = JSON.parse(bytes.toString()) as { signature: string; header: Record<string, string> };
    return { token: Buffer.from(env.header[TS] as string, 'base64'), signature: Buffer.from(env.signature, 'base64url') };
  }
  const [, unprotected, , signature] = (new Decoder({ mapsAsObjects: false, useRecords: false } as ConstructorParameters<typeof Decoder>[0]).decode(bytes) as Tag).value as [unknown, Map<unknown, Uint8Array>, unknown, Uint8Array];
  return { token: Buffer.from(unprotected.get(TS) as Uint8Array), signature: Buffer.from(signature) };
}

function fails(work: () => unknown, code: string, message?: RegExp): void {
  assert.throws(work, (err: unknown) => {
    assert.ok(err instanceof VerificationError, `expected VerificationError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const jws = stamped('jws-timestamped');

describe('parseTimestampToken', () => {
  it('reads the token OpenSSL issued for notation sign: TSTInfo, the TSA certificate, one ESS-v2 signer', () => {
    const t = parseTimestampToken(jws.token);
    assert.equal(t.contentType, '1.2.840.113549.1.9.16.1.4');
    assert.equal(t.tstInfo.version, 1);
    assert.equal(t.tstInfo.hashAlgorithm, '2.16.840.1.101.3.4.2.1');
    assert.equal(t.tstInfo.accuracy, 1_500_000); // accuracy = secs:1, millisecs:500
    assert.equal(t.tstInfo.genTimeFloor, t.tstInfo.genTimeCeil);
    assert.equal(t.certificates.length, 1);
    assert.deepEqual(t.certificates[0]?.der, store('tsa-signer.pem')[0]?.der);
    assert.equal(t.signers.length, 1);
    assert.equal(t.signers[0]?.version, 1);
    assert.ok(t.signers[0]?.signedAttributes?.has('1.2.840.113549.1.9.16.2.47'));
  });

  const malformed: Array<[string, () => Buffer]> = [
    ['a truncated token', () => jws.token.subarray(0, jws.token.length - 20)],
    ['bytes after the ContentInfo', () => Buffer.concat([jws.token, Buffer.from([0x00])])],
    ['a token over the size bound', () => Buffer.concat([jws.token, Buffer.alloc(MAX_TOKEN_BYTES)])],
    ['a certificate instead of a token', () => store('tsa-root.pem')[0]?.der as Buffer],
    ['not ASN.1 at all', () => Buffer.from('not a token')],
  ];
  for (const [what, bytes] of malformed) {
    it(`refuses ${what} as TIMESTAMP_INVALID`, () => fails(() => parseTimestampToken(bytes()), 'TIMESTAMP_INVALID', /malformed/));
  }

  it('reads genTime to the microsecond, rounding down and up beyond it; only UTC calendar times', () => {
    const whole = Date.UTC(2026, 10, 23, 12, 53, 58) * 1000;
    assert.deepEqual(parseGeneralizedTime('20261123125358Z'), { floor: whole, ceil: whole });
    assert.deepEqual(parseGeneralizedTime('20261123125358.25Z'), { floor: whole + 250_000, ceil: whole + 250_000 });
    assert.deepEqual(parseGeneralizedTime('20261123125358.1234567Z'), { floor: whole + 123_456, ceil: whole + 123_457 });
    for (const bad of ['20261123125358', '20261123125358+0100', '20261131125358Z', '2026112312535Z']) {
      fails(() => parseGeneralizedTime(bad), 'TIMESTAMP_INVALID');
    }
  });
});

describe('verifyTimestampCountersignature', () => {
  it('verifies the JWS countersignature: the range is genTime ± accuracy, the TSA path ends at the trusted root', () => {
    const t = parseTimestampToken(jws.token);
    const r = verifyTimestampCountersignature(jws.token, jws.signature, store('tsa-root.pem'));
    assert.equal(r.lower, t.tstInfo.genTimeFloor - 1_500_000);
    assert.equal(r.upper, t.tstInfo.genTimeCeil + 1_500_000);
    assert.deepEqual(r.tsaPath.map((c) => c.der), [...store('tsa-signer.pem'), ...store('tsa-root.pem')].map((c) => c.der));
  });

  it('verifies the COSE countersignature over the COSE signature bytes', () => {
    const cose = stamped('cose-timestamped');
    verifyTimestampCountersignature(cose.token, cose.signature, store('tsa-root.pem'));
  });

  it('refuses a TSA whose root is not in the store (same names, other key) as TIMESTAMP_UNTRUSTED', () => {
    fails(() => verifyTimestampCountersignature(jws.token, jws.signature, store('other-tsa-root.pem')), 'TIMESTAMP_UNTRUSTED', /not signed by a trusted TSA/);
    fails(() => verifyTimestampCountersignature(jws.token, jws.signature, []), 'TIMESTAMP_UNTRUSTED');
  });

  it('refuses the countersignature of another signature as TIMESTAMP_MISMATCH', () => {
    const cose = stamped('cose-timestamped');
    fails(() => verifyTimestampCountersignature(cose.token, jws.signature, store('tsa-root.pem')), 'TIMESTAMP_MISMATCH', /for another signature/);
  });

  it('refuses a flipped byte in the TSA signature', () => {
    const token = Buffer.from(jws.token);
    token[token.length - 10] = (token[token.length - 10] as number) ^ 0x01;
    fails(() => verifyTimestampCountersignature(token, jws.signature, store('tsa-root.pem')), 'TIMESTAMP_INVALID', /TSA signature does not verify/);
  });

  it('refuses a changed genTime (the TSTInfo no longer matches its signed message digest)', () => {
    const token = Buffer.from(jws.token);
    const text = /20\d{12}Z/.exec(token.toString('latin1'));
    assert.ok(text);
    const at = text.index + 13; // the last seconds digit: one second later (or earlier), still a valid time
    token[at] = token[at] === 0x39 ? 0x38 : (token[at] as number) + 1;
    fails(() => verifyTimestampCountersignature(token, jws.signature, store('tsa-root.pem')), 'TIMESTAMP_INVALID', /message-digest attribute does not match/);
  });

  it('verifies a SHA-512 imprint', () => {
    verifyTimestampCountersignature(file('token-sha512.tst'), jws.signature, store('tsa-root.pem'));
  });

  it('gives the baseline time-stamp policy without an accuracy an accuracy of 1 s', () => {
    const token = file('token-baseline.tst');
    const t = parseTimestampToken(token);
    assert.equal(t.tstInfo.policy, '0.4.0.2023.1.1');
    assert.equal(t.tstInfo.accuracy, 0);
    const r = verifyTimestampCountersignature(token, jws.signature, store('tsa-baseline-root.pem'));
    assert.equal(r.upper - r.lower, 2_000_000);
  });

  it('refuses a token naming its certificate by the older ESS signing-certificate (SHA-1), as tspclient-go does', () => {
    fails(() => verifyTimestampCountersignature(file('token-ess-v1.tst'), jws.signature, store('tsa-ess-v1-root.pem')), 'TIMESTAMP_INVALID', /signing-certificate-v2/);
  });

  describe('a TSA under an intermediate CA', () => {
    const chain = stamped('cose-timestamped-intermediate');
    const certs = parseTimestampToken(chain.token).certificates;

    it('follows the path through the intermediate the token carries', () => {
      const r = verifyTimestampCountersignature(chain.token, chain.signature, store('tsa-chain-root.pem'));
      assert.equal(r.tsaPath.length, 3);
    });

    it('refuses the same token without its intermediate (the certificates field is not signed) as TIMESTAMP_UNTRUSTED', () => {
      const info = AsnConvert.parse(chain.token, ContentInfo);
      const signed = AsnConvert.parse(info.content, SignedData);
      const signer = signed.certificates?.find((_, i) => !certs[i]?.basicConstraints?.ca);
      assert.ok(signer && certs.length === 2);
      signed.certificates = new CertificateSet([signer]);
      info.content = AsnConvert.serialize(signed);
      const stripped = Buffer.from(AsnConvert.serialize(info));
      assert.equal(parseTimestampToken(stripped).certificates.length, 1);
      fails(() => verifyTimestampCountersignature(stripped, chain.signature, store('tsa-chain-root.pem')), 'TIMESTAMP_UNTRUSTED');
    });

    it('does not take the intermediate or the signer as a TSA trust store certificate (root CAs only)', () => {
      for (const c of certs) assert.throws(() => checkTsaTrustStoreCertificate(c), /not self-signed|not a CA/);
      checkTsaTrustStoreCertificate(store('tsa-chain-root.pem')[0] as ParsedCertificate);
    });
  });
});

describe('checkTimestampingChain (notation-core-go ValidateTimestampingCertChain)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-tsa-rules-'));
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  writeFileSync(
    join(dir, 'x.cnf'),
    [
      '[req]', 'distinguished_name=dn', '[dn]',
      '[root]', 'basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign',
      '[good]', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=critical,timeStamping',
      '[noncritical]', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=timeStamping',
      '[twoeku]', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=critical,timeStamping,codeSigning',
      '[encipher]', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=critical,timeStamping',
      '[noku]', 'extendedKeyUsage=critical,timeStamping',
      '',
    ].join('\n'),
  );
  ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'root.key']);
  ossl(['req', '-new', '-x509', '-key', 'root.key', '-subj', '/CN=rules root', '-days', '2', '-out', 'root.crt', '-config', 'x.cnf', '-extensions', 'root']);
  ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'leaf.key']);
  ossl(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=rules tsa', '-out', 'leaf.csr', '-config', 'x.cnf']);
  const root = certificatesFromBytes(readFileSync(join(dir, 'root.crt')))[0] as ParsedCertificate;
  const leaf = (section: string): ParsedCertificate => {
    ossl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-days', '1', '-extfile', 'x.cnf', '-extensions', section, '-out', `${section}.crt`]);
    return certificatesFromBytes(readFileSync(join(dir, `${section}.crt`)))[0] as ParsedCertificate;
  };

  it('accepts a critical timeStamping-only leaf with digitalSignature under its root', () => checkTimestampingChain([leaf('good'), root]));

  const bad: Array<[string, RegExp, string]> = [
    ['noncritical', /must be marked critical/, 'an extended key usage that is not critical (RFC 3161 §2.3)'],
    ['twoeku', /only extended key usage/, 'a second extended key usage'],
    ['encipher', /digitalSignature only/, 'keyEncipherment besides digitalSignature'],
    ['noku', /no keyUsage/, 'no keyUsage extension'],
  ];
  for (const [section, message, why] of bad) {
    it(`refuses a TSA certificate with ${why}`, () => fails(() => checkTimestampingChain([leaf(section), root]), 'TIMESTAMP_INVALID', message));
  }

  it('refuses a chain that does not end with a self-signed root, or a leaf alone that is not self-signed', () => {
    fails(() => checkTimestampingChain([leaf('good')]), 'TIMESTAMP_INVALID', /alone but not self-signed/);
    fails(() => checkTimestampingChain([leaf('good'), leaf('good')]), 'TIMESTAMP_INVALID');
  });
});

describe('buildTsaPath', () => {
  it('gives up after 100 signature checks on a pool of same-named, cross-signed CAs (as Go x509 does)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagegate-tsa-loop-'));
    const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    writeFileSync(join(dir, 'x.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n[tsa]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nauthorityKeyIdentifier=keyid\n');
    const keys = [0, 1, 2, 3];
    for (const k of keys) {
      ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `k${k}.key`]);
      ossl(['req', '-new', '-x509', '-key', `k${k}.key`, '-subj', '/CN=loop', '-days', '2', '-out', `self${k}.crt`, '-config', 'x.cnf', '-extensions', 'ca']);
      ossl(['req', '-new', '-key', `k${k}.key`, '-subj', '/CN=loop', '-out', `k${k}.csr`, '-config', 'x.cnf']);
    }
    const pool: ParsedCertificate[] = [];
    for (const i of keys) {
      for (const j of keys) {
        if (i === j) continue;
        ossl(['x509', '-req', '-in', `k${i}.csr`, '-CA', `self${j}.crt`, '-CAkey', `k${j}.key`, '-CAcreateserial', '-days', '2', '-extfile', 'x.cnf', '-extensions', 'ca', '-out', `l${i}${j}.crt`]);
        pool.push(...certificatesFromBytes(readFileSync(join(dir, `l${i}${j}.crt`))));
      }
    }
    ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'tsa.key']);
    ossl(['req', '-new', '-key', 'tsa.key', '-subj', '/CN=loop tsa', '-out', 'tsa.csr', '-config', 'x.cnf']);
    ossl(['x509', '-req', '-in', 'tsa.csr', '-CA', 'self0.crt', '-CAkey', 'k0.key', '-CAcreateserial', '-days', '2', '-extfile', 'x.cnf', '-extensions', 'tsa', '-out', 'tsa.crt']);
    const signer = certificatesFromBytes(readFileSync(join(dir, 'tsa.crt')))[0] as ParsedCertificate;
    const now = { floor: new Date(), ceil: new Date() };
    fails(() => buildTsaPath(signer, pool, store('tsa-root.pem'), now), 'TIMESTAMP_INVALID', /more than 100 signature checks/);
    // With the loop's own root trusted, the direct path is found first and kept.
    const root = certificatesFromBytes(readFileSync(join(dir, 'self0.crt')));
    assert.equal(buildTsaPath(signer, pool, root, now).length, 2);
  });
});
