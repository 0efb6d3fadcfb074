/**
 * Authentication and TLS against real docker-registry instances: htpasswd (Basic challenge),
 * Bearer tokens from a token service (x5c JWTs the registry really validates), a private CA;
 * credentials from a docker config.json. Signatures by the real cosign.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { LookupError } from '../../server/errors';
import { parseReference } from '../../server/reference/parse';
import { createRegistryLookups, type RegistryLookups } from '../../server/verify/lookups';
import { cosignSignAsync, cosignVerify, generateKeyPair, requireCosign, type KeyPair } from './cosign-tool';
import { rejectsWithCode } from './expect';
import { buildImage, pushImageAsync } from './images';
import { basicAuth, makePolicy, writeDockerConfig, type PolicySpec } from './policies';
import { startRegistry, type RegistryPeer } from './registry-peer';

const never = new AbortController().signal;

describe('registry authentication and TLS', () => {
  let keys: KeyPair;
  const image = buildImage('an image behind auth');
  const lookupsToClose: RegistryLookups[] = [];
  const lookups = () => {
    const l = createRegistryLookups();
    lookupsToClose.push(l);
    return l;
  };
  before(async () => {
    requireCosign();
    keys = generateKeyPair('auth-tests');
  });
  after(async () => {
    await Promise.all(lookupsToClose.map((l) => l.close()));
  });

  /** Resolves the tag and verifies the signature: the two lookups a review makes. */
  async function resolveAndVerify(reg: RegistryPeer, spec: Partial<PolicySpec>, l = lookups()): Promise<void> {
    const policy = makePolicy({ registries: [reg.host], plainHTTP: reg.caCert ? [] : [reg.host], verifiers: { team: { publicKeys: [keys.pub] } }, ...spec });
    const digest = await l.resolveTag(policy, parseReference(`${reg.host}/demo/app:v1`), never);
    assert.equal(digest, image.digest);
    await l.verify(policy, 'team', parseReference(`${reg.host}/demo/app@${digest}`), digest, never);
  }

  describe('htpasswd (Basic challenge)', () => {
    let reg: RegistryPeer;
    before(async () => {
      reg = await startRegistry({ auth: 'htpasswd' });
      const user = reg.users[0]!;
      await pushImageAsync(image, reg, 'demo/app:v1', { creds: user });
      await cosignSignAsync(keys, `${reg.host}/demo/app@${image.digest}`, { creds: { host: reg.host, user } });
      assert.ok((await cosignVerify(keys.pub, `${reg.host}/demo/app@${image.digest}`, { creds: { host: reg.host, user } })).ok);
    });
    after(async () => reg?.stop());

    it('resolves and verifies with credentials from config.json (auth: base64 user:password)', async () => {
      const user = reg.users[0]!;
      await resolveAndVerify(reg, { credentialsFile: writeDockerConfig({ [reg.host]: { auth: basicAuth(user.username, user.password) } }) });
    });

    it('accepts username/password fields and a key written as a URL (canonicalised, then exact)', async () => {
      const user = reg.users[0]!;
      await resolveAndVerify(reg, { credentialsFile: writeDockerConfig({ [`http://${reg.host}/v1/`]: { username: user.username, password: user.password } }) });
    });

    it('fails with AUTH_FAILED without credentials', async () => {
      await rejectsWithCode(resolveAndVerify(reg, {}), LookupError, 'AUTH_FAILED');
    });

    it('never uses credentials of another host, even one that is a prefix of it (exact match only)', async () => {
      const user = reg.users[0]!;
      const file = writeDockerConfig({ '127.0.0.1': { auth: basicAuth(user.username, user.password) }, [`${reg.host}0`]: { auth: basicAuth(user.username, user.password) } });
      await rejectsWithCode(resolveAndVerify(reg, { credentialsFile: file }), LookupError, 'AUTH_FAILED');
    });

    it('fails with AUTH_FAILED on a wrong password, and the password appears in no error', async () => {
      const secret = 'wrong-Password-7f3a9';
      const file = writeDockerConfig({ [reg.host]: { auth: basicAuth(reg.users[0]!.username, secret) } });
      const err = await rejectsWithCode(resolveAndVerify(reg, { credentialsFile: file }), LookupError, 'AUTH_FAILED');
      const everything = `${err.message} ${inspect(err, { depth: 10 })} ${JSON.stringify(err)} ${String(err.cause)}`;
      assert.ok(!everything.includes(secret), everything);
      assert.ok(!everything.includes(basicAuth(reg.users[0]!.username, secret)), everything);
    });

    it('fails with AUTH_FAILED when the credentials file cannot be read (never silently anonymous)', async () => {
      await rejectsWithCode(resolveAndVerify(reg, { credentialsFile: '/nonexistent/config.json' }), LookupError, 'AUTH_FAILED');
    });

    it('sends Basic at once after the first challenge (one 401 per lookup cache, not per request)', async () => {
      const user = reg.users[0]!;
      const l = lookups();
      const start = (await reg.accessLog()).length;
      await resolveAndVerify(reg, { credentialsFile: writeDockerConfig({ [reg.host]: { auth: basicAuth(user.username, user.password) } }) }, l);
      const seen = (await reg.accessLog()).slice(start);
      assert.equal(seen.filter((e) => e.status === 401).length, 1, JSON.stringify(seen));
    });
  });

  describe('Bearer token service', () => {
    let reg: RegistryPeer;
    before(async () => {
      reg = await startRegistry({ auth: 'token' });
      const user = reg.users[0]!;
      await pushImageAsync(image, reg, 'demo/app:v1', { creds: user });
      await cosignSignAsync(keys, `${reg.host}/demo/app@${image.digest}`, { creds: { host: reg.host, user } });
    });
    after(async () => reg?.stop());

    const tokenPolicy = (extra: Partial<PolicySpec>): Partial<PolicySpec> => ({
      registries: [reg.host, reg.tokenService!.host],
      plainHTTP: [reg.host, reg.tokenService!.host],
      ...extra,
    });

    it('gets a token with the configured credentials and reuses it for the scope', async () => {
      const user = reg.users[0]!;
      const svc = reg.tokenService!;
      const before = svc.requests.length;
      const logStart = (await reg.accessLog()).length;
      await resolveAndVerify(reg, tokenPolicy({ credentialsFile: writeDockerConfig({ [reg.host]: { auth: basicAuth(user.username, user.password) } }) }));
      const asked = svc.requests.slice(before);
      assert.equal(asked.length, 1, JSON.stringify(asked));
      assert.deepEqual(asked[0]?.scope, ['repository:demo/app:pull']);
      assert.equal(asked[0]?.authenticatedAs, user.username);
      assert.equal(asked[0]?.account, user.username);
      // HEAD 401, HEAD 200 (tag); GET .sig 200, GET blob 200 with the cached token.
      const seen = (await reg.accessLog()).slice(logStart).map((e) => `${e.method} ${e.status}`);
      assert.deepEqual(seen, ['HEAD 401', 'HEAD 200', 'GET 200', 'GET 200']);
    });

    it('exchanges an identity token (OAuth2 refresh token) for an access token', async () => {
      const svc = reg.tokenService!;
      svc.refreshTokens.set('refresh-abc-123', reg.users[0]!.username);
      const before = svc.requests.length;
      await resolveAndVerify(reg, tokenPolicy({ credentialsFile: writeDockerConfig({ [reg.host]: { identitytoken: 'refresh-abc-123' } }) }));
      assert.equal(svc.requests.slice(before)[0]?.grant, 'refresh_token');
    });

    it('fails with AUTH_FAILED when the token service refuses the password', async () => {
      const file = writeDockerConfig({ [reg.host]: { auth: basicAuth(reg.users[0]!.username, 'nope') } });
      await rejectsWithCode(resolveAndVerify(reg, tokenPolicy({ credentialsFile: file })), LookupError, 'AUTH_FAILED');
    });

    it('fails with AUTH_FAILED anonymously (the anonymous token grants nothing here)', async () => {
      await rejectsWithCode(resolveAndVerify(reg, tokenPolicy({})), LookupError, 'AUTH_FAILED');
    });

    it('never contacts a token realm whose host is not in registries', async () => {
      const svc = reg.tokenService!;
      const before = svc.requests.length;
      const user = reg.users[0]!;
      const file = writeDockerConfig({ [reg.host]: { auth: basicAuth(user.username, user.password) } });
      await rejectsWithCode(
        resolveAndVerify(reg, { registries: [reg.host], plainHTTP: [reg.host], credentialsFile: file }),
        LookupError,
        'REGISTRY_NOT_ALLOWED_TO_CONTACT',
      );
      assert.equal(svc.requests.length, before, 'the token service was contacted');
    });

    it('never sends credentials to a realm over plain http unless that host is in transport.plainHTTP', async () => {
      const svc = reg.tokenService!;
      const before = svc.requests.length;
      await rejectsWithCode(resolveAndVerify(reg, { registries: [reg.host, svc.host], plainHTTP: [reg.host] }), LookupError, 'REGISTRY_NOT_ALLOWED_TO_CONTACT');
      assert.equal(svc.requests.length, before);
    });
  });

  describe('TLS with a private CA (transport.caFiles)', () => {
    let reg: RegistryPeer;
    before(async () => {
      reg = await startRegistry({ tls: true });
      await pushImageAsync(image, reg, 'demo/app:v1');
      await cosignSignAsync(keys, `${reg.host}/demo/app@${image.digest}`);
    });
    after(async () => reg?.stop());

    it('resolves and verifies over https when the CA is configured', async () => {
      await resolveAndVerify(reg, { caFiles: [reg.caCert!] });
    });

    it('refuses the connection without the CA (CONNECTION_FAILED)', async () => {
      const err = await rejectsWithCode(resolveAndVerify(reg, {}), LookupError, 'CONNECTION_FAILED');
      assert.match(err.message, /certificate|self.signed|verify/i);
    });
  });
});
