/**
 * Notary Project (notation) signature verification (config.md `verifiers.<name>` of
 * `type: notation`; docs/notation.md).
 *
 * Discovery: the image's OCI referrers, through the API where the registry serves it and the
 * referrers tag schema `sha256-<hex>` index otherwise (the same lookup as cosign's,
 * cosign-verifier.ts `findReferrers`). Entries with the artifact type
 * `application/vnd.cncf.notary.signature` (or none, then decided from the manifest) are examined,
 * at most `maxSignatures` per image. A signature manifest must be one of the two forms notation-go
 * accepts (artifactType = notary signature with the empty config, or the legacy config media type
 * = notary signature), have exactly one layer (the envelope, JWS or COSE) and name the image as
 * its `subject`.
 *
 * Each envelope goes through the Notary Project's verification steps, in notation-go's order
 * (verifier/verifier.go `processSignature`):
 *   1. integrity (always enforced): the envelope's signature verifies with the leaf key, the
 *      critical headers are understood, the chain is well formed (x509-chain.ts) and valid at the
 *      claimed signing time, and the payload's targetArtifact equals the admitted manifest
 *      (digest, size, media type; payload.ts);
 *   2. authenticity (enforced by strict and permissive, ignored by audit): some chain certificate
 *      is in the trust store, the scheme is notary.x509, and the leaf subject matches a trusted
 *      identity (trusted-identities.ts);
 *   3. expiry (strict only): `io.cncf.notary.expiry`, when present, is in the future;
 *   4. authentic timestamp (strict only; authentic-timestamp.ts): the chain is valid now, or,
 *      with a TSA trust store, was valid at the time an RFC 3161 countersignature vouches for;
 *   5. revocation: not checked (docs/notation.md says so).
 * One signature passing every enforced step admits the image.
 */
import { ConfigError, LookupError, VerificationError } from '../../errors';
import type { NotationVerifierConfig } from '../../policy/compiled-policy';
import type { Reference } from '../../reference/reference';
import { OCI_MANIFEST } from '../../registry/media-types';
import { MANIFEST_MAX_BYTES, type Manifest, type RegistryClient } from '../../registry/registry-client';
import { findReferrers } from '../cosign/cosign-verifier';
import type { Verifier, VerifyContext } from '../verifier';
import { checkAuthenticTimestamp, type TimestampPolicy } from './authentic-timestamp';
import { EnvelopeError, type EnvelopeContent } from './envelope';
import { COSE_MEDIA_TYPE, openCoseEnvelope } from './envelope-cose';
import { JWS_MEDIA_TYPE, openJwsEnvelope } from './envelope-jws';
import { checkPayload, type Subject } from './payload';
import { inspectNotationMaterial } from './trust-material';
import { formatDn, identityMatches, subjectFromDer, type TrustedIdentities } from './trusted-identities';
import { ChainError, checkChainStructure, checkValidityAt, findTrustAnchor, type ParsedCertificate } from './x509-chain';

export const NOTATION_SIGNATURE = 'application/vnd.cncf.notary.signature';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

/**
 * An envelope is a ~200-byte payload plus a chain of a few certificates (notation's are 1.5–4 KiB).
 * 256 KiB is more than fifty times that and bounds the work per signature.
 */
export const ENVELOPE_MAX_BYTES = 256 << 10;

export const DEFAULT_MAX_SIGNATURES = 10;

export type VerificationLevel = 'strict' | 'permissive' | 'audit';

/**
 * Builds the verifier; trust stores and identities are parsed here, once. Throws ConfigError
 * listing every problem. `now` is the verification clock (injected by the frozen-vector tests).
 */
export function createNotationVerifier(name: string, config: NotationVerifierConfig, now: () => Date = () => new Date()): NotationVerifier {
  const report = inspectNotationMaterial(name, config, now());
  if (!report.material) throw new ConfigError('CONFIG_INVALID', report.errors);
  const { trustStore, tsaStore, identities } = report.material;
  return new NotationVerifier(
    name,
    trustStore,
    identities,
    { tsaStore, verifyTimestamp: config.verifyTimestamp ?? 'always' },
    config.verificationLevel ?? 'strict',
    config.maxSignatures ?? DEFAULT_MAX_SIGNATURES,
    now,
  );
}

export class NotationVerifier implements Verifier {
  readonly type = 'notation' as const;

  constructor(
    readonly name: string,
    private readonly trustStore: readonly ParsedCertificate[],
    private readonly identities: TrustedIdentities,
    private readonly timestamps: TimestampPolicy,
    readonly level: VerificationLevel,
    readonly maxSignatures: number,
    private readonly now: () => Date,
  ) {}

  async verify(ref: Reference, digest: string, ctx: VerifyContext): Promise<void> {
    const client = ctx.registry(ref.registry);
    const index = await findReferrers(client, ref.path, digest, ctx.signal);
    const candidates = index ? signatureDescriptors(index['manifests']) : [];
    if (candidates.length === 0) throw new VerificationError('SIGNATURE_NOT_FOUND', `no notation signature found for ${digest}`);

    const admitted = await client.getManifest(ref.path, digest, ctx.signal);
    const subject: Subject = { digest, size: admitted.bytes.length, mediaType: admitted.mediaType };
    const search = new Search(client, ref.path, ctx.signal);
    let examined = 0;
    for (const d of candidates) {
      if (examined >= this.maxSignatures) break;
      examined += 1;
      const manifest = await search.manifest(d.digest);
      const layer = manifest && signatureLayer(manifest, digest);
      if (!layer) {
        search.fail(new VerificationError('SIGNATURE_INVALID', `referrer ${d.digest} is not a notation signature manifest for ${digest}`));
        continue;
      }
      const envelope = await search.blob(layer.digest, layer.size);
      if (!envelope) {
        search.fail(new VerificationError('SIGNATURE_INVALID', `the envelope ${layer.digest} could not be read`));
        continue;
      }
      try {
        await this.check(layer.mediaType, envelope, subject);
        return;
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        search.fail(err);
      }
    }
    const more = candidates.length > examined ? `; ${candidates.length - examined} more not examined, the limit is ${this.maxSignatures}` : '';
    throw search.failure(examined, more);
  }

  /**
   * One envelope through the verification steps; resolves when it passes every enforced one,
   * rejects with a VerificationError and nothing else. Envelopes are attacker input, and
   * node:crypto or a decoder can throw its own Error on hostile bytes (a key that does not decode;
   * seen when fuzzing the frozen vectors): that signature is unusable evidence, recorded as
   * invalid while the next one is examined, as notation does — not an internal error that ends
   * the search (one garbage referrer must not deny an image another signature vouches for).
   * Safe: only a signature that passes every step admits anything.
   */
  async check(mediaType: string, bytes: Buffer, subject: Subject): Promise<void> {
    try {
      await this.checkSteps(mediaType, bytes, subject);
    } catch (err) {
      if (err instanceof VerificationError) throw err;
      throw new VerificationError('SIGNATURE_INVALID', `the signature cannot be checked: ${(err as Error).message}`, err);
    }
  }

  private async checkSteps(mediaType: string, bytes: Buffer, subject: Subject): Promise<void> {
    // 1. Integrity.
    let content: EnvelopeContent;
    try {
      content = mediaType === JWS_MEDIA_TYPE ? await openJwsEnvelope(bytes) : await openCoseEnvelope(bytes);
    } catch (err) {
      if (err instanceof EnvelopeError) throw new VerificationError('SIGNATURE_INVALID', `envelope does not verify: ${err.message}`, err);
      if (err instanceof ChainError) throw new VerificationError('CERTIFICATE_INVALID', err.message, err);
      throw err;
    }
    try {
      checkChainStructure(content.chain);
      checkValidityAt(content.chain, content.authenticSigningTime ?? content.signingTime, 'signing time');
    } catch (err) {
      if (err instanceof ChainError) throw new VerificationError('CERTIFICATE_INVALID', err.message, err);
      throw err;
    }
    checkPayload(content.payload, subject);

    // 2. Authenticity.
    if (this.level !== 'audit') this.checkAuthenticity(content);

    if (this.level === 'strict') {
      const now = this.now();
      // 3. Expiry.
      if (content.expiry && content.expiry.getTime() <= now.getTime()) {
        throw new VerificationError('SIGNATURE_EXPIRED', `envelope expired at ${content.expiry.toISOString()}`);
      }
      // 4. Authentic timestamp.
      checkAuthenticTimestamp(content, this.timestamps, now);
    }
    // 5. Revocation: not checked (no OCSP/CRL requests; docs/notation.md).
  }

  private checkAuthenticity(content: EnvelopeContent): void {
    if (!findTrustAnchor(content.chain, this.trustStore)) {
      throw new VerificationError('UNTRUSTED_SIGNER', 'certificate chain does not lead to a trusted CA');
    }
    if (content.signingScheme !== 'notary.x509') {
      throw new VerificationError('UNTRUSTED_SIGNER', `signing scheme ${content.signingScheme} needs a signing authority trust store; the trust store is a CA store`);
    }
    if (this.identities.any) return;
    const leaf = content.chain[0] as ParsedCertificate;
    let dn;
    try {
      dn = subjectFromDer(leaf.subjectDer);
    } catch (err) {
      throw new VerificationError('UNTRUSTED_IDENTITY', `identity of the signing certificate cannot be read: ${(err as Error).message}`, err);
    }
    if (!this.identities.names.some((t) => identityMatches(t.dn, dn))) {
      throw new VerificationError('UNTRUSTED_IDENTITY', `identity ${formatDn(dn)} not trusted`);
    }
  }
}

/** Per-image bookkeeping: tolerant reads (one bad referrer must not hide a good one) and the most telling failure. */
class Search {
  private first: VerificationError | undefined;
  /** A failure past signature integrity (payload, trust, identity, expiry): said first. */
  private telling: VerificationError | undefined;

  constructor(
    private readonly client: RegistryClient,
    private readonly path: string,
    private readonly signal: AbortSignal,
  ) {}

  fail(err: VerificationError): void {
    this.first ??= err;
    if (err.code !== 'SIGNATURE_INVALID' && err.code !== 'PAYLOAD_INVALID') this.telling ??= err;
  }

  failure(examined: number, more: string): VerificationError {
    const chosen = this.telling ?? this.first;
    if (!chosen) return new VerificationError('SIGNATURE_NOT_FOUND', 'no notation signature was examined');
    if (examined === 1 && !more) return chosen;
    return new VerificationError(chosen.code, `${chosen.message} (${examined} notation signatures checked${more})`, chosen);
  }

  async manifest(digest: string): Promise<Manifest | undefined> {
    try {
      return await this.client.findManifest(this.path, digest, this.signal);
    } catch (err) {
      // A referrer the registry cannot serve as a manifest (distribution answers 500 for a blob that is
      // not one) is unusable evidence, not an outage: the others are still examined, and if none
      // verifies the image is denied (never passed under failurePolicy: open). Timeouts, refused
      // connections and auth failures still fail the lookup.
      if (
        err instanceof LookupError &&
        (err.code === 'DIGEST_MISMATCH' || err.code === 'MALFORMED_MANIFEST' || err.code === 'MALFORMED_RESPONSE' || err.code === 'RESPONSE_TOO_LARGE' || err.code === 'UPSTREAM_STATUS')
      ) {
        return undefined;
      }
      throw err;
    }
  }

  async blob(digest: string, size: number): Promise<Buffer | undefined> {
    if (size > ENVELOPE_MAX_BYTES) return undefined;
    try {
      return await this.client.getBlob(this.path, digest, ENVELOPE_MAX_BYTES, this.signal);
    } catch (err) {
      if (err instanceof LookupError && (err.code === 'NOT_FOUND' || err.code === 'DIGEST_MISMATCH' || err.code === 'RESPONSE_TOO_LARGE' || err.code === 'MALFORMED_MANIFEST')) {
        return undefined;
      }
      throw err;
    }
  }
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType: string | undefined;
}

function descriptor(d: unknown): Descriptor | undefined {
  if (!d || typeof d !== 'object' || Array.isArray(d)) return undefined;
  const o = d as Record<string, unknown>;
  if (typeof o['mediaType'] !== 'string' || typeof o['digest'] !== 'string' || typeof o['size'] !== 'number' || o['size'] < 0) return undefined;
  return { mediaType: o['mediaType'], digest: o['digest'], size: o['size'], artifactType: typeof o['artifactType'] === 'string' ? o['artifactType'] : undefined };
}

/** Index entries that may be notation signatures (artifact type notary, or unknown and decided later). */
function signatureDescriptors(list: unknown): Descriptor[] {
  if (!Array.isArray(list)) return [];
  const out: Descriptor[] = [];
  for (const raw of list.slice(0, 1000)) {
    const d = descriptor(raw);
    if (!d || d.mediaType !== OCI_MANIFEST || d.size > MANIFEST_MAX_BYTES) continue;
    if (d.artifactType !== undefined && d.artifactType !== NOTATION_SIGNATURE) continue; // cosign, SBOMs, …
    out.push(d);
  }
  // Entries that say they are notation signatures first; undecided ones after.
  return [...out.filter((d) => d.artifactType === NOTATION_SIGNATURE), ...out.filter((d) => d.artifactType === undefined)];
}

/** The envelope layer of a notation signature manifest whose subject is `digest`; undefined otherwise. */
function signatureLayer(manifest: Manifest, digest: string): Descriptor | undefined {
  const j = manifest.json;
  if (manifest.mediaType !== OCI_MANIFEST) return undefined;
  const config = descriptor(j['config']);
  const artifactType = j['artifactType'];
  const current = artifactType === NOTATION_SIGNATURE && config?.mediaType === OCI_EMPTY;
  const legacy = artifactType === undefined && config?.mediaType === NOTATION_SIGNATURE;
  if (!current && !legacy) return undefined;
  const subject = descriptor(j['subject']);
  if (!subject || subject.digest !== digest) return undefined;
  const layers = j['layers'];
  if (!Array.isArray(layers) || layers.length !== 1) return undefined;
  const layer = descriptor(layers[0]);
  if (!layer || (layer.mediaType !== JWS_MEDIA_TYPE && layer.mediaType !== COSE_MEDIA_TYPE)) return undefined;
  return layer;
}
