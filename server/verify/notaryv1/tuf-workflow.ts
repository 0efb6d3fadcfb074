/**
 * The TUF client workflow against one GUN on a notary server, step by step as the TUF
 * specification's "Detailed client workflow" (section 5, v1.0.x) numbers it, adapted where notary
 * speaks pre-1.0 TUF (reference §4.5): no versions in `meta` (5.4.3.2, 5.5.4, 5.6.4 have nothing
 * to compare), `consistent_snapshot: false` (files are always fetched by role name, 5.3.12), and
 * the root is bootstrapped from pinned keys rather than a shipped root file (5.2).
 *
 * A TrustState is the "trusted metadata" of the spec for one GUN: kept in memory per verifier
 * (one policy generation), it is the baseline for rollback checks and the starting root for the
 * next update. Every step that fails throws VerificationError with a reason naming the check.
 */
import { createHash } from 'node:crypto';
import { LookupError, VerificationError } from '../../errors';
import type { NotaryKey } from './keys';
import {
  isDelegationName,
  parseRoot,
  parseSnapshot,
  parseTargets,
  parseTimestamp,
  type FileMeta,
  type RootMetadata,
  type SnapshotMetadata,
  type TargetsMetadata,
  type TimestampMetadata,
} from './metadata';
import { ROLE_MAX_BYTES, type NotaryClient } from './notary-client';
import { requireThreshold } from './role-signatures';
import { checkPinnedRoot, rootSigningKeys, type RootPin } from './trust-pinning';

/** tuf-js `maxRootRotations` default: root versions walked in one update at most (TUF 5.3.3's "Y"). */
export const MAX_ROOT_ROTATIONS = 256;
/** tuf-js `maxDelegations` default: delegated roles visited per search at most (TUF 5.6.7.1). */
export const MAX_DELEGATIONS_VISITED = 32;

/** A targets role whose file verified, with the target paths it may speak for. */
export interface VerifiedRole {
  readonly name: string;
  /** Undefined when the snapshot lists no file for the role (a delegation nothing was signed into yet). */
  readonly metadata: TargetsMetadata | undefined;
  /** Path prefixes it may sign (notary `DelegationRole.Restrict`); `all` for the top-level targets role. */
  readonly paths: readonly string[] | 'all';
}

export interface TrustState {
  readonly gun: string;
  readonly root: RootMetadata;
  readonly timestamp: TimestampMetadata;
  readonly snapshot: SnapshotMetadata;
  /** When this state was last brought up to date with the server (the fixed update start time). */
  readonly updatedAt: number;
  /** Highest version seen per role (timestamp, snapshot, targets, delegations): the rollback baseline. */
  readonly versions: Map<string, number>;
  /** Targets roles verified under this snapshot, by name (filled as searches need them). */
  readonly roles: Map<string, Promise<VerifiedRole | undefined>>;
}

/** How an update reaches the server and what it trusts from the start. */
export interface UpdateContext {
  readonly client: NotaryClient;
  readonly pins: readonly RootPin[];
  readonly signal: AbortSignal;
}

const iso = (d: Date): string => d.toISOString();

function expired(role: string, expires: Date): VerificationError {
  return new VerificationError('TRUST_METADATA_EXPIRED', `${role} expired at ${iso(expires)}`);
}

function rollback(role: string, version: number, trusted: number): VerificationError {
  return new VerificationError('ROLLBACK_DETECTED', `${role} version ${version} is older than ${trusted} (rollback)`);
}

/**
 * Brings the trusted metadata for `client.gun` up to date: root (5.3), timestamp (5.4),
 * snapshot (5.5) and the top-level targets role (5.6.1–5.6.6). `previous` is the state of the last
 * successful update, or undefined on first contact.
 */
export async function updateTrust(ctx: UpdateContext, previous: TrustState | undefined, now: number): Promise<TrustState> {
  // 5.1 Record the fixed update start time: `now`, used for every expiry check below.
  const { client } = ctx;
  const gun = client.gun;

  // 5.2 Load the trusted root: the last trusted one, or (first contact) one the pinned keys sign.
  let root = previous?.root ?? (await bootstrapRoot(ctx, now));
  const startRoot = root;

  // 5.3 Update the root role: walk N+1.root.json until the server has no newer version.
  for (let n = 0; n < MAX_ROOT_ROTATIONS; n += 1) {
    // 5.3.3 Try downloading version N+1, up to W bytes (ROLE_MAX_BYTES.root); absent: go to 5.3.10.
    const next = await client.fetch(`${root.envelope.version + 1}.root`, ROLE_MAX_BYTES.root, ctx.signal);
    if (!next) break;
    const candidate = parseRoot(next.bytes, `root version ${root.envelope.version + 1} of ${gun}`);
    // 5.3.4 Arbitrary software attack: signed by a threshold of the trusted root's root keys AND
    // of its own root keys (notary: certificates for the GUN; see trust-pinning.ts).
    requireThreshold(candidate.envelope, `root version ${candidate.envelope.version}: root`, root.roles.root, rootSigningKeys(root, gun, now, false), ` of trusted root version ${root.envelope.version}`);
    requireThreshold(candidate.envelope, `root version ${candidate.envelope.version}: root`, candidate.roles.root, rootSigningKeys(candidate, gun, now, false), ' of its own');
    // 5.3.5 Rollback attack: the new root must be exactly version N+1 (older: rollback; the same
    // version: discard it and go on with the trusted root).
    if (candidate.envelope.version < root.envelope.version) throw rollback('root', candidate.envelope.version, root.envelope.version);
    if (candidate.envelope.version === root.envelope.version) break;
    if (candidate.envelope.version !== root.envelope.version + 1) {
      throw new VerificationError('TRUST_METADATA_INVALID', `${root.envelope.version + 1}.root.json of ${gun} holds root version ${candidate.envelope.version}, not ${root.envelope.version + 1}`);
    }
    // 5.3.6 Its expiry does not matter yet. 5.3.7 Set the trusted root (5.3.8: kept in memory).
    root = candidate;
  }

  // 5.3.10 Freeze attack: the trusted root must not be expired at the update start time. And, as
  // notary's ValidateRoot does for any newly trusted root, its root certificates must be current.
  if (root.envelope.expires.getTime() <= now) throw expired('root', root.envelope.expires);
  if (root !== startRoot) requireThreshold(root.envelope, 'root', root.roles.root, rootSigningKeys(root, gun, now, true), ' with unexpired certificates for the GUN');

  // 5.3.11 If the timestamp or snapshot keys were rotated, forget the trusted timestamp and
  // snapshot (recovery from fast-forward attacks): their versions are no longer a baseline.
  const versions = new Map(previous?.versions ?? []);
  let trustedTimestamp = previous?.timestamp;
  let trustedSnapshot = previous?.snapshot;
  if (root !== startRoot && (keysChanged(startRoot, root, 'timestamp') || keysChanged(startRoot, root, 'snapshot'))) {
    trustedTimestamp = undefined;
    trustedSnapshot = undefined;
    versions.delete('timestamp');
    versions.delete('snapshot');
  }
  // 5.3.12 consistent_snapshot: notary writes false; files are fetched by role name.

  // 5.4 Update the timestamp role.
  const timestamp = await updateTimestamp(ctx, root, trustedTimestamp, versions, now);
  // 5.5 Update the snapshot role.
  const snapshot = await updateSnapshot(ctx, root, timestamp, trustedSnapshot, versions, now);

  const state: TrustState = { gun, root, timestamp, snapshot, updatedAt: now, versions, roles: new Map() };
  // A role verified under the previous snapshot stays verified when the root is the same and the
  // snapshot lists the same file for it and for every role above it (its keys, threshold and
  // paths come from those); anything else is verified again when a search needs it.
  if (previous && root === startRoot) {
    const names = [...previous.roles.keys()].sort((a, b) => a.split('/').length - b.split('/').length);
    for (const name of names) {
      const role = await previous.roles.get(name)!.catch(() => undefined);
      const meta = snapshot.meta.get(name);
      const parent = name.slice(0, name.lastIndexOf('/'));
      if (name !== 'targets' && !state.roles.has(parent)) continue;
      if (role?.metadata && meta && hashesMatch(role.metadata.envelope.raw, meta)) state.roles.set(name, Promise.resolve(role));
    }
  }
  // 5.6 Update the top-level targets role now, so an update that succeeds has verified it.
  await loadRole(ctx, state, 'targets', now);
  return state;
}

/**
 * 5.2 for a GUN seen for the first time: the latest root.json, trusted when the pinned keys sign
 * it (notary ValidateRoot with trust pinning). When they do not and the root has been rotated,
 * 1.root.json is tried instead: if the pins sign it, the 5.3 walk re-traces every rotation from
 * there (TUF "Key management and migration").
 */
async function bootstrapRoot(ctx: UpdateContext, now: number): Promise<RootMetadata> {
  const { client } = ctx;
  const latest = await client.fetch('root', ROLE_MAX_BYTES.root, ctx.signal);
  if (!latest) throw new VerificationError('SIGNATURE_NOT_FOUND', `notary server ${client.host} has no trust data for ${client.gun}`);
  const root = parseRoot(latest.bytes, `root.json of ${client.gun}`);
  try {
    checkPinnedRoot(root, client.gun, ctx.pins, now, true);
    return root;
  } catch (err) {
    if (!(err instanceof VerificationError) || root.envelope.version <= 1) throw err;
    const first = await client.fetch('1.root', ROLE_MAX_BYTES.root, ctx.signal);
    if (!first) throw err;
    const original = parseRoot(first.bytes, `root version 1 of ${client.gun}`);
    try {
      // The pinned root's own certificates may have expired since; the walk checks the newest.
      checkPinnedRoot(original, client.gun, ctx.pins, now, false);
    } catch {
      throw err;
    }
    if (original.envelope.version !== 1) throw new VerificationError('TRUST_METADATA_INVALID', `1.root.json of ${client.gun} holds root version ${original.envelope.version}`);
    return original;
  }
}

function keysChanged(a: RootMetadata, b: RootMetadata, role: 'timestamp' | 'snapshot'): boolean {
  const x = [...a.roles[role].keyids].sort().join(',');
  const y = [...b.roles[role].keyids].sort().join(',');
  return x !== y || a.roles[role].threshold !== b.roles[role].threshold;
}

/** 5.4 Update the timestamp role. */
async function updateTimestamp(
  ctx: UpdateContext,
  root: RootMetadata,
  trusted: TimestampMetadata | undefined,
  versions: Map<string, number>,
  now: number,
): Promise<TimestampMetadata> {
  const { client } = ctx;
  // 5.4.1 Download timestamp.json, up to X bytes (ROLE_MAX_BYTES.timestamp).
  const file = await client.fetch('timestamp', ROLE_MAX_BYTES.timestamp, ctx.signal);
  if (!file) throw new VerificationError('SIGNATURE_NOT_FOUND', `notary server ${client.host} has no timestamp for ${client.gun}`);
  const fresh = parseTimestamp(file.bytes, `timestamp.json of ${client.gun}`);
  // 5.4.2 Arbitrary software attack: signed by a threshold of the root's timestamp keys.
  requireThreshold(fresh.envelope, 'timestamp', root.roles.timestamp, root.keys);
  // 5.4.3.1 Rollback attack: not older than the trusted timestamp; the same version means
  // nothing changed, so the trusted one is kept.
  const baseline = Math.max(trusted?.envelope.version ?? 0, versions.get('timestamp') ?? 0);
  if (fresh.envelope.version < baseline) throw rollback('timestamp', fresh.envelope.version, baseline);
  const timestamp = trusted && trusted.envelope.version === fresh.envelope.version ? trusted : fresh;
  // 5.4.3.2 The snapshot version in timestamp meta: notary's meta carries no version (nothing to compare).
  // 5.4.4 Freeze attack: not expired at the update start time.
  if (timestamp.envelope.expires.getTime() <= now) throw expired('timestamp', timestamp.envelope.expires);
  // 5.4.5 Persist (in memory).
  versions.set('timestamp', timestamp.envelope.version);
  return timestamp;
}

/** 5.5 Update the snapshot role. */
async function updateSnapshot(
  ctx: UpdateContext,
  root: RootMetadata,
  timestamp: TimestampMetadata,
  trusted: SnapshotMetadata | undefined,
  versions: Map<string, number>,
  now: number,
): Promise<SnapshotMetadata> {
  const { client } = ctx;
  const listed = timestamp.snapshot;
  let snapshot: SnapshotMetadata;
  if (trusted && hashesMatch(trusted.envelope.raw, listed)) {
    // The timestamp lists the snapshot already trusted: nothing to download.
    snapshot = trusted;
  } else {
    // 5.5.1 Download snapshot.json, up to the length the timestamp lists (and at most Y bytes).
    const bytes = await fetchListed(ctx, 'snapshot', listed, ROLE_MAX_BYTES.snapshot, 'timestamp');
    // 5.5.2 Check against the timestamp role's snapshot hashes (before parsing: a quick reject).
    requireHashes(bytes, listed, 'snapshot.json', 'timestamp', client.gun);
    snapshot = parseSnapshot(bytes, `snapshot.json of ${client.gun}`);
    // 5.5.3 Arbitrary software attack: signed by a threshold of the root's snapshot keys.
    requireThreshold(snapshot.envelope, 'snapshot', root.roles.snapshot, root.keys);
    // 5.5.4 The version listed in the timestamp: notary lists none.
    // 5.5.5 Rollback attack: not older than the trusted snapshot. (The spec's "every targets file
    // listed before is still listed" is not enforced: `notary delegation remove` drops a role's
    // file from the snapshot legitimately; a dropped role simply has no metadata.)
    const baseline = Math.max(trusted?.envelope.version ?? 0, versions.get('snapshot') ?? 0);
    if (snapshot.envelope.version < baseline) throw rollback('snapshot', snapshot.envelope.version, baseline);
  }
  // 5.5.6 Freeze attack: not expired at the update start time.
  if (snapshot.envelope.expires.getTime() <= now) throw expired('snapshot', snapshot.envelope.expires);
  // notary lists root.json in the snapshot too: it must be the root trusted above (mix-and-match).
  const rootMeta = snapshot.meta.get('root');
  if (rootMeta && !hashesMatch(root.envelope.raw, rootMeta)) {
    throw new VerificationError('TRUST_METADATA_INVALID', `snapshot of ${client.gun} lists a root.json that is not the trusted root version ${root.envelope.version}`);
  }
  // 5.5.7 Persist (in memory).
  versions.set('snapshot', snapshot.envelope.version);
  return snapshot;
}

/**
 * 5.6 for one targets role (`targets`, or a delegation during the 5.6.7 search): verified once per
 * snapshot and remembered in `state.roles`. A delegation's keys, threshold and paths come from its
 * parent's `delegations` (loaded first). Resolves undefined when `name` is not a delegation its
 * parent makes; `metadata` is undefined when the snapshot lists no file for a role that is
 * delegated (notary: a delegation nothing has been published into).
 */
export function loadRole(ctx: UpdateContext, state: TrustState, name: string, now: number): Promise<VerifiedRole | undefined> {
  const known = state.roles.get(name);
  if (known) return known;
  const p = verifyRole(ctx, state, name, now);
  state.roles.set(name, p);
  // A failure is not remembered: the next search retries (after the next update).
  p.catch(() => state.roles.delete(name));
  return p;
}

async function verifyRole(ctx: UpdateContext, state: TrustState, name: string, now: number): Promise<VerifiedRole | undefined> {
  const gun = state.gun;
  let keys: ReadonlyMap<string, NotaryKey>;
  let roleKeys: { keyids: readonly string[]; threshold: number };
  let paths: readonly string[] | 'all';
  if (name === 'targets') {
    keys = state.root.keys;
    roleKeys = state.root.roles.targets;
    paths = 'all';
  } else {
    if (!isDelegationName(name)) return undefined;
    const parent = await loadRole(ctx, state, name.slice(0, name.lastIndexOf('/')), now);
    const delegation = parent?.metadata?.delegations.find((d) => d.name === name);
    if (!parent?.metadata || !delegation) return undefined;
    keys = parent.metadata.delegationKeys;
    roleKeys = delegation;
    paths = restrictPaths(delegation.paths, parent.paths);
  }
  const listed = state.snapshot.meta.get(name);
  if (!listed) {
    if (name === 'targets') throw new VerificationError('TRUST_METADATA_INVALID', `snapshot of ${gun} does not list targets.json`);
    return { name, metadata: undefined, paths };
  }
  // 5.6.1 Download the role's file, up to the length the snapshot lists (and at most Z bytes).
  const bytes = await fetchListed(ctx, name, listed, ROLE_MAX_BYTES.targets, 'snapshot');
  // 5.6.2 Check against the snapshot role's hashes for it.
  requireHashes(bytes, listed, `${name}.json`, 'snapshot', gun);
  const metadata = parseTargets(bytes, name, `${name}.json of ${gun}`);
  // 5.6.3 Arbitrary software attack: a threshold of the keys the parent gives the role.
  requireThreshold(metadata.envelope, name, roleKeys, keys);
  // 5.6.4 The version listed in the snapshot: notary lists none. Instead (TUF 5.5.5's intent)
  // the role must not be older than the newest version of it trusted before.
  const baseline = state.versions.get(name) ?? 0;
  if (metadata.envelope.version < baseline) throw rollback(name, metadata.envelope.version, baseline);
  // 5.6.5 Freeze attack: not expired at the update start time.
  if (metadata.envelope.expires.getTime() <= now) throw expired(name, metadata.envelope.expires);
  // 5.6.6 Persist (in memory).
  state.versions.set(name, metadata.envelope.version);
  return { name, metadata, paths };
}

/**
 * notary `DelegationRole.Restrict`: a child keeps only the paths its parent covers (a parent path
 * that is a prefix of the child's path).
 */
function restrictPaths(child: readonly string[], parent: readonly string[] | 'all'): readonly string[] {
  if (parent === 'all') return child;
  return child.filter((c) => parent.some((p) => c.startsWith(p)));
}

/** True when the role may sign target `name` (notary `CheckPaths`: prefix match, `""` = all). */
export function rolePathCovers(role: VerifiedRole, name: string): boolean {
  return role.paths === 'all' || role.paths.some((p) => name.startsWith(p));
}

/** Downloads a file listed by its parent: refused up front when the listed length is above the cap. */
async function fetchListed(ctx: UpdateContext, name: string, listed: FileMeta, max: number, parent: string): Promise<Buffer> {
  const { client } = ctx;
  if (listed.length > max) {
    throw new LookupError('RESPONSE_TOO_LARGE', `${name}.json of ${client.gun} is listed at ${listed.length} bytes by ${parent}, more than the ${max}-byte limit`);
  }
  const file = await client.fetch(name, listed.length, ctx.signal);
  if (!file) throw new LookupError('NOT_FOUND', `notary server ${client.host} has no ${name}.json for ${client.gun}, though ${parent} lists it`);
  return file.bytes;
}

/** Every hash the parent lists must match, and the length too. */
function hashesMatch(bytes: Buffer, listed: FileMeta): boolean {
  if (bytes.length !== listed.length) return false;
  for (const alg of ['sha256', 'sha512'] as const) {
    const want = listed.hashes[alg];
    if (want && !createHash(alg).update(bytes).digest().equals(want)) return false;
  }
  return true;
}

function requireHashes(bytes: Buffer, listed: FileMeta, file: string, parent: string, gun: string): void {
  if (hashesMatch(bytes, listed)) return;
  const alg = listed.hashes.sha256 ? 'sha256' : 'sha512';
  throw new VerificationError(
    'TRUST_METADATA_INVALID',
    `${file} of ${gun} does not match the ${alg} and length ${parent} lists for it (got ${bytes.length} bytes, ${alg} ${createHash(alg).update(bytes).digest('base64')})`,
  );
}
