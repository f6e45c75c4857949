import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { PorticoError, toPorticoError, InvalidArgumentError } from '../errors.ts';
import { HttpPeer, type PeerPools } from '../upstream/index.ts';
import { forwardRequestHeaders, ResponseHeader, stripResponseHopByHop } from './headers.ts';
import type { ProxyHttp, UpstreamRequest } from './proxy-http.ts';
import { Session } from './session.ts';
import { classifyUpstreamError, defaultErrorStatus } from './upstream-errors.ts';

export interface ProxyEngineOptions {
  /** Attempts per request, the first included, when `failToConnect` keeps answering `'retry'`. Default 3. */
  maxAttempts?: number;
  /** Pseudonym in the `Via` header. Default `portico`. */
  via?: string;
  /** Called once per request after `logging`, for metrics and the access log; must not throw. */
  onComplete?: (session: Session) => void;
}

const kCall = Symbol('portico.call');
type ResponseWithCall = ServerResponse & { [kCall]?: ProxyCall<unknown> };

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** Methods RFC 9110 §9.2.2 calls idempotent: safe to send twice. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

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
    this.onComplete = options.onComplete;
  }

  /** The node:http `request` listener. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const call = new ProxyCall(this, req, res);
    (res as ResponseWithCall)[kCall] = call;
    res.once('close', onDownstreamClose);
    call.run().catch((error: unknown) => call.fail(toPorticoError(error, 'HOOK_FAILED')));
  };
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
  #hasBody: boolean;
  #requestStarted = false;
  #responseStarted = false;
  #finished = false;
  #attemptTimer: NodeJS.Timeout | undefined;

  constructor(engine: ProxyEngine<CTX>, req: IncomingMessage, res: ServerResponse) {
    this.engine = engine;
    this.session = new Session(req, res, performance.now());
    const headers = req.headers;
    this.#hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
  }

  async run(): Promise<void> {
    const { proxy } = this.engine;
    const session = this.session;
    this.ctx = proxy.newCtx ? proxy.newCtx() : (undefined as CTX);
    if (proxy.earlyRequestFilter) {
      const r = proxy.earlyRequestFilter(session, this.ctx);
      if (isPromise(r)) await r;
    }
    if (proxy.requestFilter) {
      let r = proxy.requestFilter(session, this.ctx);
      if (isPromise(r)) r = await r;
      if (r === 'responded') return this.finish(undefined);
    }
    await this.attempt();
  }

  async attempt(): Promise<void> {
    const { proxy, pools } = this.engine;
    const session = this.session;
    let peer = proxy.upstreamPeer(session, this.ctx);
    if (isPromise(peer)) peer = await peer;
    if (!(peer instanceof HttpPeer)) {
      throw new PorticoError('HOOK_FAILED', 'upstreamPeer must return an HttpPeer');
    }
    if (this.#finished) return;
    session.peer = peer;
    const req = session.request;
    const headers = forwardRequestHeaders(req.rawHeaders, {
      clientAddress: session.clientAddress,
      protocol: session.secure ? 'https' : 'http',
      via: this.engine.via,
    });
    if (peer.host !== undefined) headers.set('host', peer.host);
    const upstreamRequest: UpstreamRequest = { method: req.method!, path: req.url!, headers };
    if (proxy.upstreamRequestFilter) {
      const r = proxy.upstreamRequestFilter(session, upstreamRequest, this.ctx);
      if (isPromise(r)) await r;
    }
    if (this.#finished) return;
    this.#requestStarted = false;
    this.#armAttemptTimer();
    pools.dispatcherFor(peer).dispatch(
      {
        path: upstreamRequest.path,
        method: upstreamRequest.method,
        headers: upstreamRequest.headers.raw,
        body: this.#hasBody ? req : null,
        idempotent: !this.#hasBody && IDEMPOTENT.has(upstreamRequest.method),
        blocking: true,
      },
      this,
    );
  }

  #armAttemptTimer(): void {
    const { requestTimeoutMs, backendRequestTimeoutMs, startedAt } = this.session;
    const remaining =
      requestTimeoutMs === undefined ? Infinity : requestTimeoutMs - (performance.now() - startedAt);
    const timeoutMs = Math.max(0, Math.ceil(Math.min(remaining, backendRequestTimeoutMs ?? Infinity)));
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
    stripResponseHopByHop(headers);
    const response = new ResponseHeader(statusCode, headers);
    try {
      proxy.upstreamResponseFilter?.(session, response, this.ctx);
      proxy.responseFilter?.(session, response, this.ctx);
    } catch (error) {
      this.controller?.abort(toPorticoError(error, 'HOOK_FAILED'));
      return;
    }
    if (proxy.responseBodyFilter) delete response.headers['content-length'];
    session.status = response.status;
    session.response.writeHead(response.status, response.headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
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

  onResponseEnd(): void {
    const { proxy } = this.engine;
    const res = this.session.response;
    if (proxy.responseBodyFilter) {
      const tail = proxy.responseBodyFilter(this.session, Buffer.alloc(0), true, this.ctx);
      this.session.bytesSent += tail.length;
      res.end(tail.length > 0 ? tail : undefined);
    } else {
      res.end();
    }
    this.finish(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    clearTimeout(this.#attemptTimer);
    this.controller = undefined;
    if (this.#finished) return;
    const session = this.session;
    const peer = session.peer!;
    const failure = classifyUpstreamError(error, peer.toString(), !this.#responseStarted);
    const connectPhase = !this.#responseStarted && !this.#hasBody && failure.source === 'upstream';
    if (connectPhase && failure.code !== 'UPSTREAM_TIMEOUT' && this.#shouldRetry(peer, failure)) {
      session.triedPeers.push(peer);
      session.attempt++;
      this.attempt().catch((e: unknown) => this.fail(toPorticoError(e, 'HOOK_FAILED')));
      return;
    }
    this.fail(failure);
  }

  #shouldRetry(peer: HttpPeer, error: PorticoError): boolean {
    if (this.session.attempt >= this.engine.maxAttempts) return false;
    const { proxy } = this.engine;
    if (proxy.failToConnect === undefined) {
      return (
        error.retryable &&
        IDEMPOTENT.has(this.session.method) &&
        (this.#requestStarted ? this.session.attempt === 1 : true)
      );
    }
    try {
      return proxy.failToConnect(this.session, peer, this.ctx, error) === 'retry';
    } catch {
      return false;
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
    if (res.headersSent) {
      safely(() => proxy.errorWhileProxy?.(session, error, this.ctx));
      res.destroy(error);
    } else {
      let status = defaultErrorStatus(error);
      if (proxy.failToProxy) status = safely(() => proxy.failToProxy!(session, error, this.ctx)) ?? status;
      if (!session.request.complete) res.shouldKeepAlive = false;
      session.respond(status, `${status} ${STATUS_CODES[status] ?? ''}\n`);
    }
    this.finish(error);
  }

  finish(error: PorticoError | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#attemptTimer);
    const session = this.session;
    session.error = error;
    if (session.status === 0) session.status = session.response.statusCode;
    (session.response as ResponseWithCall)[kCall] = undefined;
    safely(() => this.engine.proxy.logging?.(session, error, this.ctx));
    safely(() => this.engine.onComplete?.(session));
  }
}

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
