/**
 * The immutable, validated and compiled form of a policy file (config.md). Built once at load by
 * compile.ts; the review path only runs the matchers it holds (style.md example 5).
 */
export type Action = 'allow' | 'deny';
export type RuleMode = 'enforce' | 'audit';
export type FailurePolicy = 'closed' | 'open';

export interface CompiledRule {
  /** Required, unique; appears in reasons, logs and metrics. */
  readonly name: string;
  /** Position in `rules` (0-based): the first matching rule decides. */
  readonly index: number;
  /** The `images` patterns as written, for messages and `config validate`. */
  readonly imagePatterns: readonly string[];
  /** The `namespaces` globs as written; undefined = all namespaces. */
  readonly namespacePatterns: readonly string[] | undefined;
  /** True when one of `images` matches the normalised repository `host[:port]/path`. */
  matchesImage(repository: string): boolean;
  /** True when `namespaces` is absent or one of its globs matches. */
  matchesNamespace(namespace: string): boolean;
  readonly action: Action;
  readonly requireDigest: boolean;
  readonly allowLatest: boolean;
  readonly resolveTags: boolean;
  /** Names of verifiers (keys of CompiledPolicy.verifiers); all must pass. */
  readonly verify: readonly string[];
  readonly mode: RuleMode;
}

/** Key material given inline or by file: exactly one of the two. */
export type PemSource = { readonly file: string } | { readonly pem: string };

export interface CosignVerifierConfig {
  readonly type: 'cosign';
  readonly publicKeys: readonly PemSource[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly matchReference: boolean;
}

export type RootKeySource = PemSource | { readonly keyID: string };

export interface NotaryV1VerifierConfig {
  readonly type: 'notaryv1';
  readonly server: string;
  readonly gun: string | undefined;
  readonly rootKeys: readonly RootKeySource[];
  readonly delegations: readonly string[];
}

export interface NotationVerifierConfig {
  readonly type: 'notation';
  readonly trustStore: readonly PemSource[];
  readonly trustedIdentities: readonly string[];
  /** Extension beyond config.md: the trust policy's signatureVerification level (default strict). */
  readonly verificationLevel?: 'strict' | 'permissive' | 'audit';
  /** Extension beyond config.md: signatures examined per image at most (default 10). */
  readonly maxSignatures?: number;
  /**
   * Extension beyond config.md: root certificates of the RFC 3161 time-stamping authorities
   * trusted to vouch for signing times (a notation `tsa:` trust store); absent = none.
   */
  readonly tsaTrustStore?: readonly PemSource[];
  /** Extension beyond config.md: the trust policy's signatureVerification.verifyTimestamp (default always). */
  readonly verifyTimestamp?: 'always' | 'afterCertExpiry';
  readonly [extra: string]: unknown;
}

export type VerifierConfig = CosignVerifierConfig | NotaryV1VerifierConfig | NotationVerifierConfig;
export type VerifierType = VerifierConfig['type'];

export interface BreakGlassSettings {
  readonly enabled: boolean;
  /** Pod annotation key; the apiserver only forwards keys containing `.image-policy.k8s.io/`. */
  readonly annotation: string;
  readonly namespaces: readonly string[];
  /** True when the namespace is listed (globs with `*`); false when the list is empty. */
  matchesNamespace(namespace: string): boolean;
}

export interface CacheSettings {
  readonly allowTTLSeconds: number;
  readonly denyTTLSeconds: number;
  readonly tagTTLSeconds: number;
  readonly verifyTTLSeconds: number;
  readonly maxEntries: number;
}

export interface TimeoutSettings {
  readonly reviewMs: number;
  readonly lookupMs: number;
}

export interface TransportSettings {
  readonly caFiles: readonly string[];
  /** host[:port] entries reached over plain HTTP. */
  readonly plainHTTP: readonly string[];
}

export interface CompiledPolicy {
  /** Increases by one on every successful load or reload (config.md "Caching"). */
  readonly generation: number;
  /** Where it came from: a file path, or `embedded:config/default.yaml`. */
  readonly source: string;
  /** The `registries` entries as written (normalised). */
  readonly registries: readonly string[];
  /** Exact host[:port] or `*.` label match on a normalised registry host. */
  registryAllowed(host: string): boolean;
  readonly defaultAction: Action;
  readonly failurePolicy: FailurePolicy;
  readonly rules: readonly CompiledRule[];
  /** Some rule resolves tags or verifies: a review may wait on a lookup (decide-review.ts starts its deadline only then). */
  readonly mayLookUp: boolean;
  readonly verifiers: ReadonlyMap<string, VerifierConfig>;
  readonly transport: TransportSettings;
  readonly credentialsFile: string | undefined;
  readonly breakGlass: BreakGlassSettings;
  readonly cache: CacheSettings;
  readonly timeouts: TimeoutSettings;
}
