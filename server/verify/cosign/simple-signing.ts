/**
 * The cosign simple-signing payload (cosign `specs/SIGNATURE_SPEC.md` "Payload"; the
 * containers/image "simple signing" format it derives from):
 *
 *   {"critical":{"identity":{"docker-reference":"<repo>"},
 *                "image":{"docker-manifest-digest":"sha256:<hex>"},
 *                "type":"cosign container image signature"},
 *    "optional":{...} | null}
 *
 * These checks run only on payloads whose signature already verified with a configured key
 * (nothing unsigned is believed), in the order cosign's `VerifyImageSignatures` uses: type, then
 * the digest, then (imagegate's `matchReference`) the identity, then required annotations.
 */
import { VerificationError } from '../../errors';
import { parseReference } from '../../reference/parse';

/** SIGNATURE_SPEC.md: "critical.type … must be `cosign container image signature`". */
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';

export interface PayloadExpectations {
  /** The digest being admitted: the payload must be for exactly this digest. */
  readonly digest: string;
  /** With matchReference: the image's normalised repository (`host/path`), else undefined. */
  readonly repository: string | undefined;
  /** Required `optional` entries: each must be present with this exact string value. */
  readonly annotations: Readonly<Record<string, string>>;
}

/** The parts of a payload imagegate reads. */
export interface SimpleSigningPayload {
  readonly type: string;
  readonly manifestDigest: string;
  readonly dockerReference: string | undefined;
  readonly optional: Readonly<Record<string, unknown>>;
}

/** Parses payload bytes; throws VerificationError('PAYLOAD_INVALID') when the shape is wrong. */
export function parseSimpleSigning(bytes: Buffer): SimpleSigningPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new VerificationError('PAYLOAD_INVALID', 'the signed payload is not JSON');
  }
  const critical = field(doc, 'critical');
  const image = field(critical, 'image');
  const identity = critical && typeof critical === 'object' ? (critical as Record<string, unknown>)['identity'] : undefined;
  const type = field(critical, 'type');
  const manifestDigest = field(image, 'docker-manifest-digest');
  if (typeof type !== 'string' || typeof manifestDigest !== 'string') {
    throw new VerificationError('PAYLOAD_INVALID', 'the signed payload has no critical.type or critical.image.docker-manifest-digest');
  }
  const dockerReference = identity === undefined || identity === null ? undefined : field(identity, 'docker-reference');
  const optional = (doc as Record<string, unknown>)['optional'];
  if (optional !== undefined && optional !== null && (typeof optional !== 'object' || Array.isArray(optional))) {
    throw new VerificationError('PAYLOAD_INVALID', 'the signed payload has an "optional" that is not an object');
  }
  return {
    type,
    manifestDigest,
    dockerReference: typeof dockerReference === 'string' ? dockerReference : undefined,
    optional: (optional ?? {}) as Record<string, unknown>,
  };
}

/** Checks a verified payload against what the policy requires; throws VerificationError. */
export function checkSimpleSigning(bytes: Buffer, expect: PayloadExpectations): void {
  const payload = parseSimpleSigning(bytes);
  if (payload.type !== COSIGN_PAYLOAD_TYPE) {
    throw new VerificationError('PAYLOAD_INVALID', `the signed payload's critical.type is ${quote(payload.type)}, not "${COSIGN_PAYLOAD_TYPE}"`);
  }
  if (payload.manifestDigest !== expect.digest) {
    throw new VerificationError('DIGEST_MISMATCH', `payload is for ${quote(payload.manifestDigest, false)}, not ${expect.digest}`);
  }
  if (expect.repository !== undefined) checkIdentity(payload.dockerReference, expect.repository);
  checkAnnotations(payload.optional, expect.annotations);
}

/**
 * matchReference: the payload's docker-reference, parsed and normalised by the same parser as
 * pod images, must name the image's repository exactly. cosign writes the repository without a
 * tag (`index.docker.io/library/x` for Docker Hub, which normalises to `docker.io/library/x`);
 * containers/image writes it with the tag; a tag or digest in it is ignored, as c/image's
 * `matchRepository` does.
 */
function checkIdentity(dockerReference: string | undefined, repository: string): void {
  if (dockerReference === undefined) {
    throw new VerificationError('REFERENCE_MISMATCH', 'the signed payload names no critical.identity.docker-reference');
  }
  let named: string;
  try {
    named = parseReference(dockerReference).repository;
  } catch {
    throw new VerificationError('REFERENCE_MISMATCH', `the signed payload's docker-reference ${quote(dockerReference)} is not a valid reference`);
  }
  if (named !== repository) {
    throw new VerificationError('REFERENCE_MISMATCH', `payload is for the repository ${named}, not ${repository}`);
  }
}

function checkAnnotations(optional: Readonly<Record<string, unknown>>, required: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(required)) {
    const got = Object.prototype.hasOwnProperty.call(optional, key) ? optional[key] : undefined;
    if (got === undefined) {
      throw new VerificationError('ANNOTATION_MISMATCH', `the signed payload lacks the required annotation ${quote(key)}`);
    }
    if (got !== value) {
      throw new VerificationError('ANNOTATION_MISMATCH', `the signed payload has ${quote(key)}=${quote(typeof got === 'string' ? got : JSON.stringify(got))}, not ${quote(value)}`);
    }
  }
}

function field(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === 'object' && !Array.isArray(obj) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Payload text is untrusted: quoted, bounded. */
function quote(s: string, quoted = true): string {
  const cut = s.length > 160 ? `${s.slice(0, 160)}…` : s;
  return quoted ? JSON.stringify(cut) : cut.replace(/[^\x21-\x7e]/g, '?');
}
