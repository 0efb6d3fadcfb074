/**
 * The trust material of a notation verifier as `config validate` and the verifier build read it:
 * every problem with its path and file, certificates outside their validity as warnings. The
 * certificates are the frozen vectors' (openssl-made CA, TSA root and TSA signing certificate).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../../server/errors';
import type { NotationVerifierConfig } from '../../../../server/policy/compiled-policy';
import { createNotationVerifier } from '../../../../server/verify/notation/notation-verifier';
import { inspectNotationMaterial } from '../../../../server/verify/notation/trust-material';

const VECTORS = join(process.cwd(), 'test', 'vectors', 'notation');
const v = (name: string) => ({ file: join(VECTORS, name) });
const dir = mkdtempSync(join(tmpdir(), 'imagegate-trust-material-'));
const NOT_A_CERT = join(dir, 'notes.txt');
writeFileSync(NOT_A_CERT, 'this is not a certificate\n');
const KEY_PEM = join(dir, 'key.pem');
writeFileSync(KEY_PEM, '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n');
const SIGNED_AT = new Date('2026-11-23T13:08:41Z');

const config = (extra: Partial<NotationVerifierConfig>): NotationVerifierConfig => ({ type: 'notation', trustStore: [v('ca.pem')], trustedIdentities: ['*'], ...extra });

describe('inspectNotationMaterial', () => {
  it('loads a good trust store, TSA store and identities with no problem', () => {
    const r = inspectNotationMaterial('team', config({ tsaTrustStore: [v('tsa-root.pem')], trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=release'] }), SIGNED_AT);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    assert.equal(r.material?.trustStore.length, 1);
    assert.equal(r.material?.tsaStore.length, 1);
  });

  it('reports every problem at once, each with its path and file', () => {
    const missing = join(dir, 'missing.crt');
    const r = inspectNotationMaterial(
      'team',
      config({
        trustStore: [{ file: missing }, { file: NOT_A_CERT }, v('tsa-signer.pem')],
        tsaTrustStore: [v('tsa-signer.pem'), v('self-signed.pem'), { file: KEY_PEM }],
        trustedIdentities: ['x509.subject: CN=release', 'x509.subject: C=US, ST=WA, O=Acme, C=UK', 'x509.subject: C=US, ST=WA, O=Acme, FOO=bar'],
      }),
      SIGNED_AT,
    );
    assert.equal(r.material, undefined);
    const byPath = new Map(r.errors.map((e) => [e.path, e.message]));
    assert.deepEqual([...byPath.keys()], [
      'verifiers.team.trustStore[0].file',
      'verifiers.team.trustStore[1].file',
      'verifiers.team.trustStore[2].file',
      'verifiers.team.tsaTrustStore[0].file',
      'verifiers.team.tsaTrustStore[1].file',
      'verifiers.team.tsaTrustStore[2].file',
      'verifiers.team.trustedIdentities[0]',
      'verifiers.team.trustedIdentities[1]',
      'verifiers.team.trustedIdentities[2]',
    ]);
    assert.match(byPath.get('verifiers.team.trustStore[0].file') ?? '', new RegExp(`cannot read ${missing}: ENOENT`));
    assert.match(byPath.get('verifiers.team.trustStore[1].file') ?? '', /notes\.txt is not a PEM or DER certificate/);
    assert.match(byPath.get('verifiers.team.trustStore[2].file') ?? '', /tsa-signer\.pem cannot be in trustStore: .* is neither a CA certificate nor a self-signed certificate/);
    assert.match(byPath.get('verifiers.team.tsaTrustStore[0].file') ?? '', /tsa-signer\.pem cannot be in tsaTrustStore: .* is not a CA certificate/);
    assert.match(byPath.get('verifiers.team.tsaTrustStore[1].file') ?? '', /self-signed\.pem cannot be in tsaTrustStore: .* not a CA certificate/);
    assert.match(byPath.get('verifiers.team.tsaTrustStore[2].file') ?? '', /key\.pem is not a PEM or DER certificate: no CERTIFICATE block/);
    assert.match(byPath.get('verifiers.team.trustedIdentities[0]') ?? '', /has no C; C, ST and O are mandatory/);
    assert.match(byPath.get('verifiers.team.trustedIdentities[1]') ?? '', /appears twice/);
    assert.match(byPath.get('verifiers.team.trustedIdentities[2]') ?? '', /unknown attribute type "FOO"/);
  });

  it('refuses "*" among other identities', () => {
    const r = inspectNotationMaterial('team', config({ trustedIdentities: ['*', 'x509.subject: C=US, ST=WA, O=Acme'] }), SIGNED_AT);
    assert.deepEqual(r.errors.map((e) => e.path), ['verifiers.team.trustedIdentities']);
  });

  it('warns, without an error, about a root that has expired or is not valid yet', () => {
    const later = inspectNotationMaterial('team', config({ trustStore: [v('self-signed.pem')], tsaTrustStore: [v('tsa-root.pem')] }), new Date('2040-01-01T00:00:00Z'));
    assert.deepEqual(later.errors, []);
    assert.deepEqual(later.warnings.map((w) => w.path), ['verifiers.team.trustStore[0].file', 'verifiers.team.tsaTrustStore[0].file']);
    assert.match(later.warnings[0]?.message ?? '', /self-signed\.pem: certificate ".*CN=test" expired at 2026-12-0\dT.*verify only with a trusted timestamp/);
    assert.match(later.warnings[1]?.message ?? '', /tsa-root\.pem: .* expired at .*only timestamps made before then verify/);
    const earlier = inspectNotationMaterial('team', config({}), new Date('2020-01-01T00:00:00Z'));
    assert.match(earlier.warnings[0]?.message ?? '', /is not valid before 2026-11-23T/);
  });

  it('makes the verifier build refuse the same problems (ConfigError listing them)', () => {
    assert.throws(
      () => createNotationVerifier('team', config({ trustStore: [{ file: NOT_A_CERT }], trustedIdentities: ['x509.subject: CN=x'] })),
      (err: unknown) => err instanceof ConfigError && err.code === 'CONFIG_INVALID' && err.issues.length === 2,
    );
  });
});
