/**
 * The pinned root (config.md `verifiers.<name>.rootKeys`) and notary's rules for root keys
 * (notary `trustpinning/certs.go` `ValidateRoot`, `validRootLeafCerts`; reference §4.6 point 5,
 * §4.8).
 *
 * A pin is a certificate or public key PEM (`{file}` / `{pem}`), matched by its public key, or a
 * key id (`{keyID}`), matched against the key's TUF key id or notary's canonical key id. notary's
 * own `trust_pinning.certs` accepts only the TUF id (reference §4.8); config.md accepts both.
 *
 * A root key counts only when it is a certificate (`ecdsa-x509` / `rsa-x509`) whose subject CN is
 * exactly the GUN, not signed with SHA-1, and (for a root being newly trusted) not expired: a root
 * for another repository, or one made with a weak or stale certificate, is never trusted.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, VerificationError, type ConfigIssue } from '../../errors';
import type { RootKeySource } from '../../policy/compiled-policy';
import type { NotaryKey } from './keys';
import type { RootMetadata } from './metadata';
import { validSigners, requireThreshold } from './role-signatures';

export interface RootPin {
  /** `rootKeys[0] (/etc/…/root.crt)` or `rootKeys[1] (keyID 1a2b3c…)`, for messages. */
  readonly label: string;
  matches(key: NotaryKey): boolean;
}

/** A pin file holds a certificate or a public key: 64 KiB bounds a misconfigured path. */
const PIN_FILE_MAX_BYTES = 64 << 10;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;

/** Reads every pin once, at policy load; throws ConfigError naming each unusable entry. */
export function loadRootPins(verifierName: string, sources: readonly RootKeySource[]): RootPin[] {
  const pins: RootPin[] = [];
  const issues: ConfigIssue[] = [];
  sources.forEach((source, i) => {
    const path = `verifiers.${verifierName}.rootKeys[${i}]`;
    if ('keyID' in source) {
      const id = source.keyID.toLowerCase();
      pins.push({ label: `rootKeys[${i}] (keyID ${id.slice(0, 12)}…)`, matches: (k) => k.id === id || k.canonicalId === id });
      return;
    }
    const label = 'file' in source ? `rootKeys[${i}] (${source.file})` : `rootKeys[${i}]`;
    try {
      const text = 'file' in source ? readPinFile(source.file) : source.pem;
      const blocks = [...text.matchAll(PEM_BLOCK)];
      if (blocks.length === 0) throw new Error('no PEM block in it');
      for (const [block, type] of blocks) {
        let spki: Buffer;
        if (type === 'CERTIFICATE') spki = new X509Certificate(block).publicKey.export({ format: 'der', type: 'spki' });
        else if (type === 'PUBLIC KEY') spki = createPublicKey(block).export({ format: 'der', type: 'spki' });
        else throw new Error(`it holds a "${type}" PEM block; a root certificate or public key is expected`);
        pins.push({ label, matches: (k) => k.spki.equals(spki) });
      }
    } catch (err) {
      issues.push({ path, message: `cannot be used as a pinned notary root: ${(err as Error).message}` });
    }
  });
  if (issues.length) throw new ConfigError('CONFIG_INVALID', issues);
  return pins;
}

function readPinFile(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > PIN_FILE_MAX_BYTES) throw new Error(`${file} is larger than ${PIN_FILE_MAX_BYTES} bytes`);
    return text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code ? `${file}: ${code}` : (err as Error).message);
  }
}

/**
 * The root role's keys that may sign a root for `gun` (notary `validRootLeafCerts`): certificate
 * keys with CN == GUN, no SHA-1 signature, and unexpired when `checkExpiry` (a trusted previous
 * root's keys are not expiry-checked, as notary does, so a root can still rotate away from them).
 */
export function rootSigningKeys(root: RootMetadata, gun: string, now: number, checkExpiry: boolean): Map<string, NotaryKey> {
  const out = new Map<string, NotaryKey>();
  for (const id of root.roles.root.keyids) {
    const key = root.keys.get(id);
    const cert = key?.certificate;
    if (!key || !cert) continue;
    // parseAllCerts: exactly one leaf (non-CA) certificate, and it comes first.
    if (cert.ca || key.chain.filter((c) => !c.ca).length !== 1) continue;
    if (commonName(cert) !== gun) continue;
    if (checkExpiry && Date.parse(cert.validTo) < now) continue;
    if (SHA1_SIGNATURE_OIDS.has(signatureAlgorithmOid(cert.raw) ?? '')) continue;
    out.set(id, key);
  }
  return out;
}

/**
 * Bootstrap trust in a root downloaded with nothing trusted before it (notary `ValidateRoot`
 * without a previous root): at least one valid root key matches a pin, the pinned keys alone
 * meet the root threshold, and the root meets its own root role's threshold.
 */
export function checkPinnedRoot(root: RootMetadata, gun: string, pins: readonly RootPin[], now: number, checkExpiry: boolean): void {
  const usable = rootSigningKeys(root, gun, now, checkExpiry);
  if (usable.size === 0) throw new VerificationError('UNTRUSTED_SIGNER', `root has no usable root certificate for GUN ${gun}${describeRootKeys(root, gun, now)}`);
  const pinned = new Map([...usable].filter(([, k]) => pins.some((p) => p.matches(k))));
  const pinnedRole = { keyids: [...pinned.keys()], threshold: root.roles.root.threshold };
  if (pinned.size === 0 || validSigners(root.envelope, pinnedRole, pinned).size === 0) {
    throw new VerificationError(
      'UNTRUSTED_SIGNER',
      `root is not signed by a pinned key (root keys ${[...usable.keys()].map((id) => `${id.slice(0, 12)}…`).join(', ')}; pinned ${pins.map((p) => p.label).join(', ')})`,
    );
  }
  requireThreshold(root.envelope, 'root', pinnedRole, pinned, ' that are pinned');
  requireThreshold(root.envelope, 'root', root.roles.root, usable);
}

/** Why no root key is usable, for the message (CN, expiry). */
function describeRootKeys(root: RootMetadata, gun: string, now: number): string {
  const notes: string[] = [];
  for (const id of root.roles.root.keyids) {
    const key = root.keys.get(id);
    if (!key) notes.push(root.badKeys.get(id) ?? `key ${id.slice(0, 12)}… is not in keys`);
    else if (!key.certificate) notes.push(`key ${id.slice(0, 12)}… is a ${key.type} key, not a certificate`);
    else if (key.certificate.ca || key.chain.filter((c) => !c.ca).length !== 1) notes.push(`key ${id.slice(0, 12)}… is not a single leaf certificate`);
    else if (commonName(key.certificate) !== gun) notes.push(`certificate CN ${JSON.stringify(commonName(key.certificate))} is not the GUN`);
    else if (Date.parse(key.certificate.validTo) < now) notes.push(`certificate expired at ${new Date(key.certificate.validTo).toISOString()}`);
    else notes.push('certificate is signed with SHA-1');
  }
  return notes.length ? ` (${notes.slice(0, 4).join('; ')})` : '';
}

/** The last CN of the subject, as Go's pkix.Name.CommonName keeps it. */
export function commonName(cert: X509Certificate): string | undefined {
  let cn: string | undefined;
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) cn = line.slice(3);
  return cn;
}

/** sha1WithRSAEncryption, dsa-with-sha1, ecdsa-with-SHA1: notary refuses root certificates signed with these. */
const SHA1_SIGNATURE_OIDS: ReadonlySet<string> = new Set(['1.2.840.113549.1.1.5', '1.2.840.10040.4.3', '1.2.840.10045.4.1']);

/** The outer signatureAlgorithm OID of a DER certificate (RFC 5280 §4.1.1.2); undefined if unreadable. */
function signatureAlgorithmOid(der: Buffer): string | undefined {
  const cert = readTlv(der, 0);
  if (!cert || cert.tag !== 0x30) return undefined;
  const tbs = readTlv(der, cert.start);
  if (!tbs) return undefined;
  const alg = readTlv(der, tbs.end);
  if (!alg || alg.tag !== 0x30) return undefined;
  const oid = readTlv(der, alg.start);
  if (!oid || oid.tag !== 0x06) return undefined;
  return decodeOid(der.subarray(oid.start, oid.end));
}

function readTlv(b: Buffer, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > b.length) return undefined;
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > b.length) return undefined;
    len = 0;
    for (let i = 0; i < n; i += 1) len = len * 256 + b[start + i]!;
    start += n;
  }
  return start + len <= b.length ? { tag, start, end: start + len } : undefined;
}

function decodeOid(b: Buffer): string {
  const parts: number[] = [];
  let v = 0;
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  return [Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40, ...parts].join('.');
}
