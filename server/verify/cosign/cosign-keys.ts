/**
 * cosign public keys (config.md `verifiers.<name>.publicKeys`): parsed once per policy
 * generation, and the one function that checks a signature with them.
 *
 * What cosign emits with `--key` (sigstore/sigstore `pkg/signature`, cosign `LoadPublicKey`,
 * which loads verifiers with crypto.SHA256):
 *   - ECDSA (cosign's own keys are P-256): ASN.1 DER signature over SHA-256 of the payload.
 *     P-384 and P-521 keys (imported or KMS) are accepted with SHA-256 as cosign loads them,
 *     and with the curve's own hash (SHA-384 / SHA-512) which newer sigstore defaults use;
 *   - Ed25519: pure Ed25519 over the payload bytes (no pre-hash);
 *   - RSA ≥ 2048 bits: PKCS#1 v1.5 with SHA-256 (cosign's RSA verifier) or PSS with SHA-256.
 */
import { createPublicKey, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigIssue } from '../../errors';
import type { PemSource } from '../../policy/compiled-policy';

export interface CosignPublicKey {
  /** `publicKeys[0]` or `publicKeys[0] (/etc/…/cosign.pub)`, for messages. */
  readonly label: string;
  readonly key: KeyObject;
  /** Digest algorithms to try for ECDSA; empty for Ed25519 and RSA (fixed per scheme). */
  readonly hashes: readonly ('sha256' | 'sha384' | 'sha512')[];
}

/** A key file is one PEM block; 64 KiB bounds a misconfigured path. */
const KEY_FILE_MAX_BYTES = 64 << 10;
/** NIST SP 800-57: RSA below 2048 bits is not acceptable for signatures. */
const RSA_MIN_BITS = 2048;
/** The largest signature any accepted key makes: RSA-16384 is 2048 bytes. */
export const SIGNATURE_MAX_BYTES = 2048;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;

/** Parses every key of a cosign verifier; throws ConfigError listing each bad one. */
export function loadCosignKeys(verifierName: string, sources: readonly PemSource[]): CosignPublicKey[] {
  const keys: CosignPublicKey[] = [];
  const issues: ConfigIssue[] = [];
  sources.forEach((source, i) => {
    const path = `verifiers.${verifierName}.publicKeys[${i}]`;
    const label = 'file' in source ? `publicKeys[${i}] (${source.file})` : `publicKeys[${i}]`;
    try {
      const text = 'file' in source ? readKeyFile(source.file) : source.pem;
      const blocks = [...text.matchAll(PEM_BLOCK)];
      if (blocks.length === 0) throw new Error('no PEM block in it');
      for (const [, type] of blocks) {
        if (type !== 'PUBLIC KEY') {
          throw new Error(`it holds a "${type}" PEM block; only "PUBLIC KEY" (as written by cosign generate-key-pair) is accepted`);
        }
      }
      blocks.forEach((block, j) => keys.push(describeKey(block[0], blocks.length > 1 ? `${label}#${j}` : label)));
    } catch (err) {
      issues.push({ path, message: `cannot be used as a cosign public key: ${(err as Error).message}` });
    }
  });
  if (issues.length) throw new ConfigError('CONFIG_INVALID', issues);
  return keys;
}

function readKeyFile(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > KEY_FILE_MAX_BYTES) throw new Error(`${file} is larger than ${KEY_FILE_MAX_BYTES} bytes`);
    return text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code ? `${file}: ${code}` : (err as Error).message);
  }
}

function describeKey(pem: string, label: string): CosignPublicKey {
  const key = createPublicKey({ key: pem, format: 'pem' });
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (type) {
    case 'ec': {
      const curve = details.namedCurve;
      if (curve === 'prime256v1') return { label, key, hashes: ['sha256'] };
      if (curve === 'secp384r1') return { label, key, hashes: ['sha256', 'sha384'] };
      if (curve === 'secp521r1') return { label, key, hashes: ['sha256', 'sha512'] };
      throw new Error(`the EC curve ${curve ?? '(unknown)'} is not one cosign uses (P-256, P-384, P-521)`);
    }
    case 'ed25519':
      return { label, key, hashes: [] };
    case 'rsa':
      if ((details.modulusLength ?? 0) < RSA_MIN_BITS) throw new Error(`the RSA key has ${details.modulusLength} bits, fewer than ${RSA_MIN_BITS}`);
      return { label, key, hashes: [] };
    default:
      throw new Error(`the key type ${type ?? '(unknown)'} is not one cosign signs with (ECDSA, Ed25519, RSA)`);
  }
}

/** True when `signature` over `payload` verifies with `k` under any scheme cosign uses for its type. */
export function signatureVerifies(k: CosignPublicKey, payload: Buffer, signature: Buffer): boolean {
  try {
    switch (k.key.asymmetricKeyType) {
      case 'ec':
        return k.hashes.some((h) => cryptoVerify(h, payload, { key: k.key, dsaEncoding: 'der' }, signature));
      case 'ed25519':
        return cryptoVerify(null, payload, k.key, signature);
      case 'rsa':
        return (
          cryptoVerify('sha256', payload, { key: k.key, padding: constants.RSA_PKCS1_PADDING }, signature) ||
          cryptoVerify('sha256', payload, { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature)
        );
      default:
        return false;
    }
  } catch {
    // Malformed DER or a wrong-length signature: it does not verify.
    return false;
  }
}

/** The first key that verifies, or undefined. */
export function findVerifyingKey(keys: readonly CosignPublicKey[], payload: Buffer, signature: Buffer): CosignPublicKey | undefined {
  return keys.find((k) => signatureVerifies(k, payload, signature));
}
