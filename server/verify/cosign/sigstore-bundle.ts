/**
 * The Sigstore bundle that cosign writes with `--new-bundle-format` (the default in cosign v3):
 * an OCI referrer whose layer is `application/vnd.dev.sigstore.bundle.v0.3+json` holding
 *
 *   {"mediaType":"…bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"…"}},
 *    "dsseEnvelope":{"payloadType":"application/vnd.in-toto+json","payload":"<b64 statement>",
 *                    "signatures":[{"sig":"<b64 DER>"}]}}
 *
 * with the in-toto statement `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":
 * {"sha256":"<hex>"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1"}` (captured from
 * cosign v2.6.5, docs/registry-lookups.md). Key-based only: the configured keys are the trust;
 * transparency-log entries and certificates in the bundle are not read (as `cosign verify --key
 * --insecure-ignore-tlog`). The statement names no repository and carries no annotations, so a
 * bundle can never satisfy `matchReference: true` or required `annotations`.
 *
 * Signature: DSSE v1 (secure-systems-lab/dsse `protocol.md`) over PAE(payloadType, payload).
 */
import { VerificationError } from '../../errors';
import { findVerifyingKey, type CosignPublicKey, SIGNATURE_MAX_BYTES } from './cosign-keys';

/** cosign's predicate type for an image signature; attestations (SLSA, SBOM, …) are not signatures. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_TYPES: ReadonlySet<string> = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);

/** DSSE `protocol.md`: PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export type BundleOutcome =
  | { readonly verified: true; readonly key: CosignPublicKey }
  | { readonly verified: false; readonly error: VerificationError };

/**
 * Checks one bundle blob: a DSSE signature by a configured key over a cosign-sign statement whose
 * subject is `digest`. Never throws; the outcome says why it failed.
 */
export function checkCosignBundle(bytes: Buffer, digest: string, keys: readonly CosignPublicKey[], needsIdentity: boolean): BundleOutcome {
  try {
    const envelope = readEnvelope(bytes);
    const pae = preAuthEncoding(envelope.payloadType, envelope.payload);
    let key: CosignPublicKey | undefined;
    for (const sig of envelope.signatures) {
      key = findVerifyingKey(keys, pae, sig);
      if (key) break;
    }
    if (!key) return fail('SIGNATURE_INVALID', 'the bundle signature does not verify with the configured keys');
    // Only now is the statement believed (it is signed).
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return fail('PAYLOAD_INVALID', `the bundle's payload type is ${JSON.stringify(envelope.payloadType)}`);
    const statement = parseObject(envelope.payload, 'the bundle statement');
    if (!STATEMENT_TYPES.has(String(statement['_type']))) return fail('PAYLOAD_INVALID', 'the bundle payload is not an in-toto statement');
    if (statement['predicateType'] !== COSIGN_SIGN_PREDICATE) {
      return fail('PAYLOAD_INVALID', `the bundle is an attestation (${JSON.stringify(String(statement['predicateType']).slice(0, 100))}), not a cosign signature`);
    }
    const [algorithm, hex] = digest.split(':') as [string, string];
    const subjects = Array.isArray(statement['subject']) ? (statement['subject'] as unknown[]) : [];
    const named = subjects.map((s) => (s && typeof s === 'object' ? (s as { digest?: Record<string, unknown> }).digest?.[algorithm] : undefined));
    if (!named.includes(hex)) {
      const other = named.find((n): n is string => typeof n === 'string');
      return fail('DIGEST_MISMATCH', `payload is for ${other ? `${algorithm}:${other}` : 'another image'}, not ${digest}`);
    }
    if (needsIdentity) {
      return fail('REFERENCE_MISMATCH', 'a Sigstore bundle signature names no repository or annotations, and this verifier requires them (matchReference or annotations)');
    }
    return { verified: true, key };
  } catch (err) {
    if (err instanceof VerificationError) return { verified: false, error: err };
    throw err;
  }
}

interface Envelope {
  readonly payloadType: string;
  readonly payload: Buffer;
  readonly signatures: Buffer[];
}

function readEnvelope(bytes: Buffer): Envelope {
  const bundle = parseObject(bytes, 'the Sigstore bundle');
  const env = bundle['dsseEnvelope'];
  if (!env || typeof env !== 'object') throw new VerificationError('PAYLOAD_INVALID', 'the Sigstore bundle has no dsseEnvelope (message-signature bundles are not image signatures)');
  const e = env as Record<string, unknown>;
  if (typeof e['payloadType'] !== 'string' || typeof e['payload'] !== 'string' || !Array.isArray(e['signatures'])) {
    throw new VerificationError('PAYLOAD_INVALID', 'the bundle DSSE envelope lacks payloadType, payload or signatures');
  }
  const signatures = (e['signatures'] as unknown[])
    .slice(0, 16)
    .map((s) => (s && typeof s === 'object' ? (s as Record<string, unknown>)['sig'] : undefined))
    .filter((s): s is string => typeof s === 'string' && isBase64(s))
    .map((s) => Buffer.from(s, 'base64'))
    .filter((b) => b.length > 0 && b.length <= SIGNATURE_MAX_BYTES);
  if (!isBase64(e['payload'] as string)) throw new VerificationError('PAYLOAD_INVALID', 'the bundle payload is not base64');
  return { payloadType: e['payloadType'] as string, payload: Buffer.from(e['payload'] as string, 'base64'), signatures };
}

function parseObject(bytes: Buffer, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new VerificationError('PAYLOAD_INVALID', `${what} is not JSON`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new VerificationError('PAYLOAD_INVALID', `${what} is not a JSON object`);
  return doc as Record<string, unknown>;
}

function isBase64(s: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(s) || /^[A-Za-z0-9_-]*={0,2}$/.test(s);
}

function fail(code: 'SIGNATURE_INVALID' | 'PAYLOAD_INVALID' | 'DIGEST_MISMATCH' | 'REFERENCE_MISMATCH', message: string): BundleOutcome {
  return { verified: false, error: new VerificationError(code, message) };
}
