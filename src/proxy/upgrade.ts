/**
 * HTTP/1.1 upgrades (WebSocket and any other protocol but h2c). An upgrade request runs the same
 * ProxyHttp phases as any request up to the upstream's answer; a 101 then turns the downstream and the
 * upstream connection into one tunnel of bytes, which ends when either side closes, after an idle
 * timeout, or when a graceful stop's grace period runs out.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PorticoError, toPorticoError } from '../errors.ts';
import { listHasToken } from '../http1.ts';
import { HttpPeer, connectPeer } from '../upstream/index.ts';
import { attemptTimeoutMs, type ProxyEngine } from './engine.ts';
import type { H1Server } from './h1-server.ts';
import { stripResponseHopByHop } from '../http.ts';
import { ResponseHeader } from './headers.ts';
import type { UpstreamRequest } from './proxy-http.ts';
import { Session, type DownstreamRequest, type DownstreamResponse } from './session.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

const { request: httpRequest, ServerResponse: NodeServerResponse } = process.getBuiltinModule('node:http');

type RequestListener = (req: DownstreamRequest, res: DownstreamResponse) => void;

/**
 * Which upgrade requests become tunnels. Not `h2c`: that would make this hop HTTP/2, and a server may
 * ignore an upgrade (RFC 9110 §7.8), so it is served as plain HTTP/1.1. Not a request with a body:
 * the server hands an upgrade's body over as raw bytes after the head, which a tunnel could forward
 * only after the upstream had already answered; as plain HTTP/1.1, the body is read as usual.
 */
export function acceptsUpgrade(req: DownstreamRequest): boolean {
  const headers = req.headers;
  return (
    !listHasToken(headers.upgrade, 'h2c') &&
    headers['transfer-encoding'] === undefined &&
    (headers['content-length'] ?? '0') === '0'
  );
}

/**
 * Makes a listener proxy HTTP/1.1 upgrades. node hands an upgrade over as `(req, socket, head)` with no
 * response object; one is made here, and the request goes through `handle` — the same listener, guards
 * included, as every other request — to reach {@link UpgradeProxy.handle}.
 */
export function serveUpgrades(server: H1Server, handle: RequestListener): void {
  server.shouldUpgradeCallback = acceptsUpgrade;
  server.on('upgrade', (req: DownstreamRequest, socket: Socket, head: Buffer) =>
    handle(req, new UpgradeResponse(req, socket, head)),
  );
}

/**
 * The response to an upgrade request, written to the upgraded socket: node:http makes none, and with
 * this one the phases see the same Session as for any request (`session.respond` included). The
 * connection closes after any response but a 101.
 */
export class UpgradeResponse extends NodeServerResponse {
  /** The downstream connection. */
  readonly client: Socket;
  /** Bytes the client sent after the request head; they belong to the tunnel. */
  readonly head: Buffer;

  constructor(req: DownstreamRequest, client: Socket, head: Buffer) {
    // node reads only method, httpVersion* and headers of the request, which every DownstreamRequest has.
    super(req as IncomingMessage);
    this.client = client;
    this.head = head;
    this.shouldKeepAlive = false;
    // node removes its own listeners from an upgraded socket, and an 'error' nobody listens to is thrown.
    // Every error also closes the socket, and the close is what the upgrade reacts to.
    client.on('error', ignore);
    this.assignSocket(client);
    this.once('finish', closeClient);
  }
}

function ignore(): void {}

function closeClient(this: UpgradeResponse): void {
  this.client.destroySoon();
}

export interface UpgradeProxyOptions {
  /** A tunnel that carried no byte either way for this long is closed on both sides. */
  idleTimeoutMs: number;
}

/**
 * Proxies upgrade requests with an engine's ProxyHttp, settings and `onComplete`. The phases are
 * `newCtx → earlyRequestFilter → requestFilter → upstreamPeer → upstreamRequestFilter`, as for any
 * request (`failToConnect` and `upstreamPeer` again on a failed connection); then the request goes over a
 * connection of its own, since a tunnel never returns to a pool. The upstream's answer passes
 * `upstreamResponseFilter → responseFilter`; a 101 keeps its status whatever they set, since the bytes
 * after it belong to the new protocol, and a refusal is relayed with its body untouched
 * (`responseBodyFilter` does not run). `logging` runs once the tunnel has closed, so the request's
 * duration is the tunnel's. Route timeouts (`requestTimeoutMs`, `backendRequestTimeoutMs`) and the
 * peer's read timeout bound the wait for the upstream's answer, not the tunnel.
 */
export class UpgradeProxy<CTX> {
  readonly engine: ProxyEngine<CTX>;
  readonly idleTimeoutMs: number;
  /** Upgrades not ended yet: in their phases, relaying a refusal, or tunnelling. */
  readonly #calls = new Set<UpgradeCall<CTX>>();

  constructor(engine: ProxyEngine<CTX>, options: UpgradeProxyOptions) {
    this.engine = engine;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  /**
   * The request listener in front of the engine: an upgrade request (one {@link serveUpgrades} gave an
   * {@link UpgradeResponse}) is proxied here, every other request goes to the engine.
   */
  readonly handle = (req: DownstreamRequest, res: DownstreamResponse): void => {
    if (!(res instanceof UpgradeResponse)) return this.engine.handle(req, res);
    const call = new UpgradeCall(this, this.#calls, req, res);
    this.#calls.add(call);
    call.run().catch((error: unknown) => call.fail(toPorticoError(error, 'HOOK_FAILED')));
  };

  /**
   * Graceful stop: open tunnels go on until they close by themselves or `graceMs` has passed, and then
   * every upgrade still open is cut. node's `closeAllConnections` does not see upgraded sockets.
   */
  drain(graceMs: number): void {
    setTimeout(() => {
      for (const call of this.#calls) call.destroy();
    }, graceMs).unref();
  }
}

/** One upgrade request, from its phases to the end of its tunnel or of the refusal it relayed. */
class UpgradeCall<CTX> {
  readonly session: Session;
  ctx!: CTX;
  readonly #owner: UpgradeProxy<CTX>;
  readonly #calls: Set<UpgradeCall<CTX>>;
  readonly #res: UpgradeResponse;
  /** The current attempt's upstream request, until it upgrades. */
  #request: ClientRequest | undefined;
  /** The current attempt's connection opened, so the request may have reached the upstream. */
  #connected = false;
  #timer: NodeJS.Timeout | undefined;
  /** The upstream side of the open tunnel. */
  #tunnel: Socket | undefined;
  /** Tunnel sockets not closed yet. */
  #open = 0;
  #tunnelError: PorticoError | undefined;
  /** Bytes written downstream before the tunnel opened (earlier responses on the connection, the 101). */
  #bytesBefore = 0;
  #finished = false;

  constructor(
    owner: UpgradeProxy<CTX>,
    calls: Set<UpgradeCall<CTX>>,
    req: DownstreamRequest,
    res: UpgradeResponse,
  ) {
    this.#owner = owner;
    this.#calls = calls;
    this.#res = res;
    this.session = new Session(req, res, performance.now());
    res.client.once('close', this.#onClientClose);
  }

  async run(): Promise<void> {
    const { proxy } = this.#owner.engine;
    const session = this.session;
    this.ctx = proxy.newCtx ? proxy.newCtx() : (undefined as CTX);
    await proxy.earlyRequestFilter?.(session, this.ctx);
    if ((await proxy.requestFilter?.(session, this.ctx)) === 'responded') return this.finish(undefined);
    await this.#attempt();
  }

  async #attempt(): Promise<void> {
    const engine = this.#owner.engine;
    const session = this.session;
    if (this.#finished) return;
    const peer = await engine.proxy.upstreamPeer(session, this.ctx);
    if (!(peer instanceof HttpPeer)) {
      throw new PorticoError('HOOK_FAILED', 'upstreamPeer must return an HttpPeer');
    }
    if (this.#finished) return;
    session.peer = peer;
    const req = session.request;
    const headers = engine.forwardHeaders(session, peer);
    // Both are hop-by-hop, so forwarding dropped them; on this hop they are what the request is for.
    headers.set('connection', 'Upgrade');
    headers.set('upgrade', req.headers.upgrade!);
    const request: UpstreamRequest = { method: req.method!, path: req.url!, headers };
    await engine.proxy.upstreamRequestFilter?.(session, request, this.ctx);
    if (this.#finished) return;
    this.#send(peer, request);
  }

  #send(peer: HttpPeer, request: UpstreamRequest): void {
    this.#connected = false;
    const upstream = httpRequest({
      method: request.method,
      path: request.path,
      headers: request.headers.raw,
      createConnection: () => {
        const socket = connectPeer(peer);
        socket.once(peer.tls ? 'secureConnect' : 'connect', () => (this.#connected = true));
        return socket;
      },
    });
    this.#request = upstream;
    upstream.on('upgrade', this.#onUpgrade);
    upstream.on('response', this.#onResponse);
    upstream.on('error', this.#onUpstreamError);
    upstream.end();
    const timeoutMs = Math.min(attemptTimeoutMs(this.session), peer.timeouts.read || Infinity);
    if (timeoutMs !== Infinity) {
      this.#timer = setTimeout(() => {
        const message = `upstream did not answer the upgrade within ${timeoutMs} ms`;
        upstream.destroy(new PorticoError('UPSTREAM_TIMEOUT', message, { source: 'upstream' }));
      }, timeoutMs);
    }
  }

  /** The upstream's answer, filtered; undefined when a filter threw (the call has then failed). */
  #filterResponse(upstreamRes: IncomingMessage): ResponseHeader | undefined {
    clearTimeout(this.#timer);
    const session = this.session;
    session.upstreamHeadersAt = performance.now();
    const headers = upstreamRes.headers as Record<string, string | string[]>;
    stripResponseHopByHop(headers);
    const response = new ResponseHeader(upstreamRes.statusCode!, headers);
    const { proxy } = this.#owner.engine;
    try {
      proxy.upstreamResponseFilter?.(session, response, this.ctx);
      proxy.responseFilter?.(session, response, this.ctx);
    } catch (error) {
      this.fail(toPorticoError(error, 'HOOK_FAILED'));
      return undefined;
    }
    return response;
  }

  /** The upstream refused the upgrade: relay its response, then close. */
  readonly #onResponse = (upstreamRes: IncomingMessage): void => {
    const response = this.#filterResponse(upstreamRes);
    if (response === undefined) return;
    const session = this.session;
    const res = this.#res;
    session.status = response.status;
    res.writeHead(response.status, response.headers);
    upstreamRes.on('data', (chunk: Buffer) => (session.bytesSent += chunk.length));
    upstreamRes.on('error', this.#onUpstreamError);
    res.once('finish', () => this.finish(undefined));
    upstreamRes.pipe(res);
  };

  /** The upstream switched protocols: relay its 101 and join the two connections. */
  readonly #onUpgrade = (upstreamRes: IncomingMessage, tunnel: Socket, upstreamHead: Buffer): void => {
    this.#request = undefined;
    tunnel.on('error', this.#onTunnelError);
    const protocol = upstreamRes.headers.upgrade;
    const response = this.#filterResponse(upstreamRes);
    if (response === undefined) return void tunnel.destroy();
    const res = this.#res;
    const client = res.client;
    response.headers.connection = 'Upgrade';
    if (protocol !== undefined) response.headers.upgrade = protocol;
    this.session.status = 101;
    res.writeHead(101, response.headers);
    res.flushHeaders();
    res.detachSocket(client);
    this.#bytesBefore = client.bytesWritten;
    this.#tunnel = tunnel;
    this.#open = 2;
    tunnel.once('close', this.#onTunnelSideClose);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (res.head.length > 0) tunnel.write(res.head);
    client.pipe(tunnel);
    tunnel.pipe(client);
    // Reading or writing the client socket both count, so this sees traffic in either direction.
    client.setTimeout(this.#owner.idleTimeoutMs, this.destroy);
  };

  readonly #onUpstreamError = (error: Error): void => {
    clearTimeout(this.#timer);
    this.#request = undefined;
    if (this.#finished) return;
    const session = this.session;
    const peer = session.peer!;
    const started = session.responseStarted;
    const failure = classifyUpstreamError(error, peer.toString(), !started);
    if (!started && this.#owner.engine.retries(session, this.ctx, peer, failure, this.#connected)) {
      session.triedPeers.push(peer);
      session.attempt++;
      this.#attempt().catch((e: unknown) => this.fail(toPorticoError(e, 'HOOK_FAILED')));
      return;
    }
    this.fail(failure);
  };

  readonly #onTunnelError = (error: Error): void => {
    this.#tunnelError ??= classifyUpstreamError(error, this.session.peer!.toString(), false);
  };

  readonly #onClientClose = (): void => {
    if (this.#tunnel !== undefined) return this.#onTunnelSideClose();
    const error = new PorticoError(
      'DOWNSTREAM_CLOSED',
      'client closed the connection before the response ended',
      { source: 'downstream' },
    );
    this.finish(error);
  };

  /** One side of the tunnel closed: the other flushes what it holds and closes; the second close ends it. */
  readonly #onTunnelSideClose = (): void => {
    this.#res.client.destroySoon();
    this.#tunnel!.destroySoon();
    if (--this.#open > 0) return;
    if (this.#tunnelError !== undefined) this.fail(this.#tunnelError);
    else this.finish(undefined);
  };

  /** Cuts the upgrade wherever it is: the tunnel went idle, or a stop's grace period ended. */
  readonly destroy = (): void => {
    this.#request?.destroy();
    this.#tunnel?.destroy();
    this.#res.client.destroy();
  };

  /** Ends a failed upgrade: an error response if nothing was sent yet, otherwise closed connections. */
  fail(error: PorticoError): void {
    if (this.#finished) return;
    const session = this.session;
    const engine = this.#owner.engine;
    if (session.responseStarted) {
      try {
        engine.proxy.errorWhileProxy?.(session, error, this.ctx);
      } catch {
        // The hook must not throw; the connections close regardless.
      }
      this.#tunnel?.destroy();
      this.#res.client.destroy();
    } else {
      engine.respondWithError(session, this.ctx, error);
    }
    this.finish(error);
  }

  finish(error: PorticoError | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#request?.destroy();
    this.#calls.delete(this);
    const session = this.session;
    if (this.#tunnel !== undefined) session.bytesSent = this.#res.client.bytesWritten - this.#bytesBefore;
    this.#owner.engine.complete(session, this.ctx, error);
  }
}
