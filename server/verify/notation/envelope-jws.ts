/**
 * The JWS envelope (`application/jose+json`, Notary Project `signature-envelope-jws.md`):
 * flattened JWS JSON serialization, `x5c` (standard base64 DER, leaf first) in the unprotected
 * header, the signed attributes in the protected header. The signature is verified by `jose`
 * (flattenedVerify), which refuses any `crit` name it is not told about: only the Notary
 * Project's known critical headers are passed, so an unknown one fails closed.
 */
import { flattenedVerify, errors as joseErrors } from 'jose';
import {
  AUTHENTIC_SIGNING_TIME,
  EXPIRY,
  EnvelopeError,
  KNOWN_CRITICAL,
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
  type EnvelopeContent,
} from './envelope';

export const JWS_MEDIA_TYPE = 'application/jose+json';

const ALGORITHMS: ReadonlySet<string> = new Set(['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function time(header: Record<string, unknown>, name: string, required: true): Date;
function time(header: Record<string, unknown>, name: string, required: false): Date | undefined;
function time(header: Record<string, unknown>, name: string, required: boolean): Date | undefined {
  const v = header[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !RFC3339.test(v) || Number.isNaN(Date.parse(v))) {
    throw new EnvelopeError(`"${name}" is ${v === undefined ? 'missing' : 'not an RFC 3339 time'}`);
  }
  return new Date(Date.parse(v));
}

/**
 * The countersignature as notation-core-go reads it: the header member is Go's JSON form of a
 * []byte, standard base64; anything else makes the envelope malformed (Go's JSON decoding fails
 * the same way). Its size and content are checked only if the authentic timestamp step uses it.
 */
function timestampToken(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !B64.test(value)) throw new EnvelopeError(`"${TIMESTAMP_SIGNATURE}" is not base64`);
  return Buffer.from(value, 'base64');
}

/** Parses and verifies a JWS envelope; throws EnvelopeError (or ChainError for bad certificates). */
export async function openJwsEnvelope(bytes: Buffer): Promise<EnvelopeContent> {
  let env: unknown;
  try {
    env = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new EnvelopeError('the JWS envelope is not JSON');
  }
  if (!isObject(env)) throw new EnvelopeError('the JWS envelope is not a JSON object');
  for (const k of Object.keys(env)) {
    if (!['payload', 'protected', 'header', 'signature'].includes(k)) throw new EnvelopeError(`the JWS envelope has the unexpected member "${k}" (flattened serialization only)`);
  }
  const { payload, protected: prot, header, signature } = env;
  if (typeof payload !== 'string' || typeof prot !== 'string' || typeof signature !== 'string' || !isObject(header)) {
    throw new EnvelopeError('the JWS envelope lacks payload, protected, header or signature');
  }
  if (!B64URL.test(prot) || !B64URL.test(payload) || !B64URL.test(signature)) throw new EnvelopeError('the JWS envelope is not base64url');
  let ph: unknown;
  try {
    ph = JSON.parse(Buffer.from(prot, 'base64url').toString('utf8'));
  } catch {
    throw new EnvelopeError('the JWS protected header is not JSON');
  }
  if (!isObject(ph)) throw new EnvelopeError('the JWS protected header is not an object');

  const alg = ph['alg'];
  if (typeof alg !== 'string' || !ALGORITHMS.has(alg)) throw new EnvelopeError(`unsupported JWS algorithm ${JSON.stringify(alg)}`);
  if (ph['cty'] !== NOTATION_PAYLOAD_TYPE) throw new EnvelopeError(`the payload content type is ${JSON.stringify(ph['cty'])}, not ${NOTATION_PAYLOAD_TYPE}`);
  if ('b64' in ph || 'jku' in ph || 'jwk' in ph || 'x5u' in ph || 'kid' in ph) throw new EnvelopeError('the JWS protected header has a member the Notary Project does not allow');
  checkCritical(ph['crit'], (n) => ph[n] !== undefined);
  const signingScheme = checkSigningScheme(ph[SIGNING_SCHEME]);
  const signingTime = time(ph, SIGNING_TIME, true);
  const expiry = time(ph, EXPIRY, false);
  const authenticSigningTime = time(ph, AUTHENTIC_SIGNING_TIME, false);
  if (ph[VERIFICATION_PLUGIN] !== undefined) {
    throw new EnvelopeError(`the signature requires the verification plugin ${JSON.stringify(ph[VERIFICATION_PLUGIN])}; plugins are not supported`);
  }
  if (Object.keys(header).some((k) => k in ph)) throw new EnvelopeError('a header member is both protected and unprotected');

  const x5c = header['x5c'];
  if (!Array.isArray(x5c) || x5c.some((c) => typeof c !== 'string' || !B64.test(c))) throw new EnvelopeError('the JWS header has no x5c certificate chain');
  const chain = parseChain(x5c.map((c: string) => Buffer.from(c, 'base64')));
  const leaf = chain[0]!;
  const expected = algorithmForKey(leaf);
  if (alg !== expected) throw new EnvelopeError(`the envelope says ${alg} but the signing key requires ${expected}`);

  let verified: Uint8Array;
  try {
    const crit: Record<string, boolean> = {};
    for (const c of KNOWN_CRITICAL) crit[c] = true;
    const result = await flattenedVerify({ payload, protected: prot, signature }, leaf.x509.publicKey, { algorithms: [expected], crit });
    verified = result.payload;
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) throw new EnvelopeError(`the JWS signature does not verify with the signing certificate's key (${err.code})`);
    throw err;
  }
  const agent = header[SIGNING_AGENT];
  return {
    format: 'jws',
    payload: Buffer.from(verified),
    payloadType: NOTATION_PAYLOAD_TYPE,
    signingScheme,
    signingTime,
    authenticSigningTime,
    expiry,
    chain,
    signature: Buffer.from(signature, 'base64url'),
    timestampToken: timestampToken(header[TIMESTAMP_SIGNATURE]),
    signingAgent: typeof agent === 'string' ? agent : undefined,
  };
}
