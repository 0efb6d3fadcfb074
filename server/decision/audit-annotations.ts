/**
 * status.auditAnnotations: the apiserver prefixes each key with
 * `imagepolicywebhook.image-policy.k8s.io/` and drops (with a warning) any key that is not a
 * qualified name of at most 63 characters without `/` (contract.md §9, attributes.go
 * checkKeyFormat). Keys are therefore built here from fixed words and an index only.
 */
const QUALIFIED_NAME = /^[A-Za-z0-9](?:[-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?$/;
/** Audit annotation values end up in the audit event; keep each one bounded. */
const MAX_VALUE_LENGTH = 2048;

const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});

export class AuditAnnotations {
  private readonly entries: Record<string, string> = {};

  set(key: string, value: string): void {
    if (!QUALIFIED_NAME.test(key)) throw new Error(`audit annotation key "${key}" is not a qualified name`);
    this.entries[key] = value.length > MAX_VALUE_LENGTH ? `${value.slice(0, MAX_VALUE_LENGTH - 1)}…` : value;
  }

  get size(): number {
    return Object.keys(this.entries).length;
  }

  /** A copy of the entries; with none, one shared frozen object (most decisions have none and are cached). */
  toJSON(): Readonly<Record<string, string>> {
    return this.size === 0 ? NO_ANNOTATIONS : { ...this.entries };
  }
}

/** `audit-required` is the well-known suffix backends are encouraged to return (admission.go:55-64). */
export const AUDIT_REQUIRED_KEY = 'audit-required';
