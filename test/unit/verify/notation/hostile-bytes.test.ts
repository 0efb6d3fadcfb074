/**
 * Envelopes and timestamp tokens are attacker input (anyone who can push to a repository can
 * attach a referrer). Mutations of the frozen vectors made by the real notation CLI and OpenSSL's
 * TSA (test/vectors/notation) must end in a VerificationError — a deny that says which check
 * failed — and never in another error type, which the verifier would treat as a bug: before this
 * test, node:crypto's "decode error" on a mangled key and asn1js's RangeError escaped as internal
 * errors and ended the signature search. The mutations come from a seeded generator, so a failure
 * is reproducible (the seed and mutation are in the message).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VerificationError } from '../../../../server/errors';
import { createNotationVerifier } from '../../../../server/verify/notation/notation-verifier';
import { verifyTimestampCountersignature } from '../../../../server/verify/notation/timestamp-countersignature';
import { parseTimestampToken } from '../../../../server/verify/notation/timestamp-token';
import { certificatesFromBytes } from '../../../../server/verify/notation/x509-chain';

const DIR = join(process.cwd(), 'test', 'vectors', 'notation');
const read = (f: string) => readFileSync(join(DIR, f));
const SIGNING_TIME = new Date((JSON.parse(read('expected.json').toString()) as { times: Record<string, string> }).times['signing'] as string);

/** mulberry32: a small seeded PRNG (deterministic mutations). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** One mutation of `input`: a flipped bit, a truncation, random bytes, or an insertion. */
function mutate(input: Buffer, r: (n: number) => number): { bytes: Buffer; what: string } {
  const b = Buffer.from(input);
  switch (r(4)) {
    case 0: {
      const at = r(b.length);
      const bit = r(8);
      b[at] = (b[at] as number) ^ (1 << bit);
      return { bytes: b, what: `bit ${bit} of byte ${at} flipped` };
    }
    case 1: {
      const at = r(b.length);
      return { bytes: b.subarray(0, at), what: `truncated to ${at} bytes` };
    }
    case 2: {
      const at: number[] = [];
      for (let i = 0; i < 5; i++) {
        const p = r(b.length);
        b[p] = r(256);
        at.push(p);
      }
      return { bytes: b, what: `bytes ${at.join(',')} replaced` };
    }
    default: {
      const at = r(b.length);
      return { bytes: Buffer.concat([b.subarray(0, at), Buffer.from([r(256), r(256)]), b.subarray(at)]), what: `2 bytes inserted at ${at}` };
    }
  }
}

function subjectOf(name: string) {
  const bytes = read(`${name}.manifest.json`);
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, mediaType: (JSON.parse(bytes.toString()) as { mediaType: string }).mediaType };
}

describe('hostile bytes in notation signatures', () => {
  const verifier = createNotationVerifier(
    'hostile',
    {
      type: 'notation',
      trustStore: [{ pem: read('ca.pem').toString() }],
      trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme, CN=release'],
      tsaTrustStore: [{ pem: read('tsa-root.pem').toString() }],
      verifyTimestamp: 'afterCertExpiry',
    },
    () => SIGNING_TIME,
  );

  for (const [name, mediaType] of [['jws-timestamped', 'application/jose+json'], ['cose-timestamped', 'application/cose']] as const) {
    it(`${name}: 800 mutated envelopes are each allowed or denied with a VerificationError, never another error`, async () => {
      const original = read(`${name}.sig`);
      const subject = subjectOf(name);
      await verifier.check(mediaType, original, subject); // the unmutated envelope verifies
      const seed = name.length * 7919;
      const r = prng(seed);
      let denied = 0;
      for (let i = 0; i < 800; i++) {
        const { bytes, what } = mutate(original, r);
        try {
          await verifier.check(mediaType, bytes, subject);
        } catch (err) {
          assert.ok(err instanceof VerificationError, `seed ${seed}, mutation ${i} (${what}): ${String(err)}`);
          denied += 1;
        }
      }
      assert.ok(denied > 500, `most mutations must be denied, ${denied} were`);
    });
  }

  it('timestamp tokens: 3000 mutations are each refused with a VerificationError, never another error', () => {
    const roots = certificatesFromBytes(read('tsa-root.pem'));
    const tokens = ['token-baseline.tst', 'token-sha512.tst', 'token-ess-v1.tst'].map(read);
    const r = prng(20261123);
    for (let i = 0; i < 3000; i++) {
      const { bytes, what } = mutate(tokens[i % tokens.length] as Buffer, r);
      for (const step of [() => parseTimestampToken(bytes), () => verifyTimestampCountersignature(bytes, Buffer.alloc(32), roots)]) {
        try {
          step();
        } catch (err) {
          assert.ok(err instanceof VerificationError, `mutation ${i} of token ${i % tokens.length} (${what}): ${String(err)}`);
        }
      }
    }
  });
});
