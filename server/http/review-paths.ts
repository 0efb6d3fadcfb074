import type { AppDeps } from './app-deps';
import { errorSummary } from './review-route';

/** Review paths (interfaces.md "HTTP"): kube-image-bouncer's path and our own. */
export const REVIEW_PATHS = ['/image_policy', '/imagereview'] as const;

/** The answer to a review that failed on a bug: 200 deny (fail closed whatever defaultAllow is). */
export const INTERNAL_ERROR_REVIEW = {
  apiVersion: 'imagepolicy.k8s.io/v1alpha1',
  kind: 'ImageReview',
  status: { allowed: false, reason: 'imagegate internal error (see the imagegate log); denied' },
} as const;

export const INTERNAL_ERROR_REVIEW_JSON = JSON.stringify(INTERNAL_ERROR_REVIEW);

/** A review that failed on a bug: logged with its stack, counted as denied. */
export function reportInternalError(deps: AppDeps, err: unknown, path: string): void {
  deps.logger.error({ event: 'internal-error', path, err: errorSummary(err) }, 'unhandled error');
  deps.metrics.countReview('denied');
}
