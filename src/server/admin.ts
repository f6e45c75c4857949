import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { parseListenAddress } from './listen.ts';

const { createServer } = process.getBuiltinModule('node:http');

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The admin listener: health, readiness, metrics, and (later) the admin API. Runs in the primary only, on
 * loopback by default; separate from the data-plane listeners so a flood of traffic cannot starve it.
 */
export class AdminServer {
  readonly #routes = new Map<string, AdminHandler>();
  #server: HttpServer | undefined;

  /** Registers a handler for `METHOD /path` (exact path, query ignored). */
  route(method: string, path: string, handler: AdminHandler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  async listen(address: string): Promise<number> {
    const { host, port } = parseListenAddress(address, 'admin');
    this.#server = createServer((req, res) => this.#dispatch(req, res));
    // reusePort: a successor (the surge pod of a rollout on hostNetwork) binds the same address while
    // this process still runs. Until one of them goes, either may answer a request; readiness has a
    // file of its own for that reason (ServerOptions.readinessFile).
    this.#server.listen({ host, port, reusePort: true });
    await once(this.#server, 'listening');
    return (this.#server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #dispatch(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const handler = this.#routes.get(`${req.method} ${path}`) ?? this.#routes.get(`* ${path}`);
    if (handler === undefined) {
      sendJson(res, 404, { error: `no admin endpoint ${req.method} ${path}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: (error as Error).message });
        else res.destroy();
      });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
