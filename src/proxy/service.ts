import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { Server as NetServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError } from '../errors.ts';
import type { Logger, ProxyMetrics } from '../observability/index.ts';
import { parseListenAddress } from '../server/listen.ts';
import type { ListeningService, ServiceContext } from '../server/service.ts';
import { PeerPools } from '../upstream/index.ts';
import { ProxyEngine } from './engine.ts';
import type { ProxyHttp } from './proxy-http.ts';
import type { Session } from './session.ts';

/** Limits on what a client may send and how slowly; every one ends in a 4xx, never a hung worker. */
export interface DownstreamLimits {
  /** Request line + headers, bytes; larger → 431. Default 16 384. */
  maxHeaderBytes: number;
  /** Request target length; longer → 414. Default 8 192. */
  maxUrlBytes: number;
  /** Time allowed to receive the whole header section; slower → 408 and close. Default 30 000 ms. */
  headersTimeoutMs: number;
  /** Time allowed to receive the whole request, body included. Default 300 000 ms. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections close after this. Default 75 000 ms (nginx's default). */
  keepAliveTimeoutMs: number;
}

export interface HttpProxyServiceOptions {
  name?: string;
  /** Addresses to listen on, `host:port`. At least one. */
  listen: string[];
  limits?: Partial<DownstreamLimits>;
  /** Attempts per request across `failToConnect` retries. Default 3. */
  maxAttempts?: number;
  /** One JSON line per request. Default true. */
  accessLog?: boolean;
  /** Called with the process's pools once the service starts, e.g. to share them with a health checker. */
  onPools?: (pools: PeerPools) => void;
}

/** During a drain, a keep-alive connection idle this long is closed; busier ones close after their next response. */
const IDLE_HOLD_OFF_MS = 1_000;

const DEFAULT_LIMITS: DownstreamLimits = {
  maxHeaderBytes: 16_384,
  maxUrlBytes: 8_192,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 75_000,
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
  readonly #proxy: ProxyHttp<CTX>;
  readonly #options: HttpProxyServiceOptions;
  readonly #limits: DownstreamLimits;
  readonly #servers: HttpServer[] = [];
  #pools: PeerPools | undefined;
  #draining = false;

  constructor(proxy: ProxyHttp<CTX>, options: HttpProxyServiceOptions) {
    if (!Array.isArray(options?.listen) || options.listen.length === 0) {
      throw new InvalidArgumentError('listen', 'give at least one host:port');
    }
    for (const address of options.listen) parseListenAddress(address, 'listen');
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value <= 0)
        throw new InvalidArgumentError(`limits.${name}`, 'must be a positive integer');
    }
    this.#proxy = proxy;
    this.#options = options;
    this.name = options.name ?? 'http-proxy';
  }

  /** Ports actually bound (useful with port 0), in `listen` order. */
  get ports(): number[] {
    return this.#servers.map((s) => (s.address() as { port: number }).port);
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
    const handle = this.#guard(engine.handle);
    for (const address of this.#options.listen) {
      const server = this.#createServer(handle, context);
      const { host, port } = parseListenAddress(address, 'listen');
      // exclusive: this worker binds its own SO_REUSEPORT socket instead of borrowing the primary's.
      server.listen({ host, port, reusePort: true, exclusive: true });
      await once(server, 'listening');
      this.#servers.push(server);
    }
    logger.info({ service: this.name, listen: this.#options.listen, worker: context.workerId }, 'listening');
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
    // net.Server's close, not http.Server's: since Node 19 the latter also closes idle keep-alive
    // connections at once, which is exactly the race this drain avoids.
    const closed = this.#servers.map(
      (server) => new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())),
    );
    const closeIdle = (): void => {
      for (const server of this.#servers) server.closeIdleConnections();
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
      for (const server of this.#servers) server.closeAllConnections();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(holdOff);
    clearTimeout(grace);
    clearInterval(sweep);
    await this.#pools?.close();
  }

  #createServer(
    handle: (req: IncomingMessage, res: ServerResponse) => void,
    context: ServiceContext,
  ): HttpServer {
    const limits = this.#limits;
    const server = createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
        requireHostHeader: true,
        noDelay: true,
      },
      handle,
    );
    const gauge = context.metrics.downstreamConnections;
    server.on('connection', (socket: Duplex) => {
      gauge.inc();
      socket.once('close', () => gauge.dec());
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      rejectMalformed(error, socket, context.logger),
    );
    return server;
  }

  /** Checks what node's parser does not: URL length, and draining (`Connection: close`). */
  #guard(
    handle: (req: IncomingMessage, res: ServerResponse) => void,
  ): (req: IncomingMessage, res: ServerResponse) => void {
    const maxUrl = this.#limits.maxUrlBytes;
    return (req, res) => {
      if (this.#draining) res.shouldKeepAlive = false;
      if (req.url!.length > maxUrl) {
        res.shouldKeepAlive = false;
        res
          .writeHead(414, { 'content-type': 'text/plain', 'content-length': 21 })
          .end('414 URI Too Long\n\n\n\n\n');
        return;
      }
      handle(req, res);
    };
  }
}

/** Node's parser rejected the request (smuggling shapes, bad syntax, oversized headers, slow headers). */
function rejectMalformed(error: NodeJS.ErrnoException, socket: Duplex, logger: Logger): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
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
