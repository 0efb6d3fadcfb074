import type { LookupErrorCode, VerificationErrorCode } from '../errors';

/** The evaluation steps of config.md "Evaluation of one ImageReview", in order. */
export type Step =
  | 'reference'
  | 'registry'
  | 'rule'
  | 'action'
  | 'requireDigest'
  | 'allowLatest'
  | 'resolveTags'
  | 'verify'
  | 'deadline'
  | 'internal';

/** Policy outcomes that are values, not exceptions (style.md "Error model"). */
export type PolicyOutcomeCode =
  | 'ALLOWED'
  | 'INVALID_REFERENCE'
  | 'REGISTRY_NOT_ALLOWED'
  | 'NO_MATCHING_RULE'
  | 'RULE_DENIES'
  | 'DIGEST_REQUIRED'
  | 'LATEST_NOT_ALLOWED'
  | 'REVIEW_DEADLINE_EXCEEDED'
  /** Break-glass was in force: the rule's lookups were not run (nothing was found or not found). */
  | 'LOOKUPS_SKIPPED'
  | 'INTERNAL_ERROR';

export type VerdictCode = PolicyOutcomeCode | LookupErrorCode | VerificationErrorCode;

/** What happened to one image. */
export interface ImageVerdict {
  /** The image exactly as the pod wrote it. */
  readonly image: string;
  /** Canonical form (`repository@digest` or `repository:tag`), when it parsed. */
  readonly normalized: string | undefined;
  /** The digest that was checked: the pinned one, or the one the tag resolved to. */
  readonly digest: string | undefined;
  /** The deciding rule's name; undefined before a rule matched or when none did. */
  readonly rule: string | undefined;
  /** True when this image does not block the review. */
  readonly allowed: boolean;
  /** The step that decided (the failing one for a violation). */
  readonly step: Step;
  readonly code: VerdictCode;
  /** The human detail of a violation, without the image/rule prefix; empty when clean. */
  readonly detail: string;
  /** A violation let through because the rule is in audit mode. */
  readonly audited: boolean;
  /** A lookup failure let through because failurePolicy is open. */
  readonly failedOpen: boolean;
  /** Allowed only because of break-glass. */
  readonly brokeGlass: boolean;
}
