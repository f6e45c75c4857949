import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
  type IncomingHttpHeaders,
} from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import {
  Server,
  httpProxyService,
  createLogger,
  type ProxyHttp,
  type HttpProxyServiceOptions,
} from '../../src/index.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP origin on 127.0.0.1:0 that counts its requests and keeps the last one's headers. */
export interface Origin {
  server: HttpServer;
  port: number;
  address: string;
  requests: number;
  lastHeaders: IncomingHttpHeaders;
  lastRawHeaders: string[];
  close(): Promise<void>;
}

export async function startOrigin(handler: Handler): Promise<Origin> {
  const origin = { requests: 0, lastHeaders: {}, lastRawHeaders: [] } as unknown as Origin;
  const server = createServer((req, res) => {
    origin.requests++;
    origin.lastHeaders = req.headers;
    origin.lastRawHeaders = req.rawHeaders;
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin.server = server;
  origin.port = (server.address() as AddressInfo).port;
  origin.address = `127.0.0.1:${origin.port}`;
  origin.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return origin;
}

/** A Portico proxy in this process (workers: 0) on 127.0.0.1:0. */
export interface TestProxy {
  server: Server;
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function startProxy<CTX>(
  proxy: ProxyHttp<CTX>,
  options: Partial<HttpProxyServiceOptions> = {},
): Promise<TestProxy> {
  const server = new Server({
    workers: 0,
    admin: false,
    logger: createLogger({ level: 'silent', sync: true }),
  });
  const service = httpProxyService(proxy, { listen: ['127.0.0.1:0'], accessLog: false, ...options });
  server.addService(service);
  await server.start();
  const port = service.ports[0]!;
  return { server, port, url: `http://127.0.0.1:${port}`, stop: () => server.stop(1_000) };
}

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request over a fresh connection (agent: false), body collected. */
export function get(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes to a port and returns everything read until the server closes (or `timeoutMs`). */
export function rawExchange(port: number, payload: string, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', reject);
    socket.write(payload);
  });
}

/**
 * Opens a connection to `port`, sends nothing, and resolves with how long the server held it open
 * before closing it; rejects once `limitMs` pass with the connection still open.
 */
export async function msUntilSilentConnectionClosed(port: number, limitMs: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    const opened = Date.now();
    await once(socket, 'close', { signal: AbortSignal.timeout(limitMs) });
    return Date.now() - opened;
  } finally {
    socket.destroy();
  }
}

/** A port that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
