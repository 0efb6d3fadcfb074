/**
 * The four TUF roles as a notary server serves them (pre-1.0 TUF: capitalised `_type`, no
 * `spec_version`, no `scheme`, no meta versions; reference §4.5), parsed into typed, immutable
 * values. Parsing never trusts anything: signatures are checked by role-signatures.ts against keys
 * from the parent role, and only then are these values used.
 *
 *   {"signed": {"_type": "Root"|"Timestamp"|"Snapshot"|"Targets", "expires": RFC 3339,
 *               "version": n, …role fields…},
 *    "signatures": [{"keyid": hex, "method": "ecdsa"|…, "sig": base64}]}
 */
import { VerificationError } from '../../errors';
import { CanonicalJsonError, canonicalJson, parseJson, type JsonValue } from './canonical-json';
import { KeyFormatError, decodeBase64, parseKey, type NotaryKey } from './keys';

export type TopRole = 'root' | 'timestamp' | 'snapshot' | 'targets';

export interface Signature {
  readonly keyid: string;
  readonly method: string;
  readonly sig: Buffer;
}

/** A served metadata file: its bytes, the canonical bytes its signatures cover, and its common fields. */
export interface Envelope {
  readonly role: string;
  readonly raw: Buffer;
  readonly signed: Readonly<Record<string, JsonValue>>;
  /** canonicalJson(signed): what every signature is over. */
  readonly message: Buffer;
  readonly signatures: readonly Signature[];
  readonly version: number;
  readonly expires: Date;
}

/** A role's key ids and threshold (root `roles.<name>`, or a delegation). */
export interface RoleKeys {
  readonly keyids: readonly string[];
  readonly threshold: number;
}

/** Hashes (raw bytes) and length of a file, from the parent that lists it (TUF "METAFILES"/"TARGETS"). */
export interface FileMeta {
  readonly length: number;
  readonly hashes: Readonly<Partial<Record<'sha256' | 'sha512', Buffer>>>;
}

export interface RootMetadata {
  readonly envelope: Envelope;
  /** Keys that parsed and whose id matched; bad keys are left out (they can sign nothing). */
  readonly keys: ReadonlyMap<string, NotaryKey>;
  /** Why each left-out key was refused, by key id, for messages. */
  readonly badKeys: ReadonlyMap<string, string>;
  readonly roles: Readonly<Record<TopRole, RoleKeys>>;
}

export interface TimestampMetadata {
  readonly envelope: Envelope;
  readonly snapshot: FileMeta;
}

export interface SnapshotMetadata {
  readonly envelope: Envelope;
  /** `meta`: root, targets and each delegation's file. */
  readonly meta: ReadonlyMap<string, FileMeta>;
}

export interface Delegation extends RoleKeys {
  readonly name: string;
  /** Path prefixes (notary `DelegationRole.Paths`; `""` covers every target). */
  readonly paths: readonly string[];
}

export interface TargetsMetadata {
  readonly envelope: Envelope;
  readonly targets: ReadonlyMap<string, FileMeta>;
  readonly delegationKeys: ReadonlyMap<string, NotaryKey>;
  readonly delegations: readonly Delegation[];
}

/** Signatures examined per file at most: a root during rotation carries a few; this bounds the work. */
const MAX_SIGNATURES = 64;
/** Delegations per targets file at most (bounded work per review, style.md habit 7). */
const MAX_DELEGATIONS = 256;
/** notary data.IsDelegation: lowercase names, `targets/` prefix, clean path, under 256 characters. */
const DELEGATION_NAME = /^targets(?:\/[-a-z0-9_]+)+$/;
const KEY_ID = /^[0-9a-f]{64}$/;

function invalid(what: string, why: string): VerificationError {
  return new VerificationError('TRUST_METADATA_INVALID', `${what} is not valid TUF metadata: ${why}`);
}

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True for delegation role names notary accepts. */
export function isDelegationName(name: string): boolean {
  return name.length < 256 && DELEGATION_NAME.test(name);
}

/** Parses the envelope of `role`'s file (`_type` "Targets" for delegations too). */
export function parseEnvelope(raw: Buffer, role: string, what: string): Envelope {
  const doc = parseJson(raw);
  if (!isObject(doc)) throw invalid(what, 'not a JSON object');
  const signed = doc['signed'];
  const sigs = doc['signatures'];
  if (!isObject(signed)) throw invalid(what, 'no "signed" object');
  if (!Array.isArray(sigs)) throw invalid(what, 'no "signatures" list');
  if (sigs.length > MAX_SIGNATURES) throw invalid(what, `more than ${MAX_SIGNATURES} signatures`);
  const expectedType = role === 'root' || role === 'timestamp' || role === 'snapshot' ? role : 'targets';
  const type = signed['_type'];
  if (typeof type !== 'string' || type.toLowerCase() !== expectedType) {
    throw invalid(what, `_type is ${JSON.stringify(type)}, expected ${expectedType[0]!.toUpperCase()}${expectedType.slice(1)}`);
  }
  const version = signed['version'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw invalid(what, 'version is not a non-negative integer');
  const expiresText = signed['expires'];
  const expires = typeof expiresText === 'string' ? parseRfc3339(expiresText) : undefined;
  if (!expires) throw invalid(what, 'expires is not an RFC 3339 time');
  const signatures: Signature[] = sigs.map((s, i) => {
    if (!isObject(s)) throw invalid(what, `signatures[${i}] is not an object`);
    const keyid = s['keyid'];
    const method = s['method'];
    const sig = decodeBase64(s['sig']);
    if (typeof keyid !== 'string' || !KEY_ID.test(keyid)) throw invalid(what, `signatures[${i}].keyid is not a key id`);
    if (typeof method !== 'string' || method.length > 64) throw invalid(what, `signatures[${i}].method is not a string`);
    if (!sig) throw invalid(what, `signatures[${i}].sig is not base64`);
    return { keyid, method: method.toLowerCase(), sig };
  });
  let message: Buffer;
  try {
    message = canonicalJson(signed);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw invalid(what, `its signed part has no canonical form (${err.message})`);
    throw err;
  }
  return { role, raw, signed, message, signatures, version, expires };
}

/**
 * RFC 3339 date-time (notary writes nanoseconds: `2029-11-22T08:25:06.373693711Z`). Date.parse
 * alone accepts too much, so the shape is checked first; fractions beyond milliseconds are cut.
 */
export function parseRfc3339(s: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(s);
  if (!m) return undefined;
  const fraction = m[2] ? `.${m[2].slice(0, 3).padEnd(3, '0')}` : '';
  const t = Date.parse(`${m[1]}${fraction}${m[3]!.toUpperCase()}`);
  return Number.isFinite(t) ? new Date(t) : undefined;
}

function parseRoleKeys(v: unknown, what: string, where: string): RoleKeys {
  if (!isObject(v)) throw invalid(what, `${where} is missing`);
  const keyids = v['keyids'];
  const threshold = v['threshold'];
  if (!Array.isArray(keyids) || !keyids.every((k) => typeof k === 'string' && KEY_ID.test(k))) throw invalid(what, `${where}.keyids is not a list of key ids`);
  // notary MinThreshold = 1: a role nobody needs to sign is refused, never read as "no check".
  if (typeof threshold !== 'number' || !Number.isSafeInteger(threshold) || threshold < 1) throw invalid(what, `${where}.threshold is not an integer ≥ 1`);
  return { keyids: [...new Set(keyids as string[])], threshold };
}

function parseKeys(v: unknown, what: string, where: string): { keys: Map<string, NotaryKey>; bad: Map<string, string> } {
  const keys = new Map<string, NotaryKey>();
  const bad = new Map<string, string>();
  if (v === undefined || v === null) return { keys, bad };
  if (!isObject(v)) throw invalid(what, `${where} is not an object`);
  const entries = Object.entries(v);
  if (entries.length > MAX_DELEGATIONS) throw invalid(what, `${where} lists more than ${MAX_DELEGATIONS} keys`);
  for (const [id, json] of entries) {
    try {
      keys.set(id, parseKey(id, json));
    } catch (err) {
      if (!(err instanceof KeyFormatError)) throw err;
      bad.set(id, `key ${id.slice(0, 12)}… ${err.message}`);
    }
  }
  return { keys, bad };
}

/** TUF "METAFILES" / "TARGETS" entry: length and base64 hashes (sha256 and/or sha512). */
export function parseFileMeta(v: unknown, what: string, where: string): FileMeta {
  if (!isObject(v)) throw invalid(what, `${where} is not an object`);
  const length = v['length'];
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw invalid(what, `${where}.length is not a non-negative integer`);
  const hashes = v['hashes'];
  if (!isObject(hashes)) throw invalid(what, `${where}.hashes is missing`);
  const out: Partial<Record<'sha256' | 'sha512', Buffer>> = {};
  for (const [alg, size] of [['sha256', 32], ['sha512', 64]] as const) {
    if (hashes[alg] === undefined) continue;
    const h = decodeBase64(hashes[alg]);
    if (!h || h.length !== size) throw invalid(what, `${where}.hashes.${alg} is not a base64 ${alg} digest`);
    out[alg] = h;
  }
  if (!out.sha256 && !out.sha512) throw invalid(what, `${where} has neither a sha256 nor a sha512 hash`);
  return { length, hashes: out };
}

export function parseRoot(raw: Buffer, what: string): RootMetadata {
  const envelope = parseEnvelope(raw, 'root', what);
  const { keys, bad } = parseKeys(envelope.signed['keys'], what, 'keys');
  const roles = envelope.signed['roles'];
  if (!isObject(roles)) throw invalid(what, 'roles is missing');
  const parsed = {} as Record<TopRole, RoleKeys>;
  for (const r of ['root', 'timestamp', 'snapshot', 'targets'] as const) parsed[r] = parseRoleKeys(roles[r], what, `roles.${r}`);
  return { envelope, keys, badKeys: bad, roles: parsed };
}

export function parseTimestamp(raw: Buffer, what: string): TimestampMetadata {
  const envelope = parseEnvelope(raw, 'timestamp', what);
  const meta = envelope.signed['meta'];
  if (!isObject(meta)) throw invalid(what, 'meta is missing');
  return { envelope, snapshot: parseFileMeta(meta['snapshot'], what, 'meta.snapshot') };
}

export function parseSnapshot(raw: Buffer, what: string): SnapshotMetadata {
  const envelope = parseEnvelope(raw, 'snapshot', what);
  const meta = envelope.signed['meta'];
  if (!isObject(meta)) throw invalid(what, 'meta is missing');
  const out = new Map<string, FileMeta>();
  for (const [name, m] of Object.entries(meta)) out.set(name, parseFileMeta(m, what, `meta[${JSON.stringify(name)}]`));
  return { envelope, meta: out };
}

/** Parses targets.json or a delegation's file (`role` is `targets` or `targets/<name>`). */
export function parseTargets(raw: Buffer, role: string, what: string): TargetsMetadata {
  const envelope = parseEnvelope(raw, role, what);
  const targetsJson = envelope.signed['targets'];
  if (!isObject(targetsJson)) throw invalid(what, 'targets is missing');
  const targets = new Map<string, FileMeta>();
  for (const [name, m] of Object.entries(targetsJson)) targets.set(name, parseFileMeta(m, what, `targets[${JSON.stringify(name.slice(0, 128))}]`));
  const d = envelope.signed['delegations'];
  let delegationKeys = new Map<string, NotaryKey>();
  const delegations: Delegation[] = [];
  if (d !== undefined && d !== null) {
    if (!isObject(d)) throw invalid(what, 'delegations is not an object');
    delegationKeys = parseKeys(d['keys'], what, 'delegations.keys').keys;
    const roles = d['roles'] ?? [];
    if (!Array.isArray(roles)) throw invalid(what, 'delegations.roles is not a list');
    if (roles.length > MAX_DELEGATIONS) throw invalid(what, `more than ${MAX_DELEGATIONS} delegations`);
    roles.forEach((r, i) => {
      if (!isObject(r)) throw invalid(what, `delegations.roles[${i}] is not an object`);
      const name = r['name'];
      // notary: a delegation's name is its delegator's name plus one more component.
      if (typeof name !== 'string' || !isDelegationName(name) || name.slice(0, name.lastIndexOf('/')) !== role) {
        throw invalid(what, `delegations.roles[${i}].name ${JSON.stringify(name)} is not a role ${role} may delegate to`);
      }
      const paths = r['paths'] ?? [];
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) throw invalid(what, `delegations.roles[${i}].paths is not a list of strings`);
      delegations.push({ name, paths: paths as string[], ...parseRoleKeys(r, what, `delegations.roles[${i}]`) });
    });
  }
  return { envelope, targets, delegationKeys, delegations };
}
