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
 * with `failToConnect` (per failed attempt), then `upstreamPeer` again on retry; `errorWhileProxy` once the
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
   * Runs once, synchronously, just before an upstream response's headers go downstream (after
   * `upstreamResponseFilter`). May change status and headers. Local responses written with
   * `session.respond` do not pass through it. Default: nothing.
   */
  responseFilter?(session: Session, response: ResponseHeader, ctx: CTX): void;

  /**
   * Runs for every response body chunk, synchronously, and once more at the end with `chunk` empty and
   * `endOfStream` true. Return the bytes to send instead (or the same chunk). When present, the engine drops
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
