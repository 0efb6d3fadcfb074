/**
 * Registry authentication (distribution `docs/spec/auth/token.md`, "How to authenticate";
 * RFC 7235 §2.1 / RFC 9110 §11 for the WWW-Authenticate grammar):
 *   - `Bearer realm=…,service=…,scope=…` → GET <realm>?service=…&scope=… (Basic credentials when
 *     configured), or, with an identity token, the OAuth2 refresh-token POST (`docs/spec/auth/oauth.md`);
 *     the token is cached per exact (registry origin, scope, account) for its `expires_in`;
 *   - `Basic realm=…` → `Authorization: Basic` when credentials exist for the host;
 *   - anonymous otherwise.
 * Where the realm may be is decided by the registry client (a realm host must be the registry
 * itself or in `registries`); this file only parses and builds.
 */
import { LookupError } from '../errors';
import { TtlCache } from '../cache/ttl-cache';
import type { RegistryCredential } from './credentials';

export interface Challenge {
  /** Lowercased auth scheme: `bearer`, `basic`, … */
  readonly scheme: string;
  /** Parameter names lowercased; values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses one or more WWW-Authenticate header values. Quoted strings may hold commas and escaped
 * quotes (`scope="repository:a/b:pull,push"`); a new challenge starts at a token that is not
 * followed by `=`. Malformed input yields what parsed before the fault (never throws).
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const out: Challenge[] = [];
  for (const value of values) parseOne(value.slice(0, 8192), out);
  return out;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

function parseOne(s: string, out: Challenge[]): void {
  let i = 0;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i += 1;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && TOKEN_CHAR.test(s[i] as string)) i += 1;
    return s.slice(start, i);
  };
  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < s.length) {
    skipWs();
    if (s[i] === ',') {
      i += 1;
      continue;
    }
    const start = i;
    const name = token();
    if (!name) return;
    skipWs();
    if (s[i] === '=' && current) {
      i += 1;
      skipWs();
      let value: string;
      if (s[i] === '"') {
        i += 1;
        let v = '';
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i += 1;
          v += s[i];
          i += 1;
        }
        if (s[i] !== '"') return; // unterminated quoted string
        i += 1;
        value = v;
      } else {
        value = token();
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    if (s[i] === '=' && !current) return; // parameter before any scheme
    // A token not followed by '=' starts a new challenge (RFC 9110 §11.6.1).
    i = start + name.length;
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
}

/** What the client sends to the token service. */
export interface TokenRequest {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/**
 * The token request for a Bearer challenge. `scope` falls back to the repository's pull scope
 * when the challenge names none; a challenge may name several scopes separated by spaces.
 */
export function buildTokenRequest(realm: URL, challenge: Challenge, fallbackScope: string, credential: RegistryCredential | undefined): TokenRequest {
  const service = challenge.params['service'];
  const scopes = (challenge.params['scope'] ?? fallbackScope).split(' ').filter(Boolean);
  if (credential?.identityToken) {
    // OAuth2 refresh-token grant (distribution docs/spec/auth/oauth.md "Refresh token format").
    const form = new URLSearchParams();
    form.set('grant_type', 'refresh_token');
    form.set('refresh_token', credential.identityToken);
    form.set('client_id', 'imagegate');
    if (service) form.set('service', service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    return {
      method: 'POST',
      url: new URL(realm.href),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    };
  }
  const url = new URL(realm.href);
  if (service) url.searchParams.set('service', service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const headers: Record<string, string> = {};
  const basic = credential?.basicHeader();
  if (credential && basic) {
    url.searchParams.set('account', credential.username);
    headers['authorization'] = basic;
  }
  return { method: 'GET', url, headers };
}

/** A token and how long it may be used. */
export interface IssuedToken {
  readonly token: string;
  readonly expiresInSeconds: number;
}

/** token.md "Token Response Fields": `expires_in` defaults to 60 seconds when absent. */
const DEFAULT_EXPIRES_IN_SECONDS = 60;
/** Tokens are dropped this many seconds before they expire, so a request never carries a stale one. */
const EXPIRY_MARGIN_SECONDS = 10;

/** Parses the token service's JSON answer (`token` or `access_token`, `expires_in`). */
export function parseTokenResponse(body: Buffer): IssuedToken {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new LookupError('AUTH_FAILED', 'the token service answered with something that is not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw new LookupError('AUTH_FAILED', 'the token service answered without a token');
  const d = doc as Record<string, unknown>;
  const token = typeof d['token'] === 'string' && d['token'] ? d['token'] : d['access_token'];
  if (typeof token !== 'string' || token === '' || /[\s\r\n]/.test(token)) {
    throw new LookupError('AUTH_FAILED', 'the token service answered without a usable token');
  }
  const expires = typeof d['expires_in'] === 'number' && d['expires_in'] > 0 ? d['expires_in'] : DEFAULT_EXPIRES_IN_SECONDS;
  return { token, expiresInSeconds: expires };
}

/**
 * Bearer tokens per exact (registry origin, scope, account). Never shared between origins or
 * scopes: a token for `repository:a:pull` is not sent for `repository:b`.
 */
export class TokenCache {
  private readonly cache: TtlCache<string>;

  constructor(maxEntries: number) {
    this.cache = new TtlCache<string>(maxEntries);
  }

  private static key(origin: string, scope: string, account: string): string {
    return `${origin}\n${scope}\n${account}`;
  }

  get(origin: string, scope: string, account: string): string | undefined {
    return this.cache.get(TokenCache.key(origin, scope, account));
  }

  set(origin: string, scope: string, account: string, issued: IssuedToken): void {
    const ttl = Math.floor(issued.expiresInSeconds - EXPIRY_MARGIN_SECONDS);
    this.cache.set(TokenCache.key(origin, scope, account), issued.token, ttl);
  }

  delete(origin: string, scope: string, account: string): void {
    this.cache.delete(TokenCache.key(origin, scope, account));
  }

  close(): void {
    this.cache.close();
  }
}
