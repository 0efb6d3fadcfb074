import type { CompiledPolicy } from '../policy/compiled-policy';

/**
 * Break-glass (config.md "Break-glass"): applies only when enabled, the annotation is present with
 * a non-empty value, and the review's namespace is listed. Returns the justification, or undefined.
 */
export function breakGlassJustification(
  policy: CompiledPolicy,
  annotations: Readonly<Record<string, string>>,
  namespace: string,
): string | undefined {
  const bg = policy.breakGlass;
  if (!bg.enabled) return undefined;
  const value = Object.prototype.hasOwnProperty.call(annotations, bg.annotation) ? annotations[bg.annotation] : undefined;
  if (value === undefined || value.trim() === '') return undefined;
  if (!bg.matchesNamespace(namespace)) return undefined;
  return value;
}

/** The annotation value that can change the decision: part of the decision cache key. */
export function breakGlassKeyPart(policy: CompiledPolicy, annotations: Readonly<Record<string, string>>): string {
  const bg = policy.breakGlass;
  if (!bg.enabled) return '';
  return Object.prototype.hasOwnProperty.call(annotations, bg.annotation) ? (annotations[bg.annotation] ?? '') : '';
}
