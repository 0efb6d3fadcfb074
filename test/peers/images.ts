/**
 * Test images without Docker (reference §2.2): deterministic OCI layouts built here (one-file
 * layer made by the real `tar --sort=name --mtime=… --owner=0 --group=0 --numeric-owner` and
 * `gzip -n`), pushed to the registry by the real `skopeo copy`. Same input, same digest, every run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tempDir } from './temp-dirs';
import { join } from 'node:path';
import { requireBinary, type RegistryPeer, type User } from './registry-peer';

export const SKOPEO_BIN = '/usr/bin/skopeo';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
  artifactType?: string;
}

export interface BuiltLayout {
  /** The OCI layout directory. */
  readonly dir: string;
  readonly tag: string;
  /** Digest of the top-level manifest (or index) in the layout. */
  readonly digest: string;
  /** For an index: the child manifests' digests. */
  readonly children: readonly string[];
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

class Layout {
  readonly blobs: string;
  constructor(readonly dir: string) {
    this.blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(this.blobs, { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  put(bytes: Buffer | string, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    const hex = sha256(buf);
    writeFileSync(join(this.blobs, hex), buf);
    return { mediaType, digest: `sha256:${hex}`, size: buf.length, ...extra };
  }

  /** index.json naming `top` with the tag. */
  tag(top: Descriptor, tag: string): void {
    const entry = { ...top, annotations: { ...(top.annotations ?? {}), 'org.opencontainers.image.ref.name': tag } };
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
  }
}

/** One deterministic gzip layer holding `/hello.txt` with `text`; returns the blob and its diff_id. */
function makeLayer(work: string, text: string): { gz: Buffer; diffId: string } {
  const rootfs = join(work, `rootfs-${sha256(text).slice(0, 12)}`);
  mkdirSync(rootfs, { recursive: true });
  writeFileSync(join(rootfs, 'hello.txt'), `${text}\n`);
  const tar = execFileSync('tar', ['--sort=name', '--mtime=2020-01-01 00:00:00Z', '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '-C', rootfs, '.']);
  const gz = execFileSync('gzip', ['-n', '-9', '-c'], { input: tar });
  return { gz, diffId: `sha256:${sha256(tar)}` };
}

function addImage(layout: Layout, work: string, text: string, arch: string): Descriptor {
  const { gz, diffId } = makeLayer(work, text);
  const layer = layout.put(gz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = layout.put(
    JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] });
  return layout.put(manifest, OCI_MANIFEST, { platform: { architecture: arch, os: 'linux' } });
}

/** A single-platform OCI image whose only file says `text`. */
export function buildImage(text: string, tag = 'v1', arch = 'amd64'): BuiltLayout {
  const dir = tempDir('imagegate-oci-');
  const layout = new Layout(join(dir, 'layout'));
  const top = addImage(layout, dir, text, arch);
  const { platform: _p, ...plain } = top;
  layout.tag(plain, tag);
  return { dir: layout.dir, tag, digest: top.digest, children: [] };
}

/** An OCI image index over two images (amd64, arm64). */
export function buildMultiArchImage(text: string, tag = 'multi'): BuiltLayout {
  const dir = tempDir('imagegate-oci-');
  const layout = new Layout(join(dir, 'layout'));
  const amd = addImage(layout, dir, `${text} on amd64`, 'amd64');
  const arm = addImage(layout, dir, `${text} on arm64`, 'arm64');
  const index = layout.put(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [amd, arm] }), OCI_INDEX);
  layout.tag(index, tag);
  return { dir: layout.dir, tag, digest: index.digest, children: [amd.digest, arm.digest] };
}

/**
 * A cosign `.sig` artifact (SIGNATURE_SPEC.md "Storage") from given payloads and signatures, as
 * containers/image writes it (config with the layers as diff_ids). Used to upload the real
 * cosign-made vectors of golang-github-containers-image-dev, and tampered signatures.
 */
export function buildSignatureArtifact(entries: readonly { payload: Buffer; signature: string; mediaType?: string }[], tag: string): BuiltLayout {
  const dir = tempDir('imagegate-sig-');
  const layout = new Layout(join(dir, 'layout'));
  const layers = entries.map((e) =>
    layout.put(e.payload, e.mediaType ?? 'application/vnd.dev.cosign.simplesigning.v1+json', {
      annotations: { 'dev.cosignproject.cosign/signature': e.signature },
    }),
  );
  const config = layout.put(
    JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = layout.put(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }), OCI_MANIFEST);
  layout.tag(manifest, tag);
  return { dir: layout.dir, tag, digest: manifest.digest, children: [] };
}

export interface PushOptions {
  /** Destination manifest format; default: as in the layout (OCI). */
  readonly format?: 'oci' | 'v2s2';
  readonly creds?: User;
  /** Copy every image of an index (skopeo --multi-arch all). */
  readonly all?: boolean;
}

const execFileAsync = promisify(execFile);

/** Runs the real skopeo; its stderr is in the error on failure. */
export function skopeo(args: readonly string[]): string {
  requireBinary(SKOPEO_BIN, 'apt-get install -y skopeo');
  try {
    return execFileSync(SKOPEO_BIN, ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/**
 * skopeo without blocking the event loop: needed when a peer in this process (the token
 * service) must answer while skopeo runs.
 */
export async function skopeoAsync(args: readonly string[]): Promise<string> {
  requireBinary(SKOPEO_BIN, 'apt-get install -y skopeo');
  try {
    return (await execFileAsync(SKOPEO_BIN, ['--insecure-policy', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** TLS flags for skopeo against a peer: its CA in a cert dir, or verification off for plain HTTP. */
export function tlsArgs(peer: RegistryPeer, direction: 'src' | 'dest'): string[] {
  if (!peer.caCert) return [`--${direction}-tls-verify=false`];
  const certDir = join(peer.dir, 'skopeo-certs');
  if (!existsSync(certDir)) {
    mkdirSync(certDir, { recursive: true });
    writeFileSync(join(certDir, 'ca.crt'), readFileSync(peer.caCert));
  }
  return [`--${direction}-cert-dir`, certDir];
}

function pushArgs(layout: BuiltLayout, peer: RegistryPeer, repoTag: string, options: PushOptions): string[] {
  const args = ['copy', '-q', ...tlsArgs(peer, 'dest')];
  if (options.format) args.push('--format', options.format);
  if (options.creds) args.push('--dest-creds', `${options.creds.username}:${options.creds.password}`);
  if (options.all) args.push('--multi-arch', 'all');
  args.push(`oci:${layout.dir}:${layout.tag}`, `docker://${peer.host}/${repoTag}`);
  return args;
}

/** Pushes `layout` to `peer` as `repo:tag` with skopeo copy. */
export function pushImage(layout: BuiltLayout, peer: RegistryPeer, repoTag: string, options: PushOptions = {}): void {
  skopeo(pushArgs(layout, peer, repoTag, options));
}

/** pushImage without blocking the event loop (see skopeoAsync). */
export async function pushImageAsync(layout: BuiltLayout, peer: RegistryPeer, repoTag: string, options: PushOptions = {}): Promise<void> {
  await skopeoAsync(pushArgs(layout, peer, repoTag, options));
}

/** The digest the registry serves for `repo:tag`, computed independently of imagegate (skopeo inspect --raw). */
export function registryDigest(peer: RegistryPeer, repoTag: string, creds?: User): string {
  const args = ['inspect', '--raw', ...tlsArgs(peer, 'src').map((a) => a.replace('--src-', '--'))];
  if (creds) args.push('--creds', `${creds.username}:${creds.password}`);
  args.push(`docker://${peer.host}/${repoTag}`);
  requireBinary(SKOPEO_BIN, 'apt-get install -y skopeo');
  const raw = execFileSync(SKOPEO_BIN, ['--insecure-policy', ...args], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  return `sha256:${sha256(raw)}`;
}

/**
 * Uploads raw bytes as a blob with the distribution API (POST then PUT ?digest=), for artefacts
 * no tool would write (a descriptor that lies about its size). Open registries only.
 */
export async function putBlob(peer: RegistryPeer, repo: string, bytes: Buffer): Promise<string> {
  const digest = `sha256:${sha256(bytes)}`;
  const start = await fetch(`${peer.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
  const location = new URL(start.headers.get('location') ?? '', peer.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${await put.text()}`);
  return digest;
}

/** PUT /v2/<repo>/manifests/<tag> with exactly these bytes. */
export async function putManifest(peer: RegistryPeer, repo: string, tag: string, bytes: Buffer, mediaType = OCI_MANIFEST): Promise<string> {
  const res = await fetch(`${peer.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } });
  if (res.status !== 201) throw new Error(`manifest PUT: HTTP ${res.status} ${await res.text()}`);
  return `sha256:${sha256(bytes)}`;
}
