/**
 * imagepolicy.k8s.io/v1alpha1 ImageReview, exactly as kube-apiserver sends and reads it
 * (contract.md §3, §4; k8s.io/api imagepolicy/v1alpha1 types.go).
 */
export const IMAGE_REVIEW_API_VERSION = 'imagepolicy.k8s.io/v1alpha1';
export const IMAGE_REVIEW_KIND = 'ImageReview';

/** The request body. `status` is sent too (`{"allowed":false}`) and is ignored (contract.md §3). */
export interface ImageReviewRequestWire {
  kind?: string;
  apiVersion?: string;
  metadata?: Record<string, unknown>;
  spec?: {
    containers?: Array<{ image?: string }>;
    annotations?: Record<string, string>;
    namespace?: string;
  };
  status?: unknown;
}

/** The response body: apiVersion, kind and status (contract.md §4, §11 item 2). */
export interface ImageReviewResponseWire {
  apiVersion: typeof IMAGE_REVIEW_API_VERSION;
  kind: typeof IMAGE_REVIEW_KIND;
  status: {
    allowed: boolean;
    reason?: string;
    auditAnnotations?: Record<string, string>;
  };
}

/** The version-independent model the decision core works on (style.md example 10). */
export interface ReviewRequest {
  /** Every container image in the order sent (containers, then init; or ephemeral only). */
  readonly images: readonly string[];
  /** The forwarded pod annotations (keys containing `.image-policy.k8s.io/`). */
  readonly annotations: Readonly<Record<string, string>>;
  /** The request's namespace; empty when absent (never for a real apiserver). */
  readonly namespace: string;
}
