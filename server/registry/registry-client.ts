/**
 * Reads from one OCI registry over the distribution API v2 (OCI distribution-spec v1.1,
 * "Pulling manifests", "Pulling blobs", "Listing referrers", "Listing tags").
 *
 * Rules every request follows:
 *   - the registry and every other host contacted (a token realm) must pass the policy's
 *     `registries` allowlist, checked before EACH request (REGISTRY_NOT_ALLOWED_TO_CONTACT). A
 *     token realm is contacted only when it has the registry's own origin or its host[:port] is
 *     itself listed in `registries`: a registry cannot send imagegate's credentials anywhere else;
 *   - https, except for hosts listed in `transport.plainHTTP`;
 *   - one request = at most `timeouts.lookup` (AbortSignal.timeout), and the review's signal
 *     cancels it too (AbortSignal.any);
 *   - bodies are read with a byte cap counted while streaming (Content-Length is not trusted);
 *   - manifests must hash to the digest asked for or announced (Docker-Content-Digest);
 *   - redirects per redirects.ts; errors never carry headers, tokens or passwords.
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { LookupError } from '../errors';
import { buildTokenRequest, parseChallenges, parseTokenResponse } from './auth-challenge';
import type { RegistryCredential } from './credentials';
import { MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES, OCI_INDEX, bareMediaType } from './media-types';
import { readCapped } from './read-capped';
import { REDIRECT_STATUSES, nextRedirect, type RedirectHop, type RedirectScope } from './redirects';
import type { LookupKind, RegistryContext } from './registry-context';
import { requestDeadline } from './request-deadline';

/** distribution registry/handlers/manifests.go `maxManifestBodySize = 4 << 20`; containers/image iolimits.MaxManifestBodySize agrees. */
export const MANIFEST_MAX_BYTES = 4 << 20;
/**
 * Token answers are a JWT or two (a JWT with one x5c certificate is about 1.5 KiB; Docker Hub's
 * are under 4 KiB). containers/image allows 1 MiB (iolimits.MaxAuthTokenBodySize); 64 KiB keeps
 * more than ten times the largest seen and bounds a hostile token service.
 */
export const TOKEN_MAX_BYTES = 64 << 10;
/** Error bodies are only read for the distribution error code; containers/image caps them at 1 MiB, 8 KiB is plenty for a code. */
const ERROR_BODY_MAX_BYTES = 8 << 10;

/** Digest syntax imagegate accepts from registries: the two algorithms the reference grammar allows. */
const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
}

export interface Manifest extends ManifestHead {
  readonly bytes: Buffer;
  /** The parsed JSON object. */
  readonly json: Record<string, unknown>;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly url: URL;
}

interface Operation {
  readonly kind: LookupKind;
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  /** Human description for messages, e.g. `manifest sha256-….sig`. */
  readonly what: string;
  readonly accept?: string;
  readonly maxBytes: number;
  /** Token scope for the registry's auth; undefined = never authenticate (token requests). */
  readonly scope: string | undefined;
  readonly redirects: RedirectScope;
  readonly signal: AbortSignal;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** The host distribution's API answers on for a reference's registry (Docker Hub's is not `docker.io`). */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** `5s` or `1500ms`, as config.md writes durations. */
function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A client for one registry host (the reference parser's canonical `host[:port]`). */
export class RegistryClient {
  private readonly origin: string;

  constructor(
    private readonly ctx: RegistryContext,
    readonly registry: string,
  ) {
    const host = apiHost(registry);
    const scheme = this.isPlainHTTP(registry) ? 'http' : 'https';
    this.origin = new URL(`${scheme}://${host}`).origin;
  }

  // -------------------------------------------------------------------------------------------
  // Manifests (distribution-spec "Pulling manifests")

  /**
   * HEAD /v2/<name>/manifests/<reference>: the digest the registry serves (Docker-Content-Digest)
   * without the body. Undefined when the registry sends no usable digest header (the caller then
   * GETs); throws LookupError('NOT_FOUND') on 404.
   */
  async headManifest(repository: string, reference: string, signal: AbortSignal): Promise<ManifestHead | undefined> {
    const reply = await this.request({
      kind: 'manifest',
      method: 'HEAD',
      url: this.url(`/v2/${repository}/manifests/${reference}`),
      what: `manifest ${repository}:${reference}`,
      accept: MANIFEST_ACCEPT,
      maxBytes: 0,
      scope: pullScope(repository),
      redirects: 'same-origin-only',
      signal,
    });
    this.expectOk(reply, `manifest ${repository}:${reference}`);
    const digest = header(reply.headers, 'docker-content-digest');
    const mediaType = bareMediaType(reply.headers['content-type']);
    if (!digest || !DIGEST.test(digest) || !mediaType || !MANIFEST_MEDIA_TYPES.has(mediaType)) return undefined;
    if (isDigest(reference) && digest !== reference) {
      throw new LookupError('DIGEST_MISMATCH', `registry ${this.registry} announced ${digest} for manifest ${reference}`);
    }
    return { digest, mediaType };
  }

  /** GET /v2/<name>/manifests/<reference>, checked against its digest. Throws LookupError('NOT_FOUND') on 404. */
  async getManifest(repository: string, reference: string, signal: AbortSignal): Promise<Manifest> {
    const what = `manifest ${repository}${isDigest(reference) ? '@' : ':'}${reference}`;
    const reply = await this.request({
      kind: 'manifest',
      method: 'GET',
      url: this.url(`/v2/${repository}/manifests/${reference}`),
      what,
      accept: MANIFEST_ACCEPT,
      maxBytes: MANIFEST_MAX_BYTES,
      scope: pullScope(repository),
      redirects: 'same-origin-only',
      signal,
    });
    this.expectOk(reply, what);
    const announced = header(reply.headers, 'docker-content-digest');
    // The digest the bytes must have: the one asked for, else the one announced, else sha256.
    const expected = isDigest(reference) ? reference : announced && DIGEST.test(announced) ? announced : undefined;
    const algorithm = expected?.startsWith('sha512:') ? 'sha512' : 'sha256';
    const actual = `${algorithm}:${createHash(algorithm).update(reply.body).digest('hex')}`;
    if (expected !== undefined && actual !== expected) {
      throw new LookupError('DIGEST_MISMATCH', `${what} from ${this.registry} hashes to ${actual}, not ${expected}`);
    }
    if (announced && isDigest(reference) && DIGEST.test(announced) && announced.split(':')[0] === algorithm && announced !== actual) {
      throw new LookupError('DIGEST_MISMATCH', `registry ${this.registry} announced ${announced} for ${what}`);
    }
    const json = parseJsonObject(reply.body, `${what} from ${this.registry}`);
    const mediaType = bareMediaType(reply.headers['content-type']) ?? (typeof json['mediaType'] === 'string' ? json['mediaType'] : undefined);
    if (!mediaType || !MANIFEST_MEDIA_TYPES.has(mediaType)) {
      throw new LookupError('MALFORMED_MANIFEST', `${what} from ${this.registry} has the unsupported media type ${mediaType ?? '(none)'}`);
    }
    if (json['schemaVersion'] !== 2) {
      throw new LookupError('MALFORMED_MANIFEST', `${what} from ${this.registry} is not schemaVersion 2`);
    }
    if (typeof json['mediaType'] === 'string' && json['mediaType'] !== mediaType) {
      // OCI image-spec manifest.md: mediaType, when present, must match the Content-Type.
      throw new LookupError('MALFORMED_MANIFEST', `${what} from ${this.registry} says ${json['mediaType']} but was served as ${mediaType}`);
    }
    return { digest: actual, mediaType, bytes: reply.body, json };
  }

  /** Like getManifest, but undefined when the manifest does not exist (404). */
  async findManifest(repository: string, reference: string, signal: AbortSignal): Promise<Manifest | undefined> {
    try {
      return await this.getManifest(repository, reference, signal);
    } catch (err) {
      if (err instanceof LookupError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Blobs (distribution-spec "Pulling blobs")

  /** GET /v2/<name>/blobs/<digest>, at most `maxBytes`, checked against the digest. */
  async getBlob(repository: string, digest: string, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
    if (!DIGEST.test(digest)) throw new LookupError('MALFORMED_MANIFEST', `blob digest ${JSON.stringify(digest.slice(0, 80))} is not a sha256/sha512 digest`);
    const what = `blob ${repository}@${digest}`;
    const reply = await this.request({
      kind: 'blob',
      method: 'GET',
      url: this.url(`/v2/${repository}/blobs/${digest}`),
      what,
      maxBytes,
      scope: pullScope(repository),
      redirects: 'blob',
      signal,
    });
    this.expectOk(reply, what);
    const [algorithm] = digest.split(':') as [string];
    const actual = `${algorithm}:${createHash(algorithm).update(reply.body).digest('hex')}`;
    if (actual !== digest) throw new LookupError('DIGEST_MISMATCH', `${what} from ${this.registry} hashes to ${actual}`);
    return reply.body;
  }

  // -------------------------------------------------------------------------------------------
  // Referrers (distribution-spec v1.1 "Listing referrers")

  /**
   * GET /v2/<name>/referrers/<digest>: the image index of manifests whose `subject` is `digest`.
   * Undefined on 404 (or 400/405/501), which is what a registry without the API answers (distribution 2.8.2:
   * plain-text "404 page not found", reference §1.2); the caller then reads the referrers tag
   * schema (`sha256-<hex>`), as the spec's "Referrers Tag Schema" fallback says.
   */
  async getReferrers(repository: string, digest: string, signal: AbortSignal): Promise<Record<string, unknown> | undefined> {
    const what = `referrers of ${repository}@${digest}`;
    const reply = await this.request({
      kind: 'referrers',
      method: 'GET',
      url: this.url(`/v2/${repository}/referrers/${digest}`),
      what,
      accept: OCI_INDEX,
      maxBytes: MANIFEST_MAX_BYTES,
      scope: pullScope(repository),
      redirects: 'same-origin-only',
      signal,
    });
    // 404 is the spec's "not supported"; 400/405/501 are what some registries send for unknown routes.
    if (reply.status === 404 || reply.status === 400 || reply.status === 405 || reply.status === 501) return undefined;
    this.expectOk(reply, what);
    const mediaType = bareMediaType(reply.headers['content-type']);
    if (mediaType !== OCI_INDEX) {
      throw new LookupError('MALFORMED_RESPONSE', `${what} from ${this.registry} was served as ${mediaType ?? '(no type)'}, not an OCI index`);
    }
    return parseJsonObject(reply.body, `${what} from ${this.registry}`);
  }

  // -------------------------------------------------------------------------------------------
  // Tags (distribution-spec "Listing tags"); first page only.

  /** GET /v2/<name>/tags/list: the first page of tags (registries page at 100 or more). */
  async listTags(repository: string, signal: AbortSignal): Promise<string[]> {
    const what = `tags of ${repository}`;
    const reply = await this.request({
      kind: 'tag',
      method: 'GET',
      url: this.url(`/v2/${repository}/tags/list`),
      what,
      accept: 'application/json',
      maxBytes: MANIFEST_MAX_BYTES,
      scope: pullScope(repository),
      redirects: 'same-origin-only',
      signal,
    });
    this.expectOk(reply, what);
    const json = parseJsonObject(reply.body, `${what} from ${this.registry}`);
    const tags = json['tags'];
    if (tags === null) return [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw new LookupError('MALFORMED_RESPONSE', `${what} from ${this.registry} has no tags array`);
    }
    return tags as string[];
  }

  // -------------------------------------------------------------------------------------------
  // Requests, authentication, limits

  private url(path: string): URL {
    return new URL(path, this.origin);
  }

  private isPlainHTTP(host: string): boolean {
    return this.ctx.policy.transport.plainHTTP.includes(host);
  }

  /** Maps a final non-2xx answer to a LookupError (404 → NOT_FOUND, 401/403 → AUTH_FAILED). */
  private expectOk(reply: Reply, what: string): void {
    if (reply.status >= 200 && reply.status < 300) return;
    const code = distributionErrorCode(reply.body);
    const detail = code ? ` (${code})` : '';
    if (reply.status === 404) throw new LookupError('NOT_FOUND', `${what} not found in ${this.registry}${detail}`);
    if (reply.status === 401 || reply.status === 403) {
      throw new LookupError('AUTH_FAILED', `registry ${this.registry} refused access to ${what}: HTTP ${reply.status}${detail}`);
    }
    throw new LookupError('UPSTREAM_STATUS', `registry ${this.registry} answered HTTP ${reply.status} for ${what}${detail}`);
  }

  /**
   * Refuses any host the policy does not allow (config.md `registries`: "the only hosts
   * imagegate may ever contact for lookups"). The registry itself must be listed; another origin
   * (a token realm) must be listed itself.
   */
  private assertMayContact(url: URL): void {
    const policy = this.ctx.policy;
    if (!policy.registryAllowed(this.registry)) {
      throw new LookupError('REGISTRY_NOT_ALLOWED_TO_CONTACT', `registry ${this.registry} is not in registries; it is never contacted`);
    }
    if (url.origin === this.origin) return;
    if (!policy.registryAllowed(url.host)) {
      throw new LookupError('REGISTRY_NOT_ALLOWED_TO_CONTACT', `${url.host} (named by registry ${this.registry}) is not in registries; it is never contacted`);
    }
    if (url.protocol === 'http:' && !this.isPlainHTTP(url.host)) {
      throw new LookupError('REGISTRY_NOT_ALLOWED_TO_CONTACT', `${url.host} would be reached over plain http, but it is not in transport.plainHTTP`);
    }
  }

  /** One logical request: cached auth first, then at most one challenge → authorize → retry. */
  private async request(op: Operation): Promise<Reply> {
    const started = performance.now();
    const report = (result: 'success' | 'failure') => this.ctx.reporter.lookupDone(op.kind, result, (performance.now() - started) / 1000);
    try {
      let authorization = op.scope === undefined ? undefined : this.cachedAuthorization(op.scope);
      let reply = await this.send(op, authorization);
      if (reply.status === 401 && op.scope !== undefined) {
        authorization = await this.authorize(reply, op.scope, op.signal);
        reply = await this.send(op, authorization);
        if (reply.status === 401) {
          this.forget(op.scope);
          throw new LookupError('AUTH_FAILED', `registry ${this.registry} refused the credentials for ${op.what} (HTTP 401)${bracket(distributionErrorCode(reply.body))}`);
        }
      }
      // A 404 is an answer (no such tag, no signature), not a failed lookup.
      report((reply.status >= 200 && reply.status < 300) || reply.status === 404 ? 'success' : 'failure');
      return reply;
    } catch (err) {
      report('failure');
      throw err;
    }
  }

  /** Sends one request and follows redirects by hand; reads the body within the cap. */
  private async send(op: Operation, authorization: string | undefined): Promise<Reply> {
    const lookupMs = this.ctx.policy.timeouts.lookupMs;
    const deadline = requestDeadline(op.signal, lookupMs);
    const signal = deadline.signal;
    let hop: RedirectHop = { url: op.url, sendCredentials: true };
    const origin = op.url.origin;
    try {
      for (let n = 0; ; n += 1) {
        // Every hop must pass the allowlist, cross-origin blob hops too: imagegate never contacts
        // a host the policy does not name (SECURITY.md). A registry that hands blobs to a CDN
        // needs that CDN host listed in `registries`; the error names it. Cross-origin hops
        // exist only for blobs and carry no credentials (redirects.ts).
        this.assertMayContact(hop.url);
        const headers: Record<string, string> = { 'user-agent': 'imagegate', ...(op.headers ?? {}) };
        if (op.accept) headers['accept'] = op.accept;
        if (authorization && hop.sendCredentials) headers['authorization'] = authorization;
        const res = await request(hop.url, {
          method: op.method,
          headers,
          body: hop.url === op.url ? op.body : undefined,
          signal,
          dispatcher: this.ctx.dispatcher,
        });
        if (REDIRECT_STATUSES.has(res.statusCode)) {
          await res.body.dump().catch(() => undefined);
          hop = nextRedirect(hop, origin, header(res.headers, 'location'), n + 1, op.redirects, (h) => this.isPlainHTTP(h));
          continue;
        }
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        const cap = ok ? op.maxBytes : ERROR_BODY_MAX_BYTES;
        const body = op.method === 'HEAD' ? (await res.body.dump(), Buffer.alloc(0)) : await readCapped(res.body, res.headers, cap, ok, `${op.what} from ${hop.url.host}`);
        return { status: res.statusCode, headers: res.headers, body, url: hop.url };
      }
    } catch (err) {
      if (err instanceof LookupError) throw err;
      if (deadline.timedOut && !op.signal.aborted) {
        throw new LookupError('LOOKUP_TIMEOUT', `registry timeout after ${formatMs(lookupMs)} (${op.method} ${op.what} from ${hop.url.host})`);
      }
      if (op.signal.aborted) {
        throw new LookupError('LOOKUP_ABORTED', `lookup cancelled: the review's time ran out during ${op.method} ${op.what} from ${hop.url.host}`, sanitize(op.signal.reason));
      }
      throw new LookupError('CONNECTION_FAILED', `cannot reach ${hop.url.host} for ${op.what}: ${describe(err)}`, sanitize(err));
    } finally {
      deadline.dispose();
    }
  }

  /** The Authorization for a scope known from earlier: a cached token, or Basic for a Basic origin. */
  private cachedAuthorization(scope: string): string | undefined {
    let credential: RegistryCredential | undefined;
    try {
      credential = this.ctx.credentials.current().forHost(this.registry);
    } catch {
      // A broken credentials file matters only when the registry asks for auth (authorize()).
      credential = undefined;
    }
    const token = this.ctx.tokens.get(this.origin, scope, credential?.username ?? '');
    if (token) return `Bearer ${token}`;
    if (this.ctx.basicOrigins.has(this.origin)) return credential?.basicHeader();
    return undefined;
  }

  private forget(scope: string): void {
    let account = '';
    try {
      account = this.ctx.credentials.current().forHost(this.registry)?.username ?? '';
    } catch {
      account = '';
    }
    this.ctx.tokens.delete(this.origin, scope, account);
  }

  /** Answers a 401: Bearer → token from the realm; Basic → configured credentials. */
  private async authorize(reply: Reply, scope: string, signal: AbortSignal): Promise<string> {
    const challenges = parseChallenges(reply.headers['www-authenticate']);
    const credential = this.ctx.credentials.current().forHost(this.registry);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const realmText = bearer.params['realm'];
      let realm: URL;
      try {
        realm = new URL(realmText ?? '');
      } catch {
        throw new LookupError('AUTH_FAILED', `registry ${this.registry} sent a Bearer challenge without a valid realm`);
      }
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
        throw new LookupError('AUTH_FAILED', `registry ${this.registry} sent a Bearer realm that is not http(s)`);
      }
      const tokenRequest = buildTokenRequest(realm, bearer, scope, credential);
      const { authorization, ...otherHeaders } = tokenRequest.headers;
      const tokenReply = await this.sendToken(tokenRequest.method, tokenRequest.url, otherHeaders, authorization, tokenRequest.body, signal);
      const issued = parseTokenResponse(tokenReply.body);
      this.ctx.tokens.set(this.origin, scope, credential?.username ?? '', issued);
      return `Bearer ${issued.token}`;
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic) {
      const header = credential?.basicHeader();
      if (!header) {
        throw new LookupError('AUTH_FAILED', `registry ${this.registry} requires credentials (Basic) and the credentials file has none for it`);
      }
      this.ctx.basicOrigins.add(this.origin);
      return header;
    }
    throw new LookupError('AUTH_FAILED', `registry ${this.registry} answered 401 without a Bearer or Basic challenge`);
  }

  /** The token service request: allowlisted realm, no cross-origin redirects, 64 KiB cap. */
  private async sendToken(
    method: 'GET' | 'POST',
    url: URL,
    headers: Record<string, string>,
    authorization: string | undefined,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<Reply> {
    const started = performance.now();
    let ok = false;
    try {
      const what = `a token from ${url.host}${url.pathname}`;
      const reply = await this.send(
        { kind: 'token', method, url, what, accept: 'application/json', maxBytes: TOKEN_MAX_BYTES, scope: undefined, redirects: 'same-origin-only', signal, headers, ...(body !== undefined ? { body } : {}) },
        authorization,
      );
      if (reply.status === 401 || reply.status === 403) {
        throw new LookupError('AUTH_FAILED', `the token service ${url.host} refused the credentials for registry ${this.registry} (HTTP ${reply.status})`);
      }
      if (reply.status < 200 || reply.status >= 300) {
        throw new LookupError('AUTH_FAILED', `the token service ${url.host} answered HTTP ${reply.status} for registry ${this.registry}`);
      }
      ok = true;
      return reply;
    } finally {
      this.ctx.reporter.lookupDone('token', ok ? 'success' : 'failure', (performance.now() - started) / 1000);
    }
  }
}

/** `repository:<name>:pull` (distribution docs/spec/auth/scope.md). */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function bracket(s: string | undefined): string {
  return s ? ` (${s})` : '';
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new LookupError('MALFORMED_MANIFEST', `${what} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new LookupError('MALFORMED_MANIFEST', `${what} is not a JSON object`);
  }
  return doc as Record<string, unknown>;
}

/** The first distribution error code in an error body (`{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`). */
function distributionErrorCode(body: Buffer): string | undefined {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown }[] };
    const code = doc.errors?.[0]?.code;
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A short, secret-free description of a transport error (never the request options). */
function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Keeps the cause chain without any property an HTTP client may have attached (headers, options). */
function sanitize(err: unknown): Error | undefined {
  if (err === undefined) return undefined;
  const e = new Error(describe(err));
  e.name = err instanceof Error ? err.name : 'Error';
  return e;
}
