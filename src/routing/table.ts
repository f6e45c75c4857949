/**
 * Compiles validated Routes and Backends into an immutable RouteTable and matches requests against
 * it. Compilation is a sequence of pure steps — sort routes, compile rules, give every
 * (hostname, match) pair a global precedence rank, place it in its hostname's index, freeze — so
 * the same input always yields the same table, across restarts and across workers.
 *
 * Precedence is Gateway API's, across all rules of all Routes whose hostnames match the request
 * (conformance test HTTPRouteMatchingAcrossRoutes: on `example.com`, a `*.com` Route's `/v2` prefix
 * beats an `example.com` Route's `/`). The order: Exact path; then RegularExpression
 * (implementation-specific in Gateway API; placed before prefixes as Envoy Gateway does, so a `/`
 * catch-all cannot shadow every regex; longer pattern first); then PathPrefix, longest first; then
 * a method match; more header matches; more query matches; then the more specific hostname (exact,
 * then longer wildcard, then none); the oldest Route; `namespace/name`; rule order; match order.
 */
import { compileBackendRefs, type WeightedBackends } from './backends.ts';
import { parseDuration } from './duration.ts';
import {
  compileHeaderModifier,
  compileRedirect,
  compileRewrite,
  type CompiledHeaderModifier,
  type CompiledRedirect,
  type CompiledRewrite,
} from './filters.ts';
import {
  compileFullMatch,
  conditionsMatch,
  normalizeHost,
  type MatchConditions,
  type RouteRequest,
  type ValueCondition,
} from './match.ts';
import type {
  Backend,
  HeaderMatch,
  QueryParamMatch,
  RETRY_ON,
  Route,
  RouteMatch,
  RouteRule,
} from './schema.ts';

export interface CacheSettings {
  readonly enabled: boolean;
  readonly maxObjectBytes: number | undefined;
  readonly defaultTtlMs: number | undefined;
}

/** One rule, ready for the request path: every duration in ms, every filter precompiled. */
export interface CompiledRule {
  /** `namespace/name` of the Route. */
  readonly routeId: string;
  readonly ruleIndex: number;
  readonly requestHeaders: CompiledHeaderModifier | undefined;
  readonly responseHeaders: CompiledHeaderModifier | undefined;
  readonly redirect: CompiledRedirect | undefined;
  readonly rewrite: CompiledRewrite | undefined;
  /** Whole-request timeout; `undefined` when unset or `0s` (Gateway API: no timeout). */
  readonly requestTimeoutMs: number | undefined;
  /** Per-attempt upstream timeout; `undefined` when unset or `0s`. */
  readonly backendRequestTimeoutMs: number | undefined;
  readonly cache: CacheSettings | undefined;
  /** The rule's `retry`, defaults applied; `undefined` when absent (the proxy's default policy applies). */
  readonly retry: RetrySettings | undefined;
  /** The Route's `tls.clientValidation`: which client certificates its requests need. */
  readonly clientValidation: ClientValidationSettings | undefined;
  readonly backends: WeightedBackends;
}

/** What a Route asks of client certificates, for the request path (the CA lives in the TLS context). */
export interface ClientValidationSettings {
  readonly mode: 'Require' | 'Optional';
  /** Lower-case header name that carries a verified certificate upstream, if any. */
  readonly forwardHeader: string | undefined;
}

/** A rule's retry policy as plain data; the proxy builds its `RetryPolicy` from it once. */
export interface RetrySettings {
  readonly attempts: number;
  readonly retryOn: readonly RetryOn[];
  readonly allowNonIdempotent: boolean;
}

/** Failures a rule may retry (the schema's `retry.retryOn` values). */
export type RetryOn = (typeof RETRY_ON)[number];

/** The answer to `RouteTable.match`; one frozen object per match, shared by every request. */
export interface MatchResult {
  readonly routeId: string;
  readonly ruleIndex: number;
  readonly matchIndex: number;
  readonly rule: CompiledRule;
  /** The PathPrefix value that matched, which ReplacePrefixMatch rewrites need; else undefined. */
  readonly pathPrefix: string | undefined;
}

interface Entry extends MatchConditions {
  readonly result: MatchResult;
  readonly pathType: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly path: string;
  readonly regex: RegExp | undefined;
  /** 0 for an exact hostname, 1 for a wildcard, 2 for a Route without hostnames. */
  readonly hostKind: number;
  readonly hostLength: number;
  readonly routeOrder: number;
  /** Position in the global precedence order; lower wins. Set once, before the index is sealed. */
  rank: number;
}

interface PrefixNode {
  readonly parent: PrefixNode | undefined;
  /** Created on the first child: most nodes (one per host for `/`) never get one. */
  children: Map<string, PrefixNode> | undefined;
  readonly entries: Entry[];
}

const PATH_CLASS = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

function comparePrecedence(a: Entry, b: Entry): number {
  return (
    PATH_CLASS[a.pathType] - PATH_CLASS[b.pathType] ||
    b.path.length - a.path.length ||
    Number(b.method !== undefined) - Number(a.method !== undefined) ||
    b.headers.length - a.headers.length ||
    b.query.length - a.query.length ||
    a.hostKind - b.hostKind ||
    b.hostLength - a.hostLength ||
    a.routeOrder - b.routeOrder ||
    a.result.ruleIndex - b.result.ruleIndex ||
    a.result.matchIndex - b.result.matchIndex
  );
}

const byRank = (a: Entry, b: Entry): number => a.rank - b.rank;

function firstMatch(entries: readonly Entry[], req: RouteRequest): Entry | undefined {
  for (const e of entries) {
    if (conditionsMatch(e, req)) return e;
  }
  return undefined;
}

/** Path segments of a normalised prefix: `/a/b/` → [a, b]; `/` → []. */
function prefixSegments(prefix: string): string[] {
  return prefix.split('/').filter((s) => s !== '');
}

/**
 * All matches served under one hostname key. Exact paths are a map; prefixes are a trie over path
 * segments, so lookup cost follows the depth of the request path, not the number of routes. Lists
 * are kept in rank order, and the traversal (exact, regex, deepest prefix up) visits ranks in
 * ascending order, so the first hit is the index's best.
 */
class HostIndex {
  size = 0;

  // Created on first use: a table of 10,000 hosts holds 10,000 indexes, most with one `/` prefix.
  #exact: Map<string, Entry[]> | undefined;
  readonly #regex: Entry[] = [];
  readonly #root: PrefixNode = { parent: undefined, children: undefined, entries: [] };

  add(e: Entry): void {
    this.size += 1;
    if (e.pathType === 'Exact') {
      this.#exact ??= new Map();
      const list = this.#exact.get(e.path);
      if (list === undefined) this.#exact.set(e.path, [e]);
      else list.push(e);
    } else if (e.pathType === 'RegularExpression') {
      this.#regex.push(e);
    } else {
      this.#node(prefixSegments(e.path)).entries.push(e);
    }
  }

  #node(segments: readonly string[]): PrefixNode {
    let node = this.#root;
    for (const s of segments) {
      node.children ??= new Map();
      let child = node.children.get(s);
      if (child === undefined) {
        child = { parent: node, children: undefined, entries: [] };
        node.children.set(s, child);
      }
      node = child;
    }
    return node;
  }

  /** Sorts every list by rank and freezes it; the index is read-only afterwards. */
  seal(): void {
    for (const list of this.#exact?.values() ?? []) Object.freeze(list.sort(byRank));
    Object.freeze(this.#regex.sort(byRank));
    const stack = [this.#root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      Object.freeze(node.entries.sort(byRank));
      if (node.children !== undefined) stack.push(...node.children.values());
    }
    Object.freeze(this);
  }

  match(req: RouteRequest): Entry | undefined {
    const path = req.path;
    const absolute = path.startsWith('/');
    if (absolute && this.#exact !== undefined) {
      const exact = this.#exact.get(path);
      const hit = exact === undefined ? undefined : firstMatch(exact, req);
      if (hit !== undefined) return hit;
    }
    for (const e of this.#regex) {
      if (e.regex!.test(path) && conditionsMatch(e, req)) return e;
    }
    return absolute ? this.#matchPrefix(req) : undefined;
  }

  #matchPrefix(req: RouteRequest): Entry | undefined {
    const path = req.path;
    let node = this.#root;
    let start = 1;
    while (start < path.length && node.children !== undefined) {
      const slash = path.indexOf('/', start);
      const end = slash === -1 ? path.length : slash;
      const child = node.children.get(path.slice(start, end));
      if (child === undefined) break;
      node = child;
      start = end + 1;
    }
    for (let n: PrefixNode | undefined = node; n !== undefined; n = n.parent) {
      const hit = firstMatch(n.entries, req);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

function durationMs(text: string | undefined): number | undefined {
  const ms = text === undefined ? undefined : parseDuration(text);
  return ms === 0 ? undefined : ms;
}

/** What one compile shares across rules: the Backends, and backendRefs compiled once per distinct list. */
interface CompileContext {
  readonly backends: ReadonlyMap<string, Backend>;
  readonly refs: Map<string, WeightedBackends>;
}

/** Rules with the same refs in the same namespace (the common case) share one frozen compiled list. */
function sharedBackendRefs(rule: RouteRule, namespace: string, ctx: CompileContext): WeightedBackends {
  const refs = rule.backendRefs ?? [];
  let key = namespace;
  for (const r of refs) key += `|${r.name}:${r.weight}:${r.port ?? ''}`;
  let compiled = ctx.refs.get(key);
  if (compiled === undefined) {
    compiled = compileBackendRefs(refs, namespace, ctx.backends);
    ctx.refs.set(key, compiled);
  }
  return compiled;
}

function compileRule(route: Route, ruleIndex: number, ctx: CompileContext): CompiledRule {
  const rule = route.spec.rules[ruleIndex]!;
  const filter = <
    K extends 'requestHeaderModifier' | 'responseHeaderModifier' | 'requestRedirect' | 'urlRewrite',
  >(
    key: K,
  ): NonNullable<NonNullable<RouteRule['filters']>[number][K]> | undefined =>
    rule.filters?.find((f) => f[key] !== undefined)?.[key] ?? undefined;
  const reqHeaders = filter('requestHeaderModifier');
  const resHeaders = filter('responseHeaderModifier');
  const redirect = filter('requestRedirect');
  const rewrite = filter('urlRewrite');
  const cache = rule.cache;
  return Object.freeze({
    routeId: routeIdOf(route),
    ruleIndex,
    requestHeaders: reqHeaders && compileHeaderModifier(reqHeaders),
    responseHeaders: resHeaders && compileHeaderModifier(resHeaders),
    redirect: redirect && compileRedirect(redirect),
    rewrite: rewrite && compileRewrite(rewrite),
    requestTimeoutMs: durationMs(rule.timeouts?.request),
    backendRequestTimeoutMs: durationMs(rule.timeouts?.backendRequest),
    cache:
      cache &&
      Object.freeze({
        enabled: cache.enabled,
        maxObjectBytes: cache.maxObjectBytes,
        defaultTtlMs: cache.defaultTtl === undefined ? undefined : parseDuration(cache.defaultTtl),
      }),
    retry:
      rule.retry &&
      Object.freeze({
        attempts: rule.retry.attempts,
        retryOn: Object.freeze([...rule.retry.retryOn]),
        allowNonIdempotent: rule.retry.allowNonIdempotent,
      }),
    clientValidation: clientValidationOf(route),
    backends: sharedBackendRefs(rule, namespaceOf(route), ctx),
  });
}

function clientValidationOf(route: Route): ClientValidationSettings | undefined {
  const validation = route.spec.tls?.clientValidation;
  if (validation === undefined) return undefined;
  return Object.freeze({ mode: validation.mode, forwardHeader: validation.forwardHeader?.toLowerCase() });
}

function valueConditions(
  list: readonly (HeaderMatch | QueryParamMatch)[] | undefined,
  lower: boolean,
): ValueCondition[] {
  return (list ?? []).map((m) =>
    Object.freeze({
      name: lower ? m.name.toLowerCase() : m.name,
      exact: m.type === 'Exact' ? m.value : undefined,
      regex: m.type === 'RegularExpression' ? compileFullMatch(m.value) : undefined,
    }),
  );
}

const DEFAULT_MATCH: RouteMatch = Object.freeze({
  path: Object.freeze({ type: 'PathPrefix', value: '/' } as const),
});

/** The hostname-independent part of an entry, shared by every hostname the Route lists. */
type EntryBase = Omit<Entry, 'hostKind' | 'hostLength' | 'rank'>;

function compileEntryBase(
  rule: CompiledRule,
  match: RouteMatch,
  matchIndex: number,
  routeOrder: number,
): EntryBase {
  const pathType = match.path?.type ?? 'PathPrefix';
  const path = match.path?.value ?? '/';
  return {
    result: Object.freeze({
      routeId: rule.routeId,
      ruleIndex: rule.ruleIndex,
      matchIndex,
      rule,
      pathPrefix: pathType === 'PathPrefix' ? path : undefined,
    }),
    pathType,
    path,
    regex: pathType === 'RegularExpression' ? compileFullMatch(path) : undefined,
    routeOrder,
    method: match.method,
    headers: Object.freeze(valueConditions(match.headers, true)),
    query: Object.freeze(valueConditions(match.queryParams, false)),
  };
}

function namespaceOf(o: Route | Backend): string {
  return o.metadata.namespace ?? 'default';
}

export function routeIdOf(route: Route): string {
  return `${namespaceOf(route)}/${route.metadata.name}`;
}

function creationTime(route: Route): number {
  const t =
    route.metadata.creationTimestamp === undefined ? NaN : Date.parse(route.metadata.creationTimestamp);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Oldest first (routes without a timestamp after those with one), then `namespace/name`. */
export function sortRoutes(routes: readonly Route[]): Route[] {
  const keyed = routes.map((r) => ({ r, t: creationTime(r), id: routeIdOf(r) }));
  keyed.sort((a, b) => (a.t === b.t ? 0 : a.t < b.t ? -1 : 1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return keyed.map((k) => k.r);
}

/** An immutable, indexed set of routes. Build with `compileRouteTable`; swap, never mutate. */
export class RouteTable {
  readonly version: number;
  /** Backends by `namespace/name`. */
  readonly backends: ReadonlyMap<string, Backend>;
  readonly #exact: ReadonlyMap<string, HostIndex>;
  readonly #wildcard: ReadonlyMap<string, HostIndex>;
  readonly #catchAll: HostIndex;

  constructor(
    version: number,
    backends: ReadonlyMap<string, Backend>,
    hosts: {
      exact: ReadonlyMap<string, HostIndex>;
      wildcard: ReadonlyMap<string, HostIndex>;
      catchAll: HostIndex;
    },
  ) {
    this.version = version;
    this.backends = backends;
    this.#exact = hosts.exact;
    this.#wildcard = hosts.wildcard;
    this.#catchAll = hosts.catchAll;
    Object.freeze(this);
  }

  /**
   * The rule that serves `req`, or `undefined` for a 404. Consults the exact-host index, the index
   * of each wildcard suffix of the host, and the catch-all, and keeps the best-ranked hit; allocates
   * nothing but the suffix strings of wildcard probes.
   */
  match(req: RouteRequest): MatchResult | undefined {
    const host = normalizeHost(req.host);
    let best = this.#exact.get(host)?.match(req);
    if (this.#wildcard.size > 0) {
      // `*.example.com` matches one or more labels, so every suffix after a dot is a candidate.
      for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        best = better(best, this.#wildcard.get(host.slice(dot + 1))?.match(req));
      }
    }
    if (this.#catchAll.size > 0) best = better(best, this.#catchAll.match(req));
    return best?.result;
  }
}

function better(a: Entry | undefined, b: Entry | undefined): Entry | undefined {
  if (a === undefined) return b;
  return b !== undefined && b.rank < a.rank ? b : a;
}

function indexFor(map: Map<string, HostIndex>, key: string): HostIndex {
  let index = map.get(key);
  if (index === undefined) {
    index = new HostIndex();
    map.set(key, index);
  }
  return index;
}

interface HostTarget {
  readonly index: HostIndex;
  readonly hostKind: number;
  readonly hostLength: number;
}

interface HostIndexes {
  readonly exact: Map<string, HostIndex>;
  readonly wildcard: Map<string, HostIndex>;
  readonly catchAll: HostIndex;
}

/** Where a Route's matches go: one index per distinct hostname, or the catch-all. */
function hostTargets(route: Route, hosts: HostIndexes): HostTarget[] {
  const names = new Set((route.spec.hostnames ?? []).map(normalizeHost));
  if (names.size === 0) return [{ index: hosts.catchAll, hostKind: 2, hostLength: 0 }];
  return [...names].map((h) =>
    h.startsWith('*.')
      ? { index: indexFor(hosts.wildcard, h.slice(2)), hostKind: 1, hostLength: h.length }
      : { index: indexFor(hosts.exact, h), hostKind: 0, hostLength: h.length },
  );
}

/** Compiles every rule of `route` and adds one unranked entry per (hostname, match). */
function addRoute(route: Route, routeOrder: number, hosts: HostIndexes, ctx: CompileContext): Entry[] {
  const targets = hostTargets(route, hosts);
  const entries: Entry[] = [];
  route.spec.rules.forEach((spec, ruleIndex) => {
    const rule = compileRule(route, ruleIndex, ctx);
    const matches = spec.matches === undefined || spec.matches.length === 0 ? [DEFAULT_MATCH] : spec.matches;
    matches.forEach((m, matchIndex) => {
      const base = compileEntryBase(rule, m, matchIndex, routeOrder);
      for (const t of targets) {
        const entry: Entry = { ...base, hostKind: t.hostKind, hostLength: t.hostLength, rank: 0 };
        t.index.add(entry);
        entries.push(entry);
      }
    });
  });
  return entries;
}

/**
 * Builds the table for one snapshot. Inputs must have passed `validateObjects`; refs to Backends
 * that are absent compile to unresolved refs (500 for their share of traffic), never to an error.
 */
export function compileRouteTable(
  routes: readonly Route[],
  backends: readonly Backend[],
  version: number,
): RouteTable {
  const backendMap = new Map(backends.map((b) => [`${namespaceOf(b)}/${b.metadata.name}`, b] as const));
  const hosts: HostIndexes = { exact: new Map(), wildcard: new Map(), catchAll: new HostIndex() };
  const ctx: CompileContext = { backends: backendMap, refs: new Map() };
  const entries = sortRoutes(routes).flatMap((route, order) => addRoute(route, order, hosts, ctx));
  entries.sort(comparePrecedence).forEach((e, rank) => {
    e.rank = rank;
    Object.freeze(e);
  });
  for (const index of [...hosts.exact.values(), ...hosts.wildcard.values(), hosts.catchAll]) index.seal();
  return new RouteTable(version, backendMap, hosts);
}
