import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runImagegate, startImagegate } from '../../helpers/imagegate-process';
import { imageReview, postReview } from '../../helpers/http-client';
import { parseServeArgs, UsageError, isLoopback } from '../../../server/cli/args';
import { TAGGED_DOCKER_IO_POLICY } from '../../helpers/policies';

const dir = mkdtempSync(join(tmpdir(), 'imagegate-cli-'));
const POLICY = join(dir, 'policy.yaml');
writeFileSync(POLICY, TAGGED_DOCKER_IO_POLICY);
const BAD = join(dir, 'bad.yaml');
writeFileSync(BAD, `apiVersion: imagegate/v1
kind: Policy
registries: [docker.io]
defaultAction: maybe
rules:
  - name: r
    images: ["quay.io/**"]
    requireDigets: true
`);
const SHADOWED = join(dir, 'shadowed.yaml');
writeFileSync(SHADOWED, `apiVersion: imagegate/v1
kind: Policy
registries: [docker.io]
rules:
  - name: all
    images: ["**"]
    requireDigest: false
  - name: never
    images: ["docker.io/library/*"]
`);

const VECTORS = join(process.cwd(), 'test', 'vectors', 'notation');
const notationPolicy = (verifier: string) => `apiVersion: imagegate/v1
kind: Policy
registries: [ghcr.io]
rules:
  - name: signed
    images: ["ghcr.io/acme/**"]
    verify: [team]
verifiers:
  team:
${verifier.replace(/^/gm, '    ')}
`;
const NOTATION_GOOD = join(dir, 'notation-good.yaml');
writeFileSync(NOTATION_GOOD, notationPolicy(`type: notation
trustStore: [{file: ${join(VECTORS, 'ca.pem')}}]
tsaTrustStore: [{file: ${join(VECTORS, 'tsa-root.pem')}}]
trustedIdentities: ["x509.subject: C=US, ST=WA, O=Acme, CN=release"]`));
const NOTATION_BAD = join(dir, 'notation-bad.yaml');
writeFileSync(NOTATION_BAD, notationPolicy(`type: notation
trustStore: [{file: ${join(dir, 'no-such-ca.crt')}}]
tsaTrustStore: [{file: ${join(VECTORS, 'tsa-signer.pem')}}]
trustedIdentities: ["x509.subject: O=Acme, CN=release"]`));
const COSIGN_BAD = join(dir, 'cosign-bad.yaml');
writeFileSync(COSIGN_BAD, notationPolicy(`type: cosign
publicKeys: [{file: ${join(VECTORS, 'ca.pem')}}]`));

describe('imagegate review', () => {
  it('prints only the response ImageReview on stdout and exits 0 when allowed', async () => {
    const r = await runImagegate(['review', '--config', POLICY, '-'], imageReview(['nginx:1.25']));
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
  });
  it('exits 1 when denied', async () => {
    const r = await runImagegate(['review', '--config', POLICY], imageReview(['nginx']));
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).status.allowed, false);
  });
  it('exits 2 on input that is not an ImageReview', async () => {
    const r = await runImagegate(['review', '--config', POLICY, '-'], '{"kind":"Pod"}');
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
  });
  it('exits 2 on an invalid policy', async () => {
    const r = await runImagegate(['review', '--config', BAD, '-'], imageReview(['nginx:1']));
    assert.equal(r.code, 2);
  });
  it('exits 2 when a verifier key of the policy is bad, naming it, as serve refuses to start', async () => {
    const r = await runImagegate(['review', '--config', COSIGN_BAD, '-'], imageReview(['ghcr.io/acme/app:1']));
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /verifiers\.team\.publicKeys\[0\]: cannot be used as a cosign public key/);
  });
});

describe('imagegate check', () => {
  it('exits 2 when a verifier certificate of the policy is bad, naming the file, as serve refuses to start', async () => {
    const r = await runImagegate(['check', '--config', NOTATION_BAD, 'ghcr.io/acme/app:1']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no-such-ca\.crt/);
  });
  it('prints one line per image and exits 1 when one is denied', async () => {
    const r = await runImagegate(['check', '--config', POLICY, 'nginx:1.25', 'quay.io/a/b:1']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^allowed .*nginx:1\.25.*rule "tagged"/);
    assert.match(lines[1]!, /^denied .*quay\.io\/a\/b:1.*registry "quay\.io"/);
  });
  it('prints the response ImageReview with --output json', async () => {
    const r = await runImagegate(['check', '--config', POLICY, '--output', 'json', 'nginx:1.25']);
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.stdout).status.allowed, true);
  });
  it('works on the embedded default policy', async () => {
    const r = await runImagegate(['check', 'nginx']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /allowLatest/);
  });
});

describe('imagegate config validate', () => {
  it('lists every problem with its path and exits 2', async () => {
    const r = await runImagegate(['config', 'validate', BAD]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /defaultAction/);
    assert.match(r.stdout, /requireDigets/);
    assert.match(r.stdout, /quay\.io/);
  });
  it('warns about a rule an earlier rule always wins over, and exits 0', async () => {
    const r = await runImagegate(['config', 'validate', SHADOWED]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /warning: .*never/);
  });
  it('reads notation trust stores and identities: each problem with its path and file, exit 2', async () => {
    const r = await runImagegate(['config', 'validate', NOTATION_BAD]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /3 problem\(s\) with verifier keys and certificates/);
    assert.match(r.stdout, /verifiers\.team\.trustStore\[0\]\.file: cannot read .*no-such-ca\.crt: ENOENT/);
    assert.match(r.stdout, /verifiers\.team\.tsaTrustStore\[0\]\.file: .*tsa-signer\.pem cannot be in tsaTrustStore: .*not a CA certificate/);
    assert.match(r.stdout, /verifiers\.team\.trustedIdentities\[0\]: .*has no C/);
  });
  it('accepts a notation verifier whose stores and identities load', async () => {
    const r = await runImagegate(['config', 'validate', NOTATION_GOOD]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /valid \(1 rule\(s\), 1 verifier\(s\)/);
  });
  it('reads cosign keys too: a certificate is not a public key, exit 2', async () => {
    const r = await runImagegate(['config', 'validate', COSIGN_BAD]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /verifiers\.team\.publicKeys\[0\]: cannot be used as a cosign public key/);
  });
  it('accepts the shipped default policy', async () => {
    const r = await runImagegate(['config', 'validate', join(process.cwd(), 'config', 'default.yaml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe('parseServeArgs', () => {
  it('defaults to 127.0.0.1:1323 over plain HTTP', () => {
    const s = parseServeArgs([], {});
    assert.equal(s.host, '127.0.0.1');
    assert.equal(s.port, 1323);
    assert.equal(s.cert, undefined);
  });
  it('defaults to 0.0.0.0 when a certificate is given', () => {
    assert.equal(parseServeArgs(['--cert', 'c', '--key', 'k'], {}).host, '0.0.0.0');
  });
  it("maps kube-image-bouncer's flags and BOUNCER_* variables", () => {
    const s = parseServeArgs(['-c', 'c.pem', '-k', 'k.pem', '-p', '8443', '--registry-whitelist', ' docker.io , quay.io,', '--debug'], {});
    assert.deepEqual([s.cert, s.key, s.port, s.registryWhitelist, s.logLevel], ['c.pem', 'k.pem', 8443, ['docker.io', 'quay.io'], 'debug']);
    const e = parseServeArgs([], { BOUNCER_CERTIFICATE: 'c', BOUNCER_KEY: 'k', BOUNCER_PORT: '9000', BOUNCER_REGISTRY_WHITELIST: 'a.io', BOUNCER_DEBUG: 'true' });
    assert.deepEqual([e.cert, e.key, e.port, e.registryWhitelist, e.logLevel], ['c', 'k', 9000, ['a.io'], 'debug']);
  });
  it('prefers flags over IMAGEGATE_* over BOUNCER_*', () => {
    assert.equal(parseServeArgs([], { IMAGEGATE_PORT: '1', BOUNCER_PORT: '2' }).port, 1);
    assert.equal(parseServeArgs(['--port', '3'], { IMAGEGATE_PORT: '1' }).port, 3);
  });
  it("reads kube-image-bouncer's flags in every spelling Go's flag package accepted", () => {
    const pick = (s: ReturnType<typeof parseServeArgs>) => [s.cert, s.key, s.port, s.registryWhitelist, s.logLevel];
    const want = ['/t/tls.crt', '/t/tls.key', 8443, ['docker.io'], 'debug'];
    for (const argv of [
      ['-cert=/t/tls.crt', '-key', '/t/tls.key', '-port=8443', '-registry-whitelist', 'docker.io', '-debug'],
      ['--cert', '/t/tls.crt', '--key=/t/tls.key', '--port', '8443', '--registry-whitelist=docker.io', '--debug=true'],
      ['-c=/t/tls.crt', '-k=/t/tls.key', '-p=8443', '--registry-whitelist', 'docker.io', '-debug=1'],
      ['--c', '/t/tls.crt', '--k', '/t/tls.key', '--p=8443', '-registry-whitelist=docker.io', '--debug'],
      ['-c', '/t/tls.crt', '-k/t/tls.key', '-p8443', '--registry-whitelist', 'docker.io', '--debug'],
    ]) {
      assert.deepEqual(pick(parseServeArgs(argv, {})), want, argv.join(' '));
    }
    // Go gives a string flag the next argument whatever it looks like.
    assert.equal(parseServeArgs(['--cert', '-odd.pem', '--key', 'k'], {}).cert, '-odd.pem');
    assert.throws(() => parseServeArgs(['--debug=maybe'], {}), UsageError);
    assert.throws(() => parseServeArgs(['--cert'], {}), /argument missing/);
  });
  it('leaves the value of an imagegate option alone, even when it looks like a kube-image-bouncer flag', () => {
    assert.equal(parseServeArgs(['--config', 'p.yaml', '-p', '9'], {}).port, 9);
    // Not rewritten into --port: parseArgs still sees "--config -p" and refuses it as before.
    assert.throws(() => parseServeArgs(['--config', '-p', '9'], {}), /argument is ambiguous/);
    assert.equal(parseServeArgs(['--config=-p', '-p', '9'], {}).configFile, '-p');
  });
  it('lets --debug (a flag) win over IMAGEGATE_LOG_LEVEL, and --debug=false switch off BOUNCER_DEBUG', () => {
    assert.equal(parseServeArgs(['--debug'], { IMAGEGATE_LOG_LEVEL: 'warn' }).logLevel, 'debug');
    assert.equal(parseServeArgs(['--log-level', 'warn', '--debug'], {}).logLevel, 'warn');
    assert.equal(parseServeArgs([], { IMAGEGATE_LOG_LEVEL: 'warn', BOUNCER_DEBUG: 'true' }).logLevel, 'warn');
    assert.equal(parseServeArgs(['--debug=false'], { BOUNCER_DEBUG: 'true' }).logLevel, 'info');
    assert.equal(parseServeArgs([], { BOUNCER_DEBUG: 'true' }).logLevel, 'debug');
  });
  it('refuses plain HTTP off loopback without --insecure', () => {
    assert.throws(() => parseServeArgs(['--host', '0.0.0.0'], {}), UsageError);
    assert.equal(parseServeArgs(['--host', '0.0.0.0', '--insecure'], {}).insecure, true);
  });
  it('refuses --cert without --key, and --client-ca without TLS', () => {
    assert.throws(() => parseServeArgs(['--cert', 'c'], {}), UsageError);
    assert.throws(() => parseServeArgs(['--client-ca', 'ca'], {}), UsageError);
  });
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '10.0.0.1', '::', 'localhost.evil.com']) assert.ok(!isLoopback(h), h);
  });
});

describe('imagegate serve', () => {
  it('exits 2 when asked for plain HTTP on 0.0.0.0', async () => {
    const r = await runImagegate(['serve', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing plain HTTP/);
  });
  it('exits 2 on an invalid policy file', async () => {
    const r = await runImagegate(['serve', '--config', BAD, '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /defaultAction/);
  });
  it('exits 2 when a verifier key or certificate of the policy is bad, naming it (as config validate does)', async () => {
    for (const workers of [[], ['--workers', '2']]) {
      const r = await runImagegate(['serve', '--config', COSIGN_BAD, '--port', '0', ...workers]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /verifiers\.team\.publicKeys\[0\]: cannot be used as a cosign public key/);
    }
  });
  it('keeps the last good policy when a reload brings a bad verifier key', async () => {
    const reloadDir = mkdtempSync(join(tmpdir(), 'imagegate-material-'));
    const file = join(reloadDir, 'policy.yaml');
    writeFileSync(file, readFileSync(POLICY, 'utf8'));
    const ig = await startImagegate(['--config', file]);
    try {
      writeFileSync(file, readFileSync(COSIGN_BAD, 'utf8'));
      const failed = await ig.waitForLog((r) => r.event === 'policy-reload-failed');
      assert.match(JSON.stringify(failed.issues), /cannot be used as a cosign public key/);
      const res = await postReview(ig.url, imageReview(['nginx:1.25']));
      assert.equal(res.json().status.allowed, true, 'generation 1 (nginx by tag allowed) must stay in force');
    } finally {
      await ig.stop();
    }
  });
  it('serves the kube-image-bouncer policy from --registry-whitelist', async () => {
    const ig = await startImagegate(['--registry-whitelist', 'docker.io,quay.io']);
    try {
      assert.equal((await postReview(ig.url, imageReview(['nginx:1.25']))).json().status.allowed, true);
      assert.equal((await postReview(ig.url, imageReview(['quay.io/a/b:2']))).json().status.allowed, true);
      assert.equal((await postReview(ig.url, imageReview(['nginx']))).json().status.allowed, false);
      assert.equal((await postReview(ig.url, imageReview(['nginx:latest']))).json().status.allowed, false);
      assert.equal((await postReview(ig.url, imageReview(['ghcr.io/a/b:1']))).json().status.allowed, false);
      assert.equal((await postReview(ig.url, imageReview(['docker.io.evil.com/a:1']))).json().status.allowed, false);
    } finally {
      assert.equal(await ig.stop('SIGTERM'), 0);
    }
  });
  it('starts on the embedded default policy with a plain-HTTP warning, and exits 0 on SIGTERM', async () => {
    const ig = await startImagegate([]);
    try {
      const warn = await ig.waitForLog((r) => r.event === 'plain-http');
      assert.equal(warn.level, 'warn');
      assert.equal((await postReview(ig.url, imageReview(['nginx:1.27']))).json().status.allowed, true);
    } finally {
      assert.equal(await ig.stop('SIGTERM'), 0);
    }
  });
});
