/**
 * Image repository → notary GUN (Globally Unique Name). Docker Content Trust names a repository's
 * trust data by its fully qualified name: `docker.io/library/nginx`, `127.0.0.1:5000/demo/app`
 * (docker/cli `trust.GetNotaryRepository` uses `reference.Name`, the normalised repository).
 * config.md `gun` is a template for servers that name repositories otherwise:
 *   {repository}  the normalised repository, `registry/path` (the default)
 *   {registry}    the registry host[:port], `docker.io`
 *   {path}        the repository path, `library/nginx`
 * e.g. `gun: "{path}"` for a server that drops the host, `gun: "registry.example/{path}"` for a
 * mirror whose trust data is kept under the upstream's name.
 */
import { VerificationError } from '../../errors';
import type { Reference } from '../../reference/reference';

/** What a GUN may be: the reference grammar's characters, at most notary's 255 (its DB column). */
const GUN_SYNTAX = /^[a-z0-9](?:[a-z0-9._:/-]*[a-z0-9])?$/;

/** Expands the verifier's `gun` template (or the default) for `ref`; throws when the result is not a GUN. */
export function gunFor(template: string | undefined, ref: Reference): string {
  const t = template ?? '{repository}';
  const gun = t.replace(/\{(repository|registry|path)\}/g, (_m, name: string) =>
    name === 'repository' ? ref.repository : name === 'registry' ? ref.registry : ref.path,
  );
  if (gun.length > 255 || !GUN_SYNTAX.test(gun) || gun.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new VerificationError('TRUST_METADATA_INVALID', `the gun template ${JSON.stringify(t)} gives ${JSON.stringify(gun.slice(0, 300))} for ${ref.repository}, which is not a GUN`);
  }
  return gun;
}
