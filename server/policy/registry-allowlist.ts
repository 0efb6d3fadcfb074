/**
 * The `registries` allowlist (config.md, `registries`): exact `host[:port]` after normalisation,
 * or `*.` + domain, which matches one or more whole labels in front of the domain
 * (`*.gcr.io` matches `eu.gcr.io` and `a.b.gcr.io`, not `gcr.io`, not `evilgcr.io`).
 *
 * Normalise first, then compare whole labels (style.md habit 6, anti-pattern 1: gatekeeper's
 * prefix match admitted `myregistry.io.evil.com`). Ports are part of the identity: an entry
 * without a port matches only hosts written without one, `*.example.com:5000` only port 5000.
 */
import { canonicalizeIpv6 } from '../reference/normalize';
import type { ParseResult } from './parse-result';

/** Docker Hub aliases the distribution reference normaliser folds into `docker.io`. */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['index.docker.io', 'registry-1.docker.io']);

/** A DNS label as the distribution grammar allows it (`domain-name-component`), lowercased. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
/** RFC 1035 limits: 63 octets per label, 253 per name. */
const MAX_LABEL = 63;
const MAX_HOST = 253;
/** Bracketed IPv6 literal as the distribution grammar accepts it (hex digits, colons, dots). */
const IPV6 = /^\[[0-9a-f:.]+\]$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/** `docker.io` for Docker Hub's aliases, lowercase for everything else. */
export function normalizeRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? 'docker.io' : lower;
}

/** One allowlist entry after validation. */
export type RegistryEntry =
  | { readonly kind: 'exact'; readonly text: string }
  | {
      readonly kind: 'wildcard';
      readonly text: string;
      /** The labels after `*.`, e.g. ['gcr', 'io']. */
      readonly suffixLabels: readonly string[];
      readonly port: string | undefined;
    };


interface HostPort {
  host: string;
  port: string | undefined;
}

function splitHostPort(s: string): HostPort | undefined {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    const rest = s.slice(close + 1);
    if (rest === '') return { host: s, port: undefined };
    if (!rest.startsWith(':')) return undefined;
    return { host: s.slice(0, close + 1), port: rest.slice(1) };
  }
  const colon = s.indexOf(':');
  if (colon < 0) return { host: s, port: undefined };
  return { host: s.slice(0, colon), port: s.slice(colon + 1) };
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (PORT.test(port) && Number(port) <= 65535);
}

function validDomain(host: string): boolean {
  if (host.length === 0 || host.length > MAX_HOST) return false;
  return host.split('.').every((l) => l.length <= MAX_LABEL && LABEL.test(l));
}

const HOST_EXPECTED = 'a registry host[:port] such as docker.io, registry.k8s.io or 127.0.0.1:5000';

/** Validates and normalises an exact `host[:port]` (no wildcard). */
export function parseRegistryHost(text: string): ParseResult<string> {
  const normalized = normalizeRegistryHost(text);
  const hp = splitHostPort(normalized);
  // IPv6 literals are written the one RFC 5952 way the reference parser writes them.
  const ipv6 = hp && IPV6.test(hp.host) ? canonicalizeIpv6(hp.host.slice(1, -1)) : undefined;
  if (!hp || !(validDomain(hp.host) || ipv6 !== undefined)) {
    return { ok: false, message: 'not a valid registry host', expected: HOST_EXPECTED };
  }
  if (!validPort(hp.port)) {
    return { ok: false, message: 'not a valid port', expected: 'a port 1-65535 without leading zeros' };
  }
  return { ok: true, value: ipv6 === undefined ? normalized : `${ipv6}${hp.port !== undefined ? `:${hp.port}` : ''}` };
}

/** Validates and normalises one `registries` entry: exact `host[:port]` or `*.domain[:port]`. */
export function parseRegistryEntry(text: string): ParseResult<RegistryEntry> {
  if (!text.startsWith('*.')) {
    if (text.includes('*')) {
      return {
        ok: false,
        message: 'a wildcard is only allowed as a leading "*." label',
        expected: `${HOST_EXPECTED}, or "*." followed by a domain`,
      };
    }
    const exact = parseRegistryHost(text);
    return exact.ok ? { ok: true, value: Object.freeze({ kind: 'exact', text: exact.value }) } : exact;
  }
  const rest = text.slice(2).toLowerCase();
  const hp = splitHostPort(rest);
  if (!hp || rest.includes('*') || !validDomain(hp.host)) {
    return { ok: false, message: 'not a valid wildcard entry', expected: '"*." followed by a domain, e.g. *.pkg.dev' };
  }
  const suffixLabels = hp.host.split('.');
  // A numeric last label is an IP address, not a domain: `*.0.0.1` would match 127.0.0.1.
  if (/^[0-9]+$/.test(suffixLabels[suffixLabels.length - 1] ?? '')) {
    return { ok: false, message: 'a wildcard must be followed by a domain name, not an IP address', expected: '"*." followed by a domain, e.g. *.pkg.dev' };
  }
  if (!validPort(hp.port)) {
    return { ok: false, message: 'not a valid port', expected: 'a port 1-65535 without leading zeros' };
  }
  return {
    ok: true,
    value: Object.freeze({
      kind: 'wildcard',
      text: `*.${rest}`,
      suffixLabels: Object.freeze(suffixLabels),
      port: hp.port,
    }),
  };
}

/** True when `labels` ends with the whole labels of `suffix` and has at least `extra` more in front. */
function endsWithLabels(labels: readonly string[], suffix: readonly string[], extra = 1): boolean {
  if (labels.length < suffix.length + extra) return false;
  const offset = labels.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) {
    if (labels[offset + i] !== suffix[i]) return false;
  }
  return true;
}

/** The compiled allowlist: built once at load, asked on every image. */
export interface RegistryAllowlist {
  /** Entries as normalised text. */
  readonly entries: readonly string[];
  /** True when the normalised registry host `host[:port]` is allowed. */
  allows(host: string): boolean;
  /**
   * True when every host a pattern host matches is allowed: an exact host must be allowed;
   * `*.suffix[:port]` must sit under a wildcard entry with the same port (`*.dev` covers `*.pkg.dev`).
   */
  coversHostPattern(hostPattern: string): boolean;
}

/** Builds the allowlist from validated entries; throws on an invalid entry (validate first). */
export function compileRegistryAllowlist(texts: readonly string[]): RegistryAllowlist {
  const exact = new Set<string>();
  const wildcards: Array<Extract<RegistryEntry, { kind: 'wildcard' }>> = [];
  for (const text of texts) {
    const parsed = parseRegistryEntry(text);
    if (!parsed.ok) throw new Error(`invalid registry entry ${JSON.stringify(text)}: ${parsed.message}`);
    if (parsed.value.kind === 'exact') exact.add(parsed.value.text);
    else wildcards.push(parsed.value);
  }
  const entries = Object.freeze([...exact, ...wildcards.map((w) => w.text)]);

  const allows = (host: string): boolean => {
    const normalized = normalizeRegistryHost(host);
    if (exact.has(normalized)) return true;
    if (wildcards.length === 0) return false;
    const hp = splitHostPort(normalized);
    if (!hp || !validDomain(hp.host)) return false; // IP literals never match a wildcard
    const labels = hp.host.split('.');
    return wildcards.some((w) => w.port === hp.port && endsWithLabels(labels, w.suffixLabels));
  };

  const coversHostPattern = (hostPattern: string): boolean => {
    if (!hostPattern.startsWith('*.')) return allows(hostPattern);
    const parsed = parseRegistryEntry(hostPattern);
    if (!parsed.ok || parsed.value.kind !== 'wildcard') return false;
    const { suffixLabels, port } = parsed.value;
    return wildcards.some(
      // Any host under `*.<suffixLabels>` has one or more labels in front of suffixLabels, so it
      // lies under `*.<w.suffixLabels>` whenever w's labels end suffixLabels (or equal them).
      (w) => w.port === port && endsWithLabels(suffixLabels, w.suffixLabels, 0),
    );
  };

  return Object.freeze({ entries, allows, coversHostPattern });
}
