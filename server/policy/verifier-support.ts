/**
 * The verifier types this build can actually run. A policy that defines a verifier of any other
 * type is refused at load (cross-checks.ts): a verifier that cannot run must never be silently
 * passed (style.md anti-pattern 4). Each verifier engine adds its type here when it lands
 * (server/verify/cosign, notaryv1, notation).
 */
import type { VerifierType } from './compiled-policy';

export const IMPLEMENTED_VERIFIER_TYPES: ReadonlySet<VerifierType> = new Set<VerifierType>(['cosign', 'notaryv1', 'notation']);
