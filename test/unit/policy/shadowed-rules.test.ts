import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicyText } from '../../../server/policy/load';
import { findShadowedRules } from '../../../server/policy/shadowed-rules';
import { policyYaml } from './helpers';

function shadowed(rules: string): Array<[rule: string, by: string[]]> {
  const policy = loadPolicyText(policyYaml(`registries: [ghcr.io, docker.io, "*.pkg.dev"]\nrules:\n${rules}`), 'test', 1);
  return findShadowedRules(policy).map((s) => [s.rule.name, s.coveredBy.map((r) => r.name)]);
}

describe('findShadowedRules', () => {
  it('reports a rule after ** with no namespaces', () => {
    assert.deepEqual(
      shadowed(`
        - {name: all, images: ["**"]}
        - {name: later, images: ["ghcr.io/acme/*"], namespaces: [prod]}
      `),
      [['later', ['all']]],
    );
  });

  it('reports an identical pattern in the same or fewer namespaces', () => {
    assert.deepEqual(
      shadowed(`
        - {name: a, images: ["ghcr.io/acme/*"], namespaces: ["team-*", prod]}
        - {name: b, images: ["ghcr.io/acme/*"], namespaces: [team-x]}
      `),
      [['b', ['a']]],
    );
  });

  it('reports x/** covering x/y/*', () => {
    assert.deepEqual(
      shadowed(`
        - {name: a, images: ["ghcr.io/acme/**"]}
        - {name: b, images: ["ghcr.io/acme/web/*"], action: deny}
      `),
      [['b', ['a']]],
    );
  });

  it('reports a rule whose patterns are covered by several earlier rules together', () => {
    assert.deepEqual(
      shadowed(`
        - {name: a, images: ["ghcr.io/**"]}
        - {name: b, images: ["docker.io/**"]}
        - {name: c, images: ["ghcr.io/x/*", "docker.io/library/*"]}
      `),
      [['c', ['a', 'b']]],
    );
  });

  it('does not report a rule in namespaces the earlier rule does not cover', () => {
    assert.deepEqual(
      shadowed(`
        - {name: a, images: ["**"], namespaces: [kube-system]}
        - {name: b, images: ["ghcr.io/acme/*"]}
      `),
      [],
    );
  });

  it('does not report a rule with one pattern the earlier rules miss', () => {
    assert.deepEqual(
      shadowed(`
        - {name: a, images: ["ghcr.io/acme/**"]}
        - {name: b, images: ["ghcr.io/acme/x", "ghcr.io/other/x"]}
      `),
      [],
    );
  });

  it('does not report a narrower rule placed first (the usual order)', () => {
    assert.deepEqual(
      shadowed(`
        - {name: specific, images: ["ghcr.io/acme/web"]}
        - {name: general, images: ["ghcr.io/**"]}
      `),
      [],
    );
  });

  it('does not report when coverage cannot be proven (a*b vs a*)', () => {
    assert.deepEqual(
      shadowed(`
        - {name: a, images: ["ghcr.io/app-*"]}
        - {name: b, images: ["ghcr.io/app-*-web"]}
      `),
      [],
    );
  });

  it('writes a message naming both rules', () => {
    const policy = loadPolicyText(
      policyYaml(`registries: [ghcr.io]\nrules:\n  - {name: first, images: ["**"]}\n  - {name: second, images: ["ghcr.io/x/*"]}\n`),
      'test',
      1,
    );
    const [s] = findShadowedRules(policy);
    assert.ok(s);
    assert.equal(s.shadowedBy.name, 'first');
    assert.match(s.message, /second/);
    assert.match(s.message, /first/);
  });
});
