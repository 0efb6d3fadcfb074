import { DecodeError } from '../errors';
import { IMAGE_REVIEW_API_VERSION, IMAGE_REVIEW_KIND, type ReviewRequest } from './wire-types';

/**
 * Bounds on what one review may carry. A pod has at most a few dozen containers in practice; the
 * 1 MiB body cap (interfaces.md "HTTP") already bounds bytes, these bound work per request.
 */
export const MAX_IMAGES_PER_REVIEW = 256;
export const MAX_IMAGE_LENGTH = 4096;
export const MAX_ANNOTATIONS = 256;

/** Parses raw bytes as JSON, mapping a syntax error to MALFORMED_JSON. */
export function parseReviewJson(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DecodeError('MALFORMED_JSON', `request body is not valid JSON: ${(err as Error).message}`, err);
  }
}

/**
 * unknown JSON → ReviewRequest, or a DecodeError naming the path and what was wrong.
 * Accepts exactly what contract.md §3 says a real apiserver sends: metadata with or without
 * creationTimestamp, a status member, and annotations or containers omitted. Unknown members are
 * ignored (a newer apiserver may add some); wrong types are refused, never coerced.
 */
export function decodeReview(raw: unknown): ReviewRequest {
  if (!isPlainObject(raw)) {
    throw new DecodeError('NOT_AN_OBJECT', `expected a JSON object (an ImageReview), found ${describe(raw)}`);
  }
  if (raw.apiVersion !== IMAGE_REVIEW_API_VERSION) {
    throw new DecodeError(
      'WRONG_API_VERSION',
      `apiVersion must be "${IMAGE_REVIEW_API_VERSION}", found ${describe(raw.apiVersion)}`,
    );
  }
  if (raw.kind !== IMAGE_REVIEW_KIND) {
    throw new DecodeError('WRONG_KIND', `kind must be "${IMAGE_REVIEW_KIND}", found ${describe(raw.kind)}`);
  }
  const spec = raw.spec;
  if (spec === undefined || spec === null) {
    throw new DecodeError('MISSING_SPEC', 'spec is missing: an ImageReview must carry spec.containers');
  }
  if (!isPlainObject(spec)) {
    throw new DecodeError('INVALID_FIELD', `spec must be an object, found ${describe(spec)}`);
  }
  return {
    images: decodeContainers(spec.containers),
    annotations: decodeAnnotations(spec.annotations),
    namespace: decodeNamespace(spec.namespace),
  };
}

function decodeContainers(value: unknown): string[] {
  // omitempty: absent when empty (contract.md §3).
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new DecodeError('INVALID_FIELD', `spec.containers must be a list, found ${describe(value)}`);
  }
  if (value.length > MAX_IMAGES_PER_REVIEW) {
    throw new DecodeError(
      'INVALID_FIELD',
      `spec.containers has ${value.length} entries; at most ${MAX_IMAGES_PER_REVIEW} are accepted`,
    );
  }
  return value.map((c, i) => {
    if (!isPlainObject(c)) {
      throw new DecodeError('INVALID_FIELD', `spec.containers[${i}] must be an object, found ${describe(c)}`);
    }
    // API validation guarantees a non-empty image (contract.md §1); anything else is not from an apiserver.
    if (typeof c.image !== 'string' || c.image.length === 0) {
      throw new DecodeError(
        'INVALID_FIELD',
        `spec.containers[${i}].image must be a non-empty string, found ${describe(c.image)}`,
      );
    }
    if (c.image.length > MAX_IMAGE_LENGTH) {
      throw new DecodeError(
        'INVALID_FIELD',
        `spec.containers[${i}].image is ${c.image.length} characters; at most ${MAX_IMAGE_LENGTH} are accepted`,
      );
    }
    return c.image;
  });
}

function decodeAnnotations(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    throw new DecodeError('INVALID_FIELD', `spec.annotations must be an object, found ${describe(value)}`);
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ANNOTATIONS) {
    throw new DecodeError('INVALID_FIELD', `spec.annotations has ${entries.length} keys; at most ${MAX_ANNOTATIONS}`);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of entries) {
    if (typeof v !== 'string') {
      throw new DecodeError('INVALID_FIELD', `spec.annotations["${k}"] must be a string, found ${describe(v)}`);
    }
    out[k] = v;
  }
  return out;
}

function decodeNamespace(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') {
    throw new DecodeError('INVALID_FIELD', `spec.namespace must be a string, found ${describe(value)}`);
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
  return `a ${typeof v}`;
}
