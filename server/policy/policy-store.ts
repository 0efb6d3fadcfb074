/**
 * The policy in force: one frozen CompiledPolicy, swapped whole (style.md anti-pattern 4).
 *
 * - The first successful `reload()` installs generation 1; each later success installs the next
 *   generation. A failure never changes the generation (config.md "Caching": decisions are keyed
 *   by generation, so a failed reload must not invalidate them).
 * - A failed reload keeps the last good policy in force and returns the ConfigError
 *   (config.md: "on reload the last good policy stays in force").
 * - Listeners hear about every swap, after it happened.
 *
 * Reload is synchronous (the file is at most 1 MiB), so a swap is atomic for every reader.
 */
import { ConfigError } from '../errors';
import type { CompiledPolicy } from './compiled-policy';

/** Loads and compiles the policy for the given generation; throws ConfigError on a bad policy. */
export type PolicyLoader = (generation: number) => CompiledPolicy;

export type ReloadResult = { readonly ok: true; readonly policy: CompiledPolicy } | { readonly ok: false; readonly error: ConfigError };

/** Called after a swap with the new policy and the one it replaced (undefined on the first load). */
export type PolicyListener = (policy: CompiledPolicy, previous: CompiledPolicy | undefined) => void;

export interface PolicyStoreOptions {
  /** A listener threw; the swap has happened regardless. The store never logs by itself. */
  readonly onListenerError?: (err: unknown) => void;
}

export class PolicyStore {
  readonly #load: PolicyLoader;
  readonly #options: PolicyStoreOptions;
  readonly #listeners = new Set<PolicyListener>();
  #current: CompiledPolicy | undefined;

  constructor(load: PolicyLoader, options: PolicyStoreOptions = {}) {
    this.#load = load;
    this.#options = options;
  }

  /** The policy in force; throws when no policy was ever loaded (call reload() first). */
  current(): CompiledPolicy {
    if (!this.#current) throw new Error('PolicyStore: no policy loaded yet');
    return this.#current;
  }

  /** True once a policy has been loaded. */
  get loaded(): boolean {
    return this.#current !== undefined;
  }

  /** Generation of the policy in force; 0 before the first load. */
  get generation(): number {
    return this.#current?.generation ?? 0;
  }

  /** Loads the next generation; on failure keeps the current policy and returns the error. */
  reload(): ReloadResult {
    const previous = this.#current;
    const generation = (previous?.generation ?? 0) + 1;
    let policy: CompiledPolicy;
    try {
      policy = this.#load(generation);
      if (policy.generation !== generation) {
        throw new Error(`loader returned generation ${policy.generation}, expected ${generation}`);
      }
    } catch (err) {
      const error =
        err instanceof ConfigError
          ? err
          : new ConfigError('CONFIG_INVALID', [{ path: '', message: `loading the policy failed: ${(err as Error)?.message ?? String(err)}` }], err);
      return { ok: false, error };
    }
    this.#current = policy;
    for (const listener of [...this.#listeners]) {
      try {
        listener(policy, previous);
      } catch (err) {
        this.#options.onListenerError?.(err);
      }
    }
    return { ok: true, policy };
  }

  /** Subscribes to swaps; returns the unsubscribe function. */
  onChange(listener: PolicyListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

/** A store whose first policy is loaded now; throws ConfigError when it is invalid (start: exit 2). */
export function createPolicyStore(load: PolicyLoader, options: PolicyStoreOptions = {}): PolicyStore {
  const store = new PolicyStore(load, options);
  const first = store.reload();
  if (!first.ok) throw first.error;
  return store;
}
