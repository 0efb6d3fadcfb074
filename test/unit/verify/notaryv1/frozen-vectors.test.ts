/**
 * The whole notaryv1 verifier over frozen metadata from a real notary server
 * (test/vectors/notary), served through undici's MockAgent, with the clock fixed at the time the
 * files were recorded.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockAgent, type Agent } from 'undici';
import { LookupError, VerificationError } from '../../../../server/errors';
import type { NotaryV1VerifierConfig } from '../../../../server/policy/compiled-policy';
import { loadPolicyText } from '../../../../server/policy/load';
import { parseReference } from '../../../../server/reference/parse';
import { TokenCache } from '../../../../server/registry/auth-challenge';
import { CredentialsFile } from '../../../../server/registry/credentials';
import { RegistryClient } from '../../../../server/registry/registry-client';
import { NOOP_REPORTER, type RegistryContext } from '../../../../server/registry/registry-context';
import { createNotaryV1Verifier } from '../../../../server/verify/notaryv1/notaryv1-verifier';
import type { VerifyContext } from '../../../../server/verify/verifier';

const GUN = '127.0.0.1:5000/demo/app';
const ROOT_ID = '29260c96a99a08e0e1d0bf18be6b091576bb0617547b9f3185c227e0554c5d5e';
const RECORDED = Date.parse('2026-11-23T12:00:00Z');
const V1 = 'sha256:d246bb4c73364ca51f2ac67567acd190e297be779f177fa60dc8d0dfc34d48b8';
const V2 = 'sha256:176eb107aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa8dc7';
const DIR = join(process.cwd(), 'test', 'vectors', 'notary', 'demo-app');
const FILES = ['root', '1.root', 'timestamp', 'snapshot', 'targets', 'targets/releases'];

let generation = 900;
const agents: MockAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
});

/** A verifier whose notary server is a MockAgent serving the vectors, `edit` applied to each file. */
function setup(options: { now?: number; rootKeys?: string; delegations?: string; edit?: (name: string, body: Buffer) => Buffer } = {}) {
  const yaml = [
    'apiVersion: imagegate/v1',
    'kind: Policy',
    'registries: ["127.0.0.1:5000"]',
    'rules: []',
    'verifiers:',
    '  dct:',
    '    type: notaryv1',
    '    server: https://notary.test',
    `    rootKeys: [${options.rootKeys ?? `{keyID: ${ROOT_ID}}`}]`,
    `    delegations: [${options.delegations ?? ''}]`,
  ].join('\n');
  generation += 1;
  const policy = loadPolicyText(yaml, 'unit', generation, { implementedVerifierTypes: new Set(['notaryv1']) });
  const agent = new MockAgent();
  agents.push(agent);
  agent.disableNetConnect();
  const pool = agent.get('https://notary.test');
  for (const name of FILES) {
    const body = readFileSync(join(DIR, `${name}.json`));
    pool.intercept({ path: `/v2/${GUN}/_trust/tuf/${name}.json`, method: 'GET' }).reply(200, options.edit ? options.edit(name, body) : body).persist();
  }
  pool.intercept({ path: `/v2/${GUN}/_trust/tuf/2.root.json`, method: 'GET' }).reply(404, '{"errors":[{"code":"METADATA_NOT_FOUND"}]}').persist();
  pool.intercept({ path: (p) => p.startsWith('/v2/127.0.0.1:5000/demo/other/'), method: 'GET' }).reply(404, '').persist();
  const context: RegistryContext = {
    policy,
    dispatcher: agent as unknown as Agent,
    credentials: new CredentialsFile(undefined),
    tokens: new TokenCache(100),
    basicOrigins: new Set(),
    reporter: NOOP_REPORTER,
  };
  const ctx: VerifyContext = { registry: (h) => new RegistryClient(context, h), registryContext: context, signal: AbortSignal.timeout(10_000) };
  const now = options.now ?? RECORDED;
  const verifier = createNotaryV1Verifier('dct', policy.verifiers.get('dct') as NotaryV1VerifierConfig, { now: () => now });
  return { verifier, ctx, tokens: context.tokens };
}

const digestRef = (digest: string) => parseReference(`${GUN}@${digest}`);

async function rejects(work: Promise<unknown>, cls: typeof VerificationError | typeof LookupError, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof cls, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('notaryv1 verifier over frozen real notary metadata', () => {
  it('admits the digests of targets and targets/releases', async () => {
    const { verifier, ctx } = setup();
    await verifier.verify(digestRef(V1), V1, ctx);
    await verifier.verify(digestRef(V2), V2, ctx);
  });

  it('verifies targets.json, whose canonical form holds the integer 12345678', async () => {
    const { verifier, ctx } = setup({ delegations: 'targets' });
    await verifier.verify(parseReference(`${GUN}:big`), V2, ctx);
  });

  it('resolves tag v2 in targets/releases and tag v1 in targets', async () => {
    const { verifier, ctx } = setup();
    await verifier.verify(parseReference(`${GUN}:v2`), V2, ctx);
    await verifier.verify(parseReference(`${GUN}:v1`), V1, ctx);
    await rejects(verifier.verify(parseReference(`${GUN}:v1`), V2, ctx), VerificationError, 'DIGEST_MISMATCH');
  });

  it('refuses everything once the timestamp has expired', async () => {
    const { verifier, ctx } = setup({ now: Date.parse('2026-12-08T00:00:00Z') });
    await rejects(verifier.verify(digestRef(V1), V1, ctx), VerificationError, 'TRUST_METADATA_EXPIRED', /^timestamp expired at 2026-12-07T10:58:40\.035Z$/);
  });

  it('refuses a snapshot.json with one byte changed (its hash in the timestamp no longer matches)', async () => {
    const { verifier, ctx } = setup({ edit: (n, b) => (n === 'snapshot' ? Buffer.from(b.toString().replace('"version":5', '"version":6')) : b) });
    await rejects(verifier.verify(digestRef(V1), V1, ctx), VerificationError, 'TRUST_METADATA_INVALID', /^snapshot\.json of .* does not match/);
  });

  it('refuses a targets/releases.json altered after the snapshot listed it', async () => {
    // The signature is kept; its keyid is replaced by the targets key's id: a key the delegation does not name.
    const targetsKey = '2b15d2f7d261b7e2ac4ba72c80a392bc5187fcb030f6aa29bf7c92589fd19394';
    const { verifier, ctx } = setup({
      delegations: 'targets/releases',
      edit: (n, b) => (n === 'targets/releases' ? Buffer.from(b.toString().replace(/"keyid":"[0-9a-f]{64}"/, `"keyid":"${targetsKey}"`)) : b),
    });
    // The snapshot's hash for the file no longer matches either: the hash check comes first (TUF 5.6.2).
    await rejects(verifier.verify(digestRef(V2), V2, ctx), VerificationError, 'TRUST_METADATA_INVALID', /targets\/releases\.json .* does not match/);
  });

  it('refuses a root that is not the pinned one', async () => {
    const { verifier, ctx } = setup({ rootKeys: `{keyID: "${'0'.repeat(64)}"}` });
    await rejects(verifier.verify(digestRef(V1), V1, ctx), VerificationError, 'UNTRUSTED_SIGNER', /root is not signed by a pinned key/);
  });

  it('says which repository has no trust data', async () => {
    const { verifier, ctx } = setup();
    await rejects(verifier.verify(parseReference(`127.0.0.1:5000/demo/other@${V1}`), V1, ctx), VerificationError, 'SIGNATURE_NOT_FOUND', /has no trust data for 127\.0\.0\.1:5000\/demo\/other/);
  });

  it('caps a file at the length its parent lists', async () => {
    const { verifier, ctx } = setup({ edit: (n, b) => (n === 'targets' ? Buffer.concat([b, Buffer.from(' ')]) : b) });
    await rejects(verifier.verify(digestRef(V1), V1, ctx), LookupError, 'RESPONSE_TOO_LARGE');
  });

  it('never sends a token it was not challenged for', async () => {
    const { verifier, ctx, tokens } = setup();
    await verifier.verify(digestRef(V1), V1, ctx);
    assert.equal(tokens.get('https://notary.test', `repository:${GUN}:pull`, ''), undefined);
  });
});
