import { splitPathAndQuery } from '../http.ts';
import type { CheckedState, EndpointHealthView } from './health-monitor.ts';
import type { GatewayTable } from './runtime.ts';

export interface ExplainRequest {
  host: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
}

/** Which route, rule and backend a request would take, and why: the answer `portico explain` prints. */
export interface Explanation {
  tableVersion: number;
  matched: boolean;
  reason: string;
  route?: string;
  rule?: number;
  match?: number;
  redirect?: { statusCode: number | undefined };
  backends?: Array<{
    backend: string;
    weight: number;
    status: string;
    endpoints?: string[];
    /**
     * Each endpoint's state as the node's active health checks see it (`unchecked` without
     * `spec.healthCheck`). Outlier ejection is per worker and not shown here.
     */
    health?: Array<{ endpoint: string; state: CheckedState }>;
    policy?: string;
  }>;
  /** The rule's retry policy (the default when the rule has none). */
  retry?: { attempts: number; retryOn: readonly string[]; allowNonIdempotent: boolean; default: boolean };
  timeouts?: { requestMs: number | undefined; backendRequestMs: number | undefined };
  cache?: boolean;
}

/** `health` is the primary's health-check view; without it every endpoint shows `unchecked`. */
export function explain(
  table: GatewayTable,
  request: ExplainRequest,
  health?: EndpointHealthView,
): Explanation {
  const [path, query] = splitPathAndQuery(request.path);
  const headers = Object.fromEntries(
    Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const match = table.routes.match({
    host: request.host,
    path,
    method: (request.method ?? 'GET').toUpperCase(),
    headers: (name) => headers[name],
    query,
  });
  if (match === undefined) {
    return {
      tableVersion: table.version,
      matched: false,
      reason: `no Route matches host "${request.host}" with path "${path}" (answers 404)`,
    };
  }
  const rule = match.rule;
  const base: Explanation = {
    tableVersion: table.version,
    matched: true,
    route: match.routeId,
    rule: match.ruleIndex,
    match: match.matchIndex,
    reason: `Route ${match.routeId} rule ${match.ruleIndex} match ${match.matchIndex} has the highest Gateway API precedence among the matches for this host`,
    timeouts: { requestMs: rule.requestTimeoutMs, backendRequestMs: rule.backendRequestTimeoutMs },
    cache: rule.cache?.enabled ?? false,
    retry:
      rule.retry === undefined
        ? { attempts: 2, retryOn: ['connect-failure', 'reset'], allowNonIdempotent: false, default: true }
        : { ...rule.retry, default: false },
  };
  if (rule.redirect !== undefined) return { ...base, redirect: { statusCode: rule.redirect.statusCode } };
  const backends = rule.backends.refs.map((ref) => {
    if (ref.status !== 'resolved')
      return {
        backend: ref.backendId,
        weight: ref.weight,
        status: `unresolved: ${ref.reason} (answers 500)`,
      };
    const runtime = table.backends.get(ref.backendId);
    const broken = table.broken.get(ref.backendId);
    return {
      backend: ref.backendId,
      weight: ref.weight,
      status: broken ? `broken: ${broken.message} (answers 502)` : 'ok',
      endpoints: runtime?.peers.map((p) => p.toString()),
      health: runtime?.gate.endpoints.map((e) => ({
        endpoint: e.id,
        state: health?.stateOf(ref.backendId, e.id) ?? 'unchecked',
      })),
      policy: table.routes.backends.get(ref.backendId)?.spec.loadBalancer.policy,
    };
  });
  return { ...base, backends };
}
