/**
 * The COSE envelope (`application/cose`, Notary Project `signature-envelope-cose.md`):
 * `COSE_Sign1_Tagged` (CBOR tag 18) = [protected bstr, unprotected map, payload bstr, signature bstr].
 * Protected: 1 alg, 2 crit, 3 cty, and the text-keyed signed attributes (times as tag-1 epoch
 * dates). Unprotected: 33 x5chain (DER, leaf first), signing agent, timestamp countersignature.
 *
 * Decoding uses `cbor-x`. The signature is checked over Sig_structure
 * `["Signature1", protected, h'', payload]` (RFC 9052 §4.4), encoded here byte by byte (four
 * definite-length items, nothing left to an encoder's options), with node:crypto: RSASSA-PSS with
 * salt = hash length, or ECDSA with the raw r‖s form COSE uses.
 */
import { constants, verify as cryptoVerify } from 'node:crypto';
import { Decoder, Tag } from 'cbor-x';
import {
  AUTHENTIC_SIGNING_TIME,
  EXPIRY,
  EnvelopeError,
  NOTATION_PAYLOAD_TYPE,
  SIGNING_AGENT,
  SIGNING_SCHEME,
  SIGNING_TIME,
  TIMESTAMP_SIGNATURE,
  VERIFICATION_PLUGIN,
  algorithmForKey,
  checkCritical,
  checkSigningScheme,
  parseChain,
  type Algorithm,
  type EnvelopeContent,
} from './envelope';

export const COSE_MEDIA_TYPE = 'application/cose';

/** COSE algorithm identifiers (IANA "COSE Algorithms"). */
const COSE_ALGORITHMS: ReadonlyMap<number, Algorithm> = new Map([
  [-37, 'PS256'],
  [-38, 'PS384'],
  [-39, 'PS512'],
  [-7, 'ES256'],
  [-35, 'ES384'],
  [-36, 'ES512'],
]);

const HASH: Record<Algorithm, string> = { PS256: 'sha256', PS384: 'sha384', PS512: 'sha512', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };
const SALT: Record<Algorithm, number> = { PS256: 32, PS384: 48, PS512: 64, ES256: 0, ES384: 0, ES512: 0 };

const LABEL_ALG = 1;
const LABEL_CRIT = 2;
const LABEL_CTY = 3;
const LABEL_X5CHAIN = 33;

function decoder(): Decoder {
  return new Decoder({ mapsAsObjects: false, useRecords: false } as ConstructorParameters<typeof Decoder>[0]);
}

function decode(bytes: Uint8Array, what: string): unknown {
  try {
    return decoder().decode(bytes);
  } catch {
    throw new EnvelopeError(`${what} is not valid CBOR`);
  }
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** CBOR head for major type `major` and argument `n` (RFC 8949 §3). */
function head(major: number, n: number): Buffer {
  const m = major << 5;
  if (n < 24) return Buffer.from([m | n]);
  if (n < 0x100) return Buffer.from([m | 24, n]);
  if (n < 0x10000) return Buffer.from([m | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = m | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/** CBOR of `["Signature1", protected, h'', payload]`. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  const context = Buffer.from('Signature1');
  return Buffer.concat([head(4, 4), head(3, context.length), context, head(2, protectedBytes.length), protectedBytes, head(2, 0), head(2, payload.length), payload]);
}

function time(map: Map<unknown, unknown>, name: string, required: true): Date;
function time(map: Map<unknown, unknown>, name: string, required: false): Date | undefined;
function time(map: Map<unknown, unknown>, name: string, required: boolean): Date | undefined {
  const v = map.get(name);
  if (v === undefined && !required) return undefined;
  // cbor-x turns tag 1 into a Date; the Notary Project requires tag-1 dates here.
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new EnvelopeError(`"${name}" is ${v === undefined ? 'missing' : 'not a tag-1 date'}`);
  return v;
}

/** Parses and verifies a COSE_Sign1 envelope; throws EnvelopeError (or ChainError for bad certificates). */
export async function openCoseEnvelope(bytes: Buffer): Promise<EnvelopeContent> {
  const top = decode(bytes, 'the COSE envelope');
  if (!(top instanceof Tag) || top.tag !== 18) throw new EnvelopeError('the COSE envelope is not a tagged COSE_Sign1 (tag 18)');
  const arr = top.value as unknown;
  if (!Array.isArray(arr) || arr.length !== 4) throw new EnvelopeError('COSE_Sign1 is not a four-element array');
  const [protectedBytes, unprotected, payload, signature] = arr as [unknown, unknown, unknown, unknown];
  if (!isBytes(protectedBytes) || protectedBytes.length === 0) throw new EnvelopeError('COSE_Sign1 has no protected header');
  if (!(unprotected instanceof Map)) throw new EnvelopeError('COSE_Sign1 unprotected header is not a map');
  if (!isBytes(payload)) throw new EnvelopeError('COSE_Sign1 has no attached payload');
  if (!isBytes(signature)) throw new EnvelopeError('COSE_Sign1 signature is not a byte string');
  const ph = decode(protectedBytes, 'the COSE protected header');
  if (!(ph instanceof Map)) throw new EnvelopeError('the COSE protected header is not a map');

  const algId = ph.get(LABEL_ALG);
  const alg = typeof algId === 'number' ? COSE_ALGORITHMS.get(algId) : undefined;
  if (!alg) throw new EnvelopeError(`unsupported COSE algorithm ${String(algId)}`);
  if (ph.get(LABEL_CTY) !== NOTATION_PAYLOAD_TYPE) throw new EnvelopeError(`the payload content type is ${JSON.stringify(ph.get(LABEL_CTY))}, not ${NOTATION_PAYLOAD_TYPE}`);
  checkCritical(ph.get(LABEL_CRIT), (n) => ph.get(n) !== undefined);
  const signingScheme = checkSigningScheme(ph.get(SIGNING_SCHEME));
  const signingTime = time(ph, SIGNING_TIME, true);
  const expiry = time(ph, EXPIRY, false);
  const authenticSigningTime = time(ph, AUTHENTIC_SIGNING_TIME, false);
  if (ph.get(VERIFICATION_PLUGIN) !== undefined) {
    throw new EnvelopeError(`the signature requires the verification plugin ${JSON.stringify(ph.get(VERIFICATION_PLUGIN))}; plugins are not supported`);
  }
  for (const k of unprotected.keys()) if (ph.has(k)) throw new EnvelopeError('a header label is both protected and unprotected');

  const x5 = unprotected.get(LABEL_X5CHAIN);
  const ders = isBytes(x5) ? [x5] : Array.isArray(x5) && x5.every(isBytes) ? (x5 as Uint8Array[]) : undefined;
  if (!ders) throw new EnvelopeError('the COSE unprotected header has no x5chain');
  const chain = parseChain(ders.map((d) => Buffer.from(d)));
  const leaf = chain[0]!;
  const expected = algorithmForKey(leaf);
  if (alg !== expected) throw new EnvelopeError(`the envelope says ${alg} but the signing key requires ${expected}`);

  const tbs = sigStructure(protectedBytes, payload);
  const key = leaf.x509.publicKey;
  let ok = false;
  try {
    ok = alg.startsWith('PS')
      ? cryptoVerify(HASH[alg], tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT[alg] }, signature)
      : cryptoVerify(HASH[alg], tbs, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    ok = false; // a malformed signature value (wrong length for the curve, …)
  }
  if (!ok) throw new EnvelopeError("the COSE signature does not verify with the signing certificate's key");

  const agent = unprotected.get(SIGNING_AGENT);
  const timestamp = unprotected.get(TIMESTAMP_SIGNATURE);
  if (timestamp !== undefined && !isBytes(timestamp)) throw new EnvelopeError(`"${TIMESTAMP_SIGNATURE}" is not a byte string`);
  return {
    format: 'cose',
    payload: Buffer.from(payload),
    payloadType: NOTATION_PAYLOAD_TYPE,
    signingScheme,
    signingTime,
    authenticSigningTime,
    expiry,
    chain,
    signature: Buffer.from(signature),
    timestampToken: timestamp ? Buffer.from(timestamp) : undefined,
    signingAgent: typeof agent === 'string' ? agent : undefined,
  };
}
