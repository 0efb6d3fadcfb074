/**
 * The whole notation envelope check over frozen signatures made by the real notation CLI
 * (test/vectors/notation, README there), offline, with the verification clock injected at the
 * times expected.json names (at signing, after the `--expiry`, after the signing certificate's
 * notAfter), so the vectors never expire. Where notation could judge a case when the vectors
 * were made, its verdict is recorded in expected.json and must agree.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VerificationError } from '../../../../server/errors';
import type { NotationVerifierConfig } from '../../../../server/policy/compiled-policy';
import { createNotationVerifier } from '../../../../server/verify/notation/notation-verifier';

const DIR = join(process.cwd(), 'test', 'vectors', 'notation');

interface VectorCase {
  readonly name: string;
  readonly envelope: string;
  readonly at: string;
  readonly config: {
    readonly trustStore: readonly string[];
    readonly trustedIdentities: readonly string[];
    readonly tsaTrustStore?: readonly string[];
    readonly verifyTimestamp?: 'always' | 'afterCertExpiry';
    readonly verificationLevel?: 'strict' | 'permissive' | 'audit';
  };
  readonly expect: string;
  readonly notationAllowed: boolean | null;
}

interface Expected {
  readonly notation: string;
  readonly times: Readonly<Record<string, string>>;
  readonly envelopes: Readonly<Record<string, { readonly mediaType: string; readonly digest: string }>>;
  readonly cases: readonly VectorCase[];
}

const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Expected;
const pem = (file: string) => ({ pem: readFileSync(join(DIR, file), 'utf8') });

function subjectOf(name: string) {
  const bytes = readFileSync(join(DIR, `${name}.manifest.json`));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { digest, size: bytes.length, mediaType: (JSON.parse(bytes.toString()) as { mediaType: string }).mediaType };
}

async function outcome(c: VectorCase): Promise<string> {
  const config: NotationVerifierConfig = {
    type: 'notation',
    trustStore: c.config.trustStore.map(pem),
    trustedIdentities: c.config.trustedIdentities,
    ...(c.config.tsaTrustStore ? { tsaTrustStore: c.config.tsaTrustStore.map(pem) } : {}),
    ...(c.config.verifyTimestamp ? { verifyTimestamp: c.config.verifyTimestamp } : {}),
    ...(c.config.verificationLevel ? { verificationLevel: c.config.verificationLevel } : {}),
  };
  const at = expected.times[c.at];
  assert.ok(at, `expected.json names the time "${c.at}"`);
  const verifier = createNotationVerifier('vector', config, () => new Date(at));
  const envelope = expected.envelopes[c.envelope];
  assert.ok(envelope);
  try {
    await verifier.check(envelope.mediaType, readFileSync(join(DIR, `${c.envelope}.sig`)), subjectOf(c.envelope));
    return 'allow';
  } catch (err) {
    if (err instanceof VerificationError) return err.code;
    throw err;
  }
}

describe(`notation vectors made by notation ${expected.notation} (offline, injected clock)`, () => {
  it('has the manifests the signatures name (the vectors are intact)', () => {
    for (const [name, e] of Object.entries(expected.envelopes)) assert.equal(subjectOf(name).digest, e.digest, name);
  });

  for (const c of expected.cases) {
    it(`${c.name} (at ${c.at}): ${c.expect}`, async () => {
      assert.equal(await outcome(c), c.expect);
      if (c.notationAllowed !== null) assert.equal(c.notationAllowed, c.expect === 'allow', 'notation verify agreed when the vectors were made');
    });
  }

  it('denies every vector for another image (the payload binds the digest)', async () => {
    const other = subjectOf('cose');
    const verifier = createNotationVerifier('vector', { type: 'notation', trustStore: [pem('ca.pem')], trustedIdentities: ['*'] }, () => new Date(expected.times['signing'] as string));
    await assert.rejects(verifier.check('application/jose+json', readFileSync(join(DIR, 'jws.sig')), other), (err: unknown) => err instanceof VerificationError && err.code === 'DIGEST_MISMATCH');
  });
});
