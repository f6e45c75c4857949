/**
 * The HTTP cache facade: one object per worker that answers "can this request be served from
 * cache?", stores responses, refreshes them after a 304, invalidates and purges, and hands out
 * the cache lock. It knows nothing about sockets; the proxy drives it (see docs in index.ts).
 */
import { InvalidArgumentError } from '../errors.ts';
import { BodyCollector } from './body.ts';
import {
  parseRequestCacheControl,
  parseResponseCacheControl,
  type RequestDirectives,
} from './cache-control.ts';
import { formatCacheStatus, type CacheStatusParams, type ForwardReason } from './cache-status.ts';
import { entrySize, type CacheEntry } from './entry.ts';
import { invalidationTargets, type UrlParts } from './invalidation.ts';
import { defaultCacheKey, normaliseHost, variantKey, type CacheKeyFn } from './key.ts';
import { CacheLock, DEFAULT_LOCK_TIMEOUT_MS, type CacheLockHooks } from './lock.ts';
import {
  ageHeaderValue,
  correctedInitialAge,
  freshnessLifetime,
  reuse,
  staleIfErrorAllowed,
  storable,
  varyNames,
  worthStoring,
  type FreshnessOptions,
  type NotStorableReason,
  type RevalidateReason,
  type StorableVerdict,
} from './policy.ts';
import { selectRange } from './range.ts';
import {
  clientConditionMatches,
  conditionalHeaders,
  mergeNotModified,
  notModifiedHeaders,
  notModifiedMatches,
  stripHopByHop,
} from './revalidation.ts';
import { MemoryStorage, type StorageStats } from './storage.ts';
import type { HeaderMap, RequestInfo, ResponseHead, StoredResponse } from './types.ts';

export interface HttpCacheOptions {
  /** Bytes all entries may take together (headers + body + per-entry overhead). Default 64 MiB. */
  readonly maxBytes?: number;
  /** Largest body stored; larger ones stream through uncached. Default min(8 MiB, maxBytes). */
  readonly maxObjectBytes?: number;
  /** How long readers wait on a writer before going upstream themselves. Default 5000. */
  readonly lockTimeoutMs?: number;
  /** Clock in epoch milliseconds; inject one in tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Primary key; must ignore the method. Default `scheme://host/path?query`. */
  readonly cacheKey?: CacheKeyFn;
  /** The cache's name in Cache-Status. Default `Portico`. */
  readonly name?: string;
  /** Heuristic freshness share of (Date − Last-Modified). Default 0.1. */
  readonly heuristicFraction?: number;
  /** Cap of a heuristic lifetime. Default one day. */
  readonly heuristicMaxMs?: number;
  readonly lockHooks?: CacheLockHooks;
}

/** Per-call store options, typically from the route. */
export interface StoreOptions {
  /** Lifetime used only when the origin sent no Cache-Control freshness, Expires or Last-Modified. */
  readonly defaultTtlMs?: number | undefined;
  /** Primary key to store under, when the caller chose its own (see `lookup`). Default: the cache's key. */
  readonly key?: string | undefined;
}

/** Request outcomes a driver (the proxy) reports, for metrics; see {@link HttpCache.count}. */
export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'revalidation';

/** Response times of an exchange with the origin, on the cache's clock. */
export interface ExchangeTimes {
  readonly requestTime: number;
  readonly responseTime: number;
}

export type LookupResult =
  /** Fresh: serve `respond(entry, request)`. */
  | { readonly status: 'hit'; readonly key: string; readonly entry: CacheEntry; readonly ttlSeconds: number }
  /** Stale but allowed; when `revalidateInBackground`, also refresh it off the request path. */
  | {
      readonly status: 'stale';
      readonly key: string;
      readonly entry: CacheEntry;
      readonly ttlSeconds: number;
      readonly revalidateInBackground: boolean;
    }
  /** Forward with `conditionalHeaders` added; a 304 goes to `freshen`, a 200 to `store`. */
  | {
      readonly status: 'revalidate';
      readonly key: string;
      readonly entry: CacheEntry;
      readonly ttlSeconds: number;
      readonly reason: RevalidateReason;
      readonly conditionalHeaders: Readonly<Record<string, string>>;
    }
  /** Nothing usable. When `onlyIfCached`, answer 504 instead of forwarding (RFC 9111 §5.2.1.7). */
  | {
      readonly status: 'miss';
      readonly key: string;
      readonly fwd: ForwardReason;
      readonly onlyIfCached: boolean;
    };

export type StoreResult =
  | { readonly stored: true; readonly entry: CacheEntry }
  | { readonly stored: false; readonly reason: NotStorableReason };

/** A response ready to send: the stored one with Age set, sliced for Range, bodiless for HEAD. */
export interface CachedResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  /** `undefined` for HEAD. */
  readonly body: Buffer | undefined;
}

export interface HttpCacheStats extends StorageStats {
  readonly lockWaits: number;
  readonly lockTimeouts: number;
  /** Requests answered from a fresh entry. */
  readonly hits: number;
  /** Requests that found nothing usable and went upstream. */
  readonly misses: number;
  /** Requests answered from a stale entry (stale-while-revalidate, max-stale, stale-if-error). */
  readonly staleServed: number;
  /** Conditional revalidations sent upstream, in the foreground or the background. */
  readonly revalidations: number;
}

const MIB = 1024 * 1024;
const DIGITS = /^\d+$/;
const DAY_MS = 86_400_000;

export class HttpCache {
  /** Request coalescing; acquire with `lookup(...).key` on a miss or revalidation. */
  readonly lock: CacheLock;
  readonly name: string;
  readonly #storage: MemoryStorage;
  readonly #now: () => number;
  readonly #key: CacheKeyFn;
  readonly #freshness: FreshnessOptions;
  readonly #outcomes = { hit: 0, miss: 0, stale: 0, revalidation: 0 };

  constructor(options: HttpCacheOptions = {}) {
    const maxBytes = positiveInteger('maxBytes', options.maxBytes ?? 64 * MIB);
    const maxObjectBytes = positiveInteger(
      'maxObjectBytes',
      options.maxObjectBytes ?? Math.min(8 * MIB, maxBytes),
    );
    if (maxObjectBytes > maxBytes)
      throw new InvalidArgumentError('maxObjectBytes', `must not exceed maxBytes (${maxBytes})`);
    const fraction = options.heuristicFraction ?? 0.1;
    if (!(fraction >= 0 && fraction <= 1))
      throw new InvalidArgumentError('heuristicFraction', 'must be between 0 and 1');
    this.#storage = new MemoryStorage({ maxBytes, maxObjectBytes });
    this.lock = new CacheLock({
      timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      hooks: options.lockHooks,
    });
    this.#now = options.now ?? Date.now;
    this.#key = options.cacheKey ?? defaultCacheKey;
    this.name = options.name ?? 'Portico';
    this.#freshness = {
      heuristicFraction: fraction,
      heuristicMaxMs: nonNegative('heuristicMaxMs', options.heuristicMaxMs ?? DAY_MS),
    };
  }

  /** The cache's clock (epoch ms): use it for `requestTime` / `responseTime` of exchanges. */
  now(): number {
    return this.#now();
  }

  /** The primary key of a request (also the cache-lock key). */
  keyFor(request: RequestInfo): string {
    return this.#key(request);
  }

  /**
   * Decides how to answer a request from cache. GET and HEAD only; other methods are a `method` miss.
   * `key` overrides the cache's key function for this request (then pass the same key to `store`).
   */
  lookup(request: RequestInfo, key: string = this.#key(request)): LookupResult {
    if (request.method !== 'GET' && request.method !== 'HEAD') return miss(key, 'method', false);
    const directives = parseRequestCacheControl(request.headers);
    const found = this.#storage.get(key, request.headers);
    if (found.kind !== 'found') return miss(key, found.kind, directives.onlyIfCached);
    return this.#decide(key, found.entry, directives);
  }

  /**
   * Whether a response could be stored, from its head alone — call it before buffering the body.
   * A declared Content-Length above `maxObjectBytes` is `too-large`.
   */
  storability(request: RequestInfo, head: ResponseHead): StorableVerdict {
    const verdict = storable(
      request,
      head,
      parseResponseCacheControl(head.headers),
      parseRequestCacheControl(request.headers),
    );
    if (!verdict.storable) return verdict;
    const length = declaredLength(head.headers);
    return length !== undefined && !this.#storage.admits(length)
      ? { storable: false, reason: 'too-large' }
      : verdict;
  }

  /**
   * A body buffer that gives up (and frees its chunks) once the body exceeds `maxObjectBytes` (the
   * cache's, or a smaller per-request limit).
   */
  bodyCollector(head: ResponseHead, maxObjectBytes?: number): BodyCollector {
    const limit =
      maxObjectBytes === undefined
        ? this.#storage.maxObjectBytes
        : Math.min(maxObjectBytes, this.#storage.maxObjectBytes);
    return new BodyCollector(limit, declaredLength(head.headers));
  }

  /** Stores a complete response to `request` if RFC 9111 allows it and it fits. */
  store(request: RequestInfo, response: StoredResponse, options: StoreOptions = {}): StoreResult {
    const verdict = storable(
      request,
      response,
      parseResponseCacheControl(response.headers),
      parseRequestCacheControl(request.headers),
    );
    if (!verdict.storable) return { stored: false, reason: verdict.reason };
    if (!this.#storage.admits(response.body.length)) return { stored: false, reason: 'too-large' };
    const entry = this.#entry(request, { ...response, headers: stripHopByHop(response.headers) }, options);
    if (!worthStoring(entry, entry.response.headers)) return { stored: false, reason: 'no-freshness' };
    return this.#storage.put(entry) ? { stored: true, entry } : { stored: false, reason: 'too-large' };
  }

  /**
   * Applies a 304 to the entry it revalidated (RFC 9111 §4.3.4) and stores the result. Returns
   * `undefined` when the 304 is about another representation: drop it and fetch unconditionally.
   * Otherwise returns the refreshed entry to serve, stored when the merged response is storable.
   */
  freshen(
    request: RequestInfo,
    entry: CacheEntry,
    notModified: ResponseHead & ExchangeTimes,
    options: StoreOptions = {},
  ): { readonly entry: CacheEntry; readonly stored: boolean } | undefined {
    if (!notModifiedMatches(entry.response.headers, notModified.headers)) {
      this.#storage.deleteEntry(entry);
      return undefined;
    }
    const response: StoredResponse = {
      status: entry.response.status,
      headers: mergeNotModified(entry.response.headers, notModified.headers),
      body: entry.response.body,
      requestTime: notModified.requestTime,
      responseTime: notModified.responseTime,
    };
    const result = this.store(request, response, options);
    if (result.stored) return { entry: result.entry, stored: true };
    this.#storage.deleteEntry(entry);
    return { entry: this.#entry(request, response, options), stored: false };
  }

  /** After an upstream error or 5xx on revalidation: may this stale entry be served instead (RFC 5861)? */
  staleIfError(entry: CacheEntry): boolean {
    return staleIfErrorAllowed(entry, this.#now());
  }

  /**
   * Builds the response to send from an entry: Age, a 304 when the request's own conditionals
   * (If-None-Match, else If-Modified-Since) match the stored 200, Range (GET of a 200 only), no
   * body for HEAD.
   */
  respond(entry: CacheEntry, request: RequestInfo): CachedResponse {
    const stored = entry.response;
    const age = ageHeaderValue(entry, this.#now());
    if (stored.status === 200 && clientConditionMatches(request.headers, stored.headers)) {
      return { status: 304, headers: notModifiedHeaders(stored.headers, age), body: undefined };
    }
    const headers: HeaderMap = { ...stored.headers, age };
    if (request.method === 'HEAD') return { status: stored.status, headers, body: undefined };
    if (stored.status !== 200) return { status: stored.status, headers, body: stored.body };
    const range = selectRange(request.headers, stored.headers, stored.body.length);
    if (range.kind === 'full') return { status: 200, headers, body: stored.body };
    if (range.kind === 'unsatisfiable') {
      return {
        status: 416,
        headers: { ...headers, 'content-range': range.contentRange, 'content-length': '0' },
        body: Buffer.alloc(0),
      };
    }
    const body = stored.body.subarray(range.start, range.end + 1);
    const partialHeaders = {
      ...headers,
      'content-range': range.contentRange,
      'content-length': String(body.length),
    };
    return { status: 206, headers: partialHeaders, body };
  }

  /**
   * RFC 9111 §4.4: call with every response to an unsafe method. Removes the stored responses of
   * the request URI and of a same-origin Location / Content-Location; returns how many went.
   * The keys are computed from a header-less GET, so a custom key that reads headers misses them.
   */
  invalidate(request: RequestInfo, response: ResponseHead): number {
    let removed = 0;
    for (const target of invalidationTargets(request, response)) removed += this.purgeUrl(target);
    return removed;
  }

  /** Removes every variant stored under a primary key. */
  purge(key: string): number {
    return this.#storage.delete(key);
  }

  /** Removes every variant stored for a URL (keyed as a header-less GET). */
  purgeUrl(url: UrlParts): number {
    return this.#storage.delete(this.#key({ method: 'GET', ...url, headers: {} }));
  }

  /** Removes entries whose request host equals `host` and whose path starts with `pathPrefix`. */
  purgePrefix(host: string, pathPrefix: string): number {
    return this.#storage.deletePrefix(host.toLowerCase(), pathPrefix);
  }

  /** Records one request outcome for `stats()`; the proxy calls it once per decision. */
  count(outcome: CacheOutcome): void {
    this.#outcomes[outcome]++;
  }

  /** An RFC 9211 Cache-Status member for this cache, e.g. `Portico; hit; ttl=42`. */
  cacheStatus(params: CacheStatusParams): string {
    return formatCacheStatus(this.name, params);
  }

  stats(): HttpCacheStats {
    const lock = this.lock.stats();
    const o = this.#outcomes;
    return {
      ...this.#storage.stats(),
      lockWaits: lock.waits,
      lockTimeouts: lock.timeouts,
      hits: o.hit,
      misses: o.miss,
      staleServed: o.stale,
      revalidations: o.revalidation,
    };
  }

  #decide(key: string, entry: CacheEntry, directives: RequestDirectives): LookupResult {
    const decision = reuse(entry, directives, this.#now());
    const ttlSeconds = Math.trunc(decision.ttlMs / 1000);
    if (decision.kind === 'fresh') return { status: 'hit', key, entry, ttlSeconds };
    if (decision.kind === 'stale') {
      return {
        status: 'stale',
        key,
        entry,
        ttlSeconds,
        revalidateInBackground: decision.revalidateInBackground,
      };
    }
    if (directives.onlyIfCached)
      return miss(key, decision.reason === 'request-no-cache' ? 'request' : 'stale', true);
    const validators = conditionalHeaders(entry.response.headers);
    return {
      status: 'revalidate',
      key,
      entry,
      ttlSeconds,
      reason: decision.reason,
      conditionalHeaders: validators,
    };
  }

  #entry(request: RequestInfo, response: StoredResponse, options: StoreOptions): CacheEntry {
    const key = options.key ?? this.#key(request);
    const vary = varyNames(response.headers);
    const variant = variantKey(vary, request.headers);
    const directives = parseResponseCacheControl(response.headers);
    const freshness = freshnessLifetime(response, directives, {
      ...this.#freshness,
      defaultTtlMs: options.defaultTtlMs,
    });
    return {
      key,
      variant,
      vary,
      host: normaliseHost(request.scheme, request.host),
      path: request.path,
      response,
      directives,
      lifetimeMs: freshness.lifetimeMs,
      freshnessSource: freshness.source,
      initialAgeMs: correctedInitialAge(response),
      responseTime: response.responseTime,
      size: entrySize(key, variant, response),
    };
  }
}

function miss(key: string, fwd: ForwardReason, onlyIfCached: boolean): LookupResult {
  return { status: 'miss', key, fwd, onlyIfCached };
}

function declaredLength(headers: HeaderMap): number | undefined {
  const raw = headers['content-length'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value !== undefined && DIGITS.test(value) ? Number(value) : undefined;
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new InvalidArgumentError(option, `must be a positive integer, got ${value}`);
  return value;
}

function nonNegative(option: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new InvalidArgumentError(option, `must be a non-negative number, got ${value}`);
  return value;
}
