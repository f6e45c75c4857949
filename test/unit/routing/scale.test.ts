// Correctness at 10,000 Routes, with the compile and lookup times printed for a human to read.
// Timing is deliberately not asserted: speed is the benchmarks' job (DESIGN.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import {
  compileRouteTable,
  validateObjects,
  type MatchResult,
  type RouteRequest,
} from '../../../src/routing/index.ts';
import { backendDoc, req, routeDoc } from './fixtures.ts';

const N = 10_000;

function compileTimed(docs: unknown[]): ReturnType<typeof compileRouteTable> {
  const t0 = performance.now();
  const result = validateObjects([backendDoc('web'), ...docs]);
  const t1 = performance.now();
  const table = compileRouteTable(result.routes, result.backends, 1);
  const t2 = performance.now();
  assert.equal(result.rejected.length, 0);
  console.log(
    `# ${docs.length} routes: validate ${(t1 - t0).toFixed(0)} ms, compile ${(t2 - t1).toFixed(0)} ms`,
  );
  return table;
}

/** Matches `requests` (built beforehand, so only lookups are timed), then checks each result. */
function timeLookups(
  label: string,
  table: ReturnType<typeof compileRouteTable>,
  requests: RouteRequest[],
  check: (m: MatchResult | undefined, i: number) => void,
): void {
  const results: (MatchResult | undefined)[] = [];
  const t0 = performance.now();
  for (let i = 0; i < requests.length; i++) results[i] = table.match(requests[i]!);
  console.log(`# ${label}: ${(((performance.now() - t0) / requests.length) * 1e6).toFixed(0)} ns per lookup`);
  results.forEach(check);
}

const each = <T>(fn: (i: number) => T): T[] => Array.from({ length: N }, (_, i) => fn(i));

test('10,000 Routes on distinct hostnames', () => {
  const docs = Array.from({ length: N }, (_, i) =>
    routeDoc(`r${i}`, { hostnames: [`host${i}.example.com`], rules: [{ backendRefs: [{ name: 'web' }] }] }),
  );
  const table = compileTimed(docs);
  const requests = each((i) => req(`/p${i}`, { host: `host${i}.example.com` }));
  timeLookups('exact host', table, requests, (m, i) => {
    assert.equal(m?.routeId, `gateway-conformance-infra/r${i}`);
  });
  assert.equal(table.match(req('/', { host: 'unknown.example.com' })), undefined);
});

test('10,000 PathPrefix and Exact Routes under one hostname', () => {
  const docs = Array.from({ length: N }, (_, i) =>
    routeDoc(`r${i}`, {
      hostnames: ['api.example.com'],
      rules: [
        {
          matches: [
            { path: { type: 'PathPrefix', value: `/svc${i}` } },
            { path: { type: 'Exact', value: `/exact/${i}` } },
            {
              path: { type: 'PathPrefix', value: `/svc${i}/admin` },
              headers: [{ name: 'x-admin', value: 'yes' }],
            },
          ],
          backendRefs: [{ name: 'web' }],
        },
      ],
    }),
  );
  const table = compileTimed(docs);
  const prefixed = each((i) => req(`/svc${i}/items/42`, { host: 'api.example.com' }));
  timeLookups('prefix trie', table, prefixed, (m, i) => {
    assert.equal(m?.routeId, `gateway-conformance-infra/r${i}`);
    assert.equal(m.matchIndex, 0);
  });
  const exact = each((i) => req(`/exact/${i}`, { host: 'api.example.com' }));
  timeLookups('exact path', table, exact, (m, i) => {
    assert.equal(m?.routeId, `gateway-conformance-infra/r${i}`);
    assert.equal(m.matchIndex, 1);
  });
  const admin = table.match(req('/svc7/admin/x', { host: 'api.example.com', headers: { 'x-admin': 'yes' } }));
  assert.equal(admin?.matchIndex, 2);
  assert.equal(table.match(req('/svc10000', { host: 'api.example.com' })), undefined);
});
