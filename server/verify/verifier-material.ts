/**
 * The key and certificate material of every verifier of a policy, checked the way the verifiers
 * are built (build-verifiers.ts), for `config validate`: a file that cannot be read, a PEM that
 * is not a key or certificate, a trust store certificate that is not a CA, a trusted identity
 * that does not parse. Loading a policy only checks its shape (schema.ts, cross-checks.ts); the
 * material is read when the verifiers are built, where a bad one denies the images of the rules
 * that use it (build-verifiers.ts). Reporting it here means an operator sees it before that.
 *
 * Notation verifiers also get warnings (notation/trust-material.ts): certificates outside their
 * validity period now, which are not errors by themselves.
 */
import { ConfigError, type ConfigIssue } from '../errors';
import type { CompiledPolicy } from '../policy/compiled-policy';
import { createVerifier } from './build-verifiers';
import { inspectNotationMaterial } from './notation/trust-material';

export interface VerifierMaterialReport {
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/** Every material problem of `policy`'s verifiers; never throws for bad material. */
export function checkVerifierMaterial(policy: CompiledPolicy, now: Date): VerifierMaterialReport {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  for (const [name, config] of policy.verifiers) {
    if (config.type === 'notation') {
      const report = inspectNotationMaterial(name, config, now);
      errors.push(...report.errors);
      warnings.push(...report.warnings);
      continue;
    }
    try {
      createVerifier(name, config, policy);
    } catch (err) {
      if (err instanceof ConfigError) errors.push(...err.issues);
      else errors.push({ path: `verifiers.${name}`, message: (err as Error).message });
    }
  }
  return { errors, warnings };
}
