/** Canonical JSON, keys and signature methods, GUN templates and times of the notaryv1 verifier. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { VerificationError } from '../../../../server/errors';
import { canonicalJson } from '../../../../server/verify/notaryv1/canonical-json';
import { gunFor } from '../../../../server/verify/notaryv1/gun';
import { KeyFormatError, parseKey, signatureVerifies, tufKeyId } from '../../../../server/verify/notaryv1/keys';
import { parseEnvelope, parseRfc3339 } from '../../../../server/verify/notaryv1/metadata';
import { parseReference } from '../../../../server/reference/parse';

describe('canonicalJson (docker/go canonical/json)', () => {
  const rows: [unknown, string, string][] = [
    [{ b: 1, a: [true, null, 'x'] }, '{"a":[true,null,"x"],"b":1}', 'keys sorted, no whitespace'],
    ['q"b\\', '"q\\"b\\\\"', 'only " and \\ are escaped'],
    ['tab\tnl\n<&>é\u2028', '"tab\tnl\n<&>é\u2028"', 'control, HTML and non-ASCII characters stay raw'],
    [{ é: 1, z: 2, Z: 3 }, '{"Z":3,"z":2,"é":1}', 'keys sorted by UTF-8 bytes'],
    [12345678, '12345678', 'integers in decimal, never 1.2345678e+07'],
    [-0, '0', 'minus zero is zero'],
  ];
  for (const [value, expected, why] of rows) {
    it(`encodes ${JSON.stringify(value)} as ${expected} (${why})`, () => {
      assert.equal(canonicalJson(value).toString('utf8'), expected);
    });
  }

  it('refuses floating point numbers and integers beyond 2^53', () => {
    assert.throws(() => canonicalJson({ a: 1.5 }), /not an integer/);
    assert.throws(() => canonicalJson(2 ** 60), /not an integer/);
  });

  it('sorts U+E000 before U+10000 by UTF-8 bytes as Go does (UTF-16 order would not)', () => {
    // UTF-8: EE 80 80 (U+E000) < F0 90 80 80 (U+10000).
    assert.equal(canonicalJson({ '\u{10000}': 2, '\ue000': 1 }).toString('utf8'), '{"\ue000":1,"\u{10000}":2}');
  });
});

describe('parseKey and signatureVerifies', () => {
  const msg = Buffer.from('{"_type":"Targets"}');
  const spkiB64 = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) => k.export({ format: 'der', type: 'spki' }).toString('base64');

  function keyJson(keytype: string, pub: string) {
    return { keytype, keyval: { private: null, public: pub } };
  }

  it('verifies ecdsa (raw r‖s, SHA-256) on P-256 and P-384 keys', () => {
    for (const namedCurve of ['prime256v1', 'secp384r1']) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve });
      const pub = spkiB64(publicKey);
      const key = parseKey(tufKeyId('ecdsa', pub), keyJson('ecdsa', pub));
      const sig = sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      assert.equal(signatureVerifies(key, 'ECDSA', msg, sig), true, namedCurve);
      assert.equal(signatureVerifies(key, 'ecdsa', Buffer.from('other'), sig), false);
      assert.equal(signatureVerifies(key, 'ecdsa', msg, sign('sha256', msg, { key: privateKey, dsaEncoding: 'der' })), false, 'DER is not notary\'s format');
      assert.equal(signatureVerifies(key, 'eddsa', msg, sig), false, 'method must fit the key');
    }
  });

  it('verifies eddsa on ed25519 keys given as 32 raw bytes', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    const key = parseKey(tufKeyId('ed25519', raw), keyJson('ed25519', raw));
    assert.equal(signatureVerifies(key, 'eddsa', msg, sign(null, msg, privateKey)), true);
  });

  it('verifies rsapss (salt 32) and rsapkcs1v15 on RSA-2048 keys, and refuses RSA-1024', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = spkiB64(publicKey);
    const key = parseKey(tufKeyId('rsa', pub), keyJson('rsa', pub));
    const pss = sign('sha256', msg, { key: privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
    const v15 = sign('sha256', msg, privateKey);
    assert.equal(signatureVerifies(key, 'rsapss', msg, pss), true);
    assert.equal(signatureVerifies(key, 'rsapkcs1v15', msg, v15), true);
    assert.equal(signatureVerifies(key, 'rsapss', msg, v15), false);
    const small = spkiB64(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    assert.throws(() => parseKey(tufKeyId('rsa', small), keyJson('rsa', small)), KeyFormatError);
  });

  it('refuses a key listed under an id that is not its own', () => {
    const pub = spkiB64(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
    assert.throws(() => parseKey('0'.repeat(64), keyJson('ecdsa', pub)), /its key id is/);
  });

  it('refuses keys that carry a private part or an unknown type', () => {
    const pub = spkiB64(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
    assert.throws(() => parseKey(tufKeyId('ecdsa', pub), { keytype: 'ecdsa', keyval: { private: 'AA==', public: pub } }), /private/);
    assert.throws(() => parseKey(tufKeyId('dsa', pub), keyJson('dsa', pub)), /unsupported key type/);
  });
});

describe('gunFor', () => {
  const ref = parseReference('nginx@sha256:' + 'a'.repeat(64));
  it('defaults to the normalised repository', () => assert.equal(gunFor(undefined, ref), 'docker.io/library/nginx'));
  it('substitutes {registry} and {path}', () => assert.equal(gunFor('mirror.example/{path}', ref), 'mirror.example/library/nginx'));
  it('refuses a template result that is not a GUN', () => {
    assert.throws(() => gunFor('{path}/../x', ref), VerificationError);
  });
});

describe('metadata times and envelopes', () => {
  it('reads notary\'s nanosecond RFC 3339 times and refuses other shapes', () => {
    assert.equal(parseRfc3339('2029-11-22T08:25:06.373693711Z')?.toISOString(), '2029-11-22T08:25:06.373Z');
    assert.equal(parseRfc3339('2029-11-22T08:25:06+02:00')?.toISOString(), '2029-11-22T06:25:06.000Z');
    assert.equal(parseRfc3339('Nov 22 2029'), undefined);
  });

  it('refuses a file whose _type is another role\'s', () => {
    const raw = Buffer.from(JSON.stringify({ signed: { _type: 'Snapshot', expires: '2030-01-01T00:00:00Z', version: 1 }, signatures: [] }));
    assert.throws(() => parseEnvelope(raw, 'timestamp', 'timestamp.json'), (err: unknown) => err instanceof VerificationError && err.code === 'TRUST_METADATA_INVALID');
  });
});
