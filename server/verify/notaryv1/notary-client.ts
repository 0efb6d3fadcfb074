/**
 * Reads TUF metadata from a notary server: `GET <server>/v2/<gun>/_trust/tuf/<role>.json` and
 * `…/<version>.root.json` (notary server/server.go routes; reference §4.5).
 *
 * Rules every request follows:
 *   - the server named by the verifier (config.md: "a trust server named here (and the token
 *     service it points to) may be contacted without being listed in `registries`"), https only;
 *     its CA from `transport.caFiles` or the system, through the policy generation's connection
 *     pool (registry-context.ts: the sockets stay owned by registry/);
 *   - at most `timeouts.lookup` per request, and the review's signal cancels it too;
 *   - a byte cap per file counted while streaming (Content-Length is not trusted): the length the
 *     parent role lists when there is one (TUF 5.5.1, 5.6.1), else the role's maximum below;
 *   - no redirects (a notary server answers directly; metadata is never fetched elsewhere);
 *   - `WWW-Authenticate: Bearer` → token from the realm with scope `repository:<gun>:pull`
 *     (distribution token spec; reference §4.7), reusing registry/auth-challenge.ts and the
 *     generation's token cache. A realm must be https unless its host is in `transport.plainHTTP`.
 *     Credentials for the notary host come from the credentials file, as the Docker CLI's do.
 * Errors never carry headers or tokens.
 */
import { LookupError } from '../../errors';
import { buildTokenRequest, parseChallenges, parseTokenResponse } from '../../registry/auth-challenge';
import type { RegistryCredential } from '../../registry/credentials';
import { TOKEN_MAX_BYTES } from '../../registry/registry-client';
import type { LookupKind, RegistryContext } from '../../registry/registry-context';
import { readCapped } from '../../registry/read-capped';
import { requestDeadline } from '../../registry/request-deadline';

/**
 * Maximum bytes per role file when its parent gives no length. tuf-js `config.ts` defaults
 * (rootMaxLength 512000, timestampMaxLength 16384, snapshotMaxLength 2000000, targetsMaxLength
 * 5000000); notary's own client is looser (`notary.MaxDownloadSize` 100 MiB, `MaxTimestampSize`
 * 1 MiB). Real files are far smaller: a notary root is ~2.4 KiB, a timestamp ~0.7 KiB, and a
 * targets file grows by ~130 bytes per tag (Docker Hub's largest official repositories stay
 * under 1 MB). A length listed by the parent is used when it is smaller.
 */
export const ROLE_MAX_BYTES = {
  root: 512_000,
  timestamp: 16_384,
  snapshot: 2_000_000,
  targets: 5_000_000,
} as const;

/**
 * The metric kind (`imagegate_lookups_total{kind}`) each trust-metadata request is reported under.
 * LookupKind (registry-context.ts) has no kind for TUF files yet; a dedicated one would be a
 * one-line change here.
 */
const METADATA_KIND: LookupKind = 'signature';

/** Error bodies are read only for the notary error code. */
const ERROR_BODY_MAX_BYTES = 8 << 10;

export interface FetchedFile {
  readonly bytes: Buffer;
  /** `GET https://notary.example/v2/<gun>/_trust/tuf/targets.json`, for messages. */
  readonly url: string;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A client for one GUN on one notary server. */
export class NotaryClient {
  private readonly origin: string;
  private readonly base: string;
  private readonly scope: string;

  constructor(
    private readonly ctx: RegistryContext,
    server: string,
    readonly gun: string,
  ) {
    const url = new URL(server);
    if (url.protocol !== 'https:') throw new LookupError('REGISTRY_NOT_ALLOWED_TO_CONTACT', `notary server ${url.host} must be reached over https`);
    this.origin = url.origin;
    this.base = `${url.pathname.replace(/\/+$/, '')}/v2/${gun}/_trust/tuf/`;
    this.scope = `repository:${gun}:pull`;
  }

  /** The notary server's host[:port], for messages. */
  get host(): string {
    return new URL(this.origin).host;
  }

  /**
   * GET `<name>.json` (`root`, `2.root`, `timestamp`, `targets/releases`, …) with at most
   * `maxBytes`. Undefined when the server answers 404 (no such file); throws LookupError otherwise.
   */
  async fetch(name: string, maxBytes: number, signal: AbortSignal): Promise<FetchedFile | undefined> {
    const path = `${this.base}${name}.json`;
    const what = `${name}.json of ${this.gun} from ${this.host}`;
    const started = performance.now();
    let ok = false;
    try {
      let authorization = this.cachedAuthorization();
      let reply = await this.send(this.origin, path, {}, authorization, maxBytes, what, signal);
      if (reply.status === 401) {
        authorization = await this.authorize(reply, signal);
        reply = await this.send(this.origin, path, {}, authorization, maxBytes, what, signal);
        if (reply.status === 401) {
          this.ctx.tokens.delete(this.origin, this.scope, this.account());
          throw new LookupError('AUTH_FAILED', `notary server ${this.host} refused the token for ${what} (HTTP 401)${bracket(notaryErrorCode(reply.body))}`);
        }
      }
      if (reply.status === 404) {
        ok = true;
        return undefined;
      }
      if (reply.status === 403) throw new LookupError('AUTH_FAILED', `notary server ${this.host} refused access to ${what} (HTTP 403)${bracket(notaryErrorCode(reply.body))}`);
      if (reply.status >= 300 && reply.status < 400) throw new LookupError('REDIRECT_REFUSED', `notary server ${this.host} redirected ${what} (HTTP ${reply.status}); redirects are not followed`);
      if (reply.status !== 200) throw new LookupError('UPSTREAM_STATUS', `notary server ${this.host} answered HTTP ${reply.status} for ${what}${bracket(notaryErrorCode(reply.body))}`);
      ok = true;
      return { bytes: reply.body, url: `${this.origin}${path}` };
    } finally {
      this.report(METADATA_KIND, ok, started);
    }
  }

  private report(kind: LookupKind, ok: boolean, started: number): void {
    this.ctx.reporter.lookupDone(kind, ok ? 'success' : 'failure', (performance.now() - started) / 1000);
  }

  private credential(): RegistryCredential | undefined {
    return this.ctx.credentials.current().forHost(this.host);
  }

  private account(): string {
    try {
      return this.credential()?.username ?? '';
    } catch {
      return '';
    }
  }

  private cachedAuthorization(): string | undefined {
    const token = this.ctx.tokens.get(this.origin, this.scope, this.account());
    return token ? `Bearer ${token}` : undefined;
  }

  /** Answers a 401: Bearer → a token from the realm; Basic → configured credentials. */
  private async authorize(reply: Reply, signal: AbortSignal): Promise<string> {
    const challenges = parseChallenges(reply.headers['www-authenticate']);
    const credential = this.credential();
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      let realm: URL;
      try {
        realm = new URL(bearer.params['realm'] ?? '');
      } catch {
        throw new LookupError('AUTH_FAILED', `notary server ${this.host} sent a Bearer challenge without a valid realm`);
      }
      const plain = this.ctx.policy.transport.plainHTTP.includes(realm.host);
      if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && plain)) {
        throw new LookupError('AUTH_FAILED', `notary server ${this.host} points to the token realm ${realm.origin}, which is not https (and ${realm.host} is not in transport.plainHTTP)`);
      }
      const req = buildTokenRequest(realm, bearer, this.scope, credential);
      const { authorization, ...headers } = req.headers;
      if (req.body !== undefined) headers['content-type'] = headers['content-type'] ?? 'application/x-www-form-urlencoded';
      const started = performance.now();
      let ok = false;
      try {
        const what = `a token from ${realm.host} for ${this.gun}`;
        const tokenReply = await this.send(realm.origin, `${req.url.pathname}${req.url.search}`, headers, authorization, TOKEN_MAX_BYTES, what, signal, req.method, req.body);
        if (tokenReply.status !== 200) {
          throw new LookupError('AUTH_FAILED', `the token service ${realm.host} answered HTTP ${tokenReply.status} for notary server ${this.host}`);
        }
        const issued = parseTokenResponse(tokenReply.body);
        this.ctx.tokens.set(this.origin, this.scope, credential?.username ?? '', issued);
        ok = true;
        return `Bearer ${issued.token}`;
      } finally {
        this.report('token', ok, started);
      }
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const basic = credential?.basicHeader();
      if (!basic) throw new LookupError('AUTH_FAILED', `notary server ${this.host} requires credentials (Basic) and the credentials file has none for it`);
      return basic;
    }
    throw new LookupError('AUTH_FAILED', `notary server ${this.host} answered 401 without a Bearer or Basic challenge`);
  }

  /** One request on the generation's pool; the body is read within `maxBytes` when 2xx. */
  private async send(
    origin: string,
    path: string,
    extraHeaders: Record<string, string>,
    authorization: string | undefined,
    maxBytes: number,
    what: string,
    reviewSignal: AbortSignal,
    method: 'GET' | 'POST' = 'GET',
    body?: string,
  ): Promise<Reply> {
    const lookupMs = this.ctx.policy.timeouts.lookupMs;
    const deadline = requestDeadline(reviewSignal, lookupMs);
    const signal = deadline.signal;
    const headers: Record<string, string> = { 'user-agent': 'imagegate', accept: 'application/json', ...extraHeaders };
    if (authorization) headers['authorization'] = authorization;
    try {
      const res = await this.ctx.dispatcher.request({ origin, path, method, headers, signal, ...(body !== undefined ? { body } : {}) });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const bytes = await readCapped(res.body, res.headers, ok ? maxBytes : ERROR_BODY_MAX_BYTES, ok, what);
      return { status: res.statusCode, headers: res.headers, body: bytes };
    } catch (err) {
      if (err instanceof LookupError) throw err;
      if (deadline.timedOut && !reviewSignal.aborted) throw new LookupError('LOOKUP_TIMEOUT', `notary timeout after ${lookupMs} ms (${what})`);
      if (reviewSignal.aborted) throw new LookupError('LOOKUP_ABORTED', `lookup cancelled: the review's time ran out while reading ${what}`);
      throw new LookupError('CONNECTION_FAILED', `cannot reach ${new URL(origin).host} for ${what}: ${describe(err)}`);
    } finally {
      deadline.dispose();
    }
  }
}

/** The first notary/distribution error code in an error body (`{"errors":[{"code":"METADATA_NOT_FOUND"}]}`). */
function notaryErrorCode(body: Buffer): string | undefined {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown }[] }).errors?.[0]?.code;
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function bracket(s: string | undefined): string {
  return s ? ` (${s})` : '';
}

/** A short, secret-free description of a transport error (never the request options). */
function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
