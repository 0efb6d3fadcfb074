/**
 * Finding the trusted target that admits an image (TUF client workflow 5.6.7, "Perform a pre-order
 * depth-first search for metadata about the desired target", and 5.7 "Verify the desired target
 * against its targets metadata"), with Docker Content Trust's conventions: target name = tag,
 * target hashes = the manifest digest (reference §4.4), and a tag resolved in `targets/releases`
 * before `targets` (docker/cli `GetTargetByName(tag, "targets/releases", "targets")`, §4.6.6).
 *
 *   digest lookup  (the image reference carries a digest): any trusted target whose hash is the
 *                  digest admits it, whatever its name.
 *   tag lookup     (a tag-only reference; the digest came from resolveTags): the target NAMED by
 *                  the tag, in the first role that has one (targets/releases, targets, then other
 *                  delegations in pre-order), must carry the digest: what `docker pull` with
 *                  content trust would have pulled.
 *   required roles (config `delegations` non-empty): every listed role must itself carry the
 *                  target (digest lookup: a target with the digest; tag lookup: the tag with it).
 *
 * A role that cannot be downloaded or does not verify ends the search with its reason (TUF 5.6.7:
 * "If any metadata … cannot be downloaded nor validated, end the search").
 */
import { VerificationError } from '../../errors';
import type { FileMeta } from './metadata';
import { MAX_DELEGATIONS_VISITED, rolePathCovers, type VerifiedRole } from './tuf-workflow';

export type TargetLookup =
  | { readonly kind: 'digest'; readonly digest: string }
  | { readonly kind: 'tag'; readonly tag: string; readonly digest: string };

export interface TargetMatch {
  readonly role: string;
  readonly target: string;
}

/** Loads a verified role by name (undefined: not delegated). */
export type RoleLoader = (name: string) => Promise<VerifiedRole | undefined>;

const DOCKER_ORDER = ['targets/releases', 'targets'] as const;

/** True when the target's hash for the digest's algorithm equals the digest (5.7). */
export function targetHasDigest(meta: FileMeta, digest: string): boolean {
  const [alg, hex] = digest.split(':') as [string, string];
  const h = alg === 'sha256' ? meta.hashes.sha256 : alg === 'sha512' ? meta.hashes.sha512 : undefined;
  return h !== undefined && h.toString('hex') === hex;
}

/** Finds the target admitting `lookup`, or throws VerificationError naming what is missing. */
export async function findTarget(load: RoleLoader, gun: string, lookup: TargetLookup, required: readonly string[]): Promise<TargetMatch[]> {
  if (required.length > 0) {
    const matches: TargetMatch[] = [];
    for (const name of required) matches.push(await matchInRequiredRole(load, gun, lookup, name));
    return matches;
  }
  if (lookup.kind === 'digest') {
    for await (const role of preOrder(load, undefined)) {
      const target = findByDigest(role, lookup.digest);
      if (target !== undefined) return [{ role: role.name, target }];
    }
    throw new VerificationError('TARGET_NOT_FOUND', `no trusted target for ${lookup.digest} in ${gun}`);
  }
  // Tag lookup: Docker's order first, then every other role that may sign the tag.
  const seen = new Set<string>();
  const decide = (role: VerifiedRole): TargetMatch[] | undefined => {
    const meta = role.metadata?.targets.get(lookup.tag);
    if (!meta || !rolePathCovers(role, lookup.tag)) return undefined;
    if (!targetHasDigest(meta, lookup.digest)) throw tagMismatch(gun, role.name, lookup, meta);
    return [{ role: role.name, target: lookup.tag }];
  };
  for (const name of DOCKER_ORDER) {
    seen.add(name);
    const role = await load(name);
    const found = role && decide(role);
    if (found) return found;
  }
  for await (const role of preOrder(load, lookup.tag)) {
    if (seen.has(role.name)) continue;
    const found = decide(role);
    if (found) return found;
  }
  throw new VerificationError('TARGET_NOT_FOUND', `no trusted target for tag ${lookup.tag} in ${gun}`);
}

async function matchInRequiredRole(load: RoleLoader, gun: string, lookup: TargetLookup, name: string): Promise<TargetMatch> {
  const role = await load(name);
  if (!role) throw new VerificationError('SIGNATURE_NOT_FOUND', `${name} is not a delegation in the trust data of ${gun}`);
  if (!role.metadata) throw new VerificationError('SIGNATURE_NOT_FOUND', `${name} of ${gun} has no signed targets yet`);
  if (lookup.kind === 'digest') {
    const target = findByDigest(role, lookup.digest);
    if (target === undefined) throw new VerificationError('TARGET_NOT_FOUND', `no trusted target for ${lookup.digest} in ${name} of ${gun}`);
    return { role: name, target };
  }
  const meta = role.metadata.targets.get(lookup.tag);
  if (!meta || !rolePathCovers(role, lookup.tag)) throw new VerificationError('TARGET_NOT_FOUND', `no trusted target for tag ${lookup.tag} in ${name} of ${gun}`);
  if (!targetHasDigest(meta, lookup.digest)) throw tagMismatch(gun, name, lookup, meta);
  return { role: name, target: lookup.tag };
}

function tagMismatch(gun: string, role: string, lookup: { tag: string; digest: string }, meta: FileMeta): VerificationError {
  const signed = meta.hashes.sha256 ? `sha256:${meta.hashes.sha256.toString('hex')}` : `sha512:${meta.hashes.sha512?.toString('hex') ?? ''}`;
  return new VerificationError('DIGEST_MISMATCH', `tag ${lookup.tag} is signed in ${role} of ${gun} for ${signed}, not ${lookup.digest}`);
}

function findByDigest(role: VerifiedRole, digest: string): string | undefined {
  for (const [name, meta] of role.metadata?.targets ?? []) {
    if (rolePathCovers(role, name) && targetHasDigest(meta, digest)) return name;
  }
  return undefined;
}

/**
 * 5.6.7 Pre-order depth-first walk from the top-level targets role, delegations in order of
 * appearance (5.6.7.2), each role once (5.6.7.1), at most MAX_DELEGATIONS_VISITED delegations.
 * With `path`, only delegations whose paths cover it are entered.
 */
async function* preOrder(load: RoleLoader, path: string | undefined): AsyncGenerator<VerifiedRole> {
  const visited = new Set<string>();
  const stack = ['targets'];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (visited.has(name)) continue;
    // 5.6.7.1: past the maximum number of roles, stop (the target is reported as not found).
    if (visited.size > MAX_DELEGATIONS_VISITED) return;
    visited.add(name);
    const role = await load(name);
    if (!role) continue;
    yield role;
    const children = (role.metadata?.delegations ?? []).filter((d) => path === undefined || d.paths.some((p) => path.startsWith(p)));
    for (let i = children.length - 1; i >= 0; i -= 1) stack.push(children[i]!.name);
  }
}
