import { PorticoError } from '../errors.ts';
import { hashKey } from '../lb/index.ts';
import type {
  ProxyHttp,
  ResponseHeader,
  Session,
  UpstreamRequest,
  RequestFilterResult,
  ConnectFailureDecision,
} from '../proxy/index.ts';
import {
  applyHeaderModifier,
  pickBackend,
  redirectResponse,
  rewritePath,
  type MatchResult,
} from '../routing/index.ts';
import type { HttpPeer } from '../upstream/index.ts';
import type { BackendRuntime, GatewayTable } from './runtime.ts';

/**
 * The table a worker serves. Swapping is one assignment; a request reads `current` once, in
 * `requestFilter`, and keeps that table to the end.
 */
export class TableHolder {
  current: GatewayTable | undefined;

  get version(): number {
    return this.current?.version ?? 0;
  }
}

export interface GatewayCtx {
  table: GatewayTable | undefined;
  match: MatchResult | undefined;
  backend: BackendRuntime | undefined;
  /** Index of the endpoint in flight, -1 when none (so `onStart`/`onEnd` stay paired). */
  endpoint: number;
  /** Endpoint indices that failed for this request. */
  failed: number[] | undefined;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

function splitUrl(url: string): [path: string, query: string] {
  const q = url.indexOf('?');
  return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}

/** The ProxyHttp behind `portico serve` and `portico controller`: Routes and Backends, served from a table. */
export class GatewayProxy implements ProxyHttp<GatewayCtx> {
  readonly #holder: TableHolder;

  constructor(holder: TableHolder) {
    this.#holder = holder;
  }

  newCtx(): GatewayCtx {
    return { table: undefined, match: undefined, backend: undefined, endpoint: -1, failed: undefined };
  }

  requestFilter(session: Session, ctx: GatewayCtx): RequestFilterResult {
    const table = this.#holder.current;
    if (table === undefined) return respond(session, 503, 'no routing table is loaded yet');
    ctx.table = table;
    const [path, query] = splitUrl(session.path);
    const match = table.routes.match({
      host: session.host ?? '',
      path,
      method: session.method,
      headers: (name) => session.header(name),
      query,
    });
    if (match === undefined) return respond(session, 404, 'no route matches this host and path');
    ctx.match = match;
    const rule = match.rule;
    if (rule.redirect !== undefined) {
      const scheme = session.secure ? 'https' : 'http';
      const listenerPort = session.request.socket.localPort ?? 0;
      const r = redirectResponse(
        rule.redirect,
        { scheme, host: session.host ?? '', listenerPort, path, query },
        match.pathPrefix,
      );
      session.respond(r.status, '', { location: r.location });
      return 'responded';
    }
    const pick = pickBackend(rule.backends);
    if (pick.status !== 'resolved') return respond(session, 500, 'the route has no usable backend reference');
    const backend = table.backends.get(pick.backendId);
    if (backend === undefined) return respond(session, 502, 'the backend is misconfigured');
    ctx.backend = backend;
    session.requestTimeoutMs = rule.requestTimeoutMs;
    session.backendRequestTimeoutMs = rule.backendRequestTimeoutMs;
    return 'continue';
  }

  upstreamPeer(session: Session, ctx: GatewayCtx): HttpPeer {
    const backend = ctx.backend!;
    const failed = ctx.failed;
    const key = backend.hashOn === undefined ? undefined : hashInput(backend.hashOn, session);
    const index = backend.selector.pick(key, failed === undefined ? undefined : (i) => !failed.includes(i));
    if (index < 0) {
      throw new PorticoError('NO_UPSTREAM', `Backend ${backend.id} has no usable endpoint`, {
        source: 'upstream',
      });
    }
    ctx.endpoint = index;
    backend.selector.onStart(index);
    return backend.peers[index]!;
  }

  upstreamRequestFilter(session: Session, request: UpstreamRequest, ctx: GatewayCtx): void {
    const match = ctx.match!;
    const { rewrite, requestHeaders } = match.rule;
    if (rewrite !== undefined) {
      if (rewrite.path !== undefined) {
        const [path, query] = splitUrl(request.path);
        request.path = rewritePath(rewrite.path, path, match.pathPrefix) + (query === '' ? '' : `?${query}`);
      }
      if (rewrite.hostname !== undefined) request.headers.set('host', rewrite.hostname);
    }
    if (requestHeaders !== undefined) applyHeaderModifier(requestHeaders, request.headers);
  }

  responseFilter(_session: Session, response: ResponseHeader, ctx: GatewayCtx): void {
    const modifier = ctx.match!.rule.responseHeaders;
    if (modifier !== undefined) applyHeaderModifier(modifier, response);
  }

  failToConnect(
    session: Session,
    _peer: HttpPeer,
    ctx: GatewayCtx,
    error: PorticoError,
  ): ConnectFailureDecision {
    const backend = ctx.backend!;
    const index = this.#release(ctx);
    if (index >= 0) (ctx.failed ??= []).push(index);
    const othersLeft = (ctx.failed?.length ?? 0) < backend.peers.length;
    return error.retryable && othersLeft && IDEMPOTENT.has(session.method) ? 'retry' : 'fail';
  }

  logging(_session: Session, _error: PorticoError | undefined, ctx: GatewayCtx): void {
    this.#release(ctx);
  }

  /** Ends the in-flight count on the current endpoint, once; returns the index it released (or -1). */
  #release(ctx: GatewayCtx): number {
    const index = ctx.endpoint;
    if (index >= 0) {
      ctx.backend!.selector.onEnd(index);
      ctx.endpoint = -1;
    }
    return index;
  }
}

function respond(session: Session, status: number, message: string): 'responded' {
  session.respond(status, `${status} ${message}\n`);
  return 'responded';
}

function hashInput(hashOn: NonNullable<BackendRuntime['hashOn']>, session: Session): number {
  switch (hashOn.type) {
    case 'Header':
      return hashKey(session.header(hashOn.name!) ?? '');
    case 'Cookie':
      return hashKey(cookie(session.header('cookie'), hashOn.name!) ?? '');
    case 'SourceIP':
      return hashKey(session.clientAddress);
    case 'Path':
      return hashKey(splitUrl(session.path)[0]);
  }
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
