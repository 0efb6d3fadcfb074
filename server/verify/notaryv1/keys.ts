/**
 * notary's public keys and signature methods (notary `tuf/data/keys.go`, `tuf/data/types.go`,
 * `tuf/signed/verifiers.go`; reference §4.6 point 3).
 *
 * A key in TUF metadata is `{"keytype": T, "keyval": {"private": null, "public": "<base64>"}}`:
 *   - `ecdsa`, `rsa`: the public key as DER SubjectPublicKeyInfo;
 *   - `ecdsa-x509`, `rsa-x509`: a PEM certificate (optionally followed by CA certificates);
 *   - `ed25519`: the raw 32-byte public key.
 * Its TUF key id is sha256 of that object's canonical JSON, and a signature's `keyid` must be
 * that id (notary `VerifySignatures`: "Check that the signature key ID actually matches the
 * content ID of the key"). notary's CLI prints another "canonical" id for x509 keys: the same
 * hash over the certificate's bare public key (`utils.CanonicalKeyID`); both are computed here
 * because config.md lets a pin name either.
 *
 * Signature methods (lowercased, as notary's JSON decoding lowercases them):
 *   ecdsa        raw r‖s (2 × the curve's byte length), SHA-256, on ecdsa / ecdsa-x509 keys
 *   eddsa        Ed25519 over the message, on ed25519 keys
 *   rsapss       RSASSA-PSS, SHA-256, salt length 32, on rsa / rsa-x509 keys
 *   rsapkcs1v15  RSASSA-PKCS1-v1_5, SHA-256, on rsa / rsa-x509 keys
 * `pycrypto-pkcs#1 pss` (python-TUF's legacy method) is not supported: no notary tool writes it.
 */
import { X509Certificate, constants, createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json';

export type NotaryKeyType = 'ecdsa' | 'ecdsa-x509' | 'rsa' | 'rsa-x509' | 'ed25519';
const KEY_TYPES: ReadonlySet<string> = new Set<NotaryKeyType>(['ecdsa', 'ecdsa-x509', 'rsa', 'rsa-x509', 'ed25519']);

export interface NotaryKey {
  /** The TUF key id: sha256 of the canonical key object. */
  readonly id: string;
  /** notary's canonical key id: the id of the bare public key (equal to `id` for non-x509 keys). */
  readonly canonicalId: string;
  readonly type: NotaryKeyType;
  readonly publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo, to compare with a pinned key or certificate. */
  readonly spki: Buffer;
  /** The certificate of an x509 key: the first of its PEM bundle (notary `X509PublicKey`). */
  readonly certificate: X509Certificate | undefined;
  /** Every certificate of the bundle, the key's own first (root keys must be a lone leaf then CAs). */
  readonly chain: readonly X509Certificate[];
}

/** notary `MinRSABitSize`: smaller RSA keys are refused by its verifiers. */
const MIN_RSA_BITS = 2048;
/** A key's public part: an RSA-16384 certificate chain of a few certificates stays well under this. */
const MAX_PUBLIC_BYTES = 16 << 10;
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;

/** Thrown by parseKey with what is wrong with the key. */
export class KeyFormatError extends Error {}

/** sha256 hex of the canonical `{"keytype":…,"keyval":{"private":null,"public":…}}`. */
export function tufKeyId(keytype: string, publicBase64: string): string {
  return createHash('sha256')
    .update(canonicalJson({ keytype, keyval: { private: null, public: publicBase64 } }))
    .digest('hex');
}

/** Strict standard base64 (with padding) → bytes; undefined for anything else. */
export function decodeBase64(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || !STRICT_BASE64.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

/**
 * Parses one key of a `keys` map. `declaredId` is the map key: it must equal the key's TUF id,
 * otherwise a signature could be counted for a key it was not made with.
 */
export function parseKey(declaredId: string, json: unknown): NotaryKey {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new KeyFormatError('is not an object');
  const k = json as Record<string, unknown>;
  const type = k['keytype'];
  if (typeof type !== 'string' || !KEY_TYPES.has(type)) throw new KeyFormatError(`has the unsupported key type ${JSON.stringify(type)}`);
  const keyval = k['keyval'];
  if (typeof keyval !== 'object' || keyval === null || Array.isArray(keyval)) throw new KeyFormatError('has no keyval');
  const kv = keyval as Record<string, unknown>;
  if (kv['private'] !== undefined && kv['private'] !== null) throw new KeyFormatError('carries a private key');
  const publicB64 = kv['public'];
  const raw = decodeBase64(publicB64);
  if (raw === undefined || raw.length === 0) throw new KeyFormatError('has no base64 public key');
  if (raw.length > MAX_PUBLIC_BYTES) throw new KeyFormatError(`has a public part larger than ${MAX_PUBLIC_BYTES} bytes`);
  const id = tufKeyId(type, publicB64 as string);
  if (id !== declaredId) throw new KeyFormatError(`is listed as ${declaredId} but its key id is ${id}`);
  const keyType = type as NotaryKeyType;
  let publicKey: KeyObject;
  let chain: X509Certificate[] = [];
  try {
    if (keyType === 'ecdsa-x509' || keyType === 'rsa-x509') {
      chain = certificates(raw.toString('latin1'));
      publicKey = chain[0]!.publicKey;
    } else if (keyType === 'ed25519') {
      if (raw.length !== 32) throw new KeyFormatError('is not a 32-byte Ed25519 key');
      publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    } else {
      publicKey = createPublicKey({ key: raw, format: 'der', type: 'spki' });
    }
  } catch (err) {
    if (err instanceof KeyFormatError) throw err;
    throw new KeyFormatError(`cannot be read as a ${keyType} key: ${(err as Error).message}`);
  }
  checkAlgorithm(keyType, publicKey);
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const bare = keyType === 'ecdsa-x509' ? 'ecdsa' : keyType === 'rsa-x509' ? 'rsa' : undefined;
  const canonicalId = bare ? tufKeyId(bare, spki.toString('base64')) : id;
  return { id, canonicalId, type: keyType, publicKey, spki, certificate: chain[0], chain };
}

/** The certificates of a PEM bundle, in order; anything else in it is refused. */
function certificates(pem: string): X509Certificate[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new KeyFormatError('holds no PEM certificate');
  if (blocks.length > 8) throw new KeyFormatError('holds more than 8 certificates');
  return blocks.map((b) => {
    if (b[1] !== 'CERTIFICATE') throw new KeyFormatError(`holds a "${b[1]}" PEM block, not a CERTIFICATE`);
    return new X509Certificate(b[0]);
  });
}

function checkAlgorithm(type: NotaryKeyType, key: KeyObject): void {
  const alg = key.asymmetricKeyType;
  if ((type === 'ecdsa' || type === 'ecdsa-x509') && alg !== 'ec') throw new KeyFormatError(`is a ${type} key holding a ${alg} key`);
  if ((type === 'rsa' || type === 'rsa-x509') && alg !== 'rsa') throw new KeyFormatError(`is a ${type} key holding a ${alg} key`);
  if (type === 'ed25519' && alg !== 'ed25519') throw new KeyFormatError(`is an ed25519 key holding a ${alg} key`);
  if (alg === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new KeyFormatError(`is an RSA key of ${key.asymmetricKeyDetails?.modulusLength} bits, fewer than ${MIN_RSA_BITS}`);
  }
  if (alg === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1' && curve !== 'secp384r1' && curve !== 'secp521r1') {
      throw new KeyFormatError(`uses the EC curve ${curve ?? '(unknown)'}, not P-256, P-384 or P-521`);
    }
  }
}

/** Byte length of r (and of s) for an EC key's curve. */
function ecScalarBytes(key: KeyObject): number {
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case 'secp384r1':
      return 48;
    case 'secp521r1':
      return 66;
    default:
      return 32;
  }
}

/** True when `sig` is a valid `method` signature of `msg` by `key` (notary tuf/signed/verifiers.go). */
export function signatureVerifies(key: NotaryKey, method: string, msg: Buffer, sig: Buffer): boolean {
  try {
    switch (method.toLowerCase()) {
      case 'ecdsa':
        if (key.type !== 'ecdsa' && key.type !== 'ecdsa-x509') return false;
        // ECDSAVerifier: "signature length is incorrect" unless exactly 2 × the curve's byte size.
        if (sig.length !== 2 * ecScalarBytes(key.publicKey)) return false;
        return cryptoVerify('sha256', msg, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
      case 'eddsa':
        if (key.type !== 'ed25519' || sig.length !== 64) return false;
        return cryptoVerify(null, msg, key.publicKey, sig);
      case 'rsapss':
        if (key.type !== 'rsa' && key.type !== 'rsa-x509') return false;
        return cryptoVerify('sha256', msg, { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
      case 'rsapkcs1v15':
        if (key.type !== 'rsa' && key.type !== 'rsa-x509') return false;
        return cryptoVerify('sha256', msg, { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, sig);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
