import type { Decider } from '../decision/decide-review';
import type { CompiledPolicy } from '../policy/compiled-policy';
import type { Metrics } from '../observe/metrics';
import type { Logger } from '../observe/logger';
import type { ReviewMemo } from './review-memo';

/** What the HTTP layer is given by the composition root (cli/serve.ts). */
export interface AppDeps {
  readonly decider: Decider;
  /** The policy in force right now (swapped atomically on reload). */
  currentPolicy(): CompiledPolicy;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Decoded review bodies seen before, with their decision keys (review-memo.ts); one per decider. */
  readonly reviewMemo: ReviewMemo;
  /** A client CA is configured: review paths need a verified client certificate. */
  readonly requireClientCert: boolean;
  /** /readyz: policy loaded and trust material readable. */
  readiness(): { ready: boolean; problems: string[] };
}
