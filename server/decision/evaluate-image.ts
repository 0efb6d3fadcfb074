import { BaseError, ImageReferenceError, LookupError, VerificationError } from '../errors';
import type { CompiledPolicy, CompiledRule } from '../policy/compiled-policy';
import { parseReference } from '../reference/parse';
import { canonicalName, type Reference } from '../reference/reference';
import { DeadlineExceeded, raceSignal } from './deadline';
import type { ImageVerdict, Step, VerdictCode } from './image-verdict';
import type { DecisionObserver, ImageLookups } from './ports';
import { describeLookupFailure } from './reasons';

export interface EvaluationContext {
  readonly policy: CompiledPolicy;
  readonly namespace: string;
  readonly lookups: ImageLookups;
  readonly observer: DecisionObserver;
  readonly signal: AbortSignal;
  /** Break-glass in force for this review: lookups are skipped, violations only recorded. */
  readonly breakGlass: boolean;
}

/**
 * One image, in config.md's evaluation order: reference → registry allowlist → first matching
 * rule → action → requireDigest / allowLatest → resolveTags → every verifier. The first failing
 * step decides. This is the one place that turns thrown errors into a verdict
 * (style.md "Error model"); nothing escapes it.
 *
 * Synchronous when no lookup is needed: every image of a policy-only rule (and every image denied
 * before its lookups) is decided in the same turn, without a promise; only an image whose rule
 * resolves tags or verifies signatures gets a promise (BENCHMARKS.md: promises and microtasks
 * were a visible share of an uncached review).
 */
export function evaluateImageNow(image: string, ctx: EvaluationContext): ImageVerdict | Promise<ImageVerdict> {
  let local: ImageVerdict | NeedsLookups;
  try {
    local = localSteps(image, ctx);
  } catch (err) {
    return internalErrorVerdict(image, err, ctx);
  }
  if (!(local instanceof NeedsLookups)) return local;
  return lookupSteps(image, local, ctx).catch((err: unknown) => internalErrorVerdict(image, err, ctx));
}

function internalErrorVerdict(image: string, err: unknown, ctx: EvaluationContext): ImageVerdict {
  ctx.observer.internalError(err, { image });
  return verdict(image, undefined, undefined, {
    step: 'internal',
    code: 'INTERNAL_ERROR',
    detail: 'internal error while evaluating the image (see the imagegate log); denied',
  });
}

/** Steps 1–5 passed and the rule resolves tags or verifies: what the lookups start from. */
class NeedsLookups {
  constructor(readonly ref: Reference, readonly rule: CompiledRule) {}
}

/** Steps 1–5 and whatever needs no lookup: a verdict, or the lookups still to make. */
function localSteps(image: string, ctx: EvaluationContext): ImageVerdict | NeedsLookups {
  const { policy } = ctx;

  // Step 1: parse and normalise (config.md "Image references"); an unparseable reference denies.
  let ref: Reference;
  try {
    ref = parseReference(image);
  } catch (err) {
    if (!(err instanceof ImageReferenceError)) throw err;
    return verdict(image, undefined, undefined, {
      step: 'reference',
      code: 'INVALID_REFERENCE',
      detail: err.message.startsWith('invalid image reference') ? err.message : `invalid image reference: ${err.message}`,
    });
  }

  // Step 2: the registry allowlist, on the normalised host (exact host[:port] or "*." labels).
  if (!policy.registryAllowed(ref.registry)) {
    return verdict(image, ref, undefined, {
      step: 'registry',
      code: 'REGISTRY_NOT_ALLOWED',
      detail: `registry "${ref.registry}" is not in the allowed registries (${policy.registries.join(', ') || 'none'})`,
    });
  }

  // Step 3: the first rule whose images and namespaces both match decides.
  const rule = policy.rules.find((r) => r.matchesImage(ref.repository) && r.matchesNamespace(ctx.namespace));
  if (!rule) {
    if (policy.defaultAction === 'allow') {
      return verdict(image, ref, undefined, { step: 'rule', code: 'ALLOWED', detail: '' });
    }
    return verdict(image, ref, undefined, {
      step: 'rule',
      code: 'NO_MATCHING_RULE',
      detail: `no rule matches ${ref.repository} in namespace "${ctx.namespace}" and defaultAction is deny`,
    });
  }

  const outcome = localRuleSteps(ref, rule, ctx);
  return outcome === undefined ? new NeedsLookups(ref, rule) : ruleVerdict(image, ref, rule, outcome, ctx);
}

/** Steps 6–7 (resolveTags, every verifier) and the verdict. */
async function lookupSteps(image: string, { ref, rule }: NeedsLookups, ctx: EvaluationContext): Promise<ImageVerdict> {
  return ruleVerdict(image, ref, rule, await lookupRuleSteps(ref, rule, ctx), ctx);
}

/** The verdict of the matched rule's outcome: failurePolicy: open and audit mode applied. */
function ruleVerdict(image: string, ref: Reference, rule: CompiledRule, outcome: RuleOutcome, ctx: EvaluationContext): ImageVerdict {
  if (!outcome.violation) {
    return verdict(image, ref, rule, { step: 'verify', code: 'ALLOWED', detail: '', digest: outcome.digest });
  }
  // The digest a tag resolved to stays on the verdict when a later step fails (audit record).
  const violation: Violation = { ...outcome.violation, digest: outcome.violation.digest ?? outcome.digest };
  if (violation.failedOpen) {
    ctx.observer.failedOpen(image, rule.name, violation.detail);
    return { ...verdict(image, ref, rule, violation), allowed: true, failedOpen: true };
  }
  if (rule.mode === 'audit') {
    // Audit mode never changes allowed to false (config.md "Audit mode").
    return { ...verdict(image, ref, rule, violation), allowed: true, audited: true };
  }
  return verdict(image, ref, rule, violation);
}

interface Violation {
  step: Step;
  code: VerdictCode;
  detail: string;
  digest?: string | undefined;
  failedOpen?: boolean;
}

interface RuleOutcome {
  /** Undefined when the image passes every step of the rule. */
  violation: Violation | undefined;
  /** The digest that was checked: pinned, or resolved from the tag. */
  digest: string | undefined;
}

const fail = (violation: Violation, digest: string | undefined): RuleOutcome => ({ violation, digest });
const pass = (digest: string | undefined): RuleOutcome => ({ violation: undefined, digest });

/** Steps 4–5 of the matched rule, and its outcome when it needs no lookup; undefined when it does. */
function localRuleSteps(ref: Reference, rule: CompiledRule, ctx: EvaluationContext): RuleOutcome | undefined {
  if (rule.action === 'deny') {
    return fail({ step: 'action', code: 'RULE_DENIES', detail: "the rule's action is deny" }, ref.digest);
  }
  if (rule.requireDigest && !ref.digest) {
    return fail({
      step: 'requireDigest',
      code: 'DIGEST_REQUIRED',
      detail: 'requireDigest: the image must be pinned by digest (image@sha256:<64 hex>)',
    }, ref.digest);
  }
  if (!rule.allowLatest && !ref.digest && ref.tag === 'latest') {
    return fail({
      step: 'allowLatest',
      code: 'LATEST_NOT_ALLOWED',
      detail: ref.tagImplied
        ? 'allowLatest: an image without a tag means :latest, which is not allowed; use a version tag or a digest'
        : 'allowLatest: the tag "latest" is not allowed; use a version tag or a digest',
    }, ref.digest);
  }
  if (rule.verify.length === 0 && !rule.resolveTags) return pass(ref.digest);
  if (ctx.breakGlass) {
    // Break-glass skips lookups: an emergency must not wait on the registry it may be routing around.
    return fail({ step: rule.verify.length ? 'verify' : 'resolveTags', code: 'LOOKUPS_SKIPPED', detail: 'lookups skipped under break-glass' }, ref.digest);
  }
  return undefined;
}

/** Steps 6–7 for a rule that resolves tags or verifies (localRuleSteps returned undefined). */
async function lookupRuleSteps(ref: Reference, rule: CompiledRule, ctx: EvaluationContext): Promise<RuleOutcome> {
  let digest = ref.digest;
  if (!digest && rule.resolveTags) {
    try {
      digest = await raceSignal(ctx.lookups.resolveTag(ctx.policy, ref, ctx.signal), ctx.signal);
    } catch (err) {
      return fail(lookupViolation('resolveTags', err, ctx), ref.digest);
    }
  }
  if (rule.verify.length === 0) return pass(digest);
  if (!digest) {
    return fail({
      step: 'verify',
      code: 'DIGEST_REQUIRED',
      detail: 'verify: signatures are checked on a digest; pin the image by digest or set resolveTags: true',
    }, ref.digest);
  }
  for (const name of rule.verify) {
    try {
      await raceSignal(ctx.lookups.verify(ctx.policy, name, ref, digest, ctx.signal), ctx.signal);
    } catch (err) {
      return fail(lookupViolation('verify', err, ctx, name), digest);
    }
  }
  return pass(digest);
}

function lookupViolation(step: Step, err: unknown, ctx: EvaluationContext, verifier?: string): Violation {
  if (err instanceof DeadlineExceeded) {
    return {
      step: 'deadline',
      code: 'REVIEW_DEADLINE_EXCEEDED',
      detail: `${err.message} while ${step === 'verify' ? `running verifier "${verifier}"` : 'resolving the tag'}`,
      failedOpen: ctx.policy.failurePolicy === 'open',
    };
  }
  if (err instanceof VerificationError) {
    // The evidence is wrong: never subject to failurePolicy: open.
    return { step, code: err.code, detail: describeLookupFailure(step, err, verifier) };
  }
  if (err instanceof LookupError) {
    return {
      step,
      code: err.code,
      detail: describeLookupFailure(step, err, verifier),
      failedOpen: ctx.policy.failurePolicy === 'open',
    };
  }
  if (err instanceof BaseError) {
    return { step, code: 'INTERNAL_ERROR', detail: describeLookupFailure(step, err, verifier) };
  }
  throw err;
}

function verdict(
  image: string,
  ref: Reference | undefined,
  rule: CompiledRule | undefined,
  v: Violation,
): ImageVerdict {
  return {
    image,
    normalized: ref ? sameStringOr(image, canonicalName(ref)) : undefined,
    digest: v.digest ?? ref?.digest,
    rule: rule?.name,
    allowed: v.code === 'ALLOWED',
    step: v.step,
    code: v.code,
    detail: v.detail,
    audited: false,
    failedOpen: false,
    brokeGlass: false,
  };
}

/**
 * `image` itself when the pod already wrote the canonical form (any digest-pinned or fully
 * qualified reference), else `canonical`: a verdict is kept in the decision cache for its TTL, and
 * holding one copy of the reference instead of two is ~120 bytes less per cached decision
 * (BENCHMARKS.md, issue 5's memory scenario).
 */
function sameStringOr(image: string, canonical: string): string {
  return canonical === image ? image : canonical;
}
