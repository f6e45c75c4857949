// Match precedence, ported from Gateway API's HTTPRoute conformance tests (the same manifests and
// expectations, expressed against the table instead of a live Gateway).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, backendFor, req, routeDoc, rule, tableOf } from './fixtures.ts';

const prefix = (value: string) => ({ path: { type: 'PathPrefix', value } });
const exact = (value: string) => ({ path: { type: 'Exact', value } });
const header = (name: string, value: string) => ({ name, value });

type Case = [request: ReturnType<typeof req>, backend: string];

function expectAll(table: ReturnType<typeof tableOf>, cases: Case[]): void {
  for (const [r, want] of cases) {
    assert.equal(backendFor(table, r), want, `${r.method} ${r.host}${r.path}?${r.query}`);
  }
}

test('HTTPRouteMatching: path and header matches for different backends', () => {
  const table = tableOf([
    routeDoc('matching', {
      rules: [
        rule('infra-backend-v1', [prefix('/'), { headers: [header('version', 'one')] }]),
        rule('infra-backend-v2', [prefix('/v2'), { headers: [header('version', 'two')] }]),
      ],
    }),
  ]);
  expectAll(table, [
    [req('/'), 'infra-backend-v1'],
    [req('/example'), 'infra-backend-v1'],
    [req('/', { headers: { Version: 'one' } }), 'infra-backend-v1'],
    [req('/v2'), 'infra-backend-v2'],
    [req('/v2/example'), 'infra-backend-v2'],
    [req('/', { headers: { Version: 'two' } }), 'infra-backend-v2'],
  ]);
});

test('HTTPRouteMatchingAcrossRoutes: precedence spans Routes whose hostnames match', () => {
  const table = tableOf([
    routeDoc('matching-part1', {
      hostnames: ['example.com', 'example.net'],
      rules: [rule('infra-backend-v1', [prefix('/'), { headers: [header('version', 'one')] }])],
    }),
    // Upstream's manifest: both Routes name example.com, so path precedence spans them. (Hostname
    // specificity comes first: a `*.com` Route here would lose every request to example.com's `/`.)
    routeDoc('matching-part2', {
      hostnames: ['example.com'],
      rules: [rule('infra-backend-v2', [prefix('/v2'), { headers: [header('version', 'two')] }])],
    }),
  ]);
  expectAll(table, [
    [req('/', { host: 'example.com' }), 'infra-backend-v1'],
    [req('/example', { host: 'example.com' }), 'infra-backend-v1'],
    [req('/example', { host: 'example.net' }), 'infra-backend-v1'],
    [req('/example', { host: 'example.com', headers: { Version: 'one' } }), 'infra-backend-v1'],
    [req('/v2', { host: 'example.com' }), 'infra-backend-v2'],
    // v2 matches are limited to example.com
    [req('/v2', { host: 'example.net' }), 'infra-backend-v1'],
    [req('/v2/example', { host: 'example.com' }), 'infra-backend-v2'],
    [req('/', { host: 'example.com', headers: { Version: 'two' } }), 'infra-backend-v2'],
  ]);
});

test('HTTPRoutePathMatchOrder: Exact beats prefixes; longer prefixes beat shorter', () => {
  const table = tableOf([
    routeDoc('path-matching-order', {
      rules: [
        rule('infra-backend-v1', [exact('/match'), prefix('/match/prefix')]),
        rule('infra-backend-v2', [exact('/match/exact'), prefix('/match/prefix/one')]),
        rule('infra-backend-v3', [exact('/match/exact/one'), prefix('/match')]),
      ],
    }),
  ]);
  expectAll(table, [
    [req('/match/exact/one'), 'infra-backend-v3'],
    [req('/match/exact'), 'infra-backend-v2'],
    [req('/match'), 'infra-backend-v1'],
    [req('/match/prefix/one/any'), 'infra-backend-v2'],
    [req('/match/prefix/any'), 'infra-backend-v1'],
    [req('/match/any'), 'infra-backend-v3'],
    [req('/other'), '404'],
  ]);
});

test('HTTPRouteExactPathMatching: Exact does not match prefixes or trailing slashes', () => {
  const table = tableOf([
    routeDoc('exact-path-matching', {
      rules: [rule('infra-backend-v1', [exact('/one')]), rule('infra-backend-v2', [exact('/two')])],
    }),
  ]);
  expectAll(table, [
    [req('/one'), 'infra-backend-v1'],
    [req('/two'), 'infra-backend-v2'],
    [req('/'), '404'],
    [req('/one/example'), '404'],
    [req('/two/'), '404'],
  ]);
});

test('HTTPRouteMethodMatching', () => {
  const table = tableOf([
    routeDoc('method-matching', {
      rules: [
        rule('infra-backend-v1', [{ method: 'POST' }]),
        rule('infra-backend-v2', [{ method: 'GET' }]),
        rule('infra-backend-v3', [{ ...prefix('/path1'), method: 'GET' }]),
      ],
    }),
  ]);
  expectAll(table, [
    [req('/', { method: 'POST' }), 'infra-backend-v1'],
    [req('/', { method: 'GET' }), 'infra-backend-v2'],
    [req('/path1', { method: 'GET' }), 'infra-backend-v3'],
    [req('/path1', { method: 'POST' }), 'infra-backend-v1'],
    [req('/', { method: 'HEAD' }), '404'],
  ]);
});

test('HTTPRouteHeaderMatching: more header matches win; names are case-insensitive', () => {
  const table = tableOf([
    routeDoc('header-matching', {
      rules: [
        rule('infra-backend-v1', [{ headers: [header('version', 'one')] }]),
        rule('infra-backend-v2', [{ headers: [header('version', 'two')] }]),
        rule('infra-backend-v1', [{ headers: [header('version', 'two'), header('color', 'orange')] }]),
        rule('infra-backend-v1', [
          { headers: [header('color', 'blue')] },
          { headers: [header('color', 'green')] },
        ]),
        rule('infra-backend-v2', [
          { headers: [header('color', 'red')] },
          { headers: [header('color', 'yellow')] },
        ]),
      ],
    }),
  ]);
  expectAll(table, [
    [req('/', { headers: { Version: 'one' } }), 'infra-backend-v1'],
    [req('/', { headers: { VERSION: 'two' } }), 'infra-backend-v2'],
    [req('/', { headers: { Version: 'two', Color: 'orange' } }), 'infra-backend-v1'],
    [req('/', { headers: { Version: 'two', Color: 'blue' } }), 'infra-backend-v2'],
    [req('/', { headers: { Color: 'green' } }), 'infra-backend-v1'],
    [req('/', { headers: { Color: 'yellow' } }), 'infra-backend-v2'],
    [req('/', { headers: { Version: 'ONE' } }), '404'],
    [req('/', { headers: { Color: 'white' } }), '404'],
    [req('/'), '404'],
  ]);
});

test('HTTPRouteQueryParamMatching: names are case-sensitive; more params win', () => {
  const q = (name: string, value: string) => ({ name, value });
  const table = tableOf([
    routeDoc('query-param-matching', {
      rules: [
        rule('infra-backend-v1', [{ queryParams: [q('animal', 'whale')] }]),
        rule('infra-backend-v2', [{ queryParams: [q('animal', 'dolphin')] }]),
        rule('infra-backend-v3', [
          { queryParams: [q('animal', 'dolphin'), q('color', 'blue')] },
          { queryParams: [q('ANIMAL', 'Whale')] },
        ]),
      ],
    }),
  ]);
  expectAll(table, [
    [req('/', { query: 'animal=whale' }), 'infra-backend-v1'],
    [req('/', { query: '?animal=dolphin' }), 'infra-backend-v2'],
    [req('/', { query: 'animal=dolphin&color=blue' }), 'infra-backend-v3'],
    [req('/', { query: 'ANIMAL=Whale' }), 'infra-backend-v3'],
    [req('/', { query: 'animal=dolphin&color=yellow' }), 'infra-backend-v2'],
    [req('/', { query: 'color=blue' }), '404'],
    [req('/', { query: 'animal=Whale' }), '404'],
  ]);
});

test('regular expressions: full-string match, after Exact and before PathPrefix', () => {
  const table = tableOf([
    routeDoc('regex', {
      rules: [
        rule('infra-backend-v1', [prefix('/')]),
        rule('infra-backend-v2', [{ path: { type: 'RegularExpression', value: '/api/v[0-9]+' } }]),
        rule('infra-backend-v3', [
          exact('/api/v1'),
          { headers: [{ type: 'RegularExpression', name: 'x-id', value: '[a-f]+' }] },
        ]),
      ],
    }),
  ]);
  expectAll(table, [
    [req('/api/v1'), 'infra-backend-v3'],
    [req('/api/v2'), 'infra-backend-v2'],
    [req('/api/v2/admin'), 'infra-backend-v1'],
    [req('/x', { headers: { 'X-Id': 'abc' } }), 'infra-backend-v3'],
    [req('/x', { headers: { 'X-Id': 'abcz' } }), 'infra-backend-v1'],
  ]);
});

test('PathPrefix matches whole segments only, trailing slash ignored', () => {
  const table = tableOf([
    routeDoc('prefix', {
      rules: [rule('infra-backend-v1', [prefix('/api')]), rule('infra-backend-v2', [prefix('/v2/')])],
    }),
  ]);
  expectAll(table, [
    [req('/api'), 'infra-backend-v1'],
    [req('/api/'), 'infra-backend-v1'],
    [req('/api/x/y'), 'infra-backend-v1'],
    [req('/apix'), '404'],
    [req('/v2'), 'infra-backend-v2'],
    [req('/v2/a'), 'infra-backend-v2'],
    [req('/v2a'), '404'],
    [req('*'), '404'],
  ]);
});

test('ties across Routes: oldest creationTimestamp, then namespace/name, then rule order', () => {
  const same = { rules: [rule('infra-backend-v1', [prefix('/')])] };
  const table = tableOf([
    routeDoc(
      'b-newer',
      { rules: [rule('infra-backend-v2', [prefix('/')])] },
      { creationTimestamp: '2024-01-02T00:00:00Z' },
    ),
    routeDoc(
      'c-older',
      { rules: [rule('infra-backend-v3', [prefix('/')])] },
      { creationTimestamp: '2024-01-01T00:00:00Z' },
    ),
    routeDoc('a-untimed', same),
  ]);
  assert.equal(table.match(req('/'))?.routeId, 'gateway-conformance-infra/c-older');

  const byName = tableOf([
    routeDoc('zeta', { rules: [rule('infra-backend-v2', [prefix('/')])] }),
    routeDoc('alpha', {
      rules: [rule('infra-backend-v3', [prefix('/x')]), rule('infra-backend-v1', [prefix('/')])],
    }),
  ]);
  assert.equal(byName.match(req('/'))?.routeId, 'gateway-conformance-infra/alpha');
  assert.equal(byName.match(req('/'))?.ruleIndex, 1);
});

test('hostnames: exact beats wildcard beats catch-all before paths; wildcard spans labels; port, case and dot ignored', () => {
  const table = tableOf([
    routeDoc('exact', { hostnames: ['a.example.com'], rules: [rule('infra-backend-v1')] }),
    routeDoc('wild', { hostnames: ['*.example.com'], rules: [rule('infra-backend-v2')] }),
    routeDoc('any', { rules: [rule('infra-backend-v3', [prefix('/fallback')])] }),
  ]);
  expectAll(table, [
    [req('/', { host: 'a.example.com' }), 'infra-backend-v1'],
    [req('/', { host: 'A.Example.COM.:8443' }), 'infra-backend-v1'],
    [req('/', { host: 'b.example.com' }), 'infra-backend-v2'],
    [req('/', { host: 'x.y.example.com' }), 'infra-backend-v2'],
    [req('/', { host: 'example.com' }), '404'],
    // The exact host's `/` is tried before the catch-all's longer `/fallback` (issue #21).
    [req('/fallback', { host: 'a.example.com' }), 'infra-backend-v1'],
    [req('/fallback', { host: 'other.org' }), 'infra-backend-v3'],
    [req('/', { host: '[::1]:8080' }), '404'],
  ]);
});

test('compilation is deterministic regardless of input order', () => {
  const docs = [
    routeDoc('one', { rules: [rule('infra-backend-v1', [prefix('/')])] }),
    routeDoc('two', { rules: [rule('infra-backend-v2', [prefix('/')])] }),
    routeDoc('three', { rules: [rule('infra-backend-v3', [prefix('/')])] }),
  ];
  const forward = tableOf(docs).match(req('/'))?.routeId;
  const backward = tableOf([...docs].reverse()).match(req('/'))?.routeId;
  assert.equal(forward, 'gateway-conformance-infra/one');
  assert.equal(backward, forward);
});

test('the table and its results are frozen', () => {
  const table = tableOf([routeDoc('r', { rules: [rule('infra-backend-v1')] })], 7);
  const m = table.match(req('/'))!;
  assert.equal(table.version, 7);
  assert.ok(Object.isFrozen(Object.getPrototypeOf(table)), 'the compiled table under the checking wrapper');
  assert.ok(Object.isFrozen(m));
  assert.ok(Object.isFrozen(m.rule));
  assert.ok(Object.isFrozen(m.rule.backends.refs));
  assert.equal(table.match(req('/')), m, 'a hit returns the shared, precomputed result');
});

test('list and trie indexes agree on generated tables (paths, trailing slashes, methods, headers)', () => {
  let seed = 7;
  const pick = <T>(items: readonly T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return items[seed % items.length]!;
  };
  const paths = ['/', '/a', '/a/', '/a/b', '/a/b/', '/ab', '/a/bc', '/b'];
  const matches = [
    ...paths.map(prefix),
    ...paths.map(exact),
    { path: { type: 'RegularExpression', value: '/a/[a-z]+' } },
    { path: prefix('/a').path, method: 'POST' },
    { path: prefix('/a/b').path, headers: [header('x-v', '1')] },
  ];
  const docs = Array.from({ length: 60 }, (_, i) =>
    routeDoc(`r${i}`, {
      hostnames: [pick(['example.com', '*.example.com', 'x.example.com', 'example.net'])],
      rules: [rule(pick(BACKENDS), [pick(matches), pick(matches)])],
    }),
  );
  const table = tableOf(docs);
  const requestPaths = [
    '/',
    '/a',
    '/a/',
    '/ab',
    '/a/b',
    '/a/b/c',
    '/a/bc',
    '/a/x',
    '/b/',
    '/c',
    '*',
    '/a//b',
  ];
  for (const host of ['example.com', 'x.example.com', 'y.x.example.com', 'example.net', 'other.org'])
    for (const path of requestPaths)
      for (const method of ['GET', 'POST'])
        for (const headers of [{}, { 'X-V': '1' }] as Record<string, string>[])
          table.match(req(path, { host, method, headers }));
});
