/**
 * RFC 9111 decisions for a shared cache: may a response be stored, how long is it fresh, how old
 * is it, and may a stored response answer a given request. Every function here is pure; the
 * clock is always a parameter.
 */
import {
  parseAge,
  parseDate,
  parseExpires,
  parseHttpDate,
  type RequestDirectives,
  type ResponseDirectives,
} from './cache-control.ts';
import { firstHeaderValue, headerValue, type HeaderMap, type ResponseHead } from './types.ts';

/** RFC 9110 §15.1: statuses a cache may store with heuristic freshness. */
export const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/** Why a response was not stored; stable strings for logs, metrics and Cache-Status `detail`. */
export type NotStorableReason =
  | 'method'
  | 'request-no-store'
  | 'no-store'
  | 'private'
  | 'authorization'
  | 'status'
  | 'vary-star'
  | 'no-freshness'
  | 'too-large';

export type StorableVerdict =
  { readonly storable: true } | { readonly storable: false; readonly reason: NotStorableReason };

const STORABLE: StorableVerdict = { storable: true };

/**
 * RFC 9111 §3 for a shared cache. Only GET responses are stored; a HEAD is answered from a stored
 * GET but its own response has no body to keep. 206 is not stored: the cache keeps complete bodies
 * and slices ranges itself. `must-understand` overrides `no-store` only for statuses we understand.
 */
export function storable(
  request: { readonly method: string; readonly headers: HeaderMap },
  response: ResponseHead,
  directives: ResponseDirectives,
  requestDirectives: RequestDirectives,
): StorableVerdict {
  if (request.method !== 'GET') return { storable: false, reason: 'method' };
  if (requestDirectives.noStore) return { storable: false, reason: 'request-no-store' };
  if (!completeFinal(response.status)) return { storable: false, reason: 'status' };
  const understood = HEURISTICALLY_CACHEABLE.has(response.status);
  if (directives.mustUnderstand ? !understood : directives.noStore)
    return { storable: false, reason: 'no-store' };
  if (directives.private) return { storable: false, reason: 'private' };
  if (request.headers.authorization !== undefined && !authorizedSharing(directives)) {
    return { storable: false, reason: 'authorization' };
  }
  if (!understood && !hasExplicitFreshness(response.headers, directives))
    return { storable: false, reason: 'status' };
  if (varyNames(response.headers).includes('*')) return { storable: false, reason: 'vary-star' };
  return STORABLE;
}

/** A final, complete response: not 1xx, not a 206 fragment, not a 304 (which has no body to keep). */
function completeFinal(status: number): boolean {
  return status >= 200 && status !== 206 && status !== 304;
}

/** RFC 9111 §3.5: these directives let a shared cache reuse a response to an authenticated request. */
function authorizedSharing(d: ResponseDirectives): boolean {
  return d.public || d.sMaxAge !== undefined || d.mustRevalidate;
}

function hasExplicitFreshness(headers: HeaderMap, d: ResponseDirectives): boolean {
  return d.public || d.maxAge !== undefined || d.sMaxAge !== undefined || headers.expires !== undefined;
}

/** The lower-case field names listed in Vary, sorted and without duplicates, so order never splits variants. */
export function varyNames(headers: HeaderMap): string[] {
  const raw = headerValue(headers, 'vary');
  if (raw === undefined) return [];
  const names = raw.split(',').map((n) => n.trim().toLowerCase());
  return [...new Set(names.filter((n) => n !== ''))].sort();
}

export type FreshnessSource = 's-maxage' | 'max-age' | 'expires' | 'heuristic' | 'default' | 'none';

export interface Freshness {
  readonly lifetimeMs: number;
  readonly source: FreshnessSource;
}

export interface FreshnessOptions {
  /** Share of (Date − Last-Modified) used as heuristic lifetime; RFC 9111 §4.2.2 suggests 10 %. */
  readonly heuristicFraction: number;
  /** Upper bound of a heuristic lifetime. */
  readonly heuristicMaxMs: number;
  /** A route's own lifetime, used only when the origin gave no freshness information at all. */
  readonly defaultTtlMs?: number | undefined;
}

/**
 * RFC 9111 §4.2.1 in priority order. A heuristic applies only where it is allowed (a heuristically
 * cacheable status or `public`) and never next to explicit freshness; a route default is weaker
 * still, because Last-Modified is information from the origin and a default is a guess.
 */
export function freshnessLifetime(
  response: ResponseHead & { readonly responseTime: number },
  d: ResponseDirectives,
  options: FreshnessOptions,
): Freshness {
  if (d.sMaxAge !== undefined) return { lifetimeMs: d.sMaxAge * 1000, source: 's-maxage' };
  if (d.maxAge !== undefined) return { lifetimeMs: d.maxAge * 1000, source: 'max-age' };
  const now = response.responseTime;
  // RFC 9213 §2.2: with a targeted field in force, Expires is ignored as Cache-Control is.
  const expires = d.field === 'cache-control' ? parseExpires(response.headers, now) : undefined;
  const date = parseDate(response.headers, now) ?? now;
  if (expires !== undefined) return { lifetimeMs: Math.max(0, expires - date), source: 'expires' };
  if (!HEURISTICALLY_CACHEABLE.has(response.status) && !d.public) return { lifetimeMs: 0, source: 'none' };
  const lastModified = parseHttpDate(firstHeaderValue(response.headers, 'last-modified'), now);
  if (lastModified !== undefined) {
    const heuristic = Math.max(0, date - lastModified) * options.heuristicFraction;
    return { lifetimeMs: Math.floor(Math.min(heuristic, options.heuristicMaxMs)), source: 'heuristic' };
  }
  if (options.defaultTtlMs !== undefined && options.defaultTtlMs > 0)
    return { lifetimeMs: options.defaultTtlMs, source: 'default' };
  return { lifetimeMs: 0, source: 'none' };
}

/**
 * RFC 9111 §4.2.3 `corrected_initial_age`: the age the response already had when it arrived. Kept
 * with the entry so that a lookup only adds the time it has been resident.
 */
export function correctedInitialAge(response: {
  readonly headers: HeaderMap;
  readonly requestTime: number;
  readonly responseTime: number;
}): number {
  const date = parseDate(response.headers, response.responseTime) ?? response.responseTime;
  const apparentAge = Math.max(0, response.responseTime - date);
  const responseDelay = Math.max(0, response.responseTime - response.requestTime);
  const correctedAgeValue = (parseAge(response.headers) ?? 0) * 1000 + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** What a shared cache knows about a stored response, computed once when it is stored. */
export interface FreshnessState {
  readonly directives: ResponseDirectives;
  readonly lifetimeMs: number;
  readonly initialAgeMs: number;
  readonly responseTime: number;
}

/** RFC 9111 §4.2.3 `current_age`. */
export function currentAge(state: FreshnessState, now: number): number {
  return state.initialAgeMs + Math.max(0, now - state.responseTime);
}

/** The Age header value for a response served from cache (whole seconds, rounded down). */
export function ageHeaderValue(state: FreshnessState, now: number): string {
  return String(Math.floor(currentAge(state, now) / 1000));
}

/** RFC 9111 §4.2.4: these response directives forbid serving stale, whatever the client allows. */
export function staleForbidden(d: ResponseDirectives): boolean {
  return d.noCache || d.mustRevalidate || d.proxyRevalidate || d.sMaxAge !== undefined;
}

/** Why a stored response cannot be served without asking the origin. */
export type RevalidateReason =
  'response-no-cache' | 'request-no-cache' | 'request-max-age' | 'min-fresh' | 'stale';

export type ReuseDecision =
  | { readonly kind: 'fresh'; readonly ttlMs: number }
  | { readonly kind: 'stale'; readonly ttlMs: number; readonly revalidateInBackground: boolean }
  | { readonly kind: 'revalidate'; readonly ttlMs: number; readonly reason: RevalidateReason };

/**
 * May this stored response answer this request (RFC 9111 §4.2 and §5.2.1, RFC 5861)? A stale
 * answer is allowed by the client's `max-stale`, or by the origin's `stale-while-revalidate`
 * window (then the caller must refresh it in the background).
 */
export function reuse(state: FreshnessState, request: RequestDirectives, now: number): ReuseDecision {
  const age = currentAge(state, now);
  const ttlMs = state.lifetimeMs - age;
  if (state.directives.noCache) return { kind: 'revalidate', ttlMs, reason: 'response-no-cache' };
  if (request.noCache) return { kind: 'revalidate', ttlMs, reason: 'request-no-cache' };
  if (request.maxAge !== undefined && age > request.maxAge * 1000) {
    return { kind: 'revalidate', ttlMs, reason: 'request-max-age' };
  }
  if (ttlMs > 0) {
    const tooShort = request.minFresh !== undefined && ttlMs < request.minFresh * 1000;
    return tooShort ? { kind: 'revalidate', ttlMs, reason: 'min-fresh' } : { kind: 'fresh', ttlMs };
  }
  return staleDecision(state.directives, request, ttlMs);
}

function staleDecision(d: ResponseDirectives, request: RequestDirectives, ttlMs: number): ReuseDecision {
  const staleness = -ttlMs;
  if (!staleForbidden(d)) {
    if (request.maxStale !== undefined && staleness <= request.maxStale * 1000) {
      return { kind: 'stale', ttlMs, revalidateInBackground: false };
    }
    if (d.staleWhileRevalidate !== undefined && staleness <= d.staleWhileRevalidate * 1000) {
      return { kind: 'stale', ttlMs, revalidateInBackground: true };
    }
  }
  return { kind: 'revalidate', ttlMs, reason: 'stale' };
}

/**
 * RFC 5861 §4: may a stale response stand in for an upstream error (a 5xx or no response at all)?
 * Forbidden by the same directives that forbid stale in general.
 */
export function staleIfErrorAllowed(state: FreshnessState, now: number): boolean {
  const window = state.directives.staleIfError;
  if (window === undefined || staleForbidden(state.directives)) return false;
  return currentAge(state, now) - state.lifetimeMs <= window * 1000;
}

/** Worth keeping at all: it can be served now, later when stale, or revalidated cheaply. */
export function worthStoring(state: FreshnessState, headers: HeaderMap): boolean {
  if (state.lifetimeMs > 0 || headers.etag !== undefined || headers['last-modified'] !== undefined)
    return true;
  return state.directives.staleWhileRevalidate !== undefined || state.directives.staleIfError !== undefined;
}
