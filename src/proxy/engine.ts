import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { conditionalHeaders } from '../cache/index.ts';
import type {
  BodyCollector,
  CacheEntry,
  CacheStatusParams,
  ForwardReason,
  HttpCache,
  RequestInfo,
  WriterLock,
} from '../cache/index.ts';
import { forwardableTrailers, IDEMPOTENT_METHODS, splitPathAndQuery } from '../http.ts';
import { FIELD_TEXT } from '../http1.ts';
import { PorticoError, toPorticoError, InvalidArgumentError } from '../errors.ts';
import { HttpPeer, type PeerPools } from '../upstream/index.ts';
import { forwardRequestHeaders, type HeaderList, ResponseHeader } from './headers.ts';
import { respondError } from './grpc.ts';
import { H1Response } from './h1-server.ts';
import type { CacheSettings, ProxyHttp, ResponseCacheDecision, UpstreamRequest } from './proxy-http.ts';
import { Session, type DownstreamRequest, type DownstreamResponse } from './session.ts';
import { classifyUpstreamError, defaultErrorStatus } from './upstream-errors.ts';

const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface ProxyEngineOptions {
  /** Attempts per request, the first included, when `failToConnect` keeps answering `'retry'`. Default 3. */
  maxAttempts?: number;
  /** Pseudonym in the `Via` header. Default `portico`. */
  via?: string;
  /** Called once per request after `logging`, for metrics and the access log; must not throw. */
  onComplete?: (session: Session) => void;
}

const kCall = Symbol('portico.call');
type ResponseWithCall = DownstreamResponse & { [kCall]?: ProxyCall<unknown> };

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/**
 * Drives one ProxyHttp over node:http requests: runs the phases in order, sends the request through the
 * peer's pool, streams the response back with back-pressure, and guarantees exactly one of response,
 * error response or connection close, then exactly one `logging` call.
 */
export class ProxyEngine<CTX> {
  readonly proxy: ProxyHttp<CTX>;
  readonly pools: PeerPools;
  readonly maxAttempts: number;
  readonly via: string;
  readonly onComplete: ((session: Session) => void) | undefined;
  /** The proxy implements `requestCacheFilter`; decided once, so uncached proxies never pay for the cache. */
  readonly caching: boolean;

  constructor(proxy: ProxyHttp<CTX>, pools: PeerPools, options: ProxyEngineOptions = {}) {
    if (typeof proxy?.upstreamPeer !== 'function') {
      throw new InvalidArgumentError('proxy', 'must implement upstreamPeer(session, ctx)');
    }
    this.proxy = proxy;
    this.pools = pools;
    this.maxAttempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new InvalidArgumentError('maxAttempts', 'must be a positive integer');
    }
    this.via = `1.1 ${options.via ?? 'portico'}`;
    // Sent on every request, in a head that is not checked again (see HeaderList).
    if (!FIELD_TEXT.test(this.via)) {
      throw new InvalidArgumentError('via', 'must hold visible characters, spaces and tabs only');
    }
    this.onComplete = options.onComplete;
    this.caching = typeof proxy.requestCacheFilter === 'function';
  }

  /** The node:http `request` listener. */
  readonly handle = (req: DownstreamRequest, res: DownstreamResponse): void => {
    const call = new ProxyCall(this, req, res);
    (res as ResponseWithCall)[kCall] = call;
    // `on`, not `once`: the response closes once, and `once` would allocate a wrapper per request.
    res.on('close', onDownstreamClose);
    call.run();
  };

  /** The request's headers as they go upstream, before `upstreamRequestFilter`. */
  forwardHeaders(session: Session, peer: HttpPeer): HeaderList {
    const headers = forwardRequestHeaders(session.request.rawHeaders, {
      clientAddress: session.clientAddress,
      protocol: session.secure ? 'https' : 'http',
      via: this.via,
      // The server parsed them; the client address is a socket's, and `via` was checked above.
      checked: true,
    });
    if (peer.host !== undefined) headers.set('host', peer.host);
    return headers;
  }

  /**
   * Whether an attempt that failed before any response is tried again: never for a timeout or a failure
   * that is not the upstream's, never beyond `maxAttempts`; otherwise as `failToConnect` answers, by default
   * for a retryable error of an idempotent request (once it was written upstream, on the first attempt only).
   */
  retries(session: Session, ctx: CTX, peer: HttpPeer, error: PorticoError, requestStarted: boolean): boolean {
    if (error.source !== 'upstream' || error.code === 'UPSTREAM_TIMEOUT') return false;
    if (session.attempt >= this.maxAttempts) return false;
    const proxy = this.proxy;
    if (proxy.failToConnect === undefined) {
      return (
        error.retryable &&
        IDEMPOTENT_METHODS.has(session.method) &&
        (requestStarted ? session.attempt === 1 : true)
      );
    }
    try {
      return proxy.failToConnect(session, peer, ctx, error) === 'retry';
    } catch {
      return false;
    }
  }

  /** Answers a request that failed before its response began, with `failToProxy`'s status or the default. */
  respondWithError(session: Session, ctx: CTX, error: PorticoError): void {
    const proxy = this.proxy;
    let status = defaultErrorStatus(error);
    if (proxy.failToProxy) status = safely(() => proxy.failToProxy!(session, error, ctx)) ?? status;
    respondError(session, status, STATUS_CODES[status] ?? '', error);
  }

  /** Ends a request's lifecycle: records how it ended, then `logging` and `onComplete`, which may not throw. */
  complete(session: Session, ctx: CTX, error: PorticoError | undefined): void {
    session.error = error;
    if (session.status === 0) session.status = session.response.statusCode;
    safely(() => this.proxy.logging?.(session, error, ctx));
    safely(() => this.onComplete?.(session));
  }
}

/**
 * What an upstream attempt starting now may take by the request's deadlines (`requestTimeoutMs` less the
 * time spent, and `backendRequestTimeoutMs`); Infinity when neither is set.
 */
export function attemptTimeoutMs(session: Session): number {
  const { requestTimeoutMs, backendRequestTimeoutMs, startedAt } = session;
  const remaining =
    requestTimeoutMs === undefined ? Infinity : requestTimeoutMs - (performance.now() - startedAt);
  return Math.max(0, Math.ceil(Math.min(remaining, backendRequestTimeoutMs ?? Infinity)));
}

function onDownstreamClose(this: ResponseWithCall): void {
  this[kCall]?.onDownstreamClose();
}

function onDownstreamDrain(this: ResponseWithCall): void {
  this[kCall]?.controller?.resume();
}

/** One request in flight; also the undici dispatch handler for its upstream attempts. */
class ProxyCall<CTX> implements Dispatcher.DispatchHandler {
  readonly engine: ProxyEngine<CTX>;
  readonly session: Session;
  ctx!: CTX;
  controller: Dispatcher.DispatchController | undefined;
  /** Cache state; set only for requests `requestCacheFilter` opted in. */
  cacheFlow: CacheFlow | undefined;
  #hasBody: boolean;
  #requestStarted = false;
  /** `retryResponse` refused this attempt's response: its body is read and dropped, then a retry. */
  #discarding = false;
  #responseStarted = false;
  #finished = false;
  #attemptTimer: NodeJS.Timeout | undefined;

  constructor(engine: ProxyEngine<CTX>, req: DownstreamRequest, res: DownstreamResponse) {
    this.engine = engine;
    this.session = new Session(req, res, performance.now());
    const headers = req.headers;
    // HTTP/2 requests need not say content-length (gRPC never does): the stream's first frame does.
    const h2 = (req as unknown as { stream?: { endAfterHeaders: boolean } }).stream;
    this.#hasBody =
      h2 !== undefined
        ? !h2.endAfterHeaders
        : headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
  }

  /**
   * Runs the phases up to the upstream dispatch. Each phase goes on synchronously when its hook answers
   * synchronously, and through the hook's promise only when it returns one: a proxy of plain hooks
   * costs no promise, no microtask and no async frame per request.
   */
  run(): void {
    this.#settle(this.#begin);
  }

  /** Another attempt (a retry) from `upstreamPeer` on. */
  #retry(): void {
    this.#settle(this.#attempt);
  }

  /** Runs `phase`; a hook failing in it, now or in a promise it returned, fails the request. */
  #settle(phase: (this: ProxyCall<CTX>) => void | Promise<void>): void {
    let pending: void | Promise<void>;
    try {
      pending = phase.call(this);
    } catch (error) {
      return this.#hookFailed(error);
    }
    if (isPromise(pending)) pending.catch((error: unknown) => this.#hookFailed(error));
  }

  #hookFailed(error: unknown): void {
    this.fail(toPorticoError(error, 'HOOK_FAILED'));
  }

  #begin(): void | Promise<void> {
    const { proxy } = this.engine;
    this.ctx = proxy.newCtx ? proxy.newCtx() : (undefined as CTX);
    const early = proxy.earlyRequestFilter?.(this.session, this.ctx);
    return isPromise(early) ? early.then(() => this.#requestPhase()) : this.#requestPhase();
  }

  #requestPhase(): void | Promise<void> {
    const { proxy } = this.engine;
    if (proxy.requestFilter === undefined) return this.#cachePhase();
    const answer = proxy.requestFilter(this.session, this.ctx);
    return isPromise(answer)
      ? answer.then((settled) => this.#afterRequestFilter(settled))
      : this.#afterRequestFilter(answer);
  }

  #afterRequestFilter(answer: unknown): void | Promise<void> {
    if (answer === 'responded') return this.finish(undefined);
    return this.#cachePhase();
  }

  #cachePhase(): void | Promise<void> {
    if (!this.engine.caching) return this.#attempt();
    const settings = this.engine.proxy.requestCacheFilter!(this.session, this.ctx);
    return isPromise(settings)
      ? settings.then((settled) => this.#afterCacheFilter(settled))
      : this.#afterCacheFilter(settings);
  }

  #afterCacheFilter(settings: CacheSettings | undefined): void | Promise<void> {
    return settings === undefined ? this.#attempt() : this.#cached(settings);
  }

  /** One attempt: `upstreamPeer`, the request's headers, `upstreamRequestFilter`, the dispatch. */
  #attempt(): void | Promise<void> {
    const peer = this.engine.proxy.upstreamPeer(this.session, this.ctx);
    return isPromise(peer) ? peer.then((settled) => this.#toPeer(settled)) : this.#toPeer(peer);
  }

  #toPeer(peer: unknown): void | Promise<void> {
    if (!(peer instanceof HttpPeer)) {
      throw new PorticoError('HOOK_FAILED', 'upstreamPeer must return an HttpPeer');
    }
    if (this.#finished) return;
    const { proxy } = this.engine;
    const session = this.session;
    session.peer = peer;
    const req = session.request;
    const headers = this.engine.forwardHeaders(session, peer);
    const flow = this.cacheFlow;
    if (flow !== undefined && flow.mode === 'fill') flow.prepareFill(headers);
    const upstreamRequest: UpstreamRequest = { method: req.method!, path: req.url!, headers };
    const filtered = proxy.upstreamRequestFilter?.(session, upstreamRequest, this.ctx);
    if (isPromise(filtered)) return filtered.then(() => this.#dispatch(peer, upstreamRequest));
    this.#dispatch(peer, upstreamRequest);
  }

  #dispatch(peer: HttpPeer, upstreamRequest: UpstreamRequest): void {
    if (this.#finished) return;
    this.#requestStarted = false;
    this.#armAttemptTimer();
    this.engine.pools.dispatcherFor(peer).dispatch(
      {
        path: upstreamRequest.path,
        method: upstreamRequest.method,
        // Mutable only in undici's type: neither client writes to it.
        headers: upstreamRequest.headers.fields as string[],
        headersChecked: upstreamRequest.headers.checked,
        body: this.#hasBody ? this.session.request : null,
        idempotent: !this.#hasBody && IDEMPOTENT_METHODS.has(upstreamRequest.method),
        blocking: true,
      },
      this,
    );
  }

  #armAttemptTimer(): void {
    const timeoutMs = attemptTimeoutMs(this.session);
    if (timeoutMs === Infinity) return;
    clearTimeout(this.#attemptTimer);
    this.#attemptTimer = setTimeout(() => {
      const error = new PorticoError('UPSTREAM_TIMEOUT', `upstream did not finish within ${timeoutMs} ms`, {
        source: 'upstream',
      });
      if (this.controller !== undefined) this.controller.abort(error);
      else this.fail(error);
    }, timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.#requestStarted = true;
    if (this.#finished) controller.abort(new PorticoError('DOWNSTREAM_CLOSED', 'client went away'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[]>,
  ): void {
    if (statusCode < 200) {
      if (statusCode === 103 && headers.link !== undefined)
        this.session.response.writeEarlyHints({ link: headers.link });
      return;
    }
    const { proxy } = this.engine;
    const session = this.session;
    this.#responseStarted = true;
    session.upstreamHeadersAt = performance.now();
    const response = ResponseHeader.received(statusCode, headers);
    const flow = this.cacheFlow;
    try {
      proxy.upstreamResponseFilter?.(session, response, this.ctx);
      if (
        proxy.retryResponse !== undefined &&
        !this.#hasBody &&
        session.attempt < this.engine.maxAttempts &&
        proxy.retryResponse(session, response, this.ctx) === 'retry'
      ) {
        this.#discarding = true;
        return;
      }
      if (flow !== undefined && this.#cacheResponse(flow, response) === 'local') return;
      proxy.responseFilter?.(session, response, this.ctx);
    } catch (error) {
      this.controller?.abort(toPorticoError(error, 'HOOK_FAILED'));
      return;
    }
    if (proxy.responseBodyFilter) response.remove('content-length');
    session.status = response.status;
    const res = session.response;
    if (response.fields['grpc-status'] !== undefined) holdHead(res, response);
    else if (response.checked && res instanceof H1Response)
      res.writeCheckedHead(response.status, response.fields);
    else res.writeHead(response.status, response.fields);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discarding) return;
    const flow = this.cacheFlow;
    if (flow !== undefined) {
      if (flow.local !== 'none') return;
      if (flow.collector !== undefined) flow.collect(chunk);
    }
    const { proxy } = this.engine;
    const data = proxy.responseBodyFilter
      ? proxy.responseBodyFilter(this.session, chunk, false, this.ctx)
      : chunk;
    if (data.length === 0) return;
    this.session.bytesSent += data.length;
    const res = this.session.response;
    if (!res.write(data)) {
      controller.pause();
      res.once('drain', onDownstreamDrain);
    }
  }

  onResponseEnd(
    _controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[]>,
  ): void {
    if (this.#discarding) return this.#retryDiscarded();
    const flow = this.cacheFlow;
    if (flow !== undefined && flow.local !== 'none') return this.#cacheLocalEnd(flow);
    const { proxy } = this.engine;
    const res = this.session.response;
    // HTTP/2 sends them as a last HEADERS frame; HTTP/1.1 only at the end of a chunked body, and
    // node drops them from a response that has a content-length.
    if (!isEmpty(trailers)) {
      const forwarded = forwardableTrailers(trailers);
      if (!isEmpty(forwarded)) res.addTrailers(forwarded);
    }
    if (proxy.responseBodyFilter) {
      const tail = proxy.responseBodyFilter(this.session, Buffer.alloc(0), true, this.ctx);
      this.session.bytesSent += tail.length;
      res.end(tail.length > 0 ? tail : undefined);
    } else {
      res.end();
    }
    if (flow?.collector !== undefined) flow.store();
    this.finish(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    clearTimeout(this.#attemptTimer);
    this.controller = undefined;
    if (this.#finished) return;
    // The response was being thrown away for a retry anyway; its connection failing changes nothing.
    if (this.#discarding) return this.#retryDiscarded();
    const session = this.session;
    const peer = session.peer!;
    const failure = classifyUpstreamError(error, peer.toString(), !this.#responseStarted);
    if (
      !this.#responseStarted &&
      !this.#hasBody &&
      this.engine.retries(session, this.ctx, peer, failure, this.#requestStarted)
    ) {
      session.triedPeers.push(peer);
      session.attempt++;
      this.#retry();
      return;
    }
    this.fail(failure);
  }

  /** The response `retryResponse` refused is gone: the next attempt, on another peer if it can. */
  #retryDiscarded(): void {
    this.#discarding = false;
    this.#responseStarted = false;
    this.controller = undefined;
    const session = this.session;
    session.triedPeers.push(session.peer!);
    session.attempt++;
    this.#retry();
  }

  /** A request opted into a cache: invalidate, serve from the cache, or fill it through the lock. */
  async #cached(settings: CacheSettings): Promise<void> {
    const { proxy } = this.engine;
    const session = this.session;
    const cache = settings.cache;
    const info = requestInfo(session);
    const key = proxy.cacheKey ? proxy.cacheKey(session, this.ctx) : cache.keyFor(info);
    const flow = new CacheFlow(settings, info, key);
    this.cacheFlow = flow;
    const method = info.method;
    if (method !== 'GET' && method !== 'HEAD') {
      flow.mode = SAFE_METHODS.has(method) ? 'pass' : 'invalidate';
      return this.#attempt();
    }
    const found = cache.lookup(info, key);
    flow.ttlSeconds = found.status === 'miss' ? 0 : found.ttlSeconds;
    if (found.status === 'hit' || found.status === 'stale') {
      const entry = found.entry;
      if (proxy.cacheHitFilter === undefined || proxy.cacheHitFilter(session, entry, this.ctx) === 'serve') {
        if (found.status === 'hit') {
          cache.count('hit');
          return this.#serveEntry(flow, entry, { hit: true, ttl: found.ttlSeconds });
        }
        cache.count('stale');
        if (found.revalidateInBackground) await this.#revalidateInBackground(flow, entry);
        return this.#serveEntry(flow, entry, { hit: true, ttl: found.ttlSeconds, detail: 'stale' });
      }
      flow.fwd = 'bypass';
    } else if (found.status === 'miss') {
      if (found.onlyIfCached) {
        cache.count('miss');
        const status = cache.cacheStatus({ fwd: found.fwd, detail: 'only-if-cached' });
        session.respond(504, '504 Gateway Timeout\n', { 'cache-status': status });
        return this.finish(undefined);
      }
      flow.fwd = found.fwd;
    } else {
      flow.fwd = found.reason === 'stale' || found.reason === 'response-no-cache' ? 'stale' : 'request';
      flow.entry = found.entry;
      flow.conditional = found.conditionalHeaders;
    }
    // A HEAD cannot fill the cache (its response has no body); only a stored GET can answer it.
    if (method === 'HEAD' && flow.entry === undefined) {
      cache.count('miss');
      flow.mode = 'pass';
      return this.#attempt();
    }
    return this.#lockAndFill(flow);
  }

  /** The cache lock: the first request for a key fetches; the others wait for it, then look again. */
  async #lockAndFill(flow: CacheFlow): Promise<void> {
    const cache = flow.cache;
    const handle = cache.lock.acquire(flow.key);
    if (handle.kind === 'writer') {
      flow.writer = handle;
    } else {
      const result = await handle.wait();
      if (this.#finished) return;
      flow.collapsed = true;
      if (result === 'ready') {
        const again = cache.lookup(flow.info, flow.key);
        if (again.status === 'hit' || again.status === 'stale') {
          cache.count(again.status);
          return this.#serveEntry(flow, again.entry, { hit: true, ttl: again.ttlSeconds, collapsed: true });
        }
        flow.entry = again.status === 'revalidate' ? again.entry : undefined;
        flow.conditional = again.status === 'revalidate' ? again.conditionalHeaders : undefined;
      }
      // timeout, uncacheable, failed (or gone again): fetch on our own, without the lock.
    }
    cache.count(flow.entry === undefined ? 'miss' : 'revalidation');
    flow.mode = 'fill';
    return this.#attempt();
  }

  /**
   * Cache steps when upstream response headers arrive, after `upstreamResponseFilter`. Returns
   * `'local'` when the answer will come from the cache instead (a 304 that refreshed the entry, a 5xx
   * covered by stale-if-error, a 304 for another representation that needs a refetch).
   */
  #cacheResponse(flow: CacheFlow, response: ResponseHeader): 'local' | 'forward' {
    const cache = flow.cache;
    const status = response.status;
    const head = { status, headers: response.headers };
    if (flow.mode === 'invalidate') {
      cache.invalidate(flow.info, head);
      this.#cacheStatus(response, cache.cacheStatus({ fwd: 'method', fwdStatus: status }));
      return 'forward';
    }
    if (flow.mode === 'pass') {
      this.#cacheStatus(response, cache.cacheStatus({ fwd: flow.fwd, fwdStatus: status }));
      return 'forward';
    }
    flow.responseTime = cache.now();
    const entry = flow.entry;
    if (entry !== undefined && status === 304) {
      const refreshed = cache.freshen(flow.info, entry, { ...head, ...flow.times() }, flow.storeOptions());
      if (refreshed === undefined) {
        flow.local = 'refetch';
        return 'local';
      }
      flow.release(refreshed.stored ? 'ready' : 'uncacheable');
      flow.local = 'freshened';
      flow.localEntry = refreshed.entry;
      return 'local';
    }
    if (entry !== undefined && status >= 500 && cache.staleIfError(entry)) {
      flow.release('failed');
      flow.local = 'stale-if-error';
      flow.fwdStatus = status;
      return 'local';
    }
    const detail = this.#admit(flow, response);
    this.#cacheStatus(
      response,
      cache.cacheStatus({ fwd: flow.fwd, fwdStatus: status, collapsed: flow.collapsed, detail }),
    );
    return 'forward';
  }

  /** Appends our Cache-Status member after any from caches further upstream (RFC 9211 §2). */
  #cacheStatus(response: ResponseHeader, own: string): void {
    const upstream = response.get('cache-status');
    response.set('cache-status', upstream === undefined ? own : `${upstream}, ${own}`);
    this.session.cacheStatus = own;
  }

  /** Decides whether to buffer this response for the cache; returns the reason when not. */
  #admit(flow: CacheFlow, response: ResponseHeader): string | undefined {
    const { proxy } = this.engine;
    const cache = flow.cache;
    const head = { status: response.status, headers: response.headers };
    const decision: ResponseCacheDecision = proxy.responseCacheFilter
      ? proxy.responseCacheFilter(this.session, response, this.ctx)
      : 'cacheable';
    let reason: string | undefined = decision === 'uncacheable' ? 'response-cache-filter' : undefined;
    if (reason === undefined) {
      const verdict = cache.storability(flow.info, head);
      if (!verdict.storable) reason = verdict.reason;
    }
    if (reason === undefined) {
      const collector = cache.bodyCollector(head, flow.settings.maxObjectBytes);
      if (collector.state === 'too-large') reason = 'too-large';
      else {
        flow.collector = collector;
        flow.storedHead = { status: response.status, headers: { ...response.headers } };
        return undefined;
      }
    }
    flow.release('uncacheable');
    return reason;
  }

  /** The upstream exchange ended and the answer comes from the cache (see `#cacheResponse`). */
  #cacheLocalEnd(flow: CacheFlow): void {
    const local = flow.local;
    flow.local = 'none';
    if (local === 'freshened') {
      const entry = flow.localEntry!;
      flow.cache.count('revalidation');
      return this.#serveEntry(flow, entry, { fwd: flow.fwd, fwdStatus: 304, ttl: ttlOf(flow, entry) });
    }
    if (local === 'stale-if-error') {
      flow.cache.count('stale');
      return this.#serveEntry(flow, flow.entry!, {
        hit: true,
        fwd: 'stale',
        fwdStatus: flow.fwdStatus,
        ttl: flow.ttlSeconds,
        detail: 'stale-if-error',
      });
    }
    // refetch: the 304 named another representation; the entry is gone, fetch it unconditionally.
    flow.entry = undefined;
    flow.conditional = undefined;
    this.#responseStarted = false;
    this.#retry();
  }

  /** Sends a stored response downstream: Age, Cache-Status, 304/206/HEAD as the request asks; then `finish`. */
  #serveEntry(flow: CacheFlow, entry: CacheEntry, status: CacheStatusParams): void {
    if (this.#finished) return;
    const { proxy } = this.engine;
    const session = this.session;
    const cache = flow.cache;
    const cached = cache.respond(entry, flow.info);
    const headers = cached.headers as Record<string, string | string[]>;
    for (const name of Object.keys(headers)) if (headers[name] === undefined) delete headers[name];
    const own = cache.cacheStatus(status);
    const upstreamStatus = headers['cache-status'];
    headers['cache-status'] = upstreamStatus === undefined ? own : `${String(upstreamStatus)}, ${own}`;
    session.cacheStatus = own;
    let body = cached.body;
    if (headers['content-length'] === undefined && cached.status !== 304 && cached.status !== 204) {
      // Stored after a chunked transfer: the length is known now (for HEAD, the stored GET's).
      headers['content-length'] = String((body ?? entry.response.body).length);
    }
    const response = new ResponseHeader(cached.status, headers);
    try {
      proxy.responseFilter?.(session, response, this.ctx);
      if (proxy.responseBodyFilter) {
        delete response.headers['content-length'];
        if (body !== undefined) {
          const head = proxy.responseBodyFilter(session, body, false, this.ctx);
          const tail = proxy.responseBodyFilter(session, EMPTY, true, this.ctx);
          body = tail.length === 0 ? head : Buffer.concat([head, tail]);
        }
      }
    } catch (error) {
      return this.fail(toPorticoError(error, 'HOOK_FAILED'));
    }
    session.status = response.status;
    const res = session.response;
    res.writeHead(response.status, response.headers);
    if (body !== undefined && session.method !== 'HEAD') {
      session.bytesSent += body.length;
      res.end(body);
    } else {
      res.end();
    }
    this.finish(undefined);
  }

  /**
   * stale-while-revalidate: refresh the entry off the request path, at most one refresh per key (the
   * lock). The peer is chosen now, with this request's session and context, so that `logging` still
   * closes whatever `upstreamPeer` opened; the exchange itself outlives the request.
   */
  async #revalidateInBackground(flow: CacheFlow, entry: CacheEntry): Promise<void> {
    const writer = flow.cache.lock.tryAcquire(flow.key);
    if (writer === undefined) return;
    const { proxy, pools } = this.engine;
    const session = this.session;
    const fill = new BackgroundFill(this, flow, writer, entry);
    try {
      let peer = proxy.upstreamPeer(session, this.ctx);
      if (isPromise(peer)) peer = await peer;
      if (!(peer instanceof HttpPeer))
        throw new PorticoError('HOOK_FAILED', 'upstreamPeer must return an HttpPeer');
      const headers = this.engine.forwardHeaders(session, peer);
      prepareFillHeaders(headers, conditionalHeaders(entry.response.headers));
      const request: UpstreamRequest = { method: 'GET', path: session.path, headers };
      if (proxy.upstreamRequestFilter) {
        const r = proxy.upstreamRequestFilter(session, request, this.ctx);
        if (isPromise(r)) await r;
      }
      flow.cache.count('revalidation');
      fill.requestTime = flow.cache.now();
      pools.dispatcherFor(peer).dispatch(
        {
          path: request.path,
          method: request.method,
          headers: request.headers.raw,
          body: null,
          idempotent: true,
        },
        fill,
      );
    } catch {
      writer.release('failed');
    }
  }

  /** The client closed its connection; stop the upstream work and record the request as failed. */
  onDownstreamClose(): void {
    if (this.#finished) return;
    if (this.session.response.writableFinished) return;
    const error = new PorticoError(
      'DOWNSTREAM_CLOSED',
      'client closed the connection before the response ended',
      {
        source: 'downstream',
      },
    );
    this.controller?.abort(error);
    this.finish(error);
  }

  /** Ends a request that failed: an error response if nothing was sent yet, otherwise a closed connection. */
  fail(error: PorticoError): void {
    if (this.#finished) return;
    const { proxy } = this.engine;
    const session = this.session;
    const res = session.response;
    const flow = this.cacheFlow;
    if (flow !== undefined && !res.headersSent && flow.staleIfError(error)) {
      flow.release('failed');
      this.#serveEntry(flow, flow.entry!, {
        hit: true,
        fwd: 'stale',
        ttl: flow.ttlSeconds,
        detail: 'stale-if-error',
      });
      return;
    }
    if (res.headersSent) {
      safely(() => proxy.errorWhileProxy?.(session, error, this.ctx));
      res.destroy(error);
    } else {
      // Mid-upload too: the server reads the rest of the body and drops it, within its bounds.
      this.engine.respondWithError(session, this.ctx, error);
    }
    this.finish(error);
  }

  finish(error: PorticoError | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#attemptTimer);
    // The cache lock is released on every path; a no-op when the fill already released it.
    this.cacheFlow?.release('failed');
    (this.session.response as ResponseWithCall)[kCall] = undefined;
    this.engine.complete(this.session, this.ctx, error);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Sets the head of a gRPC Trailers-Only response (`grpc-status` among the headers: no message and no
 * trailers follow) without sending it. `writeHead` would send the headers at once and the end of the
 * stream apart, but an HTTP/2 gRPC client reads such a status only from headers that end the stream,
 * and node sends them so when `end()` finds them still unsent.
 */
function holdHead(res: DownstreamResponse, response: ResponseHeader): void {
  res.statusCode = response.status;
  const headers = response.headers;
  for (const name of Object.keys(headers)) res.setHeader(name, headers[name]!);
}

/** Without the key array `Object.keys` would allocate for every response. */
function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

/** RFC 9110 §9.2.1. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Client fields a cache fill must not forward: the cache wants the whole, unconditional representation. */
const FILL_STRIPPED = [
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
];

/** Strips Range and the client's conditionals, then adds the stored response's validators, if any. */
function prepareFillHeaders(
  headers: HeaderList,
  conditional: Readonly<Record<string, string>> | undefined,
): void {
  for (const name of FILL_STRIPPED) headers.remove(name);
  if (conditional === undefined) return;
  for (const name of Object.keys(conditional)) headers.set(name, conditional[name]!);
}

function ttlOf(flow: CacheFlow, entry: CacheEntry): number {
  const age = flow.cache.now() - entry.responseTime + entry.initialAgeMs;
  return Math.trunc((entry.lifetimeMs - age) / 1000);
}

/** What the cache needs to know about a downstream request; built once per cached request. */
function requestInfo(session: Session): RequestInfo {
  const req = session.request;
  const [path, query] = splitPathAndQuery(req.url!);
  return {
    method: req.method!,
    scheme: session.secure ? 'https' : 'http',
    host: req.headers.host ?? '',
    path,
    query,
    headers: req.headers,
  };
}

/** Per-request cache state, allocated only for requests a ProxyHttp opted into a cache. */
class CacheFlow {
  readonly settings: CacheSettings;
  readonly cache: HttpCache;
  readonly info: RequestInfo;
  readonly key: string;
  /** `fill`: a GET that may be stored; `invalidate`: an unsafe method; `pass`: forwarded, never stored. */
  mode: 'fill' | 'invalidate' | 'pass' = 'pass';
  fwd: ForwardReason = 'method';
  /** The stored response being revalidated, if any. */
  entry: CacheEntry | undefined = undefined;
  conditional: Readonly<Record<string, string>> | undefined = undefined;
  ttlSeconds = 0;
  writer: WriterLock | undefined = undefined;
  collapsed = false;
  collector: BodyCollector | undefined = undefined;
  storedHead: { status: number; headers: Record<string, string | string[]> } | undefined = undefined;
  requestTime = 0;
  responseTime = 0;
  /** Whether the answer comes from the cache once the upstream exchange ends. */
  local: 'none' | 'freshened' | 'stale-if-error' | 'refetch' = 'none';
  localEntry: CacheEntry | undefined = undefined;
  fwdStatus = 0;

  constructor(settings: CacheSettings, info: RequestInfo, key: string) {
    this.settings = settings;
    this.cache = settings.cache;
    this.info = info;
    this.key = key;
  }

  /** Called by each attempt of a fill: an unconditional, whole-body request plus our validators. */
  prepareFill(headers: HeaderList): void {
    prepareFillHeaders(headers, this.entry === undefined ? undefined : this.conditional);
    this.requestTime = this.cache.now();
  }

  times(): { requestTime: number; responseTime: number } {
    return { requestTime: this.requestTime, responseTime: this.responseTime };
  }

  storeOptions(): { defaultTtlMs: number | undefined; key: string } {
    return { defaultTtlMs: this.settings.defaultTtlMs, key: this.key };
  }

  collect(chunk: Buffer): void {
    if (this.collector!.push(chunk) === 'too-large') {
      this.collector = undefined;
      this.storedHead = undefined;
      this.release('uncacheable');
    }
  }

  /** The body ended: store it, and tell the waiters. */
  store(): void {
    const body = this.collector!.finish();
    this.collector = undefined;
    const head = this.storedHead!;
    this.storedHead = undefined;
    if (body === undefined) return this.release('uncacheable');
    const result = this.cache.store(
      this.info,
      { status: head.status, headers: head.headers, body, ...this.times() },
      this.storeOptions(),
    );
    this.release(result.stored ? 'ready' : 'uncacheable');
  }

  /** May a stale entry stand in for this failure (stale-if-error)? */
  staleIfError(error: PorticoError): boolean {
    return (
      this.mode === 'fill' &&
      this.entry !== undefined &&
      error.source === 'upstream' &&
      this.cache.staleIfError(this.entry)
    );
  }

  release(outcome: 'ready' | 'uncacheable' | 'failed'): void {
    const writer = this.writer;
    if (writer === undefined) return;
    this.writer = undefined;
    writer.release(outcome);
  }
}

/**
 * The upstream exchange of a background revalidation (stale-while-revalidate): nothing goes
 * downstream; a 304 refreshes the entry, a storable 200 replaces it, anything else leaves it. The
 * lock is released on every path.
 */
class BackgroundFill implements Dispatcher.DispatchHandler {
  readonly #call: ProxyCall<unknown>;
  readonly #flow: CacheFlow;
  readonly #writer: WriterLock;
  readonly #entry: CacheEntry;
  requestTime = 0;
  #collector: BodyCollector | undefined;
  #head: { status: number; headers: Record<string, string | string[]> } | undefined;
  #responseTime = 0;

  constructor(call: ProxyCall<unknown>, flow: CacheFlow, writer: WriterLock, entry: CacheEntry) {
    this.#call = call;
    this.#flow = flow;
    this.#writer = writer;
    this.#entry = entry;
  }

  onRequestStart(): void {}

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[]>,
  ): void {
    if (statusCode < 200) return;
    const flow = this.#flow;
    const cache = flow.cache;
    const call = this.#call;
    this.#responseTime = cache.now();
    const response = new ResponseHeader(statusCode, headers);
    const { proxy } = call.engine;
    try {
      proxy.upstreamResponseFilter?.(call.session, response, call.ctx);
      const times = { requestTime: this.requestTime, responseTime: this.#responseTime };
      if (statusCode === 304) {
        const refreshed = cache.freshen(
          flow.info,
          this.#entry,
          { status: 304, headers, ...times },
          flow.storeOptions(),
        );
        this.#writer.release(refreshed?.stored === true ? 'ready' : 'failed');
        return;
      }
      const cacheable = proxy.responseCacheFilter
        ? proxy.responseCacheFilter(call.session, response, call.ctx) === 'cacheable'
        : true;
      const head = { status: response.status, headers: response.headers };
      if (cacheable && cache.storability(flow.info, head).storable) {
        const collector = cache.bodyCollector(head, flow.settings.maxObjectBytes);
        if (collector.state === 'buffering') {
          this.#collector = collector;
          this.#head = { status: response.status, headers: { ...response.headers } };
          return;
        }
      }
    } catch (error) {
      controller.abort(toPorticoError(error, 'HOOK_FAILED'));
      return;
    }
    this.#writer.release('uncacheable');
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#collector?.push(chunk) === 'too-large') {
      this.#collector = undefined;
      this.#writer.release('uncacheable');
    }
  }

  onResponseEnd(): void {
    const body = this.#collector?.finish();
    this.#collector = undefined;
    if (body === undefined || this.#head === undefined) return this.#writer.release('uncacheable');
    const flow = this.#flow;
    const result = flow.cache.store(
      flow.info,
      { ...this.#head, body, requestTime: this.requestTime, responseTime: this.#responseTime },
      flow.storeOptions(),
    );
    this.#writer.release(result.stored ? 'ready' : 'uncacheable');
  }

  onResponseError(): void {
    this.#writer.release('failed');
  }
}

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
