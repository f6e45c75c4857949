import type { MessageChannel } from '../server/service.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.ts';
import { parseDocuments } from '../config/file-source.ts';
import { sendJson, type AdminServer } from '../server/index.ts';
import type { ConfigStore, ApplyReport } from './config-store.ts';
import { compileGatewayTable, type GatewayTable } from './runtime.ts';
import { explain, type ExplainRequest } from './explain.ts';
import {
  parsePurgeRequest,
  PURGE_RESULT_TOPIC,
  PURGE_TOPIC,
  type PurgeMessage,
  type PurgeResult,
} from './gateway-proxy.ts';

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const PROGRAMMED_WAIT_MS = 5_000;
const PURGE_WAIT_MS = 2_000;

export interface AdminApiOptions {
  /** Bearer token for writes; without one, writes are refused (403) and say how to enable them. */
  token: string | undefined;
  /**
   * How purges reach the workers' caches (`Server` provides it). Without it, `POST /api/v1/cache/purge`
   * answers 501.
   */
  cacheChannel?: PurgeChannel;
}

/** The primary's side of the purge exchange: broadcast to every worker, collect their answers. */
export type PurgeChannel = Pick<MessageChannel, 'broadcast' | 'onMessage' | 'workers'>;

/**
 * The admin API on the admin listener: read the RouteSet and per-worker versions, replace or patch it
 * in memory, delete objects, and explain a request. Reads are open; writes need `Authorization: Bearer`.
 * Errors are JSON with field paths, the same shape `portico validate` prints.
 */
export function registerAdminApi(admin: AdminServer, store: ConfigStore, options: AdminApiOptions): void {
  let explained: GatewayTable | undefined;
  const table = (): GatewayTable => {
    if (explained?.version !== store.current.version) explained = compileGatewayTable(store.current);
    return explained;
  };

  admin.route('GET', '/api/v1/routeset', (_req, res) =>
    sendJson(res, 200, { version: store.current.version, objects: store.documents() }),
  );
  admin.route('GET', '/api/v1/status', (_req, res) => sendJson(res, 200, statusBody(store)));
  admin.route(
    'PUT',
    '/api/v1/routeset',
    write(options, async (docs) => store.replace(docs), store),
  );
  admin.route(
    'PATCH',
    '/api/v1/routeset',
    write(options, async (docs) => store.apply(docs), store),
  );
  admin.route('DELETE', '/api/v1/routeset', async (req, res) => {
    if (!authorized(req, res, options)) return;
    const url = new URL(req.url!, 'http://admin');
    const kind = url.searchParams.get('kind');
    const name = url.searchParams.get('name');
    if (kind === null || name === null) {
      return sendJson(res, 400, { error: 'give ?kind=Route|Backend&name=NAME[&namespace=NS]' });
    }
    const key = `${kind} ${url.searchParams.get('namespace') ?? 'default'}/${name}`;
    const { removed, report } = await store.remove([key]);
    if (removed.length === 0) return sendJson(res, 404, { error: `${key} does not exist` });
    await waitProgrammed(store, report.version);
    sendJson(res, 200, { removed, ...reportBody(report, store) });
  });
  admin.route('POST', '/api/v1/explain', async (req, res) => {
    const body = (await readJson(req, res)) as ExplainRequest | undefined;
    if (body === undefined) return;
    if (typeof body?.host !== 'string' || typeof body.path !== 'string') {
      return sendJson(res, 400, {
        error: 'body must be {"host": "...", "path": "/...", "method"?: "GET", "headers"?: {}}',
      });
    }
    sendJson(res, 200, explain(table(), body, store.health));
  });
  registerPurge(admin, options);
}

/**
 * `POST /api/v1/cache/purge` with `{"key": "..."}` or `{"host": "...", "pathPrefix": "/..."}`: every
 * worker purges its own cache and says how many entries it removed. Workers that do not answer within
 * two seconds are listed as missing.
 */
function registerPurge(admin: AdminServer, options: AdminApiOptions): void {
  const channel = options.cacheChannel;
  const pending = new Map<number, { results: Map<number, number>; done: () => void; expected: number }>();
  let nextId = 1;
  channel?.onMessage(PURGE_RESULT_TOPIC, (body, workerId) => {
    const result = body as PurgeResult;
    const waiting = pending.get(result.id);
    if (waiting === undefined) return;
    waiting.results.set(workerId, result.removed);
    if (waiting.results.size >= waiting.expected) waiting.done();
  });
  admin.route('POST', '/api/v1/cache/purge', async (req, res) => {
    if (!authorized(req, res, options)) return;
    const body = await readJson(req, res);
    if (body === undefined) return;
    const request = parsePurgeRequest(body);
    if (typeof request === 'string') return sendJson(res, 400, { error: request });
    if (channel === undefined) {
      return sendJson(res, 501, { error: 'cache purge is not wired to the workers in this process' });
    }
    const id = nextId++;
    const expected = Math.max(1, channel.workers);
    const results = new Map<number, number>();
    const { promise, resolve } = Promise.withResolvers<void>();
    pending.set(id, { results, done: resolve, expected });
    const timer = setTimeout(resolve, PURGE_WAIT_MS).unref();
    channel.broadcast(PURGE_TOPIC, { id, request } satisfies PurgeMessage);
    await promise;
    clearTimeout(timer);
    pending.delete(id);
    const workers = Object.fromEntries([...results].sort(([a], [b]) => a - b));
    const removed = [...results.values()].reduce((a, b) => a + b, 0);
    sendJson(res, 200, { removed, workers, missing: Math.max(0, expected - results.size) });
  });
}

function write(
  options: AdminApiOptions,
  change: (docs: unknown[]) => Promise<ApplyReport>,
  store: ConfigStore,
) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!authorized(req, res, options)) return;
    const text = await readBody(req, res);
    if (text === undefined) return;
    let docs: unknown[];
    try {
      docs = parseDocuments(text, 'request body');
    } catch (error) {
      if (error instanceof ConfigError)
        return sendJson(res, 400, { error: 'the body is not valid YAML or JSON', errors: error.errors });
      throw error;
    }
    const report = await change(docs);
    await waitProgrammed(store, report.version);
    sendJson(res, report.rejected.length > 0 ? 422 : 200, reportBody(report, store));
  };
}

function authorized(req: IncomingMessage, res: ServerResponse, options: AdminApiOptions): boolean {
  if (options.token === undefined) {
    sendJson(res, 403, {
      error: 'admin writes are disabled: start portico with --admin-token or PORTICO_ADMIN_TOKEN',
    });
    return false;
  }
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) {
    res.setHeader('www-authenticate', 'Bearer realm="portico-admin"');
    sendJson(res, 401, { error: 'missing bearer token: send Authorization: Bearer <token>' });
    return false;
  }
  const given = Buffer.from(header.slice(7));
  const expected = Buffer.from(options.token);
  if (
    given.length !== expected.length ||
    !process.getBuiltinModule('node:crypto').timingSafeEqual(given, expected)
  ) {
    sendJson(res, 403, { error: 'the bearer token is not valid' });
    return false;
  }
  return true;
}

async function waitProgrammed(store: ConfigStore, version: number): Promise<void> {
  await Promise.race([
    store.programmed(version),
    new Promise((r) => setTimeout(r, PROGRAMMED_WAIT_MS).unref()),
  ]);
}

function reportBody(report: ApplyReport, store: ConfigStore): object {
  return { ...report, programmed: store.isProgrammed() && store.current.version >= report.version };
}

function statusBody(store: ConfigStore): object {
  return {
    version: store.current.version,
    programmed: store.isProgrammed(),
    workers: Object.fromEntries([...store.acks].map(([id, ack]) => [id, ack])),
    lastChange: store.lastReport,
  };
}

async function readBody(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      sendJson(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const text = await readBody(req, res);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    sendJson(res, 400, { error: 'body is not valid JSON' });
    return undefined;
  }
}
