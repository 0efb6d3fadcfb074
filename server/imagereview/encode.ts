import {
  IMAGE_REVIEW_API_VERSION,
  IMAGE_REVIEW_KIND,
  type ImageReviewResponseWire,
} from './wire-types';

export interface StatusToEncode {
  allowed: boolean;
  reason?: string | undefined;
  auditAnnotations?: Readonly<Record<string, string>> | undefined;
}

/**
 * ReviewDecision status → the ImageReview the apiserver decodes (contract.md §4): apiVersion and
 * kind set, `reason` only when non-empty, `auditAnnotations` only when there are some.
 */
export function encodeReview(status: StatusToEncode): ImageReviewResponseWire {
  const out: ImageReviewResponseWire = {
    apiVersion: IMAGE_REVIEW_API_VERSION,
    kind: IMAGE_REVIEW_KIND,
    status: { allowed: status.allowed },
  };
  if (status.reason) out.status.reason = status.reason;
  if (status.auditAnnotations && Object.keys(status.auditAnnotations).length > 0) {
    out.status.auditAnnotations = { ...status.auditAnnotations };
  }
  return out;
}
