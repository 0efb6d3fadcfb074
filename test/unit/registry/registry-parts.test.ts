/**
 * The pure parts of the registry client: WWW-Authenticate parsing, token requests, credential
 * canonicalisation (exact host match, the sigstore-js #1718 lesson) and the redirect policy.
 * Everything that talks to a registry is tested against a real one in test/peers/.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { LookupError } from '../../../server/errors';
import { buildTokenRequest, parseChallenges, parseTokenResponse } from '../../../server/registry/auth-challenge';
import { CredentialStore, RegistryCredential, canonicalCredentialHost } from '../../../server/registry/credentials';
import { MAX_REDIRECTS, nextRedirect } from '../../../server/registry/redirects';

describe('parseChallenges', () => {
  it('reads a Bearer challenge with quoted parameters', () => {
    const [c] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"');
    assert.deepEqual(c, {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
    });
  });

  it('keeps commas and escaped quotes inside quoted strings', () => {
    const [c] = parseChallenges('Bearer realm="http://h/t",scope="repository:a/b:pull,push",error="insufficient_scope",note="say \\"hi\\""');
    assert.equal(c?.params['scope'], 'repository:a/b:pull,push'); // a comma inside quotes is not a separator
    assert.equal(c?.params['note'], 'say "hi"');
  });

  it('reads several challenges, in one header or several', () => {
    const one = parseChallenges('Basic realm="x", Bearer realm="https://a/t",service="s"');
    assert.deepEqual(one.map((c) => c.scheme), ['basic', 'bearer']);
    const many = parseChallenges(['Basic realm="x"', 'Bearer realm="https://a/t"']);
    assert.deepEqual(many.map((c) => c.scheme), ['basic', 'bearer']);
  });

  it('returns what parsed before a fault and never throws', () => {
    assert.deepEqual(parseChallenges('Bearer realm="unterminated'), [{ scheme: 'bearer', params: {} }]);
    assert.deepEqual(parseChallenges('=oops'), []);
    assert.deepEqual(parseChallenges(undefined), []);
  });
});

describe('buildTokenRequest', () => {
  const realm = new URL('https://auth.example/token');
  const challenge = { scheme: 'bearer', params: { realm: realm.href, service: 'reg', scope: 'repository:a/b:pull' } };

  it('asks anonymously when no credential exists', () => {
    const r = buildTokenRequest(realm, challenge, 'repository:x:pull', undefined);
    assert.equal(r.method, 'GET');
    assert.equal(r.url.href, 'https://auth.example/token?service=reg&scope=repository%3Aa%2Fb%3Apull');
    assert.deepEqual(r.headers, {});
  });

  it('sends Basic and the account with a username/password', () => {
    const r = buildTokenRequest(realm, challenge, 'repository:x:pull', new RegistryCredential('me', 'pw', ''));
    assert.equal(r.headers['authorization'], `Basic ${Buffer.from('me:pw').toString('base64')}`);
    assert.equal(r.url.searchParams.get('account'), 'me');
  });

  it('uses the refresh-token grant with an identity token', () => {
    const r = buildTokenRequest(realm, challenge, 'repository:x:pull', new RegistryCredential('', '', 'rt'));
    assert.equal(r.method, 'POST');
    const form = new URLSearchParams(r.body);
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('refresh_token'), 'rt');
    assert.equal(form.get('scope'), 'repository:a/b:pull');
  });

  it("falls back to the request's own scope when the challenge names none", () => {
    const r = buildTokenRequest(realm, { scheme: 'bearer', params: { realm: realm.href } }, 'repository:x:pull', undefined);
    assert.deepEqual(r.url.searchParams.getAll('scope'), ['repository:x:pull']);
  });
});

describe('parseTokenResponse', () => {
  it('reads token or access_token, with expires_in defaulting to 60s (token.md)', () => {
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t1","expires_in":300}')), { token: 't1', expiresInSeconds: 300 });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"access_token":"t2"}')), { token: 't2', expiresInSeconds: 60 });
  });

  it('refuses an answer without a usable token with AUTH_FAILED', () => {
    for (const body of ['not json', '{}', '{"token":""}', '{"token":"a b"}', '[]']) {
      assert.throws(() => parseTokenResponse(Buffer.from(body)), (e: unknown) => e instanceof LookupError && e.code === 'AUTH_FAILED', body);
    }
  });
});

describe('canonicalCredentialHost', () => {
  const cases: [string, string | undefined][] = [
    ['https://index.docker.io/v1/', 'docker.io'], // docker login's historical key
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['HTTPS://Ghcr.IO', 'ghcr.io'], // case folded
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000'],
    ['user@evil.example', undefined], // never a host
    ['', undefined],
  ];
  for (const [key, want] of cases) {
    it(`${JSON.stringify(key)} → ${want ?? 'no host'}`, () => assert.equal(canonicalCredentialHost(key), want));
  }
});

describe('CredentialStore', () => {
  const store = CredentialStore.parse(
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:hubpw').toString('base64') },
        'registry.io': { username: 'r', password: 'rpw' },
        'tok.example': { identitytoken: 'refresh' },
      },
    }),
    'config.json',
  );

  it('finds credentials by exact canonical host', () => {
    assert.equal(store.forHost('docker.io')?.username, 'hub');
    assert.equal(store.forHost('docker.io')?.password, 'hubpw');
    assert.equal(store.forHost('registry.io')?.password, 'rpw');
    assert.equal(store.forHost('tok.example')?.identityToken, 'refresh');
  });

  it('never matches by substring, prefix, suffix or port (sigstore-js #1718)', () => {
    for (const host of ['evilregistry.io', 'registry.io.attacker.com', 'registry.io:443', 'sub.registry.io', 'registry.i']) {
      assert.equal(store.forHost(host), undefined, host);
    }
  });

  it('never shows secrets when printed', () => {
    const c = store.forHost('registry.io');
    assert.ok(!inspect(c).includes('rpw'));
    assert.ok(!JSON.stringify({ c }).includes('rpw'));
  });

  it('refuses two spellings of one host with different secrets, and quotes no secret in errors', () => {
    const text = JSON.stringify({ auths: { 'docker.io': { auth: Buffer.from('a:s3cret').toString('base64') }, 'index.docker.io': { auth: Buffer.from('b:other').toString('base64') } } });
    assert.throws(() => CredentialStore.parse(text, 'config.json'), (e: Error) => /two different auths entries/.test(e.message) && !e.message.includes('s3cret'));
    assert.throws(() => CredentialStore.parse('{"auths": {"x": {"password": "s3cret"', 'config.json'), (e: Error) => !e.message.includes('s3cret'));
  });
});

describe('nextRedirect', () => {
  const origin = 'https://reg.example';
  const first = { url: new URL('https://reg.example/v2/a/blobs/sha256:x'), sendCredentials: true };
  const plain = () => false;
  const refused = (e: unknown) => e instanceof LookupError && e.code === 'REDIRECT_REFUSED';

  it('follows a same-origin hop with credentials', () => {
    const hop = nextRedirect(first, origin, '/v2/a/blobs/other', 1, 'same-origin-only', plain);
    assert.equal(hop.url.href, 'https://reg.example/v2/a/blobs/other');
    assert.equal(hop.sendCredentials, true);
  });

  it('refuses a cross-origin hop for manifests, referrers, tags and tokens', () => {
    assert.throws(() => nextRedirect(first, origin, 'https://cdn.example/x', 1, 'same-origin-only', plain), refused);
  });

  it('follows a cross-origin blob hop to https WITHOUT credentials, and never gives them back', () => {
    const cdn = nextRedirect(first, origin, 'https://cdn.example/blob?sig=abc', 1, 'blob', plain);
    assert.equal(cdn.sendCredentials, false);
    const back = nextRedirect(cdn, origin, 'https://reg.example/v2/again', 2, 'blob', plain);
    assert.equal(back.sendCredentials, false);
  });

  it('refuses a blob hop to plain http unless the host is in transport.plainHTTP', () => {
    assert.throws(() => nextRedirect(first, origin, 'http://cdn.example/blob', 1, 'blob', plain), refused);
    assert.equal(nextRedirect(first, origin, 'http://cdn.example/blob', 1, 'blob', (h) => h === 'cdn.example').sendCredentials, false);
  });

  it(`refuses more than ${MAX_REDIRECTS} hops, other schemes, and URLs with credentials`, () => {
    assert.throws(() => nextRedirect(first, origin, '/x', MAX_REDIRECTS + 1, 'blob', plain), refused);
    assert.throws(() => nextRedirect(first, origin, 'file:///etc/passwd', 1, 'blob', plain), refused);
    assert.throws(() => nextRedirect(first, origin, 'https://u:p@cdn.example/x', 1, 'blob', plain), refused);
    assert.throws(() => nextRedirect(first, origin, undefined, 1, 'blob', plain), refused);
  });
});
