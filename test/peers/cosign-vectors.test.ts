/**
 * Real cosign-made vectors shipped by Debian's golang-github-containers-image-dev
 * (signature/fixtures: cosign.pub, dir-img-cosign-*, unknown-cosign-key.signature; reference §3.5),
 * read at run time from the installed package and uploaded to a real docker-registry as cosign
 * `.sig` artifacts by the real skopeo.
 *
 * The fixtures' image manifests reference blobs the package does not ship (a busybox layer), so
 * the registry cannot store the images themselves; imagegate never needs them for a
 * digest-pinned verification (the signature binds the digest), so only the `.sig` artifacts are
 * uploaded, under the tag derived from sha256(manifest.json) exactly as containers/image does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VerificationError } from '../../server/errors';
import { parseReference } from '../../server/reference/parse';
import { createRegistryLookups, type RegistryLookups } from '../../server/verify/lookups';
import { rejectsWithCode } from './expect';
import { buildSignatureArtifact, pushImageAsync } from './images';
import { makePolicy } from './policies';
import { startRegistry, type RegistryPeer } from './registry-peer';

const never = new AbortController().signal;
const PACKAGE = 'golang-github-containers-image-dev';

/** The package's signature/fixtures directory; fails loudly when the package is missing. */
function fixturesDir(): string {
  let files: string;
  try {
    files = execFileSync('dpkg', ['-L', PACKAGE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new Error(`${PACKAGE} is not installed: the real cosign-made vectors come from it. Install it: apt-get install -y --no-install-recommends ${PACKAGE} (or scripts/install-test-deps.sh)`);
  }
  const pub = files.split('\n').find((f) => f.endsWith('/signature/fixtures/cosign.pub'));
  if (!pub) throw new Error(`${PACKAGE} has no signature/fixtures/cosign.pub`);
  return pub.slice(0, -'/cosign.pub'.length);
}

interface SigstoreEntry {
  payload: Buffer;
  signature: string;
  mediaType: string;
}

/** containers/image storage form: "\0sigstore-json\n" + {mimeType, payload (b64), annotations}. */
function readSignature(file: string): SigstoreEntry {
  const raw = readFileSync(file);
  const prefix = Buffer.from('\0sigstore-json\n');
  assert.ok(raw.subarray(0, prefix.length).equals(prefix), `${file} is not a sigstore-json signature`);
  const j = JSON.parse(raw.subarray(prefix.length).toString('utf8')) as { mimeType: string; payload: string; annotations: Record<string, string> };
  return { payload: Buffer.from(j.payload, 'base64'), signature: j.annotations['dev.cosignproject.cosign/signature'] as string, mediaType: j.mimeType };
}

const sha256 = (file: string) => `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;

describe(`real cosign-made vectors from ${PACKAGE}`, () => {
  let dir: string;
  let reg: RegistryPeer;
  let lookups: RegistryLookups;
  let digestOf: (name: string) => string;

  /** Uploads the signatures of fixture `name` (or the given files) as the .sig of `digest`. */
  async function upload(repo: string, digest: string, signatureFiles: string[]): Promise<void> {
    const layout = buildSignatureArtifact(signatureFiles.map(readSignature), 'sig');
    await pushImageAsync(layout, reg, `${repo}:${digest.replace(':', '-')}.sig`);
  }

  before(async () => {
    dir = fixturesDir();
    digestOf = (name) => sha256(join(dir, name, 'manifest.json'));
    reg = await startRegistry();
    lookups = createRegistryLookups();
    await upload('vectors/valid', digestOf('dir-img-cosign-valid'), [join(dir, 'dir-img-cosign-valid', 'signature-1')]);
    await upload('vectors/valid-2', digestOf('dir-img-cosign-valid-2'), ['signature-1', 'signature-2'].map((s) => join(dir, 'dir-img-cosign-valid-2', s)));
    await upload('vectors/mixed', digestOf('dir-img-cosign-mixed'), ['signature-1', 'signature-2'].map((s) => join(dir, 'dir-img-cosign-mixed', s)));
    await upload('vectors/unknown-key', digestOf('dir-img-cosign-valid'), [join(dir, 'unknown-cosign-key.signature')]);
    await upload('vectors/modified', digestOf('dir-img-cosign-modified-manifest'), [join(dir, 'dir-img-cosign-modified-manifest', 'signature-1')]);
    await upload('vectors/digest-error', digestOf('dir-img-cosign-manifest-digest-error'), [join(dir, 'dir-img-cosign-manifest-digest-error', 'signature-1')]);
    await upload('vectors/other', digestOf('dir-img-cosign-other-attachment'), [join(dir, 'dir-img-cosign-other-attachment', 'signature-1')]);
    await upload('vectors/with-tag', digestOf('dir-img-cosign-valid-with-tag'), [join(dir, 'dir-img-cosign-valid-with-tag', 'signature-1')]);
  });
  after(async () => {
    await lookups?.close();
    await reg?.stop();
  });

  const policy = (matchReference = false) =>
    makePolicy({ registries: [reg.host], plainHTTP: [reg.host], verifiers: { upstream: { publicKeys: [join(dir, 'cosign.pub')], matchReference } } });
  const verify = (repo: string, digest: string, matchReference = false) =>
    lookups.verify(policy(matchReference), 'upstream', parseReference(`${reg.host}/${repo}@${digest}`), digest, never);

  it('the valid vector signs sha256:634a8f35… (sha256 of its manifest.json)', () => {
    assert.equal(digestOf('dir-img-cosign-valid'), 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00');
  });

  it('accepts dir-img-cosign-valid', async () => {
    await verify('vectors/valid', digestOf('dir-img-cosign-valid'));
  });

  it('accepts dir-img-cosign-valid-2 (two signatures)', async () => {
    await verify('vectors/valid-2', digestOf('dir-img-cosign-valid-2'));
  });

  it('accepts dir-img-cosign-mixed (one signature by an unknown key, one valid)', async () => {
    await verify('vectors/mixed', digestOf('dir-img-cosign-mixed'));
  });

  it('denies unknown-cosign-key.signature (signed by another key) with SIGNATURE_INVALID', async () => {
    const err = await rejectsWithCode(verify('vectors/unknown-key', digestOf('dir-img-cosign-valid')), VerificationError, 'SIGNATURE_INVALID');
    assert.equal(err.message, 'no signature verifies with the configured keys (1 signature checked)');
  });

  it('denies dir-img-cosign-modified-manifest: the signature is for the unmodified digest', async () => {
    const digest = digestOf('dir-img-cosign-modified-manifest');
    const err = await rejectsWithCode(verify('vectors/modified', digest), VerificationError, 'DIGEST_MISMATCH');
    assert.equal(err.message, `payload is for ${digestOf('dir-img-cosign-valid')}, not ${digest}`);
  });

  it('denies dir-img-cosign-manifest-digest-error with DIGEST_MISMATCH', async () => {
    await rejectsWithCode(verify('vectors/digest-error', digestOf('dir-img-cosign-manifest-digest-error')), VerificationError, 'DIGEST_MISMATCH');
  });

  it('ignores dir-img-cosign-other-attachment (a text/plain layer is not a signature)', async () => {
    await rejectsWithCode(verify('vectors/other', digestOf('dir-img-cosign-other-attachment')), VerificationError, 'SIGNATURE_NOT_FOUND');
  });

  it('accepts dir-img-cosign-valid-with-tag (skopeo-made, reference with a tag, optional creator/timestamp)', async () => {
    await verify('vectors/with-tag', digestOf('dir-img-cosign-valid-with-tag'));
  });

  it('with matchReference, denies the vectors here: they name 192.168.64.2:5000/…, not this registry', async () => {
    const err = await rejectsWithCode(verify('vectors/with-tag', digestOf('dir-img-cosign-valid-with-tag'), true), VerificationError, 'REFERENCE_MISMATCH');
    assert.match(err.message, /^payload is for the repository 192\.168\.64\.2:5000\/skopeo-signed, not 127\.0\.0\.1:\d+\/vectors\/with-tag$/);
  });
});
