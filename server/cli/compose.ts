import { Decider } from '../decision/decide-review';
import type { DecisionObserver, ImageLookups } from '../decision/ports';
import type { Logger } from '../observe/logger';
import type { Metrics } from '../observe/metrics';
import { errorSummary } from '../http/review-route';
import { createRegistryLookups, NOOP_LOOKUP_OBSERVER, type LookupObserver, type RegistryLookups } from '../verify/lookups';

/** A Decider and the lookups it owns (closed together). */
export interface DecisionStack {
  readonly decider: Decider;
  readonly lookups: RegistryLookups;
  close(): Promise<void>;
}

/**
 * Builds the one Decider every command uses, on real registry lookups (interfaces.md: `review`
 * and `check` answer "exactly what serve would answer (same code path, lookups included)").
 */
export function createDecisionStack(logger: Logger, metrics?: Metrics): DecisionStack {
  const logObserver: Pick<DecisionObserver, 'internalError' | 'failedOpen'> = {
    internalError: (err, ctx) =>
      logger.error({ event: 'internal-error', image: ctx.image, err: errorSummary(err) }, 'image evaluation failed unexpectedly'),
    failedOpen: (image, rule, detail) =>
      logger.warn({ event: 'failed-open', image, rule, detail }, `failurePolicy open: ${image} allowed although a lookup failed`),
  };
  const observer: DecisionObserver = metrics
    ? metrics.observer(logObserver)
    : { imageDecided() {}, cacheUsed() {}, ...logObserver };
  const lookups = createRegistryLookups({ observer: metrics ? lookupObserver(metrics) : NOOP_LOOKUP_OBSERVER });
  const decider = new Decider({ lookups: lookups as ImageLookups, observer });
  return {
    decider,
    lookups,
    close: async () => {
      decider.close();
      await lookups.close();
    },
  };
}

/** imagegate_lookups_total, imagegate_lookup_duration_seconds and the tag/verify cache counters. */
function lookupObserver(metrics: Metrics): LookupObserver {
  return {
    lookupDone: (kind, result, seconds) => {
      metrics.lookups.inc({ kind, result });
      metrics.lookupDuration.observe({ kind }, seconds);
    },
    cacheUsed: (cache, hit) => metrics.countCache(cache, hit),
  };
}

/** Registry lookups with no metrics (benchmarks and tools that build their own Decider). */
export function defaultLookups(): RegistryLookups {
  return createRegistryLookups();
}
