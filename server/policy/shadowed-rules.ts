/**
 * Rules that can never decide anything because earlier rules always match first (config.md:
 * "the FIRST rule whose images and namespaces both match decides"). `config validate` prints
 * these as warnings (interfaces.md). Conservative: a rule is reported only when coverage is
 * proven, e.g. an earlier `**`, an identical pattern, or `ghcr.io/acme/**` over
 * `ghcr.io/acme/x/*`; an earlier rule without `namespaces` covers every namespace.
 *
 * A rule is shadowed when each of its image patterns is covered by some earlier rule whose
 * namespaces cover all of this rule's namespaces. Then any image/namespace pair this rule matches
 * is matched by that earlier rule first. Usually one rule covers everything (`shadowedBy`);
 * when it takes several, they are all listed in `coveredBy`.
 */
import type { CompiledPolicy, CompiledRule } from './compiled-policy';
import { imagePatternCovers, parseImagePattern, type ImagePattern } from './image-pattern';
import { namespacePatternsCover } from './namespace-pattern';

export interface ShadowedRule {
  /** The rule that can never match. */
  readonly rule: CompiledRule;
  /** The first earlier rule involved; when one rule covers everything, that rule. */
  readonly shadowedBy: CompiledRule;
  /** Every earlier rule needed to cover this one, in order (`shadowedBy` first). */
  readonly coveredBy: readonly CompiledRule[];
  readonly message: string;
}

function patternsOf(rule: CompiledRule): ImagePattern[] {
  return rule.imagePatterns.flatMap((text) => {
    const parsed = parseImagePattern(text);
    return parsed.ok ? [parsed.value] : [];
  });
}

/** Lists the rules of `policy` that an earlier rule (or earlier rules together) always wins over. */
export function findShadowedRules(policy: Pick<CompiledPolicy, 'rules'>): ShadowedRule[] {
  const patterns = new Map(policy.rules.map((r) => [r, patternsOf(r)] as const));
  const of = (r: CompiledRule): ImagePattern[] => patterns.get(r) ?? [];
  const found: ShadowedRule[] = [];

  policy.rules.forEach((rule, j) => {
    const own = of(rule);
    if (own.length === 0) return;
    const earlier = policy.rules
      .slice(0, j)
      .filter((e) => namespacePatternsCover(e.namespacePatterns, rule.namespacePatterns));

    // Prefer one earlier rule that covers every pattern.
    const single = earlier.find((e) => own.every((p) => of(e).some((w) => imagePatternCovers(w, p))));
    if (single) {
      found.push({
        rule,
        shadowedBy: single,
        coveredBy: [single],
        message: `rule "${rule.name}" (rules[${j}]) can never match: rule "${single.name}" (rules[${policy.rules.indexOf(single)}]) comes first and matches every image and namespace it does`,
      });
      return;
    }

    // Otherwise several earlier rules may cover the patterns between them.
    const covering: CompiledRule[] = [];
    for (const p of own) {
      const by = earlier.find((e) => of(e).some((w) => imagePatternCovers(w, p)));
      if (!by) return;
      if (!covering.includes(by)) covering.push(by);
    }
    covering.sort((a, b) => policy.rules.indexOf(a) - policy.rules.indexOf(b));
    const first = covering[0];
    if (!first) return;
    found.push({
      rule,
      shadowedBy: first,
      coveredBy: covering,
      message: `rule "${rule.name}" (rules[${j}]) can never match: earlier rules ${covering
        .map((c) => `"${c.name}" (rules[${policy.rules.indexOf(c)}])`)
        .join(', ')} together match every image and namespace it does`,
    });
  });
  return found;
}
