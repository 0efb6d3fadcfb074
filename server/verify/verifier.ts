/**
 * The Verifier port: one configured verifier (config.md `verifiers.<name>`), built once per
 * policy generation (build-verifiers.ts), run per image digest. A verifier resolves when the
 * evidence verifies; it throws VerificationError when the evidence is wrong (never subject to
 * failurePolicy: open) and LookupError when it could not be fetched.
 */
import type { VerifierType } from '../policy/compiled-policy';
import type { Reference } from '../reference/reference';
import type { RegistryClient } from '../registry/registry-client';
import type { RegistryContext } from '../registry/registry-context';

export interface VerifyContext {
  /** A client for a registry host (allowlist, credentials, limits and timeouts built in). */
  registry(host: string): RegistryClient;
  /** The generation's connection pool, CAs and reporter, for verifiers that talk to other servers. */
  readonly registryContext: RegistryContext;
  /** The review's signal: aborts every request when the review's time runs out. */
  readonly signal: AbortSignal;
}

export interface Verifier {
  readonly name: string;
  readonly type: VerifierType;
  /** Checks the evidence for `ref` pinned to `digest`; resolves when it verifies. */
  verify(ref: Reference, digest: string, ctx: VerifyContext): Promise<void>;
}
