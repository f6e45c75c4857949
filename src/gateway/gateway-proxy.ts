import type { MessageChannel } from '../server/service.ts';
import { splitPathAndQuery } from '../http.ts';
import { HttpCache } from '../cache/index.ts';
import { InvalidArgumentError, PorticoError } from '../errors.ts';
import {
  RetryPolicy,
  classifyFailure,
  cookieValue,
  hashKey,
  type AttemptResult,
  type RetryOn,
} from '../lb/index.ts';
import {
  respondError,
  type ProxyHttp,
  type ResponseHeader,
  type Session,
  type UpstreamRequest,
  type RequestFilterResult,
  type ConnectFailureDecision,
  type ResponseRetryDecision,
  type CacheSettings,
} from '../proxy/index.ts';
import { pickBackend } from '../routing/backends.ts';
import { applyHeaderModifier, redirectResponse, rewritePath } from '../routing/filters.ts';
import { queryParam } from '../routing/match.ts';
import type { MatchResult } from '../routing/table.ts';
import type {
  CacheSettings as RuleCacheSettings,
  ClientValidationSettings,
  RetrySettings,
} from '../routing/table.ts';
import type { BackgroundService, ServiceContext } from '../server/index.ts';
import type { HttpPeer } from '../upstream/index.ts';
import { formatForwardedClientCertificate, type CertificateStore } from '../tls/index.ts';
import { routeCertificateKey } from './certificates.ts';
import { EndpointStates, type BackendLbState, type EndpointStateOptions } from './endpoint-state.ts';
import type { BackendRuntime, GatewayTable } from './runtime.ts';

/**
 * The table a worker serves. Swapping is one assignment; a request reads `current` once, in
 * `requestFilter`, and keeps that table to the end.
 */
export class TableHolder {
  current: GatewayTable | undefined;
  /** Health, ejections and retry budgets, kept across tables (see endpoint-state.ts). */
  readonly lb: EndpointStates;

  constructor(options: EndpointStateOptions = {}) {
    this.lb = new EndpointStates(options);
  }

  get version(): number {
    return this.current?.version ?? 0;
  }

  /** The certificates of the current table, for a TLS listener's `certificates` option. */
  readonly certificates = (): CertificateStore | undefined => this.current?.certificates;
}

export interface GatewayCtx {
  table: GatewayTable | undefined;
  match: MatchResult | undefined;
  backend: BackendRuntime | undefined;
  /** Index of the endpoint in flight, -1 when none (so `onStart`/`onEnd` stay paired). */
  endpoint: number;
  /** Endpoint indices that failed for this request. */
  failed: number[] | undefined;
  /** The backend's worker state this request counts against (retry budget, outlier detection). */
  lb: BackendLbState | undefined;
  /** The current attempt is a retry the budget counts as in flight. */
  retrying: boolean;
  /** The current attempt's result has been recorded with the outlier detector. */
  recorded: boolean;
  /** Endpoint index the response's session cookie pins the client to; -1 when the cookie is right already. */
  pinTo: number;
}

/** Without a rule `retry`: 2 attempts on connect failures and resets before a response (Envoy-like). */
const DEFAULT_RETRY = new RetryPolicy({ attempts: 2, retryOn: ['connect-failure', 'reset'] });

const MIB = 1024 * 1024;

/** Per-worker cache size: `PORTICO_CACHE_MAX_BYTES`, default 64 MiB (until `portico serve` has a flag). */
export function cacheMaxBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PORTICO_CACHE_MAX_BYTES;
  if (raw === undefined || raw === '') return 64 * MIB;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new InvalidArgumentError(
      'PORTICO_CACHE_MAX_BYTES',
      `must be a positive whole number of bytes, got ${raw}`,
    );
  return value;
}

/** What to purge: one primary key, or every entry of a host under a path prefix. */
export type PurgeRequest = { readonly key: string } | { readonly host: string; readonly pathPrefix: string };

/** Checks an admin API body; returns the request or a message naming the field. */
export function parsePurgeRequest(body: unknown): PurgeRequest | string {
  const b = body as Record<string, unknown> | null;
  if (typeof b !== 'object' || b === null)
    return 'body must be {"key": "..."} or {"host": "...", "pathPrefix": "/..."}';
  if (b.key !== undefined) {
    if (typeof b.key !== 'string' || b.key === '') return 'key: must be a non-empty string';
    return { key: b.key };
  }
  if (typeof b.host !== 'string' || b.host === '') return 'host: must be a non-empty string (or give key)';
  if (typeof b.pathPrefix !== 'string' || !b.pathPrefix.startsWith('/'))
    return 'pathPrefix: must be a string starting with /';
  return { host: b.host, pathPrefix: b.pathPrefix };
}

export interface GatewayProxyOptions {
  /** The cache for rules with `cache.enabled`; one per process (worker). Default: a new HttpCache of
   * `PORTICO_CACHE_MAX_BYTES` (64 MiB). */
  cache?: HttpCache;
}

/** The ProxyHttp behind `portico serve` and `portico controller`: Routes and Backends, served from a table. */
export class GatewayProxy implements ProxyHttp<GatewayCtx> {
  readonly #holder: TableHolder;
  /** This worker's HTTP cache, shared by every Route rule with `cache.enabled`. */
  readonly cache: HttpCache;
  /** Per-rule settings, built on first use so a request allocates nothing to opt in. */
  readonly #settings = new WeakMap<RuleCacheSettings, CacheSettings>();
  /** Per-rule retry policies, built on a rule's first failure. */
  readonly #retryPolicies = new WeakMap<RetrySettings, RetryPolicy>();

  constructor(holder: TableHolder, options: GatewayProxyOptions = {}) {
    this.#holder = holder;
    this.cache = options.cache ?? new HttpCache({ maxBytes: cacheMaxBytesFromEnv() });
  }

  /** Opts the request into the worker's cache when its rule says `cache: { enabled: true }`. */
  requestCacheFilter(_session: Session, ctx: GatewayCtx): CacheSettings | undefined {
    const rule = ctx.match?.rule.cache;
    if (rule === undefined || !rule.enabled) return undefined;
    let settings = this.#settings.get(rule);
    if (settings === undefined) {
      settings = { cache: this.cache, defaultTtlMs: rule.defaultTtlMs, maxObjectBytes: rule.maxObjectBytes };
      this.#settings.set(rule, settings);
    }
    return settings;
  }

  /** Removes entries from this worker's cache; returns how many went. */
  purge(request: PurgeRequest): number {
    return 'key' in request
      ? this.cache.purge(request.key)
      : this.cache.purgePrefix(request.host, request.pathPrefix);
  }

  newCtx(): GatewayCtx {
    return {
      table: undefined,
      match: undefined,
      backend: undefined,
      endpoint: -1,
      failed: undefined,
      lb: undefined,
      retrying: false,
      recorded: false,
      pinTo: -1,
    };
  }

  requestFilter(session: Session, ctx: GatewayCtx): RequestFilterResult {
    const table = this.#holder.current;
    if (table === undefined) return respond(session, 503, 'no routing table is loaded yet');
    ctx.table = table;
    const [path, query] = splitPathAndQuery(session.path);
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
    if (rule.clientValidation !== undefined) {
      const refusal = clientCertificateRefusal(session, rule.clientValidation, match.routeId);
      if (refusal !== undefined) return respond(session, 403, refusal);
    }
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

  /**
   * Picks an endpoint that is healthy (active checks), not ejected (this worker's outlier detection)
   * and not yet tried by this request; when none is, any untried one (panic mode, see
   * `EndpointGate.pick`).
   */
  upstreamPeer(session: Session, ctx: GatewayCtx): HttpPeer {
    const backend = ctx.backend!;
    const gate = backend.gate;
    if (ctx.lb === undefined && gate.state !== undefined) {
      ctx.lb = gate.state;
      ctx.lb.budget.requestStarted();
    }
    const index = this.#pick(session, ctx, backend);
    if (index < 0) {
      throw new PorticoError('NO_UPSTREAM', `Backend ${backend.id} has no usable endpoint`, {
        source: 'upstream',
      });
    }
    ctx.endpoint = index;
    ctx.recorded = false;
    backend.selector.onStart(index);
    return backend.peers[index]!;
  }

  /**
   * With session persistence, the endpoint the client's cookie names while it is usable; else (and on
   * every retry) the selector's pick, which the response's cookie then names.
   */
  #pick(session: Session, ctx: GatewayCtx, backend: BackendRuntime): number {
    const affinity = backend.affinity;
    if (affinity !== undefined && ctx.failed === undefined) {
      const pinned = affinity.endpointFor(session.header('cookie'));
      if (pinned >= 0 && backend.gate.usable(pinned)) {
        ctx.pinTo = -1;
        return pinned;
      }
    }
    const key = backend.hashOn === undefined ? undefined : hashInput(backend.hashOn, session);
    const index = backend.gate.pick(backend.selector, key, ctx.failed);
    if (affinity !== undefined) ctx.pinTo = index;
    return index;
  }

  upstreamRequestFilter(session: Session, request: UpstreamRequest, ctx: GatewayCtx): void {
    const match = ctx.match!;
    const { rewrite, requestHeaders } = match.rule;
    if (rewrite !== undefined) {
      if (rewrite.path !== undefined) {
        const [path, query] = splitPathAndQuery(request.path);
        request.path = rewritePath(rewrite.path, path, match.pathPrefix) + (query === '' ? '' : `?${query}`);
      }
      if (rewrite.hostname !== undefined) request.headers.set('host', rewrite.hostname);
    }
    if (requestHeaders !== undefined) applyHeaderModifier(requestHeaders, request.headers);
    const forward = match.rule.clientValidation?.forwardHeader;
    if (forward !== undefined) {
      // Whatever the client sent under this name is not to be trusted; only ours goes upstream.
      request.headers.remove(forward);
      const certificate = session.clientCertificate;
      if (certificate.status === 'verified')
        request.headers.set(forward, formatForwardedClientCertificate(certificate));
    }
  }

  /** Records the attempt with the outlier detector: a 5xx counts against the endpoint, anything else for it. */
  upstreamResponseFilter(_session: Session, response: ResponseHeader, ctx: GatewayCtx): void {
    const lb = ctx.lb;
    if (lb === undefined || ctx.endpoint < 0) return;
    lb.record(ctx.backend!.gate, ctx.endpoint, response.status >= 500 ? '5xx' : 'success');
    ctx.recorded = true;
  }

  responseFilter(session: Session, response: ResponseHeader, ctx: GatewayCtx): void {
    const modifier = ctx.match!.rule.responseHeaders;
    if (modifier !== undefined) applyHeaderModifier(modifier, response);
    if (ctx.pinTo >= 0)
      response.append('set-cookie', ctx.backend!.affinity!.setCookie(ctx.pinTo, session.secure));
  }

  /**
   * Records the failure (outlier detection), then retries on another endpoint when the rule's retry
   * policy (default {@link DEFAULT_RETRY}) and the backend's retry budget allow it.
   */
  failToConnect(
    session: Session,
    _peer: HttpPeer,
    ctx: GatewayCtx,
    error: PorticoError,
  ): ConnectFailureDecision {
    return this.#retryAfter(session, ctx, classifyFailure(error), attemptResult(error));
  }

  /**
   * A 502, 503 or 504 from the upstream is retried on another endpoint when the rule's `retry.retryOn`
   * names that status (never by default: the upstream answered, and only the rule knows whether a
   * second answer could differ). The 5xx was already recorded by `upstreamResponseFilter`.
   */
  retryResponse(session: Session, response: ResponseHeader, ctx: GatewayCtx): ResponseRetryDecision {
    const failure = classifyFailure(response.status);
    if (failure === undefined || ctx.match!.rule.retry?.retryOn.includes(failure) !== true) return 'proceed';
    return this.#retryAfter(session, ctx, failure, undefined) === 'retry' ? 'retry' : 'proceed';
  }

  /**
   * After a failed attempt: ends the endpoint's in-flight count, records `result` with the outlier
   * detector (unless already recorded), and decides on a retry by policy, untried endpoints and budget.
   */
  #retryAfter(
    session: Session,
    ctx: GatewayCtx,
    failure: RetryOn | undefined,
    result: AttemptResult | undefined,
  ): ConnectFailureDecision {
    const backend = ctx.backend!;
    const lb = ctx.lb;
    const index = this.#release(ctx);
    if (index >= 0) {
      (ctx.failed ??= []).push(index);
      if (result !== undefined) {
        lb?.record(backend.gate, index, result);
        ctx.recorded = true;
      }
    }
    if (ctx.retrying) {
      lb?.budget.retryFinished();
      ctx.retrying = false;
    }
    if ((ctx.failed?.length ?? 0) >= backend.peers.length) return 'fail';
    const decision = this.#retryPolicy(ctx.match!.rule.retry).canRetry(
      { method: session.method, failure, attempts: session.attempt },
      lb?.budget,
    );
    if (decision !== 'retry') {
      if (decision === 'budget-exhausted') lb!.budgetExhausted++;
      return 'fail';
    }
    if (lb !== undefined) {
      lb.budget.retryStarted();
      lb.retries++;
      ctx.retrying = true;
    }
    return 'retry';
  }

  logging(_session: Session, error: PorticoError | undefined, ctx: GatewayCtx): void {
    const lb = ctx.lb;
    if (lb !== undefined) {
      // Failures that never reached failToConnect: timeouts, and requests with a body (never retried).
      if (error !== undefined && !ctx.recorded && ctx.endpoint >= 0 && error.source === 'upstream')
        lb.record(ctx.backend!.gate, ctx.endpoint, attemptResult(error));
      if (ctx.retrying) lb.budget.retryFinished();
      lb.budget.requestFinished();
      ctx.lb = undefined;
    }
    this.#release(ctx);
  }

  #retryPolicy(settings: RetrySettings | undefined): RetryPolicy {
    if (settings === undefined) return DEFAULT_RETRY;
    let policy = this.#retryPolicies.get(settings);
    if (policy === undefined) {
      policy = new RetryPolicy(settings);
      this.#retryPolicies.set(settings, policy);
    }
    return policy;
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

/** A failed attempt as outlier detection counts it: unreachable, or failed some other way (like a 5xx). */
function attemptResult(error: PorticoError): AttemptResult {
  return error.code === 'CONNECT_REFUSED' || error.code === 'CONNECT_TIMEOUT' ? 'connect-failure' : '5xx';
}

/**
 * Why a request may not use a Route with client validation, or undefined when it may. The TLS handshake
 * already enforced the CA for connections whose SNI selected this Route's certificate; this also covers
 * requests that reach the Route another way (a plaintext listener, or a certificate shared through
 * the default entry), so client validation cannot be bypassed.
 */
function clientCertificateRefusal(
  session: Session,
  validation: ClientValidationSettings,
  routeId: string,
): string | undefined {
  const certificate = session.clientCertificate;
  if (certificate.status === 'verified') {
    // Verified against the CA of the entry the connection negotiated: only this Route's own counts.
    return session.tlsEntryKey === routeCertificateKey(routeId)
      ? undefined
      : 'the client certificate was not verified for this route';
  }
  if (certificate.status === 'failed') return `client certificate rejected: ${certificate.error}`;
  return validation.mode === 'Require' ? 'this route requires a client certificate' : undefined;
}

function respond(session: Session, status: number, message: string): 'responded' {
  respondError(session, status, message);
  return 'responded';
}

function hashInput(hashOn: NonNullable<BackendRuntime['hashOn']>, session: Session): number {
  switch (hashOn.type) {
    case 'Header':
      return hashKey(session.header(hashOn.name!) ?? '');
    case 'Cookie':
      return hashKey(cookieValue(session.header('cookie'), hashOn.name!) ?? '');
    case 'QueryParameter':
      return hashKey(queryParam(splitPathAndQuery(session.path)[1], hashOn.name!) ?? '');
    case 'SourceIP':
      return hashKey(session.clientAddress);
    case 'Path':
      return hashKey(splitPathAndQuery(session.path)[0]);
  }
}

/** How the cache service talks to the primary; `Server` provides it. */
export type CacheChannel = Pick<MessageChannel, 'onMessage' | 'sendToPrimary'>;

/** Topics of the purge exchange between the admin API (primary) and the workers. */
export const PURGE_TOPIC = 'cache-purge';
export const PURGE_RESULT_TOPIC = 'cache-purge-result';

/** A purge as broadcast to workers; `id` pairs the answers with the admin request. */
export interface PurgeMessage {
  readonly id: number;
  readonly request: PurgeRequest;
}

/** A worker's answer to a {@link PurgeMessage}. */
export interface PurgeResult {
  readonly id: number;
  readonly removed: number;
}

/**
 * Runs in every worker next to the gateway: reports the worker's cache as `portico_cache_*` metrics and
 * answers purges the primary broadcasts (`POST /api/v1/cache/purge`) with how many entries it removed.
 */
export class GatewayCacheService implements BackgroundService {
  readonly kind = 'background';
  readonly name = 'gateway-cache';
  readonly runsIn = 'worker';
  readonly #proxy: GatewayProxy;
  readonly #channel: CacheChannel;

  constructor(proxy: GatewayProxy, channel: CacheChannel) {
    this.#proxy = proxy;
    this.#channel = channel;
  }

  start(context: ServiceContext): Promise<void> {
    context.metrics.observeCache(this.#proxy.cache);
    this.#channel.onMessage(PURGE_TOPIC, (body) => {
      const message = body as PurgeMessage;
      const removed = this.#proxy.purge(message.request);
      this.#channel.sendToPrimary(PURGE_RESULT_TOPIC, { id: message.id, removed } satisfies PurgeResult);
    });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
