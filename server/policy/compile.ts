/**
 * Validated config → immutable CompiledPolicy (style.md habit 5: validate and compile once, serve
 * many). Matchers are built here once; the review path never parses a pattern. Everything
 * returned is frozen, and the verifier map is read-only, so a policy snapshot cannot change
 * while it is in force (style.md anti-pattern 4).
 *
 * Units: timeouts in milliseconds, cache TTLs in seconds (the schema yields milliseconds).
 * Relative file paths are resolved against `baseDir` (the policy file's folder); cross-checks
 * refuse them when there is none.
 */
import { resolve } from 'node:path';
import type {
  CompiledPolicy,
  CompiledRule,
  PemSource,
  RootKeySource,
  VerifierConfig,
} from './compiled-policy';
import { compileImagePattern } from './image-pattern';
import { compileNamespacePatterns } from './namespace-pattern';
import { compileRegistryAllowlist } from './registry-allowlist';
import type { PolicyConfig, RuleConfig, VerifierSettings } from './schema';

export interface CompileOptions {
  /** Folder relative file paths are resolved against. */
  readonly baseDir?: string | undefined;
}

/** A Map that cannot be changed after construction (Object.freeze does not stop Map#set). */
class ReadonlyMapView<K, V> implements ReadonlyMap<K, V> {
  readonly #map: Map<K, V>;
  constructor(entries: Iterable<readonly [K, V]>) {
    this.#map = new Map(entries);
    Object.freeze(this);
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: K): V | undefined {
    return this.#map.get(key);
  }
  has(key: K): boolean {
    return this.#map.has(key);
  }
  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    this.#map.forEach((v, k) => callback.call(thisArg, v, k, this));
  }
  entries(): MapIterator<[K, V]> {
    return this.#map.entries();
  }
  keys(): MapIterator<K> {
    return this.#map.keys();
  }
  values(): MapIterator<V> {
    return this.#map.values();
  }
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#map[Symbol.iterator]();
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Builds the frozen CompiledPolicy for one generation. Input must have passed schema and cross-checks. */
export function compilePolicy(
  config: PolicyConfig,
  source: string,
  generation: number,
  options: CompileOptions = {},
): CompiledPolicy {
  const file = (p: string): string => (options.baseDir !== undefined ? resolve(options.baseDir, p) : p);
  const pem = (s: PemSource): PemSource => ('file' in s ? { file: file(s.file) } : { pem: s.pem });
  const rootKey = (s: RootKeySource): RootKeySource => ('keyID' in s ? { keyID: s.keyID } : pem(s));

  const allowlist = compileRegistryAllowlist(config.registries);
  const breakGlassNamespaces = compileNamespacePatterns(config.breakGlass.namespaces);

  const rules = config.rules.map((rule, index) => compileRule(rule, index));
  const policy: CompiledPolicy = {
    generation,
    source,
    registries: allowlist.entries,
    registryAllowed: allowlist.allows,
    defaultAction: config.defaultAction,
    failurePolicy: config.failurePolicy,
    rules,
    mayLookUp: rules.some((r) => r.resolveTags || r.verify.length > 0),
    verifiers: new ReadonlyMapView(
      Object.entries(config.verifiers).map(([name, v]) => [name, deepFreeze(compileVerifier(v, pem, rootKey))] as const),
    ),
    transport: { caFiles: config.transport.caFiles.map(file), plainHTTP: [...config.transport.plainHTTP] },
    credentialsFile: config.credentials ? file(config.credentials.file) : undefined,
    breakGlass: {
      enabled: config.breakGlass.enabled,
      annotation: config.breakGlass.annotation,
      namespaces: [...config.breakGlass.namespaces],
      // Empty = nowhere, even when enabled (config.md "breakGlass").
      matchesNamespace: breakGlassNamespaces.matches,
    },
    cache: {
      allowTTLSeconds: config.cache.allowTTL / 1000,
      denyTTLSeconds: config.cache.denyTTL / 1000,
      tagTTLSeconds: config.cache.tagTTL / 1000,
      verifyTTLSeconds: config.cache.verifyTTL / 1000,
      maxEntries: config.cache.maxEntries,
    },
    timeouts: { reviewMs: config.timeouts.review, lookupMs: config.timeouts.lookup },
  };
  return deepFreeze(policy);
}

function compileRule(rule: RuleConfig, index: number): CompiledRule {
  const images = rule.images.map((p) => compileImagePattern(p));
  const namespaces = rule.namespaces ? compileNamespacePatterns(rule.namespaces) : undefined;
  return {
    name: rule.name,
    index,
    imagePatterns: [...rule.images],
    namespacePatterns: rule.namespaces ? [...rule.namespaces] : undefined,
    matchesImage: (repository: string) => images.some((m) => m.matches(repository)),
    // Absent = all namespaces (config.md "rules[].namespaces").
    matchesNamespace: namespaces ? namespaces.matches : () => true,
    action: rule.action,
    requireDigest: rule.requireDigest,
    allowLatest: rule.allowLatest,
    resolveTags: rule.resolveTags,
    verify: [...rule.verify],
    mode: rule.mode,
  };
}

function compileVerifier(
  v: VerifierSettings,
  pem: (s: PemSource) => PemSource,
  rootKey: (s: RootKeySource) => RootKeySource,
): VerifierConfig {
  switch (v.type) {
    case 'cosign':
      return {
        type: 'cosign',
        publicKeys: v.publicKeys.map(pem),
        annotations: { ...v.annotations },
        matchReference: v.matchReference,
      };
    case 'notaryv1':
      return {
        type: 'notaryv1',
        server: v.server,
        gun: v.gun,
        rootKeys: v.rootKeys.map(rootKey),
        delegations: [...v.delegations],
      };
    case 'notation':
      return {
        type: 'notation',
        trustStore: v.trustStore.map(pem),
        trustedIdentities: [...v.trustedIdentities],
        verificationLevel: v.verificationLevel,
        maxSignatures: v.maxSignatures,
        ...(v.tsaTrustStore ? { tsaTrustStore: v.tsaTrustStore.map(pem) } : {}),
        verifyTimestamp: v.verifyTimestamp,
      };
  }
}
