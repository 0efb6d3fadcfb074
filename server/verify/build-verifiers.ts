/**
 * The verifier instances of one policy generation, built once (style.md example 5: keys and
 * certificates are parsed at build, never per request). A verifier whose material cannot be
 * loaded is kept as a broken entry that throws its ConfigError on use, so one bad verifier never
 * disables the others and never passes an image (it denies as INTERNAL_ERROR with the reason).
 *
 * Each verifier engine registers its type in FACTORIES (and in policy/verifier-support.ts).
 */
import { ConfigError } from '../errors';
import type { CompiledPolicy, VerifierConfig, VerifierType } from '../policy/compiled-policy';
import { createCosignVerifier } from './cosign/cosign-verifier';
import { createNotaryV1Verifier } from './notaryv1/notaryv1-verifier';
import { createNotationVerifier } from './notation/notation-verifier';
import type { Verifier } from './verifier';

type Factory<T extends VerifierType> = (name: string, config: Extract<VerifierConfig, { type: T }>, policy: CompiledPolicy) => Verifier;

const FACTORIES: { readonly [T in VerifierType]?: Factory<T> } = {
  cosign: (name, config) => createCosignVerifier(name, config),
  notaryv1: (name, config) => createNotaryV1Verifier(name, config),
  notation: (name, config) => createNotationVerifier(name, config),
};

/** Builds every verifier of `policy`; never throws. */
export function buildVerifiers(policy: CompiledPolicy): ReadonlyMap<string, Verifier> {
  const out = new Map<string, Verifier>();
  for (const [name, config] of policy.verifiers) {
    out.set(name, buildOne(name, config, policy));
  }
  return out;
}

/** Builds one verifier; throws ConfigError when its material cannot be loaded (what buildVerifiers keeps as a broken entry). */
export function createVerifier(name: string, config: VerifierConfig, policy: CompiledPolicy): Verifier {
  const factory = FACTORIES[config.type] as Factory<VerifierType> | undefined;
  if (!factory) {
    throw new ConfigError('CONFIG_INVALID', [{ path: `verifiers.${name}.type`, message: `verifier type "${config.type}" is not implemented in this build` }]);
  }
  return factory(name, config as never, policy);
}

function buildOne(name: string, config: VerifierConfig, policy: CompiledPolicy): Verifier {
  try {
    return createVerifier(name, config, policy);
  } catch (err) {
    const error = err instanceof ConfigError ? err : new ConfigError('CONFIG_INVALID', [{ path: `verifiers.${name}`, message: (err as Error).message }], err);
    return brokenVerifier(name, config.type, error);
  }
}

function brokenVerifier(name: string, type: VerifierType, error: ConfigError): Verifier {
  return {
    name,
    type,
    async verify() {
      throw error;
    },
  };
}
