/**
 * The ImageLookups port (decision/ports.ts) over real registries: tag resolution and the
 * configured verifiers, with the caches of config.md "Caching":
 *   - tag → digest per (repository, tag) for `cache.tagTTL`;
 *   - verdicts per (verifier, repository, digest) for `cache.verifyTTL`. The repository is part
 *     of the key because signatures are looked up in the image's own repository and
 *     matchReference depends on it;
 *   - evidence failures (VerificationError) are kept for at most `cache.denyTTL`; lookup failures
 *     (timeouts, connection, auth, 5xx) and configuration errors are not cached at all;
 *   - identical concurrent lookups share one upstream request (LookupCache single-flight).
 * Everything is per policy generation: a reload starts with empty caches, new keys and a new
 * connection pool (nothing decided under the old policy is reused, config.md "Caching").
 */
import { ConfigError, LookupError, VerificationError } from '../errors';
import { LookupCache, type Outcome } from '../cache/lookup-cache';
import type { ImageLookups } from '../decision/ports';
import type { CompiledPolicy } from '../policy/compiled-policy';
import type { Reference } from '../reference/reference';
import { RegistryClient } from '../registry/registry-client';
import { closeRegistryContext, createRegistryContext, type LookupKind, type RegistryContext } from '../registry/registry-context';
import { resolveTag } from '../registry/resolve-tag';
import { buildVerifiers } from './build-verifiers';
import type { Verifier, VerifyContext } from './verifier';

export type { LookupKind } from '../registry/registry-context';

/** Metrics for lookups (count, result, duration) and lookup caches (hits, misses). */
export interface LookupObserver {
  lookupDone(kind: LookupKind, result: 'success' | 'failure', seconds: number): void;
  cacheUsed(cache: 'tag' | 'verify', hit: boolean): void;
}

export const NOOP_LOOKUP_OBSERVER: LookupObserver = { lookupDone() {}, cacheUsed() {} };

export interface RegistryLookupsOptions {
  readonly observer?: LookupObserver;
}

/** ImageLookups plus a way to release connections and timers (tests, shutdown). */
export interface RegistryLookups extends ImageLookups {
  close(): Promise<void>;
}

/** Generations kept alive at once: the one in force and the one reviews may still be finishing on. */
const GENERATIONS_KEPT = 4;

const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

interface GenerationState {
  readonly context: RegistryContext;
  readonly verifiers: ReadonlyMap<string, Verifier>;
  readonly tags: LookupCache<string>;
  readonly verdicts: LookupCache<true>;
}

export function createRegistryLookups(opts: RegistryLookupsOptions = {}): RegistryLookups {
  const observer = opts.observer ?? NOOP_LOOKUP_OBSERVER;
  // Keyed by the CompiledPolicy object itself: one object is one generation, and two policies
  // that happen to share a generation number (tests, separate stores) never share state.
  const states = new Map<CompiledPolicy, GenerationState>();

  function stateFor(policy: CompiledPolicy): GenerationState {
    const known = states.get(policy);
    if (known) {
      states.delete(policy); // most recently used last
      states.set(policy, known);
      return known;
    }
    const context = createRegistryContext(policy, observer);
    const max = policy.cache.maxEntries;
    const state: GenerationState = {
      context,
      verifiers: buildVerifiers(policy),
      tags: new LookupCache<string>(max, (o) => (o.ok ? policy.cache.tagTTLSeconds : 0)),
      verdicts: new LookupCache<true>(max, (o) => verdictTtl(o, policy)),
    };
    states.set(policy, state);
    while (states.size > GENERATIONS_KEPT) {
      const [oldest, old] = states.entries().next().value as [CompiledPolicy, GenerationState];
      states.delete(oldest);
      void closeState(old);
    }
    return state;
  }

  async function timed<T>(kind: LookupKind, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let ok = false;
    try {
      const v = await work();
      ok = true;
      return v;
    } finally {
      observer.lookupDone(kind, ok ? 'success' : 'failure', (performance.now() - started) / 1000);
    }
  }

  return {
    async resolveTag(policy: CompiledPolicy, ref: Reference, signal: AbortSignal): Promise<string> {
      const tag = ref.tag;
      if (tag === undefined) throw new LookupError('NOT_FOUND', `${ref.original} has no tag to resolve`);
      assertContactable(policy, ref);
      const state = stateFor(policy);
      const key = `${ref.repository}:${tag}`;
      return state.tags.get(
        key,
        signal,
        (shared) => timed('tag', async () => (await resolveTag(new RegistryClient(state.context, ref.registry), ref.path, tag, shared)).digest),
        (hit) => observer.cacheUsed('tag', hit),
      );
    },

    async verify(policy: CompiledPolicy, verifierName: string, ref: Reference, digest: string, signal: AbortSignal): Promise<void> {
      if (!DIGEST.test(digest)) throw new LookupError('MALFORMED_RESPONSE', `"${digest.slice(0, 80)}" is not a sha256 or sha512 digest`);
      assertContactable(policy, ref);
      const state = stateFor(policy);
      const verifier = state.verifiers.get(verifierName);
      if (!verifier) {
        throw new ConfigError('CONFIG_INVALID', [{ path: 'verifiers', message: `verifier "${verifierName}" is not defined` }]);
      }
      // The tag is part of the key: a Notary v1 verdict for a tag-only image depends on the tag's
      // target, not only on the digest (docs/notary-v1.md).
      const key = `${verifierName}\n${ref.repository}\n${ref.digest ? '' : (ref.tag ?? '')}\n${digest}`;
      await state.verdicts.get(
        key,
        signal,
        (shared) =>
          timed('signature', async () => {
            const ctx: VerifyContext = {
              registry: (host) => new RegistryClient(state.context, host),
              registryContext: state.context,
              signal: shared,
            };
            await verifier.verify(ref, digest, ctx);
            return true as const;
          }),
        (hit) => observer.cacheUsed('verify', hit),
      );
    },

    async close(): Promise<void> {
      const all = [...states.values()];
      states.clear();
      await Promise.all(all.map(closeState));
    },
  };
}

/** The registry step runs before lookups, but the client refuses unlisted hosts on its own too. */
function assertContactable(policy: CompiledPolicy, ref: Reference): void {
  if (!policy.registryAllowed(ref.registry)) {
    throw new LookupError('REGISTRY_NOT_ALLOWED_TO_CONTACT', `registry ${ref.registry} is not in registries; it is never contacted`);
  }
}

/** verifyTTL for a pass; at most denyTTL for wrong evidence; nothing for lookup or config failures. */
function verdictTtl(outcome: Outcome<true>, policy: CompiledPolicy): number {
  if (outcome.ok) return policy.cache.verifyTTLSeconds;
  if (outcome.error instanceof VerificationError) return Math.min(policy.cache.denyTTLSeconds, policy.cache.verifyTTLSeconds);
  return 0;
}

async function closeState(state: GenerationState): Promise<void> {
  state.tags.close();
  state.verdicts.close();
  await closeRegistryContext(state.context);
}
