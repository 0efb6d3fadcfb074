import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileImagePattern,
  imagePatternCovers,
  matchesImagePattern,
  parseImagePattern,
  type ImagePattern,
} from '../../../server/policy/image-pattern';

function pattern(text: string): ImagePattern {
  const r = parseImagePattern(text);
  assert.ok(r.ok, `pattern ${text} should be valid`);
  return r.value;
}

describe('matchesImagePattern', () => {
  const table: Array<[pattern: string, repository: string, matches: boolean, why: string]> = [
    ['docker.io/library/*', 'docker.io/library/nginx', true, '* takes one component (config.md)'],
    ['docker.io/library/*', 'docker.io/library/a/b', false, '* never crosses "/" (config.md)'],
    ['docker.io/library/*', 'docker.io/library', false, '* needs a component'],
    ['docker.io/library/*', 'docker.io/acme/nginx', false, 'literal component differs'],
    ['ghcr.io/acme/**', 'ghcr.io/acme/x/y', true, '** takes several components (config.md)'],
    ['ghcr.io/acme/**', 'ghcr.io/acme/x', true, '** takes one component'],
    ['ghcr.io/acme/**', 'ghcr.io/acme', true, '** takes zero components: the repository itself'],
    ['ghcr.io/acme/**', 'ghcr.io/acmeevil/x', false, 'whole components, no prefix match'],
    ['ghcr.io/acme/**', 'ghcr.io.evil.com/acme/x', false, 'the host is compared whole (policy-controller ghc** bypass)'],
    ['ghcr.io/acme/**', 'ghcr.io:443/acme/x', false, 'the port is part of the host'],
    ['ghcr.io/acme/**', 'evil.io/ghcr.io/acme/x', false, 'a host inside the path is just a component'],
    ['**', 'anything.example/x/y/z', true, '** alone matches every image'],
    ['ghcr.io/acme/app-*', 'ghcr.io/acme/app-web', true, '* inside a component'],
    ['ghcr.io/acme/app-*', 'ghcr.io/acme/app-', true, '* matches an empty run'],
    ['ghcr.io/acme/app-*', 'ghcr.io/acme/app-web/x', false, '* stays inside its component'],
    ['ghcr.io/acme/app-*', 'ghcr.io/acme/xapp-web', false, 'the literal prefix is anchored'],
    ['ghcr.io/*/app', 'ghcr.io/acme/app', true, '* as a whole middle component'],
    ['ghcr.io/*/app', 'ghcr.io/a/b/app', false, '* is one component only'],
    ['ghcr.io/**/app', 'ghcr.io/app', true, '** in the middle takes zero components'],
    ['ghcr.io/**/app', 'ghcr.io/a/b/app', true, '** in the middle takes several'],
    ['ghcr.io/**/app', 'ghcr.io/a/b/app2', false, 'the last component is literal'],
    ['ghcr.io/a/**/b/**/c', 'ghcr.io/a/x/b/y/z/c', true, 'two ** with backtracking'],
    ['ghcr.io/a/**/b/**/c', 'ghcr.io/a/b/c', true, 'both ** take zero'],
    ['ghcr.io/a/**/b/**/c', 'ghcr.io/a/c/b', false, 'order matters'],
    ['ghcr.io/a*b*c', 'ghcr.io/axxbyyc', true, 'several stars in a component'],
    ['ghcr.io/a*b*c', 'ghcr.io/abc', true, 'stars match empty runs'],
    ['ghcr.io/a*b*c', 'ghcr.io/acb', false, 'pieces must appear in order'],
    ['*.pkg.dev/proj/**', 'europe-docker.pkg.dev/proj/x', true, '*. host matches whole labels in front'],
    ['*.pkg.dev/proj/**', 'pkg.dev/proj/x', false, '*. host needs a label'],
    ['*.pkg.dev/proj/**', 'evilpkg.dev/proj/x', false, '*. host compares whole labels'],
    ['127.0.0.1:5000/x/*', '127.0.0.1:5000/x/y', true, 'host with port'],
    ['127.0.0.1:5000/x/*', '127.0.0.1/x/y', false, 'port missing'],
    ['index.docker.io/library/*', 'docker.io/library/nginx', true, 'the pattern host is normalised like registries'],
  ];
  for (const [p, repository, matches, why] of table) {
    it(`${p} ${matches ? 'matches' : 'does not match'} ${repository} (${why})`, () => {
      assert.equal(matchesImagePattern(p, repository), matches);
    });
  }

  it('gives every answer of the table again when compiled patterns and repositories are interleaved', () => {
    // The split of the last repository is reused for the next call with the same one
    // (image-pattern.ts componentsOf): running the table's rows against each other in a shuffled
    // order, with repositories of equal length following each other, must change no answer.
    const compiled = new Map(table.map(([p]) => [p, compileImagePattern(p)] as const));
    const order = table.flatMap((row, i) => [row, table[(i * 7 + 3) % table.length]!, row]);
    order.push(['ghcr.io/acme/**', 'ghcr.io/acme/x', true, ''], ['ghcr.io/acme/**', 'ghcr.io/acmf/x', false, '']);
    for (const [p, repository, matches] of order) {
      assert.equal(compiled.get(p)!.matches(repository), matches, `${p} against ${repository}`);
    }
  });
});

describe('parseImagePattern', () => {
  const invalid: Array<[pattern: string, why: string]> = [
    ['', 'empty'],
    ['*', 'a wildcard host'],
    ['*/x', 'a wildcard host component'],
    ['**/x', 'a ** host component'],
    ['ghc*/x', 'a * inside the host would match ghcr.io.evil.com'],
    ['ghc**/x', 'policy-controller accepted this one'],
    ['*.*.dev/x', 'only one leading *. label'],
    ['a.*.dev/x', 'a * in the middle of the host'],
    ['ghcr.io', 'no path: a repository always has one'],
    ['nginx', 'no host: would be a docker.io path'],
    ['library/nginx', 'the first component is not a host'],
    ['docker.io/nginx', 'docker.io paths have two components after normalisation'],
    ['docker.io/*', 'could never match anything on docker.io'],
    ['ghcr.io/a**', '** inside a component'],
    ['ghcr.io/**a', '** inside a component'],
    ['ghcr.io/acme/app:1.0', 'a tag is never part of a pattern'],
    ['ghcr.io/acme/app@sha256:abc', 'a digest is never part of a pattern'],
    ['GHCR.io/x', 'uppercase'],
    ['ghcr.io/Acme/x', 'uppercase in the path'],
    ['ghcr.io//x', 'empty component'],
    ['ghcr.io/x/', 'trailing slash'],
    ['ghcr.io/x y', 'a space'],
    ['ghcr.io/_x', 'a component cannot start with a separator'],
    ['ghcr.io:99999/x', 'port out of range'],
    [`ghcr.io/${'a'.repeat(600)}`, 'too long'],
  ];
  for (const [p, why] of invalid) {
    it(`refuses ${JSON.stringify(p.length > 40 ? `${p.slice(0, 40)}...` : p)} (${why})`, () => {
      assert.equal(parseImagePattern(p).ok, false);
    });
  }

  it('normalises the host and collapses repeated **', () => {
    assert.equal(pattern('index.docker.io/library/**/**').text, 'docker.io/library/**');
  });

  it('accepts docker.io/** and docker.io/library/*', () => {
    assert.equal(pattern('docker.io/**').host, 'docker.io');
    assert.deepEqual(pattern('docker.io/library/*').path, ['library', '*']);
  });
});

describe('imagePatternCovers', () => {
  const table: Array<[wide: string, narrow: string, covers: boolean, why: string]> = [
    ['**', 'ghcr.io/x', true, '** covers everything'],
    ['**', '**', true, 'itself'],
    ['ghcr.io/x/**', '**', false, 'cannot cover every image'],
    ['ghcr.io/acme/**', 'ghcr.io/acme/x/*', true, 'x/** over x/y/*'],
    ['ghcr.io/acme/**', 'ghcr.io/acme/**', true, 'identical'],
    ['ghcr.io/acme/*', 'ghcr.io/acme/**', false, 'one component cannot cover many'],
    ['ghcr.io/acme/*', 'ghcr.io/acme/app', true, '* over a literal'],
    ['ghcr.io/acme/*', 'ghcr.io/acme/app-*', true, '* over a glob'],
    ['ghcr.io/acme/app-*', 'ghcr.io/acme/app-web', true, 'glob over a literal it matches'],
    ['ghcr.io/acme/app-*', 'ghcr.io/acme/web', false, 'glob over a literal it does not match'],
    ['ghcr.io/**', 'docker.io/x/y', false, 'other host'],
    ['*.pkg.dev/**', 'eu.pkg.dev/x', true, 'wildcard host over a host under it'],
    ['eu.pkg.dev/**', '*.pkg.dev/x', false, 'one host does not cover a wildcard host'],
    ['ghcr.io/acme/x', 'ghcr.io/acme/**', false, 'a literal does not cover **'],
    ['ghcr.io/**/x', 'ghcr.io/a/b/x', true, '** in the middle'],
    ['ghcr.io/**/x', 'ghcr.io/a/**/x', true, '** over **'],
  ];
  for (const [wide, narrow, covers, why] of table) {
    it(`${wide} ${covers ? 'covers' : 'does not cover'} ${narrow} (${why})`, () => {
      assert.equal(imagePatternCovers(pattern(wide), pattern(narrow)), covers);
    });
  }
});
