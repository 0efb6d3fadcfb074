/**
 * The signed payload (`application/vnd.cncf.notary.payload.v1+json`, Notary Project
 * signature specification "Payload"): `{"targetArtifact": <OCI descriptor>}`. The descriptor's
 * digest, size and media type must equal the manifest being admitted (notation-go compares the
 * same three fields); `annotations` and `artifactType` are allowed and not interpreted.
 */
import { VerificationError } from '../../errors';

/** The admitted manifest, as the registry served it for the pinned digest. */
export interface Subject {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

/** Checks the payload against `subject`; throws VerificationError (PAYLOAD_INVALID or DIGEST_MISMATCH). */
export function checkPayload(payload: Buffer, subject: Subject): void {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new VerificationError('PAYLOAD_INVALID', 'the signed payload is not JSON');
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new VerificationError('PAYLOAD_INVALID', 'the signed payload is not a JSON object');
  const target = (json as Record<string, unknown>)['targetArtifact'];
  if (!target || typeof target !== 'object' || Array.isArray(target)) throw new VerificationError('PAYLOAD_INVALID', 'the signed payload has no targetArtifact');
  const t = target as Record<string, unknown>;
  if (typeof t['digest'] !== 'string' || typeof t['mediaType'] !== 'string' || typeof t['size'] !== 'number' || !Number.isSafeInteger(t['size'])) {
    throw new VerificationError('PAYLOAD_INVALID', 'the signed targetArtifact lacks digest, size or mediaType');
  }
  if (t['digest'] !== subject.digest) {
    throw new VerificationError('DIGEST_MISMATCH', `signature is for ${t['digest'].slice(0, 200)}, not ${subject.digest}`);
  }
  if (t['size'] !== subject.size) {
    throw new VerificationError('DIGEST_MISMATCH', `signature is for a manifest of ${t['size']} bytes, ${subject.digest} has ${subject.size}`);
  }
  if (t['mediaType'] !== subject.mediaType) {
    throw new VerificationError('DIGEST_MISMATCH', `signature is for media type ${t['mediaType'].slice(0, 200)}, ${subject.digest} is ${subject.mediaType}`);
  }
}
