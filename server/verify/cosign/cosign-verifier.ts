/**
 * Key-based cosign verification (config.md `verifiers.<name>` of `type: cosign`).
 *
 * Where signatures are looked for, in this order, stopping at the first that verifies:
 *   1. the tag `sha256-<hex>.sig` in the image's repository (cosign `specs/SIGNATURE_SPEC.md`
 *      "Storage": an OCI manifest whose layers are `application/vnd.dev.cosign.simplesigning.v1+json`
 *      blobs — the signed payload — each with the base64 signature in the annotation
 *      `dev.cosignproject.cosign/signature`). This is what cosign v2 writes by default;
 *   2. the image's OCI referrers (distribution-spec v1.1 "Listing referrers"), or, where the
 *      registry has no referrers API (404, as distribution 2.8.2), the referrers tag schema
 *      `sha256-<hex>` index. Two kinds are read there: cosign v3 / `--new-bundle-format` Sigstore
 *      bundles (sigstore-bundle.ts) and cosign v2 `--registry-referrers-mode=oci-1-1` signature
 *      manifests (the same simple-signing layers as 1.).
 *
 * For each simple-signing layer: fetch the blob (its digest checked), verify the annotation's
 * signature over exactly those bytes with each configured key (cosign-keys.ts), and only then
 * believe the payload (simple-signing.ts: type, digest, matchReference, annotations). One valid
 * signature is enough. Signatures on the children of an image index are not read: the digest
 * given is the one verified (config.md "Multi-arch images").
 */
import { LookupError, VerificationError } from '../../errors';
import type { CosignVerifierConfig } from '../../policy/compiled-policy';
import type { Reference } from '../../reference/reference';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLE_SIGNING,
  INDEX_MEDIA_TYPES,
  OCI_MANIFEST,
  SIGSTORE_BUNDLE_V03,
  isSigstoreBundleType,
} from '../../registry/media-types';
import { MANIFEST_MAX_BYTES, type Manifest, type RegistryClient } from '../../registry/registry-client';
import type { Verifier, VerifyContext } from '../verifier';
import { SIGNATURE_MAX_BYTES, findVerifyingKey, loadCosignKeys, type CosignPublicKey } from './cosign-keys';
import { checkSimpleSigning, type PayloadExpectations } from './simple-signing';
import { checkCosignBundle } from './sigstore-bundle';

/**
 * A simple-signing payload is a few hundred bytes (the digest, the repository and a handful of
 * annotations); a Sigstore bundle with a certificate chain and tlog entries is a few KiB.
 * containers/image allows 4 MiB per signature (iolimits.MaxSignatureBodySize); 1 MiB is still
 * thousands of times what cosign writes and bounds the work per signature.
 */
export const PAYLOAD_MAX_BYTES = 1 << 20;

/**
 * Signatures examined per image at most, across all places (bounded work per review, style.md
 * habit 7). Real images carry one to a few; anyone who can push to the repository can add more.
 */
export const MAX_SIGNATURES = 32;

/** cosign v2 `--registry-referrers-mode=oci-1-1`: config media type of a referrer signature manifest. */
const COSIGN_SIG_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
/** The OCI empty descriptor type; cosign v2.6 puts it as a bundle referrer's artifactType in the tag-schema index. */
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

/** `sha256:<hex>` → `sha256-<hex>.sig` (SIGNATURE_SPEC.md: "s/:/-/ … .sig"). */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** `sha256:<hex>` → `sha256-<hex>` (distribution-spec v1.1 "Referrers Tag Schema"). */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** Builds the verifier; the keys are parsed here, once per policy generation. Throws ConfigError. */
export function createCosignVerifier(name: string, config: CosignVerifierConfig): CosignVerifier {
  return new CosignVerifier(name, config, loadCosignKeys(name, config.publicKeys));
}

export class CosignVerifier implements Verifier {
  readonly type = 'cosign' as const;

  constructor(
    readonly name: string,
    private readonly config: CosignVerifierConfig,
    private readonly keys: readonly CosignPublicKey[],
  ) {}

  async verify(ref: Reference, digest: string, ctx: VerifyContext): Promise<void> {
    const client = ctx.registry(ref.registry);
    const search = new SignatureSearch(client, ref.path, digest, this.keys, {
      digest,
      repository: this.config.matchReference ? ref.repository : undefined,
      annotations: this.config.annotations,
    }, ctx.signal);

    // 1. The `.sig` tag (cosign v2).
    const sigManifest = await client.findManifest(ref.path, signatureTag(digest), ctx.signal);
    if (sigManifest && (await search.simpleSigningLayers(sigManifest))) return;

    // 2. Referrers (API, else the tag schema): cosign v3 bundles and oci-1-1 signature manifests.
    const index = await findReferrers(client, ref.path, digest, ctx.signal);
    if (index && (await search.referrers(index))) return;

    throw search.failure();
  }
}

/** The referrers index: the API where served, else the `sha256-<hex>` tag; undefined when neither exists. */
export async function findReferrers(client: RegistryClient, path: string, digest: string, signal: AbortSignal): Promise<Record<string, unknown> | undefined> {
  const api = await client.getReferrers(path, digest, signal);
  if (api) return api;
  const tagged = await client.findManifest(path, referrersTag(digest), signal);
  return tagged && INDEX_MEDIA_TYPES.has(tagged.mediaType) ? tagged.json : undefined;
}

/** One image's search: counts what was examined and keeps the most telling failure. */
class SignatureSearch {
  private examined = 0;
  /** A signature verified but its payload did not fit (digest, identity, annotations): said first. */
  private claimFailure: VerificationError | undefined;
  private skipped = 0;

  constructor(
    private readonly client: RegistryClient,
    private readonly path: string,
    private readonly digest: string,
    private readonly keys: readonly CosignPublicKey[],
    private readonly expect: PayloadExpectations,
    private readonly signal: AbortSignal,
  ) {}

  /** The simple-signing layers of a `.sig` (or oci-1-1 referrer) manifest; true once one verifies. */
  async simpleSigningLayers(manifest: Manifest): Promise<boolean> {
    for (const layer of descriptors(manifest.json['layers'])) {
      if (layer.mediaType !== COSIGN_SIMPLE_SIGNING) continue; // other attachments (SIGNATURE_SPEC.md allows them)
      if (!this.take()) return false;
      const signature = decodeSignature(layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION]);
      if (!signature || layer.size > PAYLOAD_MAX_BYTES) continue;
      const payload = await this.blob(layer.digest);
      if (!payload) continue;
      // Verify the signature over the exact blob bytes before reading anything in them.
      if (!findVerifyingKey(this.keys, payload, signature)) continue;
      try {
        checkSimpleSigning(payload, this.expect);
        return true;
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        this.claimFailure ??= err;
      }
    }
    return false;
  }

  /** Every referrer that may be a cosign signature; true once one verifies. */
  async referrers(index: Record<string, unknown>): Promise<boolean> {
    for (const d of descriptors(index['manifests'])) {
      if (d.mediaType !== OCI_MANIFEST || d.size > MANIFEST_MAX_BYTES) continue;
      if (d.artifactType !== undefined && !isSigstoreBundleType(d.artifactType) && d.artifactType !== COSIGN_SIG_ARTIFACT && d.artifactType !== OCI_EMPTY) {
        continue; // an SBOM, a notation signature, …: not ours
      }
      if (this.examined >= MAX_SIGNATURES) return false;
      const manifest = await this.manifestByDigest(d.digest);
      if (!manifest || !hasSubject(manifest, this.digest)) continue;
      const config = descriptors([manifest.json['config']])[0];
      const artifactType = typeof manifest.json['artifactType'] === 'string' ? manifest.json['artifactType'] : config?.mediaType;
      if (artifactType === COSIGN_SIG_ARTIFACT || config?.mediaType === COSIGN_SIG_ARTIFACT) {
        if (await this.simpleSigningLayers(manifest)) return true;
        continue;
      }
      if (isSigstoreBundleType(artifactType)) {
        if (await this.bundleLayers(manifest)) return true;
      }
    }
    return false;
  }

  private async bundleLayers(manifest: Manifest): Promise<boolean> {
    for (const layer of descriptors(manifest.json['layers'])) {
      if (!isSigstoreBundleType(layer.mediaType) && layer.mediaType !== SIGSTORE_BUNDLE_V03) continue;
      if (!this.take()) return false;
      if (layer.size > PAYLOAD_MAX_BYTES) continue;
      const bytes = await this.blob(layer.digest);
      if (!bytes) continue;
      const needsIdentity = this.expect.repository !== undefined || Object.keys(this.expect.annotations).length > 0;
      const outcome = checkCosignBundle(bytes, this.digest, this.keys, needsIdentity);
      if (outcome.verified) return true;
      if (outcome.error.code !== 'SIGNATURE_INVALID' && outcome.error.code !== 'PAYLOAD_INVALID') this.claimFailure ??= outcome.error;
    }
    return false;
  }

  /** Counts one examined signature; false once the cap is reached. */
  private take(): boolean {
    if (this.examined >= MAX_SIGNATURES) {
      this.skipped += 1;
      return false;
    }
    this.examined += 1;
    return true;
  }

  /**
   * A signature blob, or undefined when this one signature cannot be used (missing, wrong digest,
   * too large): one bad layer must not hide a good one. Timeouts and refusals still fail the lookup.
   */
  private async blob(digest: string): Promise<Buffer | undefined> {
    try {
      return await this.client.getBlob(this.path, digest, PAYLOAD_MAX_BYTES, this.signal);
    } catch (err) {
      if (err instanceof LookupError && (err.code === 'NOT_FOUND' || err.code === 'DIGEST_MISMATCH' || err.code === 'RESPONSE_TOO_LARGE' || err.code === 'MALFORMED_MANIFEST')) {
        return undefined;
      }
      throw err;
    }
  }

  private async manifestByDigest(digest: string): Promise<Manifest | undefined> {
    try {
      return await this.client.findManifest(this.path, digest, this.signal);
    } catch (err) {
      if (err instanceof LookupError && (err.code === 'DIGEST_MISMATCH' || err.code === 'MALFORMED_MANIFEST' || err.code === 'RESPONSE_TOO_LARGE')) return undefined;
      throw err;
    }
  }

  /** The error for "nothing verified" (config.md reasons: no signature / does not verify / another digest). */
  failure(): VerificationError {
    if (this.examined === 0) {
      return new VerificationError('SIGNATURE_NOT_FOUND', `no cosign signature found for ${this.digest}`);
    }
    if (this.claimFailure) return this.claimFailure;
    const more = this.skipped ? `; ${this.skipped} more not examined, the limit is ${MAX_SIGNATURES}` : '';
    return new VerificationError(
      'SIGNATURE_INVALID',
      `no signature verifies with the configured keys (${this.examined} signature${this.examined === 1 ? '' : 's'} checked${more})`,
    );
  }
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType: string | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
}

/** The well-formed OCI descriptors of a `layers` / `manifests` array (image-spec descriptor.md); others are ignored. */
function descriptors(list: unknown): Descriptor[] {
  if (!Array.isArray(list)) return [];
  const out: Descriptor[] = [];
  for (const d of list.slice(0, 4 * MAX_SIGNATURES)) {
    if (!d || typeof d !== 'object') continue;
    const o = d as Record<string, unknown>;
    if (typeof o['mediaType'] !== 'string' || typeof o['digest'] !== 'string' || typeof o['size'] !== 'number' || o['size'] < 0) continue;
    const ann = o['annotations'];
    out.push({
      mediaType: o['mediaType'],
      digest: o['digest'],
      size: o['size'],
      artifactType: typeof o['artifactType'] === 'string' ? o['artifactType'] : undefined,
      annotations: ann && typeof ann === 'object' && !Array.isArray(ann) ? (ann as Record<string, string>) : undefined,
    });
  }
  return out;
}

function hasSubject(manifest: Manifest, digest: string): boolean {
  const subject = manifest.json['subject'];
  return !!subject && typeof subject === 'object' && (subject as Record<string, unknown>)['digest'] === digest;
}

/** The annotation's standard base64, decoded; undefined when absent, malformed or implausibly long. */
function decodeSignature(value: string | undefined): Buffer | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4 * SIGNATURE_MAX_BYTES) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length > 0 && bytes.length <= SIGNATURE_MAX_BYTES ? bytes : undefined;
}
