/**
 * Everything the registry client shares within one policy generation: the connection pool with
 * the trusted CAs (`transport.caFiles`), the credentials file, the token cache, and where lookups
 * are reported. Built once per CompiledPolicy (style.md example 5) and closed when the policy is
 * replaced.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import { ConfigError } from '../errors';
import type { CompiledPolicy } from '../policy/compiled-policy';
import { TokenCache } from './auth-challenge';
import { CredentialsFile } from './credentials';

/** The closed set of lookup kinds: metric label values (style.md "Error model"). */
export type LookupKind = 'manifest' | 'blob' | 'referrers' | 'token' | 'tag' | 'signature';

/** Receives one call per registry request (and per whole tag resolution / signature check). */
export interface LookupReporter {
  lookupDone(kind: LookupKind, result: 'success' | 'failure', seconds: number): void;
}

export const NOOP_REPORTER: LookupReporter = { lookupDone() {} };

/** A CA bundle file is a few certificates; 1 MiB bounds a misconfigured path. */
const CA_FILE_MAX_BYTES = 1 << 20;

export interface RegistryContext {
  readonly policy: CompiledPolicy;
  readonly dispatcher: Agent;
  readonly credentials: CredentialsFile;
  readonly tokens: TokenCache;
  /** Origins that answered with a Basic challenge: later requests send Basic at once. */
  readonly basicOrigins: Set<string>;
  readonly reporter: LookupReporter;
}

/**
 * Builds the context for `policy`. TLS trusts the system roots plus every certificate in
 * `transport.caFiles` (undici's `connect.ca` replaces the default roots, so both are given).
 * Throws ConfigError when a CA file cannot be read.
 */
export function createRegistryContext(policy: CompiledPolicy, reporter: LookupReporter = NOOP_REPORTER): RegistryContext {
  const extraCas = policy.transport.caFiles.map((file, i) => {
    try {
      const pem = readFileSync(file, 'utf8');
      if (pem.length > CA_FILE_MAX_BYTES) throw new Error(`larger than ${CA_FILE_MAX_BYTES} bytes`);
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
      return pem;
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError('CONFIG_INVALID', [{ path: `transport.caFiles[${i}]`, message: `${file} cannot be used: ${why}` }]);
    }
  });
  const dispatcher = new Agent({
    connect: extraCas.length ? { ca: [...rootCertificates, ...extraCas] } : {},
    // Keep-alive within a review burst; sockets close on their own when idle.
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
  });
  return {
    policy,
    dispatcher,
    credentials: new CredentialsFile(policy.credentialsFile),
    tokens: new TokenCache(policy.cache.maxEntries),
    basicOrigins: new Set(),
    reporter,
  };
}

/** Closes the pool once in-flight requests finish, and the token cache's timer. */
export async function closeRegistryContext(ctx: RegistryContext): Promise<void> {
  ctx.tokens.close();
  await ctx.dispatcher.close().catch(() => undefined);
}
