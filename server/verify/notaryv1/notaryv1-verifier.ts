/**
 * The `type: notaryv1` verifier (config.md `verifiers`; issue 6): an image is admitted only when
 * the notary server's TUF metadata, verified from the pinned root (tuf-workflow.ts), lists a
 * target whose hash is the image digest (target-search.ts). Nothing the server says is believed
 * before its signature chain verifies; every failure throws with a reason naming the check.
 *
 * Caching (config.md "Caching"), all per verifier instance, i.e. per policy generation:
 *   - trusted metadata per GUN: the TUF "trusted" files, the rollback baseline and starting root
 *     of the next update. Reused without contacting the server for `cache.tagTTL` (the trust
 *     data maps tags to digests, and tags move), and never past the earliest expiry of the
 *     root, timestamp, snapshot or targets file. A target not found in metadata older than this
 *     request triggers one immediate update before the image is denied, so a new signature is
 *     seen at once. An update that fails leaves the previous trusted metadata in place.
 *   - verdicts per (policy generation, GUN, tag or digest lookup, digest): an admit for
 *     `cache.verifyTTL`, never past the expiry of the metadata that admitted it; a deny
 *     (VerificationError) for at most `cache.denyTTL`; lookup failures are not cached.
 *   - concurrent identical verifications, and concurrent updates of one GUN, share one promise.
 */
import { VerificationError } from '../../errors';
import { TtlCache } from '../../cache/ttl-cache';
import { SingleFlight } from '../../cache/single-flight';
import type { CompiledPolicy, NotaryV1VerifierConfig } from '../../policy/compiled-policy';
import type { Reference } from '../../reference/reference';
import type { Verifier, VerifyContext } from '../verifier';
import { gunFor } from './gun';
import { NotaryClient } from './notary-client';
import { findTarget, type TargetLookup, type TargetMatch } from './target-search';
import { loadRootPins, type RootPin } from './trust-pinning';
import { loadRole, updateTrust, type TrustState, type UpdateContext, type VerifiedRole } from './tuf-workflow';

export interface NotaryV1VerifierOptions {
  /** The clock (ms since the epoch) every expiry is checked against; tests move it. */
  readonly now?: () => number;
}

/**
 * GUNs whose trusted metadata one verifier keeps (least recently used dropped first). A targets
 * file is at most 5 MB (notary-client.ts), so this bounds memory; a cluster pulls from far fewer
 * signed repositories.
 */
const MAX_TRUSTED_GUNS = 256;

/** Verdict errors that newer metadata could turn into an admit: worth one update before denying. */
const RETRY_AFTER_UPDATE: ReadonlySet<string> = new Set(['TARGET_NOT_FOUND', 'DIGEST_MISMATCH', 'SIGNATURE_NOT_FOUND', 'TRUST_METADATA_EXPIRED']);

type Verdict = { readonly ok: true } | { readonly ok: false; readonly error: VerificationError };

/** Builds the verifier for `verifiers.<name>`; throws ConfigError when a pinned root key is unusable. */
export function createNotaryV1Verifier(name: string, config: NotaryV1VerifierConfig, options: NotaryV1VerifierOptions = {}): Verifier {
  return new NotaryV1Verifier(name, config, loadRootPins(name, config.rootKeys), options.now ?? Date.now);
}

class NotaryV1Verifier implements Verifier {
  readonly type = 'notaryv1' as const;
  private readonly states = new Map<string, TrustState>();
  private readonly updates = new SingleFlight<TrustState>();
  private readonly inflight = new SingleFlight<void>();
  private verdicts: TtlCache<Verdict> | undefined;

  constructor(
    readonly name: string,
    private readonly config: NotaryV1VerifierConfig,
    private readonly pins: readonly RootPin[],
    private readonly now: () => number,
  ) {}

  async verify(ref: Reference, digest: string, ctx: VerifyContext): Promise<void> {
    if (!/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(digest)) {
      throw new VerificationError('DIGEST_MISMATCH', `${JSON.stringify(digest.slice(0, 80))} is not a sha256 or sha512 digest`);
    }
    const gun = gunFor(this.config.gun, ref);
    // config.md "A reference with both tag and digest is identified by its digest"; a tag-only
    // reference reaches a verifier only with the digest resolveTags found for the tag.
    const lookup: TargetLookup = ref.digest !== undefined ? { kind: 'digest', digest } : { kind: 'tag', tag: ref.tag ?? 'latest', digest };
    const policy = ctx.registryContext.policy;
    const key = [policy.generation, gun, lookup.kind === 'tag' ? `tag:${lookup.tag}` : 'digest', digest].join('\n');
    const verdicts = this.verdictCache(policy);
    const cached = verdicts.get(key);
    if (cached?.ok) return;
    if (cached) throw new VerificationError(cached.error.code, cached.error.message, cached.error);
    return this.inflight.run(key, async () => {
      try {
        const expiresAt = await this.decide(gun, lookup, ctx);
        const ttl = Math.min(policy.cache.verifyTTLSeconds, Math.floor((expiresAt - this.now()) / 1000));
        verdicts.set(key, { ok: true }, ttl);
      } catch (err) {
        if (err instanceof VerificationError) verdicts.set(key, { ok: false, error: err }, Math.min(policy.cache.denyTTLSeconds, policy.cache.verifyTTLSeconds));
        throw err;
      }
    });
  }

  private verdictCache(policy: CompiledPolicy): TtlCache<Verdict> {
    this.verdicts ??= new TtlCache<Verdict>(policy.cache.maxEntries);
    return this.verdicts;
  }

  /** Resolves with the time (ms) until which the admitting metadata is valid; throws otherwise. */
  private async decide(gun: string, lookup: TargetLookup, ctx: VerifyContext): Promise<number> {
    const now = this.now();
    const policy = ctx.registryContext.policy;
    const update: UpdateContext = { client: new NotaryClient(ctx.registryContext, this.config.server, gun), pins: this.pins, signal: ctx.signal };
    const stateKey = `${this.config.server}\n${gun}`;
    let state = this.states.get(stateKey);
    let updated = false;
    if (!state || isStale(state, now, policy.cache.tagTTLSeconds * 1000)) {
      state = await this.update(stateKey, update, state, now);
      updated = true;
    }
    try {
      return await this.search(update, state, gun, lookup, now);
    } catch (err) {
      if (updated || !(err instanceof VerificationError) || !RETRY_AFTER_UPDATE.has(err.code)) throw err;
      // Metadata from an earlier request said no: the server may have been updated since.
      const fresh = await this.update(stateKey, update, state, now);
      return this.search(update, fresh, gun, lookup, now);
    }
  }

  private update(stateKey: string, ctx: UpdateContext, previous: TrustState | undefined, now: number): Promise<TrustState> {
    return this.updates.run(stateKey, async () => {
      const state = await updateTrust(ctx, previous, now);
      this.states.delete(stateKey);
      while (this.states.size >= MAX_TRUSTED_GUNS) this.states.delete(this.states.keys().next().value as string);
      this.states.set(stateKey, state);
      return state;
    });
  }

  private async search(ctx: UpdateContext, state: TrustState, gun: string, lookup: TargetLookup, now: number): Promise<number> {
    const used: VerifiedRole[] = [];
    const load = async (name: string): Promise<VerifiedRole | undefined> => {
      const role = await loadRole(ctx, state, name, now);
      // A role verified earlier may have expired since (5.6.5 at the time of use).
      if (role?.metadata && role.metadata.envelope.expires.getTime() <= now) {
        throw new VerificationError('TRUST_METADATA_EXPIRED', `${name} expired at ${role.metadata.envelope.expires.toISOString()}`);
      }
      if (role) used.push(role);
      return role;
    };
    const matches: TargetMatch[] = await findTarget(load, gun, lookup, this.config.delegations);
    const matchedRoles = new Set(matches.flatMap((m) => ancestors(m.role)));
    const expiries = [state.root.envelope.expires, state.timestamp.envelope.expires, state.snapshot.envelope.expires]
      .concat(used.filter((r) => matchedRoles.has(r.name) && r.metadata).map((r) => r.metadata!.envelope.expires))
      .map((d) => d.getTime());
    return Math.min(...expiries);
  }
}

/** A role and every role above it: `targets/a/b` → targets, targets/a, targets/a/b. */
function ancestors(role: string): string[] {
  const parts = role.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Older than the reuse window, or any top-level file expired (never used past the timestamp's expiry). */
function isStale(state: TrustState, now: number, windowMs: number): boolean {
  if (now - state.updatedAt >= windowMs || now < state.updatedAt) return true;
  return [state.root, state.timestamp, state.snapshot].some((m) => m.envelope.expires.getTime() <= now);
}

