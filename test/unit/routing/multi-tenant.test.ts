// Issue #21 (multi-tenant safety): one tenant's Route must not capture another tenant's requests.
// Gateway API decides by the most specific matching hostname first (the HTTPRoute `hostnames`
// contract: "precedence must be given to rules from the HTTPRoute with the largest number of
// characters in a matching non-wildcard hostname, then characters in a matching hostname"); path,
// method, header and query precedence apply only among Routes of equally specific hostnames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeConflicts, validateObjects, type Route } from '../../../src/routing/index.ts';
import { backendFor, req, routeDoc, rule, tableOf } from './fixtures.ts';

const prefix = (value: string) => ({ path: { type: 'PathPrefix', value } });
const exact = (value: string) => ({ path: { type: 'Exact', value } });

/** One tenant per namespace: an exact host, a wildcard, and a catch-all with more specific paths. */
const tenants = [
  routeDoc(
    'shop',
    { hostnames: ['shop.example.com'], rules: [rule('infra-backend-v1', [prefix('/')])] },
    { namespace: 'shop' },
  ),
  routeDoc(
    'wild',
    {
      hostnames: ['*.example.com'],
      rules: [rule('infra-backend-v2', [prefix('/api'), exact('/login')])],
    },
    { namespace: 'wild' },
  ),
  routeDoc(
    'any',
    { rules: [rule('infra-backend-v3', [exact('/login'), prefix('/api/v1'), prefix('/admin')])] },
    { namespace: 'any' },
  ),
];

test('issue #21: the most specific hostname decides before any path precedence', () => {
  // Backends live in each Route's namespace; the fixtures create them in the default test namespace,
  // so resolve the answer by Route instead of by Backend.
  const table = tableOf(tenants);
  const cases: Array<[host: string, path: string, route: string | undefined]> = [
    // An exact host's `/` beats a wildcard's `/api` and a catch-all's Exact `/login`.
    ['shop.example.com', '/', 'shop/shop'],
    ['shop.example.com', '/login', 'shop/shop'],
    ['shop.example.com', '/api/v1/users', 'shop/shop'],
    ['shop.example.com', '/admin', 'shop/shop'],
    // A wildcard beats the catch-all where its own rules match; elsewhere the catch-all still serves.
    ['other.example.com', '/login', 'wild/wild'],
    ['other.example.com', '/api/v1/users', 'wild/wild'],
    ['other.example.com', '/admin', 'any/any'],
    ['other.example.com', '/', undefined],
    // Hosts nobody names fall to the catch-all.
    ['other.org', '/login', 'any/any'],
    ['other.org', '/api/v1', 'any/any'],
  ];
  for (const [host, path, route] of cases) {
    assert.equal(table.match(req(path, { host }))?.routeId, route, `${host}${path}`);
  }
});

test('issue #21: a longer wildcard beats a shorter one whatever their paths', () => {
  const table = tableOf([
    routeDoc('short', { hostnames: ['*.com'], rules: [rule('infra-backend-v1', [exact('/x')])] }),
    routeDoc('long', { hostnames: ['*.example.com'], rules: [rule('infra-backend-v2', [prefix('/')])] }),
  ]);
  assert.equal(backendFor(table, req('/x', { host: 'a.example.com' })), 'infra-backend-v2');
  assert.equal(backendFor(table, req('/x', { host: 'a.other.com' })), 'infra-backend-v1');
});

function routes(docs: unknown[]): readonly Route[] {
  const result = validateObjects(docs);
  assert.deepEqual(result.rejected, []);
  return result.routes;
}

test('issue #21: identical matches on one host — the oldest Route wins, the loser is told who', () => {
  const older = routeDoc(
    'older',
    { hostnames: ['shop.example.com'], rules: [rule('infra-backend-v1', [prefix('/')])] },
    { namespace: 'zz', creationTimestamp: '2024-01-01T00:00:00Z' },
  );
  const newer = routeDoc(
    'newer',
    {
      hostnames: ['shop.example.com', 'newer.example.com'],
      rules: [rule('infra-backend-v2'), rule('infra-backend-v2', [prefix('/only-mine')])],
    },
    { namespace: 'aa', creationTimestamp: '2024-06-01T00:00:00Z' },
  );
  const table = tableOf([newer, older]);
  assert.equal(table.match(req('/', { host: 'shop.example.com' }))?.routeId, 'zz/older');
  assert.equal(table.match(req('/', { host: 'newer.example.com' }))?.routeId, 'aa/newer');
  const conflicts = routeConflicts(routes([newer, older]));
  assert.deepEqual(
    conflicts.map((c) => [c.object, c.path, c.reason]),
    [['Route aa/newer', 'spec.rules[0]', 'RuleMatchConflict']],
  );
  assert.match(conflicts[0]!.message, /shop\.example\.com/);
  assert.match(conflicts[0]!.message, /Route zz\/older/);
});

test('issue #21: without timestamps namespace/name decides; other hosts and paths are no conflict', () => {
  const a = routeDoc('a', { hostnames: ['x.example.com'], rules: [rule('infra-backend-v1', [prefix('/')])] });
  const b = routeDoc('b', { hostnames: ['x.example.com'], rules: [rule('infra-backend-v2', [prefix('/')])] });
  const c = routeDoc('c', { hostnames: ['y.example.com'], rules: [rule('infra-backend-v2', [prefix('/')])] });
  const d = routeDoc('d', {
    hostnames: ['x.example.com'],
    rules: [rule('infra-backend-v2', [prefix('/d')])],
  });
  const conflicts = routeConflicts(routes([d, c, b, a]));
  assert.deepEqual(
    conflicts.map((x) => [x.object, x.path]),
    [['Route gateway-conformance-infra/b', 'spec.rules[0].matches[0]']],
  );
  assert.match(conflicts[0]!.message, /Route gateway-conformance-infra\/a/);
});
