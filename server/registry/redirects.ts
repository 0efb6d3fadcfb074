/**
 * Redirects are followed by hand, one hop at a time, so that every hop is checked
 * (style.md example 8, after sigstore-js packages/oci/src/registry.ts).
 *
 * Policy:
 *   - at most MAX_REDIRECTS hops;
 *   - a same-origin hop keeps the request as it is (credentials included);
 *   - a cross-origin hop is followed ONLY for blob GETs (distribution spec "Pulling blobs": a
 *     registry may answer 307 to a storage backend or CDN, and real registries do). It is sent
 *     without any Authorization header, and only to https (or to a host the policy lists in
 *     `transport.plainHTTP`). Blob contents are checked against their digest afterwards, so a
 *     redirect can make a lookup fail but never change what is verified. The target host must
 *     itself be in `registries` (registry-client.ts checks every hop): imagegate contacts no
 *     host the policy does not name, even when an allowlisted registry points elsewhere;
 *   - manifests, referrers, tag lists and token requests never follow a cross-origin redirect
 *     (REDIRECT_REFUSED): their bytes decide what is trusted, and a token must not leave the
 *     origin that issued the challenge.
 */
import { LookupError } from '../errors';

/** Distribution clients follow a few hops; 3 covers registry → storage → CDN. */
export const MAX_REDIRECTS = 3;

export type RedirectScope = 'same-origin-only' | 'blob';

export interface RedirectHop {
  readonly url: URL;
  /** False once any hop left the original origin: no Authorization from here on. */
  readonly sendCredentials: boolean;
}

export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
 * The next hop for a redirect from `from` (hop number `hop`, 1-based) to `location`, or a
 * LookupError('REDIRECT_REFUSED') naming why. `plainHTTP(host)` says whether a host may be
 * reached over http.
 */
export function nextRedirect(
  from: RedirectHop,
  origin: string,
  location: string | undefined,
  hop: number,
  scope: RedirectScope,
  plainHTTP: (host: string) => boolean,
): RedirectHop {
  if (hop > MAX_REDIRECTS) {
    throw new LookupError('REDIRECT_REFUSED', `more than ${MAX_REDIRECTS} redirects from ${from.url.host}`);
  }
  if (!location) throw new LookupError('REDIRECT_REFUSED', `redirect from ${from.url.host} without a Location`);
  let url: URL;
  try {
    url = new URL(location, from.url);
  } catch {
    throw new LookupError('REDIRECT_REFUSED', `redirect from ${from.url.host} to an invalid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new LookupError('REDIRECT_REFUSED', `redirect from ${from.url.host} to a ${url.protocol} URL`);
  }
  if (url.username || url.password) {
    throw new LookupError('REDIRECT_REFUSED', `redirect from ${from.url.host} to a URL with credentials`);
  }
  if (url.origin === origin) {
    return { url, sendCredentials: from.sendCredentials };
  }
  if (scope !== 'blob') {
    // Only the host is named: CDN URLs carry signed query strings.
    throw new LookupError('REDIRECT_REFUSED', `cross-origin redirect from ${from.url.host} to ${url.host} refused (only blob downloads may be redirected)`);
  }
  if (url.protocol === 'http:' && !plainHTTP(url.host)) {
    throw new LookupError('REDIRECT_REFUSED', `blob redirect from ${from.url.host} to plain http://${url.host} refused`);
  }
  return { url, sendCredentials: false };
}
