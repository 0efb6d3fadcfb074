import { Decider } from '../decision/decide-review';
import type { DecisionObserver, ImageLookups } from '../decision/ports';
import { NO_LOOKUPS } from '../decision/ports';
import type { Logger } from '../observe/logger';
import type { Metrics } from '../observe/metrics';
import { errorSummary } from '../http/review-route';

/**
 * Builds the one Decider every command uses (interfaces.md: `review` and `check` answer "exactly
 * what serve would answer (same code path, lookups included)").
 */
export function createDecider(logger: Logger, metrics?: Metrics, lookups: ImageLookups = defaultLookups()): Decider {
  const logObserver: Pick<DecisionObserver, 'internalError' | 'failedOpen'> = {
    internalError: (err, ctx) => logger.error({ event: 'internal-error', image: ctx.image, err: errorSummary(err) }, 'image evaluation failed unexpectedly'),
    failedOpen: (image, rule, detail) =>
      logger.warn({ event: 'failed-open', image, rule, detail }, `failurePolicy open: ${image} allowed although a lookup failed`),
  };
  const observer: DecisionObserver = metrics
    ? metrics.observer(logObserver)
    : { imageDecided() {}, cacheUsed() {}, ...logObserver };
  return new Decider({ lookups, observer });
}

/** The lookups of this build. */
export function defaultLookups(): ImageLookups {
  return NO_LOOKUPS;
}
