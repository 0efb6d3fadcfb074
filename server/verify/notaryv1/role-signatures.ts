/**
 * "Check for an arbitrary software attack" (TUF client workflow 5.3.4, 5.4.2, 5.5.3, 5.6.3): a
 * file must be signed by a threshold of the keys its parent lists for the role. As notary's
 * `VerifySignatures`: only signatures whose keyid is one of the role's key ids count, each key
 * counts once however many signatures it made, and the signature must verify over the canonical
 * JSON of `signed` with the method it names (reference §4.6 point 4).
 */
import { VerificationError } from '../../errors';
import { signatureVerifies, type NotaryKey } from './keys';
import type { Envelope, RoleKeys } from './metadata';

/** The distinct key ids, among `role.keyids` with a key in `keys`, that validly signed `envelope`. */
export function validSigners(envelope: Envelope, role: RoleKeys, keys: ReadonlyMap<string, NotaryKey>): Set<string> {
  const allowed = new Set(role.keyids);
  const valid = new Set<string>();
  for (const s of envelope.signatures) {
    if (valid.has(s.keyid) || !allowed.has(s.keyid)) continue;
    const key = keys.get(s.keyid);
    // keys only holds keys whose content id equals their map key (metadata.ts parseKeys).
    if (key && key.id === s.keyid && signatureVerifies(key, s.method, envelope.message, s.sig)) valid.add(s.keyid);
  }
  return valid;
}

/**
 * Throws THRESHOLD_NOT_MET, e.g. "targets role signed by 0 of 1 required keys", unless at least
 * `role.threshold` distinct keys of the role signed. `label` names the role in the message.
 */
export function requireThreshold(envelope: Envelope, label: string, role: RoleKeys, keys: ReadonlyMap<string, NotaryKey>, detail = ''): void {
  const valid = validSigners(envelope, role, keys);
  if (valid.size >= role.threshold) return;
  const usable = role.keyids.filter((id) => keys.has(id)).length;
  const note = usable < role.threshold ? ` (only ${usable} of its ${role.keyids.length} listed keys are usable)` : '';
  throw new VerificationError('THRESHOLD_NOT_MET', `${label} role signed by ${valid.size} of ${role.threshold} required keys${note}${detail}`);
}
