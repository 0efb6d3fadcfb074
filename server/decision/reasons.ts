import type { BaseError } from '../errors';
import type { ImageVerdict, Step } from './image-verdict';

/**
 * Reason text is what a person sees in `kubectl` (contract.md §8: "image policy webhook backend
 * denied one or more images: <reason>"). Every denial names the image, the rule and the failing
 * step (config.md "Evaluation of one ImageReview").
 */

/** Most a reason may grow to; the apiserver passes it through untruncated (contract.md §4). */
export const MAX_REASON_LENGTH = 8192;

/** `nginx` → `nginx (docker.io/library/nginx:latest)`; the form the user wrote comes first. */
export function displayImage(v: Pick<ImageVerdict, 'image' | 'normalized'>): string {
  return v.normalized && v.normalized !== v.image ? `${v.image} (${v.normalized})` : v.image;
}

/** `<image> denied by rule "<rule>": <step detail>` or `<image> denied: <detail>` before any rule. */
export function imageReason(v: ImageVerdict, verb = 'denied'): string {
  const who = displayImage(v);
  return v.rule !== undefined ? `${who} ${verb} by rule "${v.rule}": ${v.detail}` : `${who} ${verb}: ${v.detail}`;
}

/** All denied images of a review, in pod order, bounded in length. */
export function reviewReason(denied: readonly ImageVerdict[]): string {
  const parts = denied.map((v) => imageReason(v));
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const next = out ? `${out}; ${parts[i]}` : (parts[i] as string);
    if (next.length > MAX_REASON_LENGTH) {
      return `${out}; … and ${parts.length - i} more denied image(s)`;
    }
    out = next;
  }
  return out;
}

/** The detail for a failed lookup: which step or verifier, and the error's own precise message. */
export function describeLookupFailure(step: Step, err: BaseError<string>, verifier?: string): string {
  if (step === 'verify' && verifier !== undefined) return `verifier "${verifier}": ${err.message}`;
  return `${step}: ${err.message}`;
}
