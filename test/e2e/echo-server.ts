/**
 * The e2e suite's origin: answers every request with JSON naming the origin and echoing what it received
 * (method, path, headers), so the suite can tell which Backend served a request and what the proxy's
 * filters did to it. Node built-ins only: the same file runs in-process on loopback
 * (PORTICO_E2E_ORIGIN=local) and, mounted from a ConfigMap, in a Pod (`node echo-server.ts`, env
 * ECHO_NAME and PORT; PORTICO_E2E_ORIGIN=kind).
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

/** What an echo origin answers. */
export interface Echo {
  origin: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface EchoServer {
  name: string;
  port: number;
  close(): Promise<void>;
}

function echoHandler(name: string): Parameters<typeof createServer>[1] {
  return (req, res) => {
    if (req.url === '/healthz') return void res.end('ok');
    const body = JSON.stringify({
      origin: name,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
    } satisfies Echo);
    res.writeHead(200, { 'content-type': 'application/json', 'x-e2e-origin': name });
    res.end(body);
  };
}

/** Starts an echo origin named `name` on `host`:`port` (0: any free port). */
export async function startEcho(name: string, host = '127.0.0.1', port = 0): Promise<EchoServer> {
  const server: Server = createServer(echoHandler(name));
  server.keepAliveTimeout = 30_000;
  server.listen(port, host);
  await once(server, 'listening');
  return {
    name,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// In a Pod: `node echo-server.ts` serves until SIGTERM.
if (import.meta.main) {
  const name = process.env['ECHO_NAME'] ?? 'echo';
  const echo = await startEcho(name, '0.0.0.0', Number(process.env['PORT'] ?? 8080));
  console.log(`echo origin ${name} listening on ${echo.port}`);
  process.once('SIGTERM', () => void echo.close().then(() => process.exit(0)));
}
