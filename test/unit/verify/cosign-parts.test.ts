/**
 * The pure parts of cosign verification: payload checks, keys, and the DSSE encoding of the
 * Sigstore bundle. Whole verifications run against real cosign signatures in test/peers/.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, constants } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, VerificationError } from '../../../server/errors';
import { findVerifyingKey, loadCosignKeys } from '../../../server/verify/cosign/cosign-keys';
import { checkSimpleSigning } from '../../../server/verify/cosign/simple-signing';
import { checkCosignBundle, preAuthEncoding } from '../../../server/verify/cosign/sigstore-bundle';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function payload(over: { type?: string; digest?: string; ref?: string | null; optional?: unknown } = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: over.ref === null ? undefined : { 'docker-reference': over.ref ?? 'index.docker.io/library/nginx' },
        image: { 'docker-manifest-digest': over.digest ?? D1 },
        type: over.type ?? 'cosign container image signature',
      },
      optional: over.optional === undefined ? null : over.optional,
    }),
  );
}

const code = (c: string) => (e: unknown) => e instanceof VerificationError && e.code === c;

describe('checkSimpleSigning', () => {
  const expect = { digest: D1, repository: undefined, annotations: {} };

  it('accepts the payload cosign writes for the digest', () => {
    checkSimpleSigning(payload(), expect);
  });

  it('requires critical.type to be exactly "cosign container image signature"', () => {
    assert.throws(() => checkSimpleSigning(payload({ type: 'cosign container image signature ' }), expect), code('PAYLOAD_INVALID'));
    assert.throws(() => checkSimpleSigning(payload({ type: 'https://sigstore.dev/cosign/sign/v1' }), expect), code('PAYLOAD_INVALID'));
  });

  it('denies a payload for another digest, naming both', () => {
    assert.throws(() => checkSimpleSigning(payload({ digest: D2 }), expect), (e: unknown) => code('DIGEST_MISMATCH')(e) && (e as Error).message === `payload is for ${D2}, not ${D1}`);
  });

  it('matchReference: compares normalised repositories (index.docker.io/library/x ≡ docker.io/library/x)', () => {
    checkSimpleSigning(payload(), { ...expect, repository: 'docker.io/library/nginx' });
    checkSimpleSigning(payload({ ref: 'nginx:1.25' }), { ...expect, repository: 'docker.io/library/nginx' }); // tag ignored, as c/image
    assert.throws(() => checkSimpleSigning(payload({ ref: 'docker.io/library/nginx-evil' }), { ...expect, repository: 'docker.io/library/nginx' }), code('REFERENCE_MISMATCH'));
    assert.throws(() => checkSimpleSigning(payload({ ref: null }), { ...expect, repository: 'docker.io/library/nginx' }), code('REFERENCE_MISMATCH'));
    assert.throws(() => checkSimpleSigning(payload({ ref: 'NOT A REF' }), { ...expect, repository: 'docker.io/library/nginx' }), code('REFERENCE_MISMATCH'));
  });

  it('required annotations must be present with the same string value', () => {
    const p = payload({ optional: { team: 'core', n: 1 } });
    checkSimpleSigning(p, { ...expect, annotations: { team: 'core' } });
    assert.throws(() => checkSimpleSigning(p, { ...expect, annotations: { team: 'Core' } }), code('ANNOTATION_MISMATCH'));
    assert.throws(() => checkSimpleSigning(p, { ...expect, annotations: { n: '1' } }), code('ANNOTATION_MISMATCH')); // a number is not the string "1"
    assert.throws(() => checkSimpleSigning(p, { ...expect, annotations: { toString: 'x' } }), code('ANNOTATION_MISMATCH')); // no prototype lookups
  });

  it('refuses payloads that are not the shape', () => {
    for (const bad of ['', 'null', '{}', '{"critical":{}}', '{"critical":{"type":"cosign container image signature","image":{}},"optional":[]}']) {
      assert.throws(() => checkSimpleSigning(Buffer.from(bad), expect), code('PAYLOAD_INVALID'), bad);
    }
  });
});

describe('loadCosignKeys', () => {
  const pem = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) => k.export({ type: 'spki', format: 'pem' }).toString();

  it('accepts ECDSA P-256/P-384/P-521, Ed25519 and RSA ≥ 2048 public keys', () => {
    const keys = loadCosignKeys('v', [
      { pem: pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) },
      { pem: pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey) },
      { pem: pem(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey) },
      { pem: pem(generateKeyPairSync('ed25519').publicKey) },
      { pem: pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey) },
    ]);
    assert.equal(keys.length, 5);
  });

  it('refuses private keys, weak RSA, other curves and missing files, listing each with its path', () => {
    const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(
      () =>
        loadCosignKeys('v', [
          { pem: priv },
          { pem: pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey) },
          { pem: pem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey) },
          { file: '/nonexistent/key.pub' },
          { pem: 'not pem' },
        ]),
      (e: unknown) => e instanceof ConfigError && e.issues.map((i) => i.path).join() === [0, 1, 2, 3, 4].map((i) => `verifiers.v.publicKeys[${i}]`).join() && !e.message.includes('PRIVATE KEY-----\n'),
    );
  });
});

describe('findVerifyingKey', () => {
  const msg = Buffer.from('payload bytes');
  it('verifies ECDSA (DER, SHA-256; P-384 also with SHA-384), Ed25519 and RSA PKCS#1 v1.5 / PSS', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const ed = generateKeyPairSync('ed25519');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keys = loadCosignKeys('v', [p256, p384, ed, rsa].map((k) => ({ pem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString() })));
    const sigs: [string, Buffer][] = [
      ['P-256', sign('sha256', msg, p256.privateKey)],
      ['P-384/sha256', sign('sha256', msg, p384.privateKey)],
      ['P-384/sha384', sign('sha384', msg, p384.privateKey)],
      ['Ed25519', sign(null, msg, ed.privateKey)],
      ['RSA PKCS1', sign('sha256', msg, rsa.privateKey)],
      ['RSA PSS', sign('sha256', msg, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })],
    ];
    for (const [label, sig] of sigs) {
      assert.ok(findVerifyingKey(keys, msg, sig), label);
      assert.equal(findVerifyingKey(keys, Buffer.from('other bytes'), sig), undefined, `${label} over other bytes`);
    }
    assert.equal(findVerifyingKey(keys, msg, Buffer.from('garbage')), undefined);
  });
});

describe('checkCosignBundle', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = loadCosignKeys('v', [{ pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }]);
  const bundle = (statement: object, payloadType = 'application/vnd.in-toto+json') => {
    const body = Buffer.from(JSON.stringify(statement));
    const sig = sign('sha256', preAuthEncoding(payloadType, body), privateKey).toString('base64');
    return Buffer.from(JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', dsseEnvelope: { payloadType, payload: body.toString('base64'), signatures: [{ sig }] } }));
  };
  const statement = (hex: string, predicateType = 'https://sigstore.dev/cosign/sign/v1') => ({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { sha256: hex } }],
    predicateType,
  });

  it('PAE is "DSSEv1 <len> <type> <len> <body>" (dsse protocol.md)', () => {
    assert.equal(preAuthEncoding('t', Buffer.from('body')).toString(), 'DSSEv1 1 t 4 body');
  });

  it('accepts a cosign-sign statement for the digest, signed by a configured key', () => {
    assert.equal(checkCosignBundle(bundle(statement('1'.repeat(64))), D1, keys, false).verified, true);
  });

  it('denies another digest, an attestation, a foreign key, and any identity requirement', () => {
    const other = checkCosignBundle(bundle(statement('2'.repeat(64))), D1, keys, false);
    assert.ok(!other.verified && other.error.code === 'DIGEST_MISMATCH');
    const attestation = checkCosignBundle(bundle(statement('1'.repeat(64), 'https://slsa.dev/provenance/v1')), D1, keys, false);
    assert.ok(!attestation.verified && attestation.error.code === 'PAYLOAD_INVALID');
    const stranger = loadCosignKeys('v', [{ pem: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString() }]);
    const foreign = checkCosignBundle(bundle(statement('1'.repeat(64))), D1, stranger, false);
    assert.ok(!foreign.verified && foreign.error.code === 'SIGNATURE_INVALID');
    const identity = checkCosignBundle(bundle(statement('1'.repeat(64))), D1, keys, true);
    assert.ok(!identity.verified && identity.error.code === 'REFERENCE_MISMATCH');
  });
});
