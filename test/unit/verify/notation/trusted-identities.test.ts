import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdentityError, formatDn, identityMatches, parseDistinguishedName, parseTrustedIdentities } from '../../../../server/verify/notation/trusted-identities';

const dn = (s: string) => parseDistinguishedName(s);

describe('notation trusted identities (Notary Project trust policy semantics)', () => {
  it('parses an RFC 4514 DN, ignoring spacing around separators', () => {
    assert.deepEqual([...dn('C=US,  ST = WA ,O=Acme, CN=release')], [['C', 'US'], ['ST', 'WA'], ['O', 'Acme'], ['CN', 'release']]);
  });

  it('decodes escapes and hex pairs, keeps inner spaces', () => {
    assert.equal(dn('C=US, ST=WA, O=Acme\\, Inc., CN=a\\2Bb c').get('O'), 'Acme, Inc.');
    assert.equal(dn('C=US, ST=WA, O=x, CN=a\\2Bb c').get('CN'), 'a+b c');
  });

  it('matches regardless of attribute order', () => {
    assert.ok(identityMatches(dn('CN=release, O=Acme, ST=WA, C=US'), dn('C=US, ST=WA, O=Acme, CN=release')));
  });

  it('never matches a substring, a prefix or another case', () => {
    const leaf = dn('C=US, ST=WA, O=Acme, CN=release');
    assert.equal(identityMatches(dn('C=US, ST=WA, O=Acme, CN=releas'), leaf), false);
    assert.equal(identityMatches(dn('C=US, ST=WA, O=Acme, CN=release-2'), leaf), false);
    assert.equal(identityMatches(dn('C=US, ST=WA, O=acme, CN=release'), leaf), false);
  });

  it('requires every named attribute; the leaf may carry more (notation IsSubsetDN)', () => {
    const leaf = dn('C=US, ST=WA, L=Seattle, O=Acme, CN=release');
    assert.ok(identityMatches(dn('C=US, ST=WA, O=Acme, CN=release'), leaf));
    assert.equal(identityMatches(dn('C=US, ST=WA, O=Acme, OU=Build, CN=release'), leaf), false);
  });

  it('refuses identities without C, ST, O, with repeats, multi-valued RDNs or unknown prefixes', () => {
    assert.throws(() => parseTrustedIdentities(['x509.subject: CN=release']), IdentityError);
    assert.throws(() => parseTrustedIdentities(['x509.subject: C=US, ST=WA, O=A, O=B']), IdentityError);
    assert.throws(() => parseTrustedIdentities(['x509.subject: C=US, ST=WA, O=A+CN=x']), IdentityError);
    assert.throws(() => parseTrustedIdentities(['CN=release']), IdentityError);
    assert.throws(() => parseTrustedIdentities(['*', 'x509.subject: C=US, ST=WA, O=A']), IdentityError);
    assert.throws(() => parseTrustedIdentities(['x509.subject: C=US, ST=WA, O=']), IdentityError);
  });

  it('"*" alone means any identity', () => {
    assert.deepEqual(parseTrustedIdentities(['*']), { any: true });
  });

  it('formats a DN for reasons', () => {
    assert.equal(formatDn(dn('C=US,ST=WA,O=Acme\\, Inc.,CN=x')), 'C=US, ST=WA, O=Acme\\, Inc., CN=x');
  });
});
