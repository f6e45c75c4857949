/**
 * Which Routes lose a match to another Route (issue #21). Two Routes that give the same hostname the
 * same match (path, method, headers, query parameters) tie on every rule of precedence; Gateway API
 * breaks the tie by the oldest `creationTimestamp`, then `namespace/name`, so the other Route's match
 * is never served on that hostname. The table already orders them so (`table.ts`); this tells the
 * loser, naming the winner. Pure, and remembered per validated Route, so a rebuild among 10,000
 * unchanged Routes computes no signature again.
 */
import type { FieldError } from '../errors.ts';
import type { HeaderMatch, QueryParamMatch, Route, RouteMatch } from './schema.ts';
import { creationTime, DEFAULT_MATCHES, hostTargets, olderRouteFirst, routeIdOf } from './table.ts';

/** One match of a Route under one hostname key, with what the tie-break needs. */
interface Claim {
  readonly routeId: string;
  readonly created: number;
  /** Where the match is written: `spec.rules[i]` for a rule's implicit `/`, else `…matches[j]`. */
  readonly path: string;
  /** The hostname as written (`*.example.com`, or empty for a Route without hostnames). */
  readonly hostname: string;
  /** Hostname key and match signature: equal keys tie on every rule of precedence. */
  readonly key: string;
}

const claimsOf = new WeakMap<Route, readonly Claim[]>();

function valueSignature(
  list: readonly (HeaderMatch | QueryParamMatch)[] | undefined,
  lower: boolean,
): string {
  if (list === undefined || list.length === 0) return '';
  return list
    .map((m) => `${lower ? m.name.toLowerCase() : m.name}\u0000${m.type}\u0000${m.value}`)
    .sort()
    .join('\u0001');
}

function matchSignature(match: RouteMatch): string {
  return [
    match.path?.type ?? 'PathPrefix',
    match.path?.value ?? '/',
    match.method ?? '',
    valueSignature(match.headers, true),
    valueSignature(match.queryParams, false),
  ].join('\u0002');
}

function claims(route: Route): readonly Claim[] {
  const known = claimsOf.get(route);
  if (known !== undefined) return known;
  const routeId = routeIdOf(route);
  const created = creationTime(route);
  const out: Claim[] = [];
  for (const target of hostTargets(route)) {
    const hostname = target.hostKind === 1 ? `*.${target.key}` : target.key;
    route.spec.rules.forEach((rule, i) => {
      const explicit = rule.matches !== undefined && rule.matches.length > 0;
      (explicit ? rule.matches! : DEFAULT_MATCHES).forEach((match, j) => {
        out.push({
          routeId,
          created,
          path: explicit ? `spec.rules[${i}].matches[${j}]` : `spec.rules[${i}]`,
          hostname,
          key: `${target.hostKind}\u0003${target.key}\u0003${matchSignature(match)}`,
        });
      });
    });
  }
  Object.freeze(out);
  claimsOf.set(route, out);
  return out;
}

function describeHost(hostname: string): string {
  return hostname === '' ? 'every hostname (no hostnames)' : hostname;
}

/** Why `winner` beat `loser` under Gateway API's tie-break, for a condition message. */
function whyWinner(winner: { readonly created: number }, loser: { readonly created: number }): string {
  return `${winner.created < loser.created ? 'it is older' : 'it sorts first by namespace/name'} (Gateway API: the oldest Route wins, then namespace/name)`;
}

/** {@link whyWinner} for two Routes, e.g. for a certificate both claim. */
export function whyRouteWins(winner: Route, loser: Route): string {
  return whyWinner({ created: creationTime(winner) }, { created: creationTime(loser) });
}

/**
 * One error (reason `RuleMatchConflict`) per match of a Route that another Route's identical match
 * shadows on some hostname, naming the hostnames and the winning Route.
 */
export function routeConflicts(routes: readonly Route[]): FieldError[] {
  const winners = new Map<string, Claim>();
  for (const route of routes) {
    for (const claim of claims(route)) {
      const best = winners.get(claim.key);
      if (best === undefined || olderRouteFirst(claim, best) < 0) winners.set(claim.key, claim);
    }
  }
  // Grouped by losing match and winner, so a Route naming five hostnames gets one line, not five.
  const lost = new Map<string, { loser: Claim; winner: Claim; hosts: string[] }>();
  for (const route of routes) {
    for (const claim of claims(route)) {
      const winner = winners.get(claim.key)!;
      if (winner.routeId === claim.routeId) continue;
      const group = `${claim.routeId}\u0000${claim.path}\u0000${winner.routeId}`;
      const entry = lost.get(group);
      if (entry === undefined) lost.set(group, { loser: claim, winner, hosts: [claim.hostname] });
      else entry.hosts.push(claim.hostname);
    }
  }
  return [...lost.values()].map(({ loser, winner, hosts }) => ({
    object: `Route ${loser.routeId}`,
    path: loser.path,
    message:
      `the same match on ${hosts.map(describeHost).join(', ')} is served by Route ${winner.routeId}: ` +
      whyWinner(winner, loser),
    reason: 'RuleMatchConflict',
  }));
}
