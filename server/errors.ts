/**
 * The error model (style.md "Error model", after sigstore-js packages/verify/src/error.ts):
 * one BaseError<Code> with a closed union of codes, split by who is at fault, because that
 * decides the answer: a DecodeError is a 4xx, a ConfigError is exit 2 (or "keep the last good
 * policy" on reload), everything else found while deciding is an HTTP 200 deny.
 * Codes are closed unions so they can be metric labels and audit fields.
 */
export class BaseError<Code extends string> extends Error {
  readonly code: Code;
  override readonly cause: unknown;

  constructor(code: Code, message: string, cause?: unknown) {
    super(message);
    this.code = code;
    this.cause = cause;
    this.name = new.target.name;
  }
}

/** The request is wrong: answered with a 4xx (interfaces.md "HTTP"). */
export type DecodeErrorCode =
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'MALFORMED_JSON'
  | 'NOT_AN_OBJECT'
  | 'WRONG_API_VERSION'
  | 'WRONG_KIND'
  | 'MISSING_SPEC'
  | 'INVALID_FIELD';

export class DecodeError extends BaseError<DecodeErrorCode> {
  /** HTTP status the review route answers with for this code. */
  get httpStatus(): 400 | 413 | 415 {
    switch (this.code) {
      case 'BODY_TOO_LARGE':
        return 413;
      case 'UNSUPPORTED_MEDIA_TYPE':
        return 415;
      default:
        return 400;
    }
  }
}

/** One problem in a policy file: where, what was expected, what was found. */
export interface ConfigIssue {
  /** Path in the document, e.g. `rules[2].images[0]`; empty for the whole document. */
  path: string;
  /** `line:col` in the YAML source when known. */
  position?: string;
  message: string;
  expected?: string;
  found?: string;
}

export type ConfigErrorCode = 'CONFIG_UNREADABLE' | 'CONFIG_SYNTAX' | 'CONFIG_INVALID';

export class ConfigError extends BaseError<ConfigErrorCode> {
  readonly issues: readonly ConfigIssue[];

  constructor(code: ConfigErrorCode, issues: readonly ConfigIssue[], cause?: unknown) {
    super(code, formatIssues(issues), cause);
    this.issues = issues;
  }
}

/** Renders issues one per line, as `config validate` prints them. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      const where = (i.path || '(document)') + (i.position ? ` (line ${i.position})` : '');
      const detail = [i.expected ? `expected ${i.expected}` : '', i.found ? `found ${i.found}` : '']
        .filter(Boolean)
        .join(', ');
      return `${where}: ${i.message}${detail ? ` (${detail})` : ''}`;
    })
    .join('\n');
}

/** An image reference that is not a valid Docker/OCI distribution reference. */
export type ImageReferenceErrorCode = 'INVALID_REFERENCE';

export class ImageReferenceError extends BaseError<ImageReferenceErrorCode> {}

/** A registry or trust server failed: deny under failurePolicy. */
export type LookupErrorCode =
  | 'REGISTRY_NOT_ALLOWED_TO_CONTACT'
  | 'LOOKUP_TIMEOUT'
  | 'LOOKUP_ABORTED'
  | 'CONNECTION_FAILED'
  | 'UPSTREAM_STATUS'
  | 'NOT_FOUND'
  | 'RESPONSE_TOO_LARGE'
  | 'MALFORMED_MANIFEST'
  | 'MALFORMED_RESPONSE'
  | 'DIGEST_MISMATCH'
  | 'AUTH_FAILED'
  | 'REDIRECT_REFUSED';

export class LookupError extends BaseError<LookupErrorCode> {}

/** The evidence is wrong: deny (never subject to failurePolicy: open). */
export type VerificationErrorCode =
  | 'SIGNATURE_NOT_FOUND'
  | 'SIGNATURE_INVALID'
  | 'DIGEST_MISMATCH'
  | 'REFERENCE_MISMATCH'
  | 'ANNOTATION_MISMATCH'
  | 'PAYLOAD_INVALID'
  | 'UNTRUSTED_SIGNER'
  | 'UNTRUSTED_IDENTITY'
  | 'CERTIFICATE_INVALID'
  | 'SIGNATURE_EXPIRED'
  | 'TIMESTAMP_MISSING'
  | 'TIMESTAMP_INVALID'
  | 'TIMESTAMP_MISMATCH'
  | 'TIMESTAMP_UNTRUSTED'
  | 'TRUST_METADATA_INVALID'
  | 'TRUST_METADATA_EXPIRED'
  | 'ROLLBACK_DETECTED'
  | 'TARGET_NOT_FOUND'
  | 'THRESHOLD_NOT_MET';

export class VerificationError extends BaseError<VerificationErrorCode> {}

/** Anything that is not a BaseError is reported under this code (style.md "Error model"). */
export const INTERNAL_ERROR = 'INTERNAL_ERROR' as const;

/** The code of any thrown value: its own code for BaseErrors, INTERNAL_ERROR otherwise. */
export function errorCode(err: unknown): string {
  return err instanceof BaseError ? (err.code as string) : INTERNAL_ERROR;
}
