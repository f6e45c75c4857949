import type { CacheEntry, HttpCache } from '../cache/index.ts';
import type { PorticoError } from '../errors.ts';
import type { HttpPeer } from '../upstream/index.ts';
import type { HeaderList, ResponseHeader } from './headers.ts';
import type { Session } from './session.ts';

/** A hook may answer now or later; the engine awaits only when handed a promise. */
export type MaybePromise<T> = T | Promise<T>;

/** What {@link ProxyHttp.requestFilter} decided: go on proxying, or the filter already wrote a response. */
export type RequestFilterResult = 'continue' | 'responded';

/** What {@link ProxyHttp.failToConnect} decided: try `upstreamPeer` again, or give up with this error. */
export type ConnectFailureDecision = 'retry' | 'fail';

/** What {@link ProxyHttp.retryResponse} decided: try `upstreamPeer` again, or send this response on. */
export type ResponseRetryDecision = 'retry' | 'proceed';

/** What {@link ProxyHttp.cacheHitFilter} decided about a usable stored response. */
export type CacheHitDecision = 'serve' | 'bypass';

/** What {@link ProxyHttp.responseCacheFilter} decided about an upstream response. */
export type ResponseCacheDecision = 'cacheable' | 'uncacheable';

/**
 * A request's opt-in to a cache, returned by {@link ProxyHttp.requestCacheFilter}. Settings from a
 * route (or any per-request policy) override the cache's own defaults for this request only.
 */
export interface CacheSettings {
  /** The cache to use; usually one per worker, shared by every request of that worker. */
  readonly cache: HttpCache;
  /** Lifetime for responses the origin gave no freshness information (no max-age, Expires or Last-Modified). */
  readonly defaultTtlMs?: number | undefined;
  /** Largest body stored for this request; capped by the cache's own `maxObjectBytes`. */
  readonly maxObjectBytes?: number | undefined;
}

/** The request as it will be sent upstream; filters may change any field. */
export interface UpstreamRequest {
  method: string;
  /** Path and query, e.g. `/a/b?c=1`. */
  path: string;
  /** Hop-by-hop headers already removed; `X-Forwarded-*` and `Via` already added. */
  headers: HeaderList;
}

/**
 * The request lifecycle of a proxy, after Pingora's `ProxyHttp` trait. Implement `upstreamPeer`; every other
 * phase is optional and costs nothing when absent. Phases run in this order, each at most once per request
 * unless said otherwise:
 *
 * `newCtx → earlyRequestFilter → requestFilter → upstreamPeer → upstreamRequestFilter → (connect)
 *  → upstreamResponseFilter → responseFilter → responseBodyFilter* → logging`
 *
 * With a cache (`requestCacheFilter` returned settings), `requestFilter` is followed by
 * `cacheKey → (lookup) → cacheHitFilter` when something usable is stored; a served hit then goes
 * `responseFilter → responseBodyFilter* → logging` without any upstream phase. A miss or revalidation
 * goes upstream as above, with `responseCacheFilter` between `upstreamResponseFilter` and `responseFilter`.
 * See docs/cache.md for the whole picture.
 *
 * Failures branch off: `failToConnect` per failed attempt, or `retryResponse` for a response not to be
 * sent on (a 503, say), then `upstreamPeer` again on retry; `errorWhileProxy` once the
 * response has started; `failToProxy` when the request fails before it. Every request, however it ends,
 * reaches `logging` exactly once. A hook that throws or rejects fails the request (500, source `internal`); it
 * never crashes the worker.
 */
export interface ProxyHttp<CTX = unknown> {
  /**
   * Creates the per-request context handed to every other phase. Runs once per request, first.
   * Default: `undefined`.
   */
  newCtx?(): CTX;

  /**
   * Runs once, before anything else looks at the request: the place for rate limits or request ids that
   * later phases rely on. May read and change request headers. Default: nothing.
   */
  earlyRequestFilter?(session: Session, ctx: CTX): MaybePromise<void>;

  /**
   * Runs once, before choosing an upstream: authentication, redirects, local responses. Return `'responded'`
   * after writing a whole response with `session.respond(...)`; the request then goes straight to `logging`.
   * Default: `'continue'`.
   */
  requestFilter?(session: Session, ctx: CTX): MaybePromise<RequestFilterResult>;

  /**
   * Runs once, after `requestFilter`, only when implemented: opts this request into a cache by returning
   * its {@link CacheSettings}, or returns `undefined` to proxy it uncached. Every method comes through
   * here: a GET or HEAD may be served from the cache, and the response to an unsafe method (POST, PUT,
   * DELETE, ...) invalidates the URI's stored responses (RFC 9111 §4.4). Called once per request.
   * Default: absent, and then the engine skips every cache step at no cost.
   */
  requestCacheFilter?(session: Session, ctx: CTX): MaybePromise<CacheSettings | undefined>;

  /**
   * Runs once per cached request, after `requestFilter` opted it in: the primary cache key (also the
   * cache-lock key). It must not depend on the method, because HEAD is answered from a stored GET.
   * Invalidation after unsafe methods and purge by URL use the cache's own key function, so a custom
   * key is only reachable by `purge(key)`. Default: the cache's key, `scheme://host/path?query`.
   */
  cacheKey?(session: Session, ctx: CTX): string;

  /**
   * Runs once when the lookup found a stored response that may be served (fresh, or stale within an
   * allowed window), before it is served. Answer `'bypass'` to forward the request instead, as if it
   * were a miss (the response may then replace the entry). Default: `'serve'`.
   */
  cacheHitFilter?(session: Session, entry: CacheEntry, ctx: CTX): CacheHitDecision;

  /**
   * Runs once, synchronously, when a response to a cached GET arrives from upstream (after
   * `upstreamResponseFilter`, whose changes are what gets stored; before `responseFilter`).
   * `'uncacheable'` streams it through unstored and releases requests waiting on the cache lock at
   * once; `'cacheable'` lets the cache buffer and store it, still subject to RFC 9111 (no-store,
   * private, ...) and the size limits. Not called for 304s that refresh an entry. Default: RFC 9111
   * storability of the response.
   */
  responseCacheFilter?(session: Session, response: ResponseHeader, ctx: CTX): ResponseCacheDecision;

  /**
   * REQUIRED. Chooses where the request goes. Runs once per attempt: again after `failToConnect` answers
   * `'retry'`, when `session.attempt` has grown and `session.triedPeers` lists the peers that failed.
   * Throw a `PorticoError` (e.g. `NO_UPSTREAM`) to fail the request with 502, or 404 for `NOT_FOUND`.
   */
  upstreamPeer(session: Session, ctx: CTX): MaybePromise<HttpPeer>;

  /**
   * Runs once per attempt, after `upstreamPeer`, before the request is written upstream: rewrite the path,
   * add or remove headers. Default: nothing.
   */
  upstreamRequestFilter?(session: Session, request: UpstreamRequest, ctx: CTX): MaybePromise<void>;

  /**
   * Runs once, synchronously, when the upstream's response headers arrive (1xx informational responses
   * excepted), before `responseFilter`. Changes here are what a cache would store. Default: nothing.
   */
  upstreamResponseFilter?(session: Session, response: ResponseHeader, ctx: CTX): void;

  /**
   * Runs once per response, synchronously, right after `upstreamResponseFilter` — only for requests
   * without a body (nothing to send again) that have attempts left (`maxAttempts`). Answer `'retry'`
   * to throw this response away and call `upstreamPeer` again, as for a failed connection: the
   * response body is read to its end and dropped, so the upstream connection stays reusable, and the
   * peer joins `session.triedPeers`. Nothing of a discarded response reaches the client, the cache or
   * `responseFilter`. Envoy's `retry_on: 5xx` and nginx's `proxy_next_upstream http_503` are built on
   * this. Default: absent (every response is sent on).
   */
  retryResponse?(session: Session, response: ResponseHeader, ctx: CTX): ResponseRetryDecision;

  /**
   * Runs once, synchronously, just before a response's headers go downstream: an upstream response
   * (after `upstreamResponseFilter`), and also a response served from the cache (a hit, a stale entry, a
   * 304 or 206 built from a stored response). May change status and headers; changes never reach the
   * stored copy. Local responses written with `session.respond` do not pass through it. Default: nothing.
   */
  responseFilter?(session: Session, response: ResponseHeader, ctx: CTX): void;

  /**
   * Runs for every response body chunk, synchronously, and once more at the end with `chunk` empty and
   * `endOfStream` true. A response served from the cache is one chunk. The cache stores the bytes as they
   * came from upstream, before this filter. Return the bytes to send instead (or the same chunk). When present, the engine drops
   * `Content-Length` because the length may change. Default: absent (bytes pass untouched).
   */
  responseBodyFilter?(session: Session, chunk: Buffer, endOfStream: boolean, ctx: CTX): Buffer;

  /**
   * Runs once per failed connection attempt (refused, reset before a response, TLS failure, connect
   * timeout). Answer `'retry'` to call `upstreamPeer` again (at most `maxAttempts` in all; only for
   * requests whose body has not been sent). Default: `'retry'` when the error is retryable and the method is
   * idempotent, so that a reset of a reused keep-alive connection is retried once.
   */
  failToConnect?(session: Session, peer: HttpPeer, ctx: CTX, error: PorticoError): ConnectFailureDecision;

  /**
   * Runs once when the request fails after the response began going downstream; nothing more can be said
   * to the client, whose connection is then closed. For logging or metrics. Must not throw.
   */
  errorWhileProxy?(session: Session, error: PorticoError, ctx: CTX): void;

  /**
   * Runs once when the request fails before any response went downstream. Returns the status to answer
   * with. Default: 502 for upstream errors, 504 for upstream timeouts, 400 for downstream errors, 404 for
   * `NOT_FOUND`, 500 otherwise. Must not throw.
   */
  failToProxy?(session: Session, error: PorticoError, ctx: CTX): number;

  /** Runs exactly once per request, last, with the error if it failed. Must not throw. */
  logging?(session: Session, error: PorticoError | undefined, ctx: CTX): void;
}
