/**
 * Shared by the notation peer tests: the policy they load (one `notation` verifier `team`) and
 * plain registry uploads for tampered artefacts (made from real notation signatures).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { CompiledPolicy } from '../../../server/policy/compiled-policy';
import { loadPolicyText } from '../../../server/policy/load';
import type { RegistryPeer } from '../registry-peer';

export const never = new AbortController().signal;
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const NOTARY = 'application/vnd.cncf.notary.signature';

export const RELEASE: [string, string][] = [['C', 'US'], ['ST', 'WA'], ['O', 'Acme'], ['CN', 'release']];
export const RELEASE_ID = 'x509.subject: C=US, ST=WA, O=Acme, CN=release';

let generation = 5000;

/** One `notation` verifier named `team`, as the tests configure it (PEM texts inline). */
export interface NotationSpec {
  readonly trustStore: readonly string[];
  readonly trustedIdentities: readonly string[];
  readonly level?: 'strict' | 'permissive' | 'audit';
  readonly maxSignatures?: number;
  /** PEM texts of `tsaTrustStore`; absent = none. */
  readonly tsaStore?: readonly string[];
  readonly verifyTimestamp?: 'always' | 'afterCertExpiry';
}

/** A policy with one rule for every image of `reg` verified by `team`, loaded through the real loader. */
export function notationPolicy(reg: { readonly host: string }, v: NotationSpec): CompiledPolicy {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    'apiVersion: imagegate/v1',
    'kind: Policy',
    `registries: [${q(reg.host)}]`,
    'failurePolicy: closed',
    'rules:',
    '  - name: peers',
    `    images: [${q(`${reg.host}/**`)}]`,
    '    requireDigest: false',
    '    allowLatest: true',
    '    resolveTags: true',
    '    verify: [team]',
    'verifiers:',
    '  team:',
    '    type: notation',
    '    trustStore:',
    ...v.trustStore.map((p) => `      - pem: ${q(p)}`),
    `    trustedIdentities: [${v.trustedIdentities.map(q).join(', ')}]`,
  ];
  if (v.level) lines.push(`    verificationLevel: ${v.level}`);
  if (v.maxSignatures) lines.push(`    maxSignatures: ${v.maxSignatures}`);
  if (v.tsaStore) lines.push('    tsaTrustStore:', ...v.tsaStore.map((p) => `      - pem: ${q(p)}`));
  if (v.verifyTimestamp) lines.push(`    verifyTimestamp: ${v.verifyTimestamp}`);
  lines.push('transport:', `  plainHTTP: [${q(reg.host)}]`, 'timeouts:', '  review: 20s', '  lookup: 10s');
  generation += 1;
  return loadPolicyText(`${lines.join('\n')}\n`, 'test/peers/notation', generation);
}

// ---- plain registry uploads for tampered artefacts -------------------------------------------

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function getRaw(reg: RegistryPeer, repo: string, reference: string, accept: string): Promise<Buffer> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${reference}`, { headers: { accept } });
  assert.equal(r.status, 200, `GET ${reference}`);
  return Buffer.from(await r.arrayBuffer());
}

export async function getJson(reg: RegistryPeer, repo: string, reference: string, accept: string): Promise<Record<string, unknown>> {
  return JSON.parse((await getRaw(reg, repo, reference, accept)).toString()) as Record<string, unknown>;
}

export async function getBlob(reg: RegistryPeer, repo: string, digest: string): Promise<Buffer> {
  const r = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(r.status, 200);
  return Buffer.from(await r.arrayBuffer());
}

export async function putBlob(reg: RegistryPeer, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const loc = new URL(start.headers.get('location') as string, reg.url);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

export async function putManifest(reg: RegistryPeer, repo: string, reference: string, json: unknown, mediaType: string): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(json));
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } });
  assert.equal(r.status, 201, await r.text());
  return { digest: sha256(bytes), size: bytes.length };
}

/** The (single) notation signature manifest of `digest`, read through the tag schema. */
export async function signatureOf(reg: RegistryPeer, repo: string, digest: string): Promise<{ manifest: Record<string, unknown>; digest: string }> {
  const index = await getJson(reg, repo, digest.replace(':', '-'), OCI_INDEX);
  const entry = (index['manifests'] as { digest: string; artifactType?: string }[]).find((m) => m.artifactType === NOTARY);
  assert.ok(entry, 'notation wrote a signature into the referrers tag index');
  return { manifest: await getJson(reg, repo, entry.digest, OCI_MANIFEST), digest: entry.digest };
}

/** Replaces the referrers tag index of `subject` with one listing `manifests` (notation-style entries). */
export async function setIndex(reg: RegistryPeer, repo: string, subject: string, manifests: { digest: string; size: number }[]): Promise<void> {
  await putManifest(
    reg,
    repo,
    subject.replace(':', '-'),
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests: manifests.map((m) => ({ mediaType: OCI_MANIFEST, ...m, artifactType: NOTARY })) },
    OCI_INDEX,
  );
}

/** Re-uploads the signature `manifest` of `subject` with `envelope` as its layer and lists only it in the tag index. */
export async function replaceEnvelope(reg: RegistryPeer, repo: string, manifest: Record<string, unknown>, subject: string, envelope: Buffer): Promise<void> {
  const layer = (manifest['layers'] as { mediaType: string }[])[0]!;
  const digest = await putBlob(reg, repo, envelope);
  const copy = { ...manifest, layers: [{ mediaType: layer.mediaType, digest, size: envelope.length }] };
  const put = await putManifest(reg, repo, sha256(Buffer.from(JSON.stringify(copy))), copy, OCI_MANIFEST);
  await setIndex(reg, repo, subject, [put]);
}
