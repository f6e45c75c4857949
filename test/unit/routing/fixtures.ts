// Fixture builders for routing tests (Contour's internal/fixture style): documents as a user would
// write them, run through the real validator so tests see schema defaults.
import assert from 'node:assert/strict';
import {
  compileRouteTable,
  validateObjects,
  type RouteRequest,
  type RouteTable,
} from '../../../src/routing/index.ts';

export const NS = 'gateway-conformance-infra';
export const BACKENDS = ['infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3'];

export function backendDoc(name: string, namespace = NS): Record<string, unknown> {
  return {
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name, namespace },
    spec: { endpoints: [{ address: '127.0.0.1', port: 8080 }] },
  };
}

export function routeDoc(
  name: string,
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Route',
    metadata: { name, namespace: NS, ...metadata },
    spec,
  };
}

/** A rule sending `matches` to one backend. */
export function rule(
  backend: string,
  matches?: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { ...(matches === undefined ? {} : { matches }), backendRefs: [{ name: backend }], ...extra };
}

/**
 * Validates `docs` (plus the three infra backends), insists all are accepted, and compiles. Small
 * tables index every hostname with a list; the table returned also compiles them into tries and
 * asserts, on every `match`, that both answer alike — so each case checks both index shapes.
 */
export function tableOf(docs: unknown[], version = 1): RouteTable {
  const result = validateObjects([...BACKENDS.map((b) => backendDoc(b)), ...docs]);
  assert.deepEqual(result.rejected, []);
  const lists = compileRouteTable(result.routes, result.backends, version);
  const tries = compileRouteTable(result.routes, result.backends, version, 0);
  return Object.freeze(
    Object.create(lists, {
      match: {
        value: (r: RouteRequest) => {
          const answer = lists.match(r);
          const trie = tries.match(r);
          assert.deepEqual(
            trie && [trie.routeId, trie.ruleIndex, trie.matchIndex],
            answer && [answer.routeId, answer.ruleIndex, answer.matchIndex],
            `list and trie indexes disagree on ${r.method} ${r.host}${r.path}`,
          );
          return answer;
        },
      },
    }),
  ) as RouteTable;
}

export function req(
  path: string,
  options: { host?: string; method?: string; headers?: Record<string, string>; query?: string } = {},
): RouteRequest {
  const headers = Object.fromEntries(
    Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  return {
    host: options.host ?? 'example.com',
    path,
    method: options.method ?? 'GET',
    headers: (name) => headers[name],
    query: options.query ?? '',
  };
}

/** Name of the first backend of the rule that serves `r`, or `404`. */
export function backendFor(table: RouteTable, r: RouteRequest): string {
  const m = table.match(r);
  if (m === undefined) return '404';
  const ref = m.rule.backends.refs[0];
  return ref === undefined ? 'none' : ref.backendId.split('/')[1]!;
}
