/**
 * The zod schema of the policy file (config.md). Every object is strict: an unknown key is an
 * error, because a typo must never silently weaken a policy (config.md; style.md anti-pattern 4).
 * Defaults are exactly config.md's. Single-field checks (durations, registry entries, image and
 * namespace patterns, the break-glass annotation key) run here so that one pass lists them all;
 * rules that relate several fields live in cross-checks.ts.
 *
 * Custom issues carry `params.expected` (and sometimes `params.found`): load.ts turns them into
 * ConfigIssue {path, position, expected, found}.
 */
import { z } from 'zod';
import { parseImagePattern } from './image-pattern';
import { parseNamespacePattern } from './namespace-pattern';
import type { ParseResult } from './parse-result';
import { parseRegistryEntry, parseRegistryHost } from './registry-allowlist';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** A string checked (and normalised) by a ParseResult function; failures become custom issues. */
function checkedString<T>(check: (s: string) => ParseResult<T>) {
  return z.string().transform((s, ctx): T => {
    const r = check(s);
    if (!r.ok) {
      ctx.issues.push({ code: 'custom', message: r.message, input: s, params: { expected: r.expected } });
      return z.NEVER;
    }
    return r.value;
  });
}

function ok<T>(value: T): ParseResult<T> {
  return { ok: true, value };
}
function bad(message: string, expected: string): ParseResult<never> {
  return { ok: false, message, expected };
}

/** `30s`, `5m`, `1h`, `500ms` and combinations in that order (`1h30m`, `1m30s`, `1s500ms`). */
const DURATION = /^(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m(?!s))?(?:([0-9]{1,9})s)?(?:([0-9]{1,9})ms)?$/;
const DURATION_EXAMPLE = 'a duration string such as 30s, 5m, 1h, 500ms or 1m30s';

/** Parses a duration string into milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0) return undefined;
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const [, h, min, s, ms] = m;
  return Number(h ?? 0) * 3_600_000 + Number(min ?? 0) * 60_000 + Number(s ?? 0) * 1000 + Number(ms ?? 0);
}

/** The shortest exact duration string for `ms` (86400000 → 24h). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration string → milliseconds, within [minMs, maxMs] (maxMs exclusive when asked). */
function duration(bounds: { minMs: number; maxMs: number; maxExclusive?: boolean; why: string }) {
  return z.unknown().transform((v, ctx): number => {
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) {
      ctx.issues.push({ code: 'custom', message: 'not a duration', input: v, params: { expected: DURATION_EXAMPLE } });
      return z.NEVER;
    }
    const tooBig = bounds.maxExclusive ? ms >= bounds.maxMs : ms > bounds.maxMs;
    if (ms < bounds.minMs || tooBig) {
      const upper = bounds.maxExclusive ? `less than ${formatDuration(bounds.maxMs)}` : `at most ${formatDuration(bounds.maxMs)}`;
      ctx.issues.push({
        code: 'custom',
        message: `duration out of range (${bounds.why})`,
        input: v,
        params: { expected: `at least ${formatDuration(bounds.minMs)} and ${upper}` },
      });
      return z.NEVER;
    }
    return ms;
  });
}

/**
 * Rule and verifier names appear in denial reasons, logs and metric labels (config.md), so they
 * are short and plain: letters, digits, `.`, `_`, `-`, at most 63 characters.
 */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const NAME_EXPECTED = 'a name of letters, digits, ".", "_", "-" (at most 63, starting and ending with a letter or digit)';
export const NameSchema = checkedString((s) => (NAME.test(s) ? ok(s) : bad('not a valid name', NAME_EXPECTED)));

/** PATH_MAX on Linux. Relative paths are resolved against the policy file's folder (compile.ts). */
const MAX_PATH = 4096;
export const FilePathSchema = checkedString((s) =>
  s.length > 0 && s.length <= MAX_PATH && !s.includes('\0') ? ok(s) : bad('not a file path', `a file path of 1-${MAX_PATH} characters`),
);

/** Inline PEM text; 64 KiB is far above any key or certificate chain a policy needs. */
const MAX_PEM = 64 * 1024;
const PemTextSchema = checkedString((s) =>
  s.length <= MAX_PEM && s.includes('-----BEGIN ') && s.includes('-----END ')
    ? ok(s)
    : bad('not PEM text', `PEM text (-----BEGIN ...----- ... -----END ...-----), at most ${MAX_PEM} bytes`),
);

/** Exactly one of the listed keys must be present (style.md habit 9: one-of checks by name). */
function exactlyOne<T extends Record<string, unknown>>(v: T, keys: readonly (keyof T & string)[], ctx: z.RefinementCtx<T>): boolean {
  const given = keys.filter((k) => v[k] !== undefined);
  if (given.length === 1) return true;
  ctx.issues.push({
    code: 'custom',
    message: `exactly one of ${keys.join(', ')} is required`,
    input: v,
    params: { expected: `exactly one of ${keys.map((k) => `{${k}: ...}`).join(' or ')}`, found: given.length === 0 ? 'none of them' : given.join(' and ') },
  });
  return false;
}

/** Key material: `{file: path}` or `{pem: text}`, exactly one. */
export const PemSourceSchema = z
  .strictObject({ file: FilePathSchema.optional(), pem: PemTextSchema.optional() })
  .transform((v, ctx): { file: string } | { pem: string } => {
    if (!exactlyOne(v, ['file', 'pem'], ctx)) return z.NEVER;
    return v.file !== undefined ? { file: v.file } : { pem: v.pem ?? '' };
  });

/** A TUF / notary key id: 64 hex digits (sha256), normalised to lowercase. */
const KeyIdSchema = checkedString((s) =>
  /^[0-9a-fA-F]{64}$/.test(s) ? ok(s.toLowerCase()) : bad('not a key id', '64 hexadecimal digits (the TUF or notary canonical key id)'),
);

/** A notary v1 pinned root: a PEM source, or a key id. */
export const RootKeySourceSchema = z
  .strictObject({ file: FilePathSchema.optional(), pem: PemTextSchema.optional(), keyID: KeyIdSchema.optional() })
  .transform((v, ctx): { file: string } | { pem: string } | { keyID: string } => {
    if (!exactlyOne(v, ['file', 'pem', 'keyID'], ctx)) return z.NEVER;
    if (v.file !== undefined) return { file: v.file };
    if (v.pem !== undefined) return { pem: v.pem };
    return { keyID: v.keyID ?? '' };
  });

// ---------------------------------------------------------------------------------------------
// Verifiers

export const CosignVerifierSchema = z.strictObject({
  type: z.literal('cosign'),
  publicKeys: z.array(PemSourceSchema).min(1),
  annotations: z.record(z.string().min(1), z.string()).default({}),
  matchReference: z.boolean().default(false),
});

/** The notary server must be https (config.md); credentials in the URL are refused (they would be logged). */
const HttpsUrlSchema = checkedString((s) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return bad('not a URL', 'an https:// URL');
  }
  if (url.protocol !== 'https:') return bad('the trust server must be reached over https', 'an https:// URL');
  if (url.username || url.password) return bad('credentials do not belong in the URL', 'an https:// URL without user:password@');
  if (url.search || url.hash) return bad('a query or fragment is not allowed', 'an https:// URL without ?query or #fragment');
  return ok(url.href.replace(/\/+$/, ''));
});

/** Placeholders a GUN template may use; anything else in braces is an error. */
export const GUN_PLACEHOLDERS = ['{repository}', '{registry}', '{path}'] as const;
const GunTemplateSchema = checkedString((s) => {
  let rest = s;
  for (const p of GUN_PLACEHOLDERS) rest = rest.split(p).join('');
  return s.length > 0 && s.length <= 512 && !/[{}\s]/.test(rest)
    ? ok(s)
    : bad('not a GUN template', `a GUN, optionally with ${GUN_PLACEHOLDERS.join(', ')} (no other braces or spaces)`);
});

/** Notary delegation roles: `targets` or `targets/<name>[/<name>...]`. */
const DelegationSchema = checkedString((s) =>
  /^targets(?:\/[A-Za-z0-9_.-]+)*$/.test(s) && s.length <= 255
    ? ok(s)
    : bad('not a delegation role', 'a role name such as targets/releases'),
);

export const NotaryV1VerifierSchema = z.strictObject({
  type: z.literal('notaryv1'),
  server: HttpsUrlSchema,
  gun: GunTemplateSchema.optional(),
  rootKeys: z.array(RootKeySourceSchema).min(1),
  delegations: z.array(DelegationSchema).default([]),
});

/** Notation trust policy identities: `*` or `x509.subject: <DN>`. */
const TrustedIdentitySchema = checkedString((s) =>
  s === '*' || (s.startsWith('x509.subject:') && s.slice('x509.subject:'.length).trim().length > 0)
    ? ok(s)
    : bad('not a trusted identity', '"x509.subject: <distinguished name>" or "*"'),
);

export const NotationVerifierSchema = z.strictObject({
  type: z.literal('notation'),
  trustStore: z.array(PemSourceSchema).min(1),
  trustedIdentities: z.array(TrustedIdentitySchema).min(1),
  // Extension beyond config.md: the Notary Project trust policy's signatureVerification level.
  verificationLevel: z.enum(['strict', 'permissive', 'audit']).default('strict'),
  // Extension beyond config.md: signatures examined per image at most (bounded work per review,
  // style.md habit 7); 100 is well above what a real image carries.
  maxSignatures: z.int().min(1).max(100).default(10),
  // Extension beyond config.md: the root certificates of trusted RFC 3161 time-stamping
  // authorities, the Notary Project's `tsa:` trust store (trust-store-trust-policy.md). With it, a
  // signature must carry a timestamp countersignature from one of them, and the signing chain
  // must have been valid at that time rather than now (docs/notation.md "Timestamps").
  tsaTrustStore: z.array(PemSourceSchema).min(1).optional(),
  // Extension beyond config.md: the trust policy's signatureVerification.verifyTimestamp.
  // `always` (notation's default): with tsaTrustStore, the timestamp is always required and
  // verified; `afterCertExpiry`: only once a certificate of the signing chain has expired
  // (before that the chain must simply be valid now). No effect without tsaTrustStore.
  verifyTimestamp: z.enum(['always', 'afterCertExpiry']).default('always'),
});

export const VerifierSchema = z.discriminatedUnion('type', [CosignVerifierSchema, NotaryV1VerifierSchema, NotationVerifierSchema]);

export const VerifiersSchema = z.record(NameSchema, VerifierSchema).default({});

// ---------------------------------------------------------------------------------------------
// Registries, rules

export const RegistryEntrySchema = checkedString((s) => {
  const r = parseRegistryEntry(s);
  return r.ok ? ok(r.value.text) : r;
});

export const RegistriesSchema = z.array(RegistryEntrySchema);

export const ImagePatternSchema = checkedString((s) => {
  const r = parseImagePattern(s);
  return r.ok ? ok(r.value.text) : r;
});

export const NamespacePatternSchema = checkedString(parseNamespacePattern);

export const RuleSchema = z.strictObject({
  name: NameSchema,
  images: z.array(ImagePatternSchema).min(1),
  // Absent = all namespaces. An empty list is refused rather than read as "none" or "all".
  namespaces: z.array(NamespacePatternSchema).min(1).optional(),
  action: z.enum(['allow', 'deny']).default('allow'),
  requireDigest: z.boolean().default(true),
  allowLatest: z.boolean().default(false),
  resolveTags: z.boolean().default(false),
  verify: z.array(NameSchema).default([]),
  mode: z.enum(['enforce', 'audit']).default('enforce'),
});

export const RulesSchema = z.array(RuleSchema);

// ---------------------------------------------------------------------------------------------
// Transport, credentials, break-glass, cache, timeouts

/** plainHTTP entries: exact host[:port] (a wildcard would open plain HTTP to a whole domain). */
const PlainHttpHostSchema = checkedString((s) =>
  s.includes('*') ? bad('plain HTTP is allowed per registry, never for a wildcard', 'an exact host[:port], e.g. 127.0.0.1:5000') : parseRegistryHost(s),
);

export const TransportSchema = z
  .strictObject({
    caFiles: z.array(FilePathSchema).default([]),
    plainHTTP: z.array(PlainHttpHostSchema).default([]),
  })
  .prefault({});

export const CredentialsSchema = z.strictObject({ file: FilePathSchema }).optional();

export const DEFAULT_BREAK_GLASS_ANNOTATION = 'imagegate.image-policy.k8s.io/break-glass';
/** The apiserver forwards only annotation keys containing this (contract.md §3, admission.go:101-109). */
export const FORWARDED_ANNOTATION_MARKER = '.image-policy.k8s.io/';
/** Set by the apiserver itself on fail-open (contract.md §5.4), never by a person. */
const RESERVED_ANNOTATIONS: ReadonlySet<string> = new Set(['alpha.image-policy.k8s.io/failed-open']);

/** Kubernetes qualified name: DNS-subdomain prefix (≤253) "/" name (≤63). */
const ANNOTATION_PREFIX = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;
const ANNOTATION_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const AnnotationKeySchema = checkedString((s) => {
  const expected = `an annotation key whose prefix ends in ".image-policy.k8s.io", e.g. ${DEFAULT_BREAK_GLASS_ANNOTATION}`;
  const slash = s.indexOf('/');
  const prefix = s.slice(0, slash);
  const name = s.slice(slash + 1);
  if (slash < 0 || prefix.length > 253 || !ANNOTATION_PREFIX.test(prefix) || !ANNOTATION_NAME.test(name)) {
    return bad('not a valid annotation key', expected);
  }
  if (!s.includes(FORWARDED_ANNOTATION_MARKER)) {
    return bad('the apiserver only forwards annotation keys containing ".image-policy.k8s.io/", so this one could never reach imagegate', expected);
  }
  if (RESERVED_ANNOTATIONS.has(s)) return bad('this key is set by the apiserver on fail-open', expected);
  return ok(s);
});

export const BreakGlassSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    annotation: AnnotationKeySchema.prefault(DEFAULT_BREAK_GLASS_ANNOTATION),
    namespaces: z.array(NamespacePatternSchema).default([]),
  })
  .prefault({});

/**
 * Cache TTLs: at least 1s (node-cache reads a TTL of 0 as "forever") and at most 24h, so that
 * a revoked key or a moved tag is noticed within a day even without a reload.
 */
const ttl = duration({ minMs: 1000, maxMs: 24 * 3_600_000, why: 'cache TTLs are between 1s and 24h' });

export const CacheSchema = z
  .strictObject({
    allowTTL: ttl.prefault('5m'),
    denyTTL: ttl.prefault('30s'),
    tagTTL: ttl.prefault('1m'),
    verifyTTL: ttl.prefault('1h'),
    // Every cache is bounded (config.md); a million entries is a few hundred MB at most.
    maxEntries: z.int().min(1).max(1_000_000).default(10_000),
  })
  .prefault({});

/** The apiserver gives a webhook call 30 s (contract.md §5.3): the whole answer must beat it. */
export const APISERVER_WEBHOOK_TIMEOUT_MS = 30_000;
const timeout = duration({
  minMs: 1,
  maxMs: APISERVER_WEBHOOK_TIMEOUT_MS,
  maxExclusive: true,
  why: "must stay under the apiserver's 30s webhook timeout",
});

export const TimeoutsSchema = z
  .strictObject({ review: timeout.prefault('10s'), lookup: timeout.prefault('5s') })
  .superRefine((t, ctx) => {
    if (t.lookup > t.review) {
      ctx.addIssue({
        code: 'custom',
        path: ['lookup'],
        message: 'one lookup cannot take longer than the whole review',
        input: t.lookup,
        params: { expected: `at most timeouts.review (${formatDuration(t.review)})`, found: formatDuration(t.lookup) },
      });
    }
  })
  .prefault({});

// ---------------------------------------------------------------------------------------------
// The document

export const PolicySchema = z.strictObject({
  apiVersion: z.literal('imagegate/v1'),
  kind: z.literal('Policy'),
  registries: RegistriesSchema,
  defaultAction: z.enum(['deny', 'allow']).default('deny'),
  failurePolicy: z.enum(['closed', 'open']).default('closed'),
  rules: RulesSchema,
  verifiers: VerifiersSchema,
  transport: TransportSchema,
  credentials: CredentialsSchema,
  breakGlass: BreakGlassSchema,
  cache: CacheSchema,
  timeouts: TimeoutsSchema,
});

/** The validated policy file, defaults applied, durations in milliseconds. */
export type PolicyConfig = z.output<typeof PolicySchema>;
export type RuleConfig = z.output<typeof RuleSchema>;
export type VerifierSettings = z.output<typeof VerifierSchema>;
export type TransportConfig = z.output<typeof TransportSchema>;
export type CredentialsConfig = z.output<typeof CredentialsSchema>;
export type BreakGlassConfig = z.output<typeof BreakGlassSchema>;
export type CacheConfig = z.output<typeof CacheSchema>;
export type TimeoutsConfig = z.output<typeof TimeoutsSchema>;
