import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileNamespacePatterns,
  matchesNamespacePattern,
  namespacePatternsCover,
  parseNamespacePattern,
} from '../../../server/policy/namespace-pattern';

describe('matchesNamespacePattern', () => {
  const table: Array<[pattern: string, namespace: string, matches: boolean, why: string]> = [
    ['kube-system', 'kube-system', true, 'literal'],
    ['kube-system', 'kube-system2', false, 'whole-string match, no prefix'],
    ['kube-system', 'xkube-system', false, 'whole-string match, no suffix'],
    ['kube-*', 'kube-system', true, 'prefix glob'],
    ['kube-*', 'kube-', true, '* matches an empty run'],
    ['kube-*', 'mykube-system', false, 'anchored at the start'],
    ['*-prod', 'team-a-prod', true, 'suffix glob'],
    ['*-prod', 'team-a-prod-old', false, 'anchored at the end'],
    ['team-*-prod', 'team-a-b-prod', true, 'middle glob'],
    ['*', 'anything', true, '* alone matches every namespace'],
  ];
  for (const [p, ns, matches, why] of table) {
    it(`${p} ${matches ? 'matches' : 'does not match'} ${ns} (${why})`, () => {
      assert.equal(matchesNamespacePattern(p, ns), matches);
    });
  }
});

describe('parseNamespacePattern', () => {
  for (const [p, why] of [
    ['', 'empty'],
    ['Kube-system', 'uppercase'],
    ['kube_system', 'underscore'],
    ['-kube', 'leading dash on a literal'],
    ['kube.system', 'dots are not in namespace names'],
    ['a'.repeat(64), 'longer than 63'],
    ['team/a', 'a slash'],
  ] as const) {
    it(`refuses ${JSON.stringify(p.length > 20 ? `${p.slice(0, 20)}...` : p)} (${why})`, () => {
      assert.equal(parseNamespacePattern(p).ok, false);
    });
  }
  it('accepts names and globs', () => {
    for (const p of ['default', 'kube-system', 'team-*', '*']) assert.equal(parseNamespacePattern(p).ok, true, p);
  });
});

describe('compileNamespacePatterns', () => {
  it('matches when any glob matches', () => {
    const m = compileNamespacePatterns(['kube-system', 'team-*']);
    assert.equal(m.matches('team-a'), true);
    assert.equal(m.matches('default'), false);
  });
  it('matches nothing when empty', () => {
    assert.equal(compileNamespacePatterns([]).matches('default'), false);
  });
});

describe('namespacePatternsCover', () => {
  it('treats absent namespaces as all namespaces', () => {
    assert.equal(namespacePatternsCover(undefined, ['a']), true);
    assert.equal(namespacePatternsCover(undefined, undefined), true);
    assert.equal(namespacePatternsCover(['*'], undefined), true);
    assert.equal(namespacePatternsCover(['a'], undefined), false);
  });
  it('covers a literal with a glob that matches it, and identical globs', () => {
    assert.equal(namespacePatternsCover(['team-*'], ['team-a', 'team-*']), true);
    assert.equal(namespacePatternsCover(['team-*'], ['team-a', 'default']), false);
  });
});
