import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { Server as NetServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError, type PorticoError } from '../errors.ts';
import type { Logger, ProxyMetrics } from '../observability/index.ts';
import { parseListenAddress } from '../server/listen.ts';
import type { ListeningService, ServiceContext } from '../server/service.ts';
import { PeerPools } from '../upstream/index.ts';
import { negotiatedEntry, serveCertificates, sharedTicketKeys, type CertificateStore } from '../tls/index.ts';
import { isValidAuthority, normalizeHost, requestAuthority } from '../http.ts';
import { equalsIgnoreCase, MAX_HEADER_FIELDS } from '../http1.ts';
import type { IncomingHttpHeaders } from 'node:http';
import { ProxyEngine } from './engine.ts';
import { H1Server } from './h1-server.ts';
import type { ProxyHttp } from './proxy-http.ts';
import type { DownstreamRequest, DownstreamResponse, Session } from './session.ts';
import { UpgradeProxy, serveUpgrades } from './upgrade.ts';

/** Limits on what a client may send and how slowly; every one ends in a 4xx, never a hung worker. */
export interface DownstreamLimits {
  /** Request line + headers, bytes; larger → 431. Default 16 384. */
  maxHeaderBytes: number;
  /** Header fields of a request (and of its trailers); more → 431. Default 256, Pingora's. */
  maxHeaderFields: number;
  /** Request target length; longer → 414. Default 8 192. */
  maxUrlBytes: number;
  /**
   * Time allowed to receive the whole header section; slower → 408 and close. On a TLS listener it
   * also bounds the handshake (a client that never finishes one is dropped). Default 30 000 ms.
   */
  headersTimeoutMs: number;
  /** Time allowed to receive the whole request, body included. Default 300 000 ms. */
  requestTimeoutMs: number;
  /**
   * Idle keep-alive connections close after this; an HTTP/2 connection silent this long gets a
   * GOAWAY (its open streams finish). Default 75 000 ms (nginx's default).
   */
  keepAliveTimeoutMs: number;
  /**
   * A WebSocket (or other upgraded) tunnel with no byte either way for this long is closed on both sides.
   * Default 300 000 ms: nginx's 60 s read timeout is the one users raise for WebSockets first.
   */
  websocketIdleTimeoutMs: number;
}

/** TLS listeners: HTTP/1.1 and (by ALPN) HTTP/2 on the same port, certificates chosen by SNI. */
export interface TlsListenOptions {
  /** Addresses to listen on with TLS, `host:port`. */
  listen: string[];
  /**
   * The certificates to serve, asked on every handshake: return a new store to add, remove or rotate
   * certificates — new handshakes use it, open connections keep what they negotiated.
   */
  certificates: () => CertificateStore | undefined;
  /** Offer HTTP/2 by ALPN. Default true. */
  h2?: boolean;
  /** Session-ticket keys (48 bytes). Default: {@link sharedTicketKeys}, the same in every worker. */
  ticketKeys?: Buffer;
}

export interface HttpProxyServiceOptions {
  name?: string;
  /** Plaintext addresses to listen on, `host:port`. At least one, unless `tls` has some. */
  listen: string[];
  /** TLS listeners. */
  tls?: TlsListenOptions;
  /** Also accept HTTP/2 with prior knowledge (h2c) on the plaintext listeners, next to HTTP/1.1. Default false. */
  h2c?: boolean;
  /** Most concurrent streams a downstream HTTP/2 connection may open. Default 128 (nginx's default). */
  maxConcurrentStreams?: number;
  limits?: Partial<DownstreamLimits>;
  /** Attempts per request across `failToConnect` retries. Default 3. */
  maxAttempts?: number;
  /** One JSON line per request. Default true. */
  accessLog?: boolean;
  /** Called with the process's pools once the service starts, e.g. to share them with a health checker. */
  onPools?: (pools: PeerPools) => void;
}

/** Any server this service listens with: HTTP/1.1 (with h2c sniffing), or HTTP/1.1 and HTTP/2 on TLS. */
type Listener = H1Server | Http2SecureServer;
type RequestListener = (req: DownstreamRequest, res: DownstreamResponse) => void;

/** During a drain, a keep-alive connection idle this long is closed; busier ones close after their next response. */
const IDLE_HOLD_OFF_MS = 1_000;

const DEFAULT_LIMITS: DownstreamLimits = {
  maxHeaderBytes: 16_384,
  maxHeaderFields: MAX_HEADER_FIELDS,
  maxUrlBytes: 8_192,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 75_000,
  websocketIdleTimeoutMs: 300_000,
};

/**
 * Wraps a ProxyHttp into a listening service: `new Server().addService(httpProxyService(new MyProxy(),
 * { listen: ['0.0.0.0:8080'] })).run()`. Each worker gets its own sockets, pools and engine.
 */
export function httpProxyService<CTX>(
  proxy: ProxyHttp<CTX>,
  options: HttpProxyServiceOptions,
): HttpProxyService<CTX> {
  return new HttpProxyService(proxy, options);
}

/** The listening service built by {@link httpProxyService}. */
export class HttpProxyService<CTX> implements ListeningService {
  readonly kind = 'listening';
  readonly name: string;
  readonly listenAddresses: readonly string[];
  readonly #proxy: ProxyHttp<CTX>;
  readonly #options: HttpProxyServiceOptions;
  readonly #limits: DownstreamLimits;
  readonly #servers: Listener[] = [];
  readonly #tlsServers: Http2SecureServer[] = [];
  /** Every HTTP/1.1 server: those listening on plaintext ports and those taking TLS listeners' HTTP/1.1. */
  readonly #h1Servers: H1Server[] = [];
  /** Open downstream HTTP/2 sessions, told to go away (GOAWAY) on a drain. */
  readonly #h2Sessions = new Set<ServerHttp2Session>();
  readonly #ticketKeys: Buffer | undefined;
  #pools: PeerPools | undefined;
  #upgrades: UpgradeProxy<CTX> | undefined;
  #draining = false;

  constructor(proxy: ProxyHttp<CTX>, options: HttpProxyServiceOptions) {
    const tlsListen = options?.tls?.listen ?? [];
    if (!Array.isArray(options?.listen) || options.listen.length + tlsListen.length === 0) {
      throw new InvalidArgumentError('listen', 'give at least one host:port (or tls.listen)');
    }
    for (const address of options.listen) parseListenAddress(address, 'listen');
    for (const address of tlsListen) parseListenAddress(address, 'tls.listen');
    this.listenAddresses = Object.freeze([...options.listen, ...tlsListen]);
    if (options.tls !== undefined) {
      if (typeof options.tls.certificates !== 'function')
        throw new InvalidArgumentError('tls.certificates', 'must be a function returning a CertificateStore');
      // In the primary this runs before workers fork, so they inherit the same keys.
      this.#ticketKeys = options.tls.ticketKeys ?? sharedTicketKeys();
    }
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value <= 0)
        throw new InvalidArgumentError(`limits.${name}`, 'must be a positive integer');
    }
    this.#proxy = proxy;
    this.#options = options;
    this.name = options.name ?? 'http-proxy';
  }

  /** Plaintext ports actually bound (useful with port 0), in `listen` order. */
  get ports(): number[] {
    return this.#servers
      .filter((s) => !this.#tlsServers.includes(s as Http2SecureServer))
      .map((s) => (s.address() as { port: number }).port);
  }

  /** TLS ports actually bound, in `tls.listen` order. */
  get tlsPorts(): number[] {
    return this.#tlsServers.map((s) => (s.address() as { port: number }).port);
  }

  async start(context: ServiceContext): Promise<void> {
    const { metrics, logger } = context;
    const pools = new PeerPools({ onConnect: () => metrics.upstreamConnections.inc() });
    this.#pools = pools;
    this.#options.onPools?.(pools);
    const accessLog = (this.#options.accessLog ?? true) ? logger.child({ log: 'access' }) : undefined;
    const engine = new ProxyEngine(this.#proxy, pools, {
      maxAttempts: this.#options.maxAttempts,
      onComplete: (session) => recordRequest(session, metrics, accessLog),
    });
    const upgrades = new UpgradeProxy(engine, { idleTimeoutMs: this.#limits.websocketIdleTimeoutMs });
    this.#upgrades = upgrades;
    const handle = this.#guard(upgrades.handle, undefined);
    for (const address of this.#options.listen) {
      await this.#listen(this.#createServer(handle, context), address, 'listen');
    }
    const tls = this.#options.tls;
    if (tls !== undefined) {
      const tlsHandle = this.#guard(upgrades.handle, tls.certificates);
      for (const address of tls.listen) {
        const server = this.#createTlsServer(tls, tlsHandle, context);
        this.#tlsServers.push(server);
        await this.#listen(server, address, 'tls.listen');
      }
    }
    logger.info(
      { service: this.name, listen: this.#options.listen, tls: tls?.listen, worker: context.workerId },
      'listening',
    );
  }

  async #listen(server: Listener, address: string, option: string): Promise<void> {
    const { host, port } = parseListenAddress(address, option);
    // exclusive: this worker binds its own SO_REUSEPORT socket instead of borrowing the primary's.
    server.listen({ host, port, reusePort: true, exclusive: true });
    await once(server, 'listening');
    this.#servers.push(server);
  }

  /**
   * Graceful drain, safe for a reuseport handover: stop accepting (with net.ipv4.tcp_migrate_req=1 the
   * kernel hands connections still queued on our socket to the successor's instead of resetting them),
   * answer every further request with `Connection: close` so active clients move on by themselves, and
   * only after `IDLE_HOLD_OFF_MS` close connections that stayed idle. Closing idle keep-alive
   * connections at once would race clients already sending their next request on them.
   */
  async stop(graceMs: number): Promise<void> {
    this.#draining = true;
    this.#upgrades?.drain(graceMs);
    // net.Server's close, not http.Server's: since Node 19 the latter also closes idle keep-alive
    // connections at once, which is exactly the race this drain avoids.
    const closed = this.#servers.map(
      (server) => new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())),
    );
    const closeIdle = (): void => {
      for (const server of this.#h1Servers) server.closeIdleConnections();
    };
    let sweep: NodeJS.Timeout | undefined;
    const holdOff = setTimeout(
      () => {
        closeIdle();
        sweep = setInterval(closeIdle, 250);
      },
      Math.min(IDLE_HOLD_OFF_MS, graceMs),
    );
    const grace = setTimeout(() => {
      for (const server of this.#h1Servers) server.closeAllConnections();
      for (const session of this.#h2Sessions) session.destroy();
    }, graceMs);
    for (const session of this.#h2Sessions) session.close();
    await Promise.all(closed);
    clearTimeout(holdOff);
    clearTimeout(grace);
    clearInterval(sweep);
    await this.#pools?.close();
  }

  /**
   * What every HTTP/2 server of this service shares: the settings we announce (the header-list bound
   * matches HTTP/1.1's `maxHeaderBytes`), and HTTP/1.1's field cap with room for the four request
   * pseudo-headers (node's own default is 128).
   */
  #h2Options(): {
    settings: { maxConcurrentStreams: number; maxHeaderListSize: number };
    maxHeaderListPairs: number;
  } {
    return {
      settings: {
        maxConcurrentStreams: this.#options.maxConcurrentStreams ?? 128,
        maxHeaderListSize: this.#limits.maxHeaderBytes,
      },
      maxHeaderListPairs: this.#limits.maxHeaderFields + 4,
    };
  }

  /** An HTTP/1.1 server with this service's limits, its malformed requests answered, its upgrades proxied. */
  #h1Server(handle: RequestListener, context: ServiceContext): H1Server {
    const limits = this.#limits;
    const server = new H1Server(
      {
        maxHeaderBytes: limits.maxHeaderBytes,
        maxHeaderFields: limits.maxHeaderFields,
        headersTimeoutMs: limits.headersTimeoutMs,
        requestTimeoutMs: limits.requestTimeoutMs,
        keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
      },
      handle,
    );
    server.on('clientError', (error: PorticoError, socket: Duplex) =>
      rejectMalformed(error, socket, context.logger),
    );
    serveUpgrades(server, handle);
    this.#h1Servers.push(server);
    return server;
  }

  #createServer(handle: RequestListener, context: ServiceContext): H1Server {
    const server = this.#h1Server(handle, context);
    if (this.#options.h2c === true) this.#acceptH2c(server, handle);
    this.#countConnections(server, context);
    return server;
  }

  /**
   * node's HTTP/2 server for TLS, with ALPN offering h2 and HTTP/1.1 on one port: an h2 connection stays
   * with it, an HTTP/1.1 one (or one without ALPN) goes to an H1Server that never listens itself.
   */
  #createTlsServer(
    tls: TlsListenOptions,
    handle: RequestListener,
    context: ServiceContext,
  ): Http2SecureServer {
    const serving = serveCertificates(tls.certificates, this.#ticketKeys!);
    // node:http2 (and with it node:tls) loads here, not at import: ~9 MB a plaintext worker never needs.
    const server = process.getBuiltinModule('node:http2').createSecureServer({
      allowHTTP1: true,
      noDelay: true,
      ALPNProtocols: tls.h2 === false ? ['http/1.1'] : ['h2', 'http/1.1'],
      SNICallback: serving.SNICallback,
      ticketKeys: this.#ticketKeys,
      ...this.#h2Options(),
      // node's default is 120 s; a handshake is part of getting a request's head, as in nginx.
      handshakeTimeout: this.#limits.headersTimeoutMs,
    });
    server.on('request', handle as unknown as (...args: unknown[]) => void);
    const http1 = this.#h1Server(handle, context);
    const h2 = server.listeners('secureConnection') as Array<(socket: TLSSocket) => void>;
    server.removeAllListeners('secureConnection');
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') for (const listener of h2) listener.call(server, socket);
      else http1.emit('connection', socket);
    });
    serving.attach(server);
    this.#countConnections(server, context);
    this.#trackSessions(server);
    return server;
  }

  /**
   * HTTP/2 prior knowledge next to HTTP/1.1 on one plaintext port: H1Server hands a connection that
   * opens with the HTTP/2 preface to an HTTP/2 server that never listens itself.
   */
  #acceptH2c(server: H1Server, handle: RequestListener): void {
    const h2: Http2Server = process.getBuiltinModule('node:http2').createServer(this.#h2Options());
    h2.on('request', handle as unknown as (...args: unknown[]) => void);
    this.#trackSessions(h2);
    server.priorKnowledge = (socket) => h2.emit('connection', socket);
  }

  #trackSessions(server: Http2Server | Http2SecureServer): void {
    server.on('session', (session: ServerHttp2Session) => {
      if (this.#draining) session.close();
      // As an idle HTTP/1.1 connection's keep-alive timeout (nginx's keepalive_timeout for HTTP/2):
      // a session silent this long gets a GOAWAY; streams still open finish, no new ones start.
      session.setTimeout(this.#limits.keepAliveTimeoutMs, () => session.close());
      this.#h2Sessions.add(session);
      session.once('close', () => this.#h2Sessions.delete(session));
    });
  }

  #countConnections(server: Listener, context: ServiceContext): void {
    const gauge = context.metrics.downstreamConnections;
    server.on('connection', (socket: Duplex) => {
      gauge.inc();
      socket.once('close', () => gauge.dec());
    });
  }

  /**
   * Checks what the parsers do not: URL length, draining (`Connection: close`) and, on TLS
   * listeners, that the Host belongs to the certificate the connection negotiated by SNI: otherwise
   * the request gets 421 Misdirected Request (RFC 9110 §15.5.20), and the client retries on a
   * connection of its own for that host. Hosts served by the same certificate entry may share a
   * connection (HTTP/2 coalescing).
   */
  #guard(
    handle: RequestListener,
    certificates: (() => CertificateStore | undefined) | undefined,
  ): RequestListener {
    const maxUrl = this.#limits.maxUrlBytes;
    return (req, res) => {
      if (this.#draining) res.shouldKeepAlive = false;
      if (req.url!.length > maxUrl) return localResponse(res, 414, 'URI Too Long');
      // HTTP/1.1's parser checks its Host itself.
      if (req.httpVersion === '2.0' && !isWellFormedH2Authority(req.headers))
        return localResponse(res, 400, 'Bad Request');
      if (certificates !== undefined) {
        const negotiated = negotiatedEntry(req.socket as TLSSocket);
        const wanted = certificates()?.lookup(normalizeHost(requestAuthority(req)));
        if (wanted !== undefined && wanted.key !== negotiated?.key)
          return localResponse(res, 421, 'Misdirected Request');
      }
      handle(req, res);
    };
  }
}

/**
 * `:authority` (or `host`) is `host[:port]`, and a `host` beside `:authority` names the same (RFC 9113
 * §8.3.1: a request where they differ is malformed).
 */
function isWellFormedH2Authority(headers: IncomingHttpHeaders): boolean {
  const authority = headers[':authority'] as string | undefined;
  const host = headers.host;
  if (authority !== undefined && host !== undefined && !equalsIgnoreCase(authority, host)) return false;
  return isValidAuthority(authority ?? host ?? '');
}

/** A small error response that also closes an HTTP/1.1 connection. */
function localResponse(res: DownstreamResponse, status: number, reason: string): void {
  const body = `${status} ${reason}\n`;
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
}

/** H1Server rejected the request (smuggling shapes, bad syntax, oversized headers, slow headers). */
function rejectMalformed(error: PorticoError, socket: Duplex, logger: Logger): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code = error.code;
  const status = code === 'REQUEST_TOO_LARGE' ? 431 : code === 'DOWNSTREAM_TIMEOUT' ? 408 : 400;
  const reason =
    status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  const body = `${status} ${reason}\n`;
  logger.warn(
    { log: 'access', status, code: error.code, reason: error.message },
    'rejected malformed request',
  );
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function recordRequest(session: Session, metrics: ProxyMetrics, accessLog: Logger | undefined): void {
  const now = performance.now();
  metrics.countRequest(session.status);
  metrics.requestDuration.observe((now - session.startedAt) / 1000);
  metrics.bytesSent.inc(session.bytesSent);
  if (session.peer !== undefined) {
    metrics.upstreamRequests.inc(session.attempt);
    if (session.attempt > 1) metrics.upstreamRetries.inc(session.attempt - 1);
    if (session.upstreamHeadersAt > 0)
      metrics.upstreamHeaderTime.observe((session.upstreamHeadersAt - session.startedAt) / 1000);
  }
  if (accessLog === undefined) return;
  accessLog.info({
    method: session.method,
    host: session.host,
    path: session.path,
    status: session.status,
    upstream: session.peer?.address,
    attempts: session.attempt,
    durationMs: Math.round((now - session.startedAt) * 1000) / 1000,
    upstreamMs:
      session.upstreamHeadersAt > 0
        ? Math.round((session.upstreamHeadersAt - session.startedAt) * 1000) / 1000
        : undefined,
    bytes: session.bytesSent,
    client: session.clientAddress,
    error: session.error?.message,
  });
}
