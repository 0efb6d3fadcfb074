import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionObserver } from '../decision/ports';
import { PendingCounts } from './pending-counts';
import { PlainHistogram } from './plain-histogram';

/**
 * The named metrics of interfaces.md "Metrics". Label values come from closed sets (results,
 * cache names, lookup kinds) or from the policy (rule names), so cardinality stays bounded.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly reviews: Counter<'result'> = new Counter({
    name: 'imagegate_reviews_total',
    help: 'ImageReviews answered, by result (error = answered 4xx).',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: (): void => this.pendingReviews.flush(),
  });
  private readonly pendingReviews: PendingCounts<'result'> = new PendingCounts(this.reviews, ['result']);
  /** Observed once per review: a PlainHistogram, not prom-client's (plain-histogram.ts says why). */
  readonly reviewDuration = new PlainHistogram(
    'imagegate_review_duration_seconds',
    'Time to answer one ImageReview.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );
  readonly imageDecisions: Counter<'rule' | 'result'> = new Counter({
    name: 'imagegate_image_decisions_total',
    help: 'Per-image decisions, by deciding rule ("" when no rule matched) and result.',
    labelNames: ['rule', 'result'] as const,
    registers: [this.registry],
    collect: (): void => this.pendingImageDecisions.flush(),
  });
  private readonly pendingImageDecisions: PendingCounts<'rule' | 'result'> = new PendingCounts(this.imageDecisions, ['rule', 'result']);
  readonly cacheRequests: Counter<'cache' | 'result'> = new Counter({
    name: 'imagegate_cache_requests_total',
    help: 'Cache look-ups by cache and result.',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
    collect: (): void => this.pendingCacheRequests.flush(),
  });
  private readonly pendingCacheRequests: PendingCounts<'cache' | 'result'> = new PendingCounts(this.cacheRequests, ['cache', 'result']);
  readonly lookups = new Counter({
    name: 'imagegate_lookups_total',
    help: 'Registry and trust-server lookups by kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly lookupDuration = new Histogram({
    name: 'imagegate_lookup_duration_seconds',
    help: 'Duration of registry and trust-server lookups.',
    labelNames: ['kind'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly policyReloads = new Counter({
    name: 'imagegate_policy_reloads_total',
    help: 'Policy reloads by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly policyGeneration = new Gauge({
    name: 'imagegate_policy_generation',
    help: 'Generation of the policy in force.',
    registers: [this.registry],
  });

  constructor(defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'imagegate_' });
    // Pre-create the closed-set series so dashboards see zeros, not absent series.
    for (const result of ['allowed', 'denied', 'error']) this.reviews.inc({ result }, 0);
    for (const result of ['success', 'failure']) this.policyReloads.inc({ result }, 0);
  }

  /** One more review answered: allowed, denied, or error (answered 4xx). Hot path: see PendingCounts. */
  countReview(result: 'allowed' | 'denied' | 'error'): void {
    this.pendingReviews.add(result);
  }

  /** One more cache look-up. Hot path: see PendingCounts. */
  countCache(cache: string, hit: boolean): void {
    this.pendingCacheRequests.add(cache, hit ? 'hit' : 'miss');
  }

  /** A DecisionObserver that counts; `onInternal`/`onFailedOpen` go to the log. */
  observer(log: Pick<DecisionObserver, 'internalError' | 'failedOpen'>): DecisionObserver {
    return {
      imageDecided: (rule, allowed) => this.pendingImageDecisions.add(rule ?? '', allowed ? 'allowed' : 'denied'),
      cacheUsed: (cache, hit) => this.countCache(cache, hit),
      internalError: log.internalError,
      failedOpen: log.failedOpen,
    };
  }
}
