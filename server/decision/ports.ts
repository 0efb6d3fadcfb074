import { LookupError } from '../errors';
import type { Reference } from '../reference/reference';
import type { CompiledPolicy } from '../policy/compiled-policy';

/**
 * What the decision core needs from the outside world (style.md "Dependency rule"): registry and
 * trust-server lookups, and somewhere to report what it saw. decision/ imports no hono, pino or
 * prom-client; the composition roots (cli/) plug real adapters in, tests plug in their own.
 */
export interface ImageLookups {
  /** Resolves `ref`'s tag to the digest the registry serves for it. Throws LookupError. */
  resolveTag(policy: CompiledPolicy, ref: Reference, signal: AbortSignal): Promise<string>;
  /**
   * Runs the named verifier on `ref` pinned to `digest`. Resolves when the evidence verifies;
   * throws VerificationError (evidence wrong) or LookupError (could not fetch it).
   */
  verify(policy: CompiledPolicy, verifier: string, ref: Reference, digest: string, signal: AbortSignal): Promise<void>;
}

/** Lookups for a build or a run that has none: every lookup fails closed with a clear reason. */
export const NO_LOOKUPS: ImageLookups = {
  async resolveTag() {
    throw new LookupError('CONNECTION_FAILED', 'tag resolution is not available in this process');
  },
  async verify(_p, verifier) {
    throw new LookupError('CONNECTION_FAILED', `verifier "${verifier}" is not available in this process`);
  },
};

/** Events the decision core reports; metrics and logs are built from these. */
export interface DecisionObserver {
  imageDecided(rule: string | undefined, allowed: boolean): void;
  cacheUsed(cache: string, hit: boolean): void;
  /** Something unexpected (not a BaseError) was turned into an INTERNAL_ERROR deny. */
  internalError(err: unknown, context: { image: string }): void;
  /** failurePolicy: open let an image through despite a lookup failure (logged loudly). */
  failedOpen(image: string, rule: string, detail: string): void;
}

export const NOOP_OBSERVER: DecisionObserver = {
  imageDecided() {},
  cacheUsed() {},
  internalError() {},
  failedOpen() {},
};
