import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileRegistryAllowlist,
  normalizeRegistryHost,
  parseRegistryEntry,
} from '../../../server/policy/registry-allowlist';

describe('compileRegistryAllowlist', () => {
  describe('allows', () => {
    const table: Array<[entries: string[], host: string, allowed: boolean, why: string]> = [
      [['docker.io'], 'docker.io', true, 'exact host'],
      [['docker.io'], 'docker.io.evil.com', false, 'a longer host is another host (gatekeeper-library #80)'],
      [['docker.io'], 'evildocker.io', false, 'no substring or suffix match'],
      [['docker.io'], 'io', false, 'no prefix of the entry'],
      [['docker.io'], 'docker.io:443', false, 'the port is part of the identity'],
      [['docker.io'], 'index.docker.io', true, 'Docker Hub alias is normalised on the host side too'],
      [['index.docker.io'], 'docker.io', true, 'the entry is normalised to docker.io'],
      [['registry-1.docker.io'], 'docker.io', true, 'the other Docker Hub alias'],
      [['DOCKER.IO'], 'docker.io', true, 'entries are lowercased'],
      [['*.gcr.io'], 'eu.gcr.io', true, 'one label in front'],
      [['*.gcr.io'], 'a.b.gcr.io', true, 'several labels in front'],
      [['*.gcr.io'], 'gcr.io', false, 'the wildcard needs at least one label'],
      [['*.gcr.io'], 'evilgcr.io', false, 'whole labels only'],
      [['*.gcr.io'], 'gcr.io.evil.com', false, 'the suffix must be at the end'],
      [['*.gcr.io'], 'eu.gcr.io.evil.com', false, 'the suffix must be at the end'],
      [['*.gcr.io'], 'eu.gcr.io:5000', false, 'a wildcard without a port matches no port'],
      [['*.example.com:5000'], 'a.example.com:5000', true, 'same port'],
      [['*.example.com:5000'], 'a.example.com', false, 'port missing'],
      [['*.example.com:5000'], 'a.example.com:5001', false, 'other port'],
      [['*.example.com:5000'], 'example.com:5000', false, 'needs a label in front'],
      [['127.0.0.1:5000'], '127.0.0.1:5000', true, 'loopback test registry'],
      [['127.0.0.1:5000'], '127.0.0.1', false, 'port missing'],
      [['127.0.0.1:5000'], '127.0.0.1:50000', false, 'port is compared whole, not as a prefix'],
      [['localhost:5000'], 'localhost:5000', true, 'localhost with a port'],
      [['[::1]:5000'], '[::1]:5000', true, 'IPv6 literal'],
      [['[0:0:0:0:0:0:0:1]:5000'], '[::1]:5000', true, 'IPv6 entries are written the RFC 5952 way, as references are'],
      [[], 'docker.io', false, 'an empty allowlist allows nothing'],
      [['docker.io', '*.pkg.dev'], 'europe-docker.pkg.dev', true, 'second entry'],
      [['docker.io', '*.pkg.dev'], 'pkg.dev', false, 'bare domain of a wildcard'],
    ];
    for (const [entries, host, allowed, why] of table) {
      it(`${JSON.stringify(entries)} ${allowed ? 'allows' : 'refuses'} ${host} (${why})`, () => {
        assert.equal(compileRegistryAllowlist(entries).allows(host), allowed);
      });
    }
  });

  describe('coversHostPattern', () => {
    const table: Array<[entries: string[], hostPattern: string, covered: boolean, why: string]> = [
      [['ghcr.io'], 'ghcr.io', true, 'exact'],
      [['*.pkg.dev'], 'eu.pkg.dev', true, 'a host under the wildcard'],
      [['*.pkg.dev'], '*.pkg.dev', true, 'the same wildcard'],
      [['*.dev'], '*.pkg.dev', true, 'a wider wildcard'],
      [['*.pkg.dev'], '*.dev', false, 'a narrower wildcard does not cover a wider one'],
      [['pkg.dev'], '*.pkg.dev', false, 'an exact entry never covers a wildcard'],
      [['eu.pkg.dev'], '*.pkg.dev', false, 'one host does not cover all of them'],
      [['*.pkg.dev:5000'], '*.pkg.dev', false, 'ports differ'],
    ];
    for (const [entries, hostPattern, covered, why] of table) {
      it(`${JSON.stringify(entries)} ${covered ? 'covers' : 'does not cover'} ${hostPattern} (${why})`, () => {
        assert.equal(compileRegistryAllowlist(entries).coversHostPattern(hostPattern), covered);
      });
    }
  });

  it('keeps the normalised entries', () => {
    assert.deepEqual(compileRegistryAllowlist(['Index.Docker.io', '*.PKG.dev']).entries, ['docker.io', '*.pkg.dev']);
  });
});

describe('parseRegistryEntry', () => {
  const invalid: Array<[entry: string, why: string]> = [
    ['', 'empty'],
    ['*', 'a bare wildcard'],
    ['*.', 'nothing after the wildcard'],
    ['**.gcr.io', 'double star'],
    ['ghc*.io', 'a star inside a label'],
    ['a.*.b', 'a star in the middle'],
    ['*.0.0.1', 'a wildcard over an IP address'],
    ['docker.io/library', 'a path is not a host'],
    ['https://docker.io', 'a URL is not a host'],
    ['host:0', 'port 0'],
    ['host:65536', 'port out of range'],
    ['host:05000', 'leading zero in the port'],
    ['host:', 'empty port'],
    ['exa mple.com', 'a space'],
    ['-bad.com', 'a label starting with "-"'],
    ['bad-.com', 'a label ending with "-"'],
    ['a..b', 'an empty label'],
    [`${'a'.repeat(64)}.com`, 'a label over 63 characters'],
    ['[::1::2]:5000', 'not an IPv6 address'],
  ];
  for (const [entry, why] of invalid) {
    it(`refuses ${JSON.stringify(entry)} (${why})`, () => {
      const r = parseRegistryEntry(entry);
      assert.equal(r.ok, false);
    });
  }

  it('parses a wildcard with a port into labels and port', () => {
    const r = parseRegistryEntry('*.Example.com:5000');
    assert.ok(r.ok);
    assert.deepEqual(r.value, { kind: 'wildcard', text: '*.example.com:5000', suffixLabels: ['example', 'com'], port: '5000' });
  });
});

describe('normalizeRegistryHost', () => {
  it('folds Docker Hub aliases into docker.io', () => {
    assert.equal(normalizeRegistryHost('Index.Docker.IO'), 'docker.io');
    assert.equal(normalizeRegistryHost('registry-1.docker.io'), 'docker.io');
  });
  it('leaves an alias with a port alone (the distribution normaliser does)', () => {
    assert.equal(normalizeRegistryHost('index.docker.io:443'), 'index.docker.io:443');
  });
  it('lowercases other hosts', () => {
    assert.equal(normalizeRegistryHost('GHCR.io'), 'ghcr.io');
  });
});
