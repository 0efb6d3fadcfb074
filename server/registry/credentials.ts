/**
 * Registry credentials from a docker `config.json` (the `kubernetes.io/dockerconfigjson` pull
 * secret format; config.md `credentials.file`).
 *
 * Keys of `auths` are canonicalised to the same host form the reference parser yields, and then
 * compared EXACTLY (style.md habit 6). sigstore-js chose credentials by substring until #1718:
 * `registry.io` would match `evilregistry.io.attacker.com`. Here an entry applies to one host only.
 *
 * Supported per entry: `auth` (base64 `user:password`), or `username` + `password`, and
 * `identitytoken` (an OAuth2 refresh token for the token service). Not supported: `credsStore`
 * and `credHelpers` (they run programs; a webhook must not), so they are ignored and documented.
 */
import { readFileSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import { LookupError } from '../errors';

/**
 * The file is small (a handful of registries); 1 MiB is far above any real pull secret and
 * bounds what a misconfigured path (a log file, /dev/zero) can make imagegate read.
 */
export const CREDENTIALS_FILE_MAX_BYTES = 1 << 20;

/** Docker Hub's names in config.json files: all mean the host the reference parser calls docker.io. */
const DOCKER_HUB_KEYS: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** One registry's credentials. Printing it (console, util.inspect, JSON) never shows the secrets. */
export class RegistryCredential {
  constructor(
    readonly username: string,
    readonly password: string,
    /** OAuth2 refresh token (`identitytoken`), exchanged at the token service; empty when absent. */
    readonly identityToken: string,
  ) {}

  /** `Basic base64(user:password)`; undefined when only an identity token is configured. */
  basicHeader(): string | undefined {
    if (!this.username && !this.password) return undefined;
    return `Basic ${Buffer.from(`${this.username}:${this.password}`, 'utf8').toString('base64')}`;
  }

  toJSON(): string {
    return '[credential redacted]';
  }

  [inspect.custom](): string {
    return `RegistryCredential(${this.username ? 'user set' : 'no user'}, [redacted])`;
  }
}

/**
 * `auths` key → canonical host: scheme and path removed (`https://index.docker.io/v1/`), lowercased,
 * Docker Hub aliases folded into `docker.io`. Returns undefined for a key that names no host.
 */
export function canonicalCredentialHost(key: string): string | undefined {
  let s = key.trim().toLowerCase();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//.exec(s);
  if (scheme) s = s.slice(scheme[0].length);
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  if (s === '' || s.includes('@') || /\s/.test(s)) return undefined;
  return DOCKER_HUB_KEYS.has(s) ? 'docker.io' : s;
}

/** Credentials by canonical host; built from a config.json text. */
export class CredentialStore {
  private readonly byHost: ReadonlyMap<string, RegistryCredential>;

  constructor(entries: ReadonlyMap<string, RegistryCredential>) {
    this.byHost = entries;
  }

  static readonly EMPTY = new CredentialStore(new Map());

  /** The credential for exactly this host (the reference parser's canonical `host[:port]`). */
  forHost(host: string): RegistryCredential | undefined {
    const key = canonicalCredentialHost(host);
    return key === undefined ? undefined : this.byHost.get(key);
  }

  get size(): number {
    return this.byHost.size;
  }

  /** Parses config.json text. Throws Error naming the problem (never the secret values). */
  static parse(text: string, source: string): CredentialStore {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // Not the parser's message: V8 quotes the surrounding text, which may be a password.
      throw new Error(`${source} is not valid JSON`);
    }
    if (!isObject(doc)) throw new Error(`${source}: expected a JSON object`);
    const auths = doc['auths'];
    if (auths === undefined) return CredentialStore.EMPTY;
    if (!isObject(auths)) throw new Error(`${source}: "auths" must be an object`);
    const map = new Map<string, RegistryCredential>();
    for (const [key, entry] of Object.entries(auths)) {
      const host = canonicalCredentialHost(key);
      if (host === undefined) throw new Error(`${source}: auths key ${JSON.stringify(key.slice(0, 100))} names no registry host`);
      if (!isObject(entry)) throw new Error(`${source}: auths["${host}"] must be an object`);
      const cred = credentialFromEntry(entry, `${source}: auths["${host}"]`);
      if (!cred) continue;
      // Two spellings of one host (docker.io and https://index.docker.io/v1/) that disagree are
      // ambiguous: refuse rather than pick one silently.
      const prior = map.get(host);
      if (prior && (prior.username !== cred.username || prior.password !== cred.password || prior.identityToken !== cred.identityToken)) {
        throw new Error(`${source}: two different auths entries name the registry ${host}`);
      }
      map.set(host, cred);
    }
    return new CredentialStore(map);
  }
}

function credentialFromEntry(entry: Record<string, unknown>, where: string): RegistryCredential | undefined {
  const str = (k: string): string => {
    const v = entry[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new Error(`${where}.${k} must be a string`);
    return v;
  };
  let username = str('username');
  let password = str('password');
  const auth = str('auth');
  const identityToken = str('identitytoken');
  if (auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new Error(`${where}.auth is not base64 of "user:password"`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (!username && !password && !identityToken) return undefined;
  return new RegistryCredential(username, password, identityToken);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The credentials file of one policy generation, re-read when it changes on disk (a mounted pull
 * secret is updated in place by the kubelet). A file that cannot be read or parsed fails the
 * lookup with AUTH_FAILED: falling back to anonymous access silently would hide the mistake
 * (style.md anti-pattern 4).
 */
export class CredentialsFile {
  private loaded: { mtimeMs: number; size: number; store: CredentialStore } | undefined;

  constructor(private readonly path: string | undefined) {}

  /** The current store; the empty store when the policy names no file. Throws LookupError. */
  current(): CredentialStore {
    if (this.path === undefined) return CredentialStore.EMPTY;
    try {
      const st = statSync(this.path);
      if (this.loaded && this.loaded.mtimeMs === st.mtimeMs && this.loaded.size === st.size) return this.loaded.store;
      if (st.size > CREDENTIALS_FILE_MAX_BYTES) {
        throw new Error(`it is ${st.size} bytes, more than ${CREDENTIALS_FILE_MAX_BYTES}`);
      }
      const text = readFileSync(this.path, 'utf8');
      const store = CredentialStore.parse(text, 'config.json');
      this.loaded = { mtimeMs: st.mtimeMs, size: st.size, store };
      return store;
    } catch (err) {
      const msg = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new LookupError('AUTH_FAILED', `credentials file ${this.path} cannot be used: ${msg}`);
    }
  }
}
