/**
 * Compiles validated Routes and Backends into an immutable RouteTable and matches requests against
 * it. Compilation is two pure steps — each Route on its own into frozen entries (one per hostname and
 * match; a worker keeps these across versions), then every hostname's entries sorted by precedence
 * into its index — so the same input always yields the same table, across restarts and workers.
 *
 * Precedence is Gateway API's. The most specific matching hostname decides first (HTTPRoute
 * `hostnames`: the largest number of characters in a matching non-wildcard hostname, then in a
 * matching hostname): every rule of a Route naming the exact host is tried before any rule of a
 * wildcard Route, the longer wildcard before the shorter, and a Route without hostnames last — so a
 * catch-all in one namespace cannot take paths on another tenant's host (issue #21). Among entries
 * of one hostname, across all its Routes (conformance test HTTPRouteMatchingAcrossRoutes): Exact
 * path; then RegularExpression (implementation-specific in Gateway API; placed before prefixes as
 * Envoy Gateway does, so a `/` catch-all cannot shadow every regex; longer pattern first); then
 * PathPrefix, longest first; then a method match; more header matches; more query matches; the
 * oldest Route; `namespace/name`; rule order; match order.
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

/** The answer to `RouteTable.match`; one frozen object per (hostname, match), shared by every request. */
export interface MatchResult {
  readonly routeId: string;
  readonly ruleIndex: number;
  readonly matchIndex: number;
  readonly rule: CompiledRule;
  /** The PathPrefix value that matched, which ReplacePrefixMatch rewrites need; else undefined. */
  readonly pathPrefix: string | undefined;
}

type PathType = 'Exact' | 'PathPrefix' | 'RegularExpression';

const EMPTY_CONDITIONS: readonly ValueCondition[] = Object.freeze([]);
const EMPTY_IDS: readonly string[] = Object.freeze([]);

/** One match of a rule, compiled once and copied into an {@link Entry} per hostname. */
interface CompiledMatch extends MatchConditions {
  readonly matchIndex: number;
  readonly pathType: PathType;
  readonly path: string;
  readonly prefix: string;
  readonly regex: RegExp | undefined;
}

function compileMatch(match: RouteMatch, matchIndex: number): CompiledMatch {
  const pathType = match.path?.type ?? 'PathPrefix';
  const path = match.path?.value ?? '/';
  return {
    matchIndex,
    pathType,
    path,
    prefix: pathType === 'PathPrefix' && path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path,
    regex: pathType === 'RegularExpression' ? compileFullMatch(path) : undefined,
    method: match.method,
    headers: valueConditions(match.headers, true),
    query: valueConditions(match.queryParams, false),
  };
}

/**
 * One (hostname, match) pair: its conditions, its precedence keys, and the answer it gives. One
 * class, built once per pair and frozen, so a 10,000-Route table is 20,000 same-shaped objects
 * rather than a result, an entry and their spread copies per pair.
 */
class Entry implements MatchResult, MatchConditions {
  readonly rule: CompiledRule;
  readonly routeId: string;
  readonly ruleIndex: number;
  readonly matchIndex: number;
  /** The Route's creation time in ms (Infinity when it has none): older Routes win ties. */
  readonly created: number;
  readonly pathType: PathType;
  readonly path: string;
  readonly pathPrefix: string | undefined;
  /** A PathPrefix without its trailing slash (`/` stays `/`), for the segment-boundary test. */
  readonly prefix: string;
  readonly regex: RegExp | undefined;
  readonly method: string | undefined;
  readonly headers: readonly ValueCondition[];
  readonly query: readonly ValueCondition[];
  /** 0 for an exact hostname, 1 for a wildcard, 2 for a Route without hostnames. */
  readonly hostKind: number;
  readonly hostLength: number;

  constructor(rule: CompiledRule, match: CompiledMatch, host: HostTarget, created: number) {
    this.rule = rule;
    this.routeId = rule.routeId;
    this.ruleIndex = rule.ruleIndex;
    this.matchIndex = match.matchIndex;
    this.created = created;
    this.pathType = match.pathType;
    this.path = match.path;
    this.pathPrefix = match.pathType === 'PathPrefix' ? match.path : undefined;
    this.prefix = match.prefix;
    this.regex = match.regex;
    this.method = match.method;
    this.headers = match.headers;
    this.query = match.query;
    this.hostKind = host.hostKind;
    this.hostLength = host.hostLength;
    Object.freeze(this);
  }

  /** Whether the path condition holds; PathPrefix matches whole segments only (`/a` is not `/ab`'s). */
  pathMatches(path: string): boolean {
    if (this.pathType === 'Exact') return path === this.path;
    if (this.pathType === 'RegularExpression') return this.regex!.test(path);
    const prefix = this.prefix;
    if (prefix === '/') return path.charCodeAt(0) === 47;
    return (
      path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47)
    );
  }
}

const PATH_CLASS = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

/** Negative when `a` takes precedence over `b`; a total order over the entries one request can meet. */
function comparePrecedence(a: Entry, b: Entry): number {
  return (
    a.hostKind - b.hostKind ||
    b.hostLength - a.hostLength ||
    PATH_CLASS[a.pathType] - PATH_CLASS[b.pathType] ||
    b.path.length - a.path.length ||
    Number(b.method !== undefined) - Number(a.method !== undefined) ||
    b.headers.length - a.headers.length ||
    b.query.length - a.query.length ||
    olderRouteFirst(a, b) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

/**
 * Gateway API's tie-break between Routes: the oldest first (one without a timestamp after those with
 * one), then `namespace/name`.
 */
export function olderRouteFirst(
  a: { readonly created: number; readonly routeId: string },
  b: { readonly created: number; readonly routeId: string },
): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  return a.routeId < b.routeId ? -1 : a.routeId > b.routeId ? 1 : 0;
}

function firstMatch(entries: readonly Entry[], req: RouteRequest): Entry | undefined {
  for (const e of entries) {
    if (conditionsMatch(e, req)) return e;
  }
  return undefined;
}

/** The matches served under one hostname key, in precedence order; `match` returns the best that holds. */
interface HostIndex {
  match(req: RouteRequest): Entry | undefined;
}

/**
 * Most hostnames carry a handful of matches (an ingress host: `/`, `/api`, a few more): a sorted
 * array scanned in order costs less to build and to hold than a trie, and a handful of string
 * comparisons per request costs no more than walking one.
 */
class ListIndex implements HostIndex {
  readonly #entries: readonly Entry[];

  constructor(sorted: readonly Entry[]) {
    this.#entries = sorted;
  }

  match(req: RouteRequest): Entry | undefined {
    const path = req.path;
    for (const e of this.#entries) {
      if (e.pathMatches(path) && conditionsMatch(e, req)) return e;
    }
    return undefined;
  }
}

interface PrefixNode {
  readonly parent: PrefixNode | undefined;
  /** Created on the first child: most nodes never get one. */
  children: Map<string, PrefixNode> | undefined;
  readonly entries: Entry[];
}

/** Path segments of a normalised prefix: `/a/b/` → [a, b]; `/` → []. */
function prefixSegments(prefix: string): string[] {
  return prefix.split('/').filter((s) => s !== '');
}

/**
 * A hostname with many matches. Exact paths are a map; prefixes are a trie over path segments, so
 * lookup cost follows the depth of the request path, not the number of routes. Entries arrive in
 * precedence order, so every list is too, and the traversal (exact, regex, deepest prefix up)
 * visits them best first: the first hit is the index's best.
 */
class TrieIndex implements HostIndex {
  readonly #exact = new Map<string, Entry[]>();
  readonly #regex: Entry[] = [];
  readonly #root: PrefixNode = { parent: undefined, children: undefined, entries: [] };

  constructor(sorted: readonly Entry[]) {
    for (const e of sorted) {
      if (e.pathType === 'Exact') {
        const list = this.#exact.get(e.path);
        if (list === undefined) this.#exact.set(e.path, [e]);
        else list.push(e);
      } else if (e.pathType === 'RegularExpression') {
        this.#regex.push(e);
      } else {
        this.#node(prefixSegments(e.path)).entries.push(e);
      }
    }
    Object.freeze(this);
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

  match(req: RouteRequest): Entry | undefined {
    const path = req.path;
    const absolute = path.startsWith('/');
    if (absolute) {
      const exact = this.#exact.get(path);
      const hit = exact === undefined ? undefined : firstMatch(exact, req);
      if (hit !== undefined) return hit;
    }
    for (const e of this.#regex) {
      if (e.pathMatches(path) && conditionsMatch(e, req)) return e;
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

/** Above this many matches a hostname gets a trie; at or below, a list. */
const LIST_INDEX_MAX_ENTRIES = 8;

function buildIndex(entries: readonly Entry[], listMax: number): HostIndex {
  // A copy: exactly sized (an array grown by push keeps room for 17, and a table holds 10,000 lists),
  // and the caller's array stays as it was.
  const sorted = entries.slice().sort(comparePrecedence);
  return sorted.length <= listMax ? new ListIndex(Object.freeze(sorted)) : new TrieIndex(sorted);
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

/** What the rules of one Route share: its id and its client-certificate settings. */
interface RouteContext {
  readonly routeId: string;
  readonly namespace: string;
  readonly clientValidation: ClientValidationSettings | undefined;
}

function compileRule(
  rule: RouteRule,
  ruleIndex: number,
  route: RouteContext,
  ctx: CompileContext,
): CompiledRule {
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
    routeId: route.routeId,
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
    clientValidation: route.clientValidation,
    backends: sharedBackendRefs(rule, route.namespace, ctx),
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
): readonly ValueCondition[] {
  if (list === undefined || list.length === 0) return EMPTY_CONDITIONS;
  return Object.freeze(
    list.map((m) =>
      Object.freeze({
        name: lower ? m.name.toLowerCase() : m.name,
        exact: m.type === 'Exact' ? m.value : undefined,
        regex: m.type === 'RegularExpression' ? compileFullMatch(m.value) : undefined,
      }),
    ),
  );
}

export const DEFAULT_MATCHES: readonly RouteMatch[] = Object.freeze([
  Object.freeze({ path: Object.freeze({ type: 'PathPrefix', value: '/' } as const) }),
]);

function namespaceOf(o: Route | Backend): string {
  return o.metadata.namespace ?? 'default';
}

export function routeIdOf(route: Route): string {
  return `${namespaceOf(route)}/${route.metadata.name}`;
}

/** The Route's creation time in ms; Infinity without a (valid) timestamp, so it sorts after those with one. */
export function creationTime(route: Route): number {
  const t =
    route.metadata.creationTimestamp === undefined ? NaN : Date.parse(route.metadata.creationTimestamp);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Oldest first (routes without a timestamp after those with one), then `namespace/name`. */
export function sortRoutes(routes: readonly Route[]): Route[] {
  const keyed = routes.map((route) => ({ route, created: creationTime(route), routeId: routeIdOf(route) }));
  keyed.sort(olderRouteFirst);
  return keyed.map((k) => k.route);
}

/** An immutable, indexed set of routes. Build with `compileRouteTable`; swap, never mutate. */
export class RouteTable {
  readonly version: number;
  /** Backends by `namespace/name`. */
  readonly backends: ReadonlyMap<string, Backend>;
  readonly #exact: ReadonlyMap<string, HostIndex>;
  readonly #wildcard: ReadonlyMap<string, HostIndex>;
  readonly #catchAll: HostIndex | undefined;

  constructor(
    version: number,
    backends: ReadonlyMap<string, Backend>,
    exact: ReadonlyMap<string, HostIndex>,
    wildcard: ReadonlyMap<string, HostIndex>,
    catchAll: HostIndex | undefined,
  ) {
    this.version = version;
    this.backends = backends;
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#catchAll = catchAll;
    Object.freeze(this);
  }

  /**
   * The rule that serves `req`, or `undefined` for a 404. The indexes are consulted from the most
   * specific hostname to the least — the exact host, each wildcard suffix from the longest, then the
   * catch-all — and the first hit is the answer: hostname specificity precedes every other rule of
   * precedence. Allocates nothing but the suffix strings of wildcard probes.
   */
  match(req: RouteRequest): MatchResult | undefined {
    const host = normalizeHost(req.host);
    const exact = this.#exact.get(host)?.match(req);
    if (exact !== undefined) return exact;
    if (this.#wildcard.size > 0) {
      // `*.example.com` matches one or more labels, so every suffix after a dot is a candidate,
      // the longest (most specific) first.
      for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        const hit = this.#wildcard.get(host.slice(dot + 1))?.match(req);
        if (hit !== undefined) return hit;
      }
    }
    return this.#catchAll?.match(req);
  }
}

/** Where one hostname's entries go: the exact map, the wildcard map (by suffix) or the catch-all. */
export interface HostTarget {
  /** 0 for an exact hostname, 1 for a wildcard, 2 for a Route without hostnames. */
  readonly hostKind: 0 | 1 | 2;
  /** The exact hostname, or a wildcard's suffix after `*.`; empty for the catch-all. */
  readonly key: string;
  readonly hostLength: number;
}

/**
 * One Route compiled on its own, before any table holds it: its entries per hostname. A table is
 * assembled from these, so a worker can keep them across versions and recompile only the Routes
 * that changed ({@link stillValid}).
 */
export interface CompiledRoute {
  readonly routeId: string;
  readonly targets: readonly RouteTarget[];
  /** The Backend ids the Route's refs name that resolved when it was compiled, and those that did not. */
  readonly resolvedRefs: readonly string[];
  readonly unresolvedRefs: readonly string[];
}

/** A Route's entries under one hostname key, and the index they make when no other Route shares the key. */
interface RouteTarget {
  readonly target: HostTarget;
  readonly entries: readonly Entry[];
  /** Most hostnames belong to one Route: a table reuses this index for them, swap after swap. */
  readonly index: HostIndex;
}

/** Whether `compiled` can go into a table over `backends`: each ref still resolves as it did. */
export function stillValid(compiled: CompiledRoute, backends: ReadonlyMap<string, Backend>): boolean {
  return (
    compiled.resolvedRefs.every((id) => backends.has(id)) &&
    !compiled.unresolvedRefs.some((id) => backends.has(id))
  );
}

/** Where a Route's matches go: one target per distinct hostname, or the catch-all. */
export function hostTargets(route: Route): HostTarget[] {
  const names = new Set((route.spec.hostnames ?? []).map(normalizeHost));
  if (names.size === 0) return [{ hostKind: 2, key: '', hostLength: 0 }];
  return [...names].map((h) =>
    h.startsWith('*.')
      ? { hostKind: 1, key: h.slice(2), hostLength: h.length }
      : { hostKind: 0, key: h, hostLength: h.length },
  );
}

/**
 * What the Routes of one table share: the Backends, backendRefs compiled once per distinct list, and
 * the list/trie threshold (a parameter for tests, which check that list and trie indexes agree).
 */
export class RouteCompiler {
  readonly backends: ReadonlyMap<string, Backend>;
  readonly listIndexMaxEntries: number;
  readonly #ctx: CompileContext;

  constructor(backends: readonly Backend[], listIndexMaxEntries = LIST_INDEX_MAX_ENTRIES) {
    this.backends = new Map(backends.map((b) => [`${namespaceOf(b)}/${b.metadata.name}`, b] as const));
    this.listIndexMaxEntries = listIndexMaxEntries;
    this.#ctx = { backends: this.backends, refs: new Map() };
  }

  /** Compiles every rule of `route` into one entry per (hostname, match). */
  compile(route: Route): CompiledRoute {
    const routeContext: RouteContext = {
      routeId: routeIdOf(route),
      namespace: namespaceOf(route),
      clientValidation: clientValidationOf(route),
    };
    const created = creationTime(route);
    const targets = hostTargets(route).map((target) => ({ target, entries: [] as Entry[] }));
    const rules = route.spec.rules;
    const resolvedRefs: string[] = [];
    const unresolvedRefs: string[] = [];
    for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
      const spec = rules[ruleIndex]!;
      const rule = compileRule(spec, ruleIndex, routeContext, this.#ctx);
      for (const ref of rule.backends.refs) {
        const ids = ref.status === 'resolved' ? resolvedRefs : unresolvedRefs;
        if (!ids.includes(ref.backendId)) ids.push(ref.backendId);
      }
      const matches =
        spec.matches === undefined || spec.matches.length === 0 ? DEFAULT_MATCHES : spec.matches;
      for (let matchIndex = 0; matchIndex < matches.length; matchIndex++) {
        const match = compileMatch(matches[matchIndex]!, matchIndex);
        for (const t of targets) t.entries.push(new Entry(rule, match, t.target, created));
      }
    }
    return Object.freeze({
      routeId: routeContext.routeId,
      resolvedRefs: Object.freeze(resolvedRefs.slice()),
      unresolvedRefs: unresolvedRefs.length === 0 ? EMPTY_IDS : Object.freeze(unresolvedRefs),
      targets: Object.freeze(
        targets.map(({ target, entries }) =>
          Object.freeze({ target, entries, index: buildIndex(entries, this.listIndexMaxEntries) }),
        ),
      ),
    });
  }
}

/** While a table is assembled: the one Route target under a key, or the merged entries of several. */
type Contribution = RouteTarget | Entry[];

function contribute(map: Map<string, Contribution>, key: string, t: RouteTarget): void {
  const seen = map.get(key);
  if (seen === undefined) map.set(key, t);
  else if (Array.isArray(seen)) seen.push(...t.entries);
  else map.set(key, [...seen.entries, ...t.entries]);
}

function indexOfContribution(c: Contribution, listMax: number): HostIndex {
  return Array.isArray(c) ? buildIndex(c, listMax) : c.index;
}

function indexAll(contributions: Map<string, Contribution>, listMax: number): Map<string, HostIndex> {
  const indexes = new Map<string, HostIndex>();
  for (const [key, c] of contributions) indexes.set(key, indexOfContribution(c, listMax));
  return indexes;
}

/**
 * Builds a table from Routes compiled by `compiler`, in any order: precedence depends on the entries
 * alone. A hostname only one Route names keeps that Route's index; shared ones are merged and sorted.
 */
export function assembleRouteTable(
  routes: readonly CompiledRoute[],
  compiler: RouteCompiler,
  version: number,
): RouteTable {
  const exact = new Map<string, Contribution>();
  const wildcard = new Map<string, Contribution>();
  const catchAll = new Map<string, Contribution>();
  for (const route of routes) {
    for (const t of route.targets) {
      contribute(
        t.target.hostKind === 0 ? exact : t.target.hostKind === 1 ? wildcard : catchAll,
        t.target.key,
        t,
      );
    }
  }
  const listMax = compiler.listIndexMaxEntries;
  const all = catchAll.get('');
  return new RouteTable(
    version,
    compiler.backends,
    indexAll(exact, listMax),
    indexAll(wildcard, listMax),
    all === undefined ? undefined : indexOfContribution(all, listMax),
  );
}

/**
 * Builds the table for one snapshot. Inputs must have passed `validateObjects`; refs to Backends
 * that are absent compile to unresolved refs (500 for their share of traffic), never to an error.
 */
export function compileRouteTable(
  routes: readonly Route[],
  backends: readonly Backend[],
  version: number,
  listIndexMaxEntries = LIST_INDEX_MAX_ENTRIES,
): RouteTable {
  const compiler = new RouteCompiler(backends, listIndexMaxEntries);
  return assembleRouteTable(
    routes.map((r) => compiler.compile(r)),
    compiler,
    version,
  );
}
