/**
 * Cache keys. The primary key names the resource; the variant key (RFC 9111 §4.1) names which of
 * its Vary-selected representations a request wants.
 */
import type { HeaderMap, RequestInfo } from './types.ts';

/**
 * Maps a request to its primary key. It must not depend on the method: GET and HEAD share entries
 * (a HEAD is answered from a stored GET), and invalidation builds the key from a bare GET.
 */
export type CacheKeyFn = (request: RequestInfo) => string;

const DEFAULT_PORT: Readonly<Record<string, string>> = { http: ':80', https: ':443' };

/** Lower-cases the authority and drops the scheme's default port, so equal origins key alike. */
export function normaliseHost(scheme: string, host: string): string {
  const lower = host.toLowerCase();
  const port = DEFAULT_PORT[scheme];
  return port !== undefined && lower.endsWith(port) ? lower.slice(0, -port.length) : lower;
}

/** `scheme://host/path?query` — the effective request URI, without fragment or method. */
export function defaultCacheKey(request: RequestInfo): string {
  const query = request.query === '' ? '' : `?${request.query}`;
  return `${request.scheme}://${normaliseHost(request.scheme, request.host)}${request.path}${query}`;
}

/** Fields whose values compare case-insensitively (RFC 9110 §12.5), so `GZIP` and `gzip` share a variant. */
const CASE_INSENSITIVE: ReadonlySet<string> = new Set([
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
]);

/** Separates names in a variant key; cannot occur in a field value. */
const SEPARATOR = '\u0000';
/** Stands for an absent field, which RFC 9111 §4.1 distinguishes from an empty one. */
const ABSENT = '\u0001';

/**
 * The variant key for `names` (lower-case, from the stored Vary): each field normalised — lines
 * combined, whitespace around commas dropped, case folded where the field is case-insensitive —
 * so that requests that mean the same thing select the same variant. Empty when nothing varies.
 */
export function variantKey(names: readonly string[], headers: HeaderMap): string {
  if (names.length === 0) return '';
  return names.map((name) => `${name}=${normaliseValue(name, headers[name])}`).join(SEPARATOR);
}

function normaliseValue(name: string, value: string | string[] | undefined): string {
  if (value === undefined) return ABSENT;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const normalised = joined
    .split(',')
    .map((part) => part.trim())
    .join(',');
  return CASE_INSENSITIVE.has(name) ? normalised.toLowerCase() : normalised;
}
