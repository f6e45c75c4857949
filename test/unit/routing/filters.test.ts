// Filter semantics: header modifiers, URL rewrite and redirects (cases from Gateway API's
// httproute-rewrite-path, httproute-request-redirect and the HTTPPathModifier docs), weighted picks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList, ResponseHeader } from '../../../src/proxy/index.ts';
import {
  applyHeaderModifier,
  pickBackend,
  redirectResponse,
  rewritePath,
  type RedirectRequest,
} from '../../../src/routing/index.ts';
import { req, routeDoc, rule, tableOf } from './fixtures.ts';

function ruleWithFilter(path: unknown, filter: Record<string, unknown>) {
  return tableOf([routeDoc('f', { rules: [rule('infra-backend-v1', [path], { filters: [filter] })] })]);
}

test('RequestHeaderModifier: set replaces, add appends with a comma, remove deletes', () => {
  const table = ruleWithFilter(
    { path: { type: 'PathPrefix', value: '/' } },
    {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: {
        set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }],
        add: [
          { name: 'X-Header-Add', value: 'add-appends-values' },
          { name: 'Set-Cookie', value: 'b=2' },
        ],
        remove: ['X-Header-Remove'],
      },
    },
  );
  const mod = table.match(req('/'))!.rule.requestHeaders!;
  const response = new ResponseHeader(200, {
    'x-header-set': 'some-other-value',
    'x-header-add': 'add-value',
    'x-header-remove': 'remove-value',
    'set-cookie': 'a=1',
    other: 'kept',
  });
  applyHeaderModifier(mod, response);
  assert.deepEqual(response.headers, {
    'x-header-set': 'set-overwrites-values',
    'x-header-add': 'add-value,add-appends-values',
    'set-cookie': ['a=1', 'b=2'],
    other: 'kept',
  });
  const empty = new ResponseHeader(200);
  applyHeaderModifier(mod, empty);
  assert.deepEqual(empty.headers, {
    'x-header-set': 'set-overwrites-values',
    'x-header-add': 'add-appends-values',
    'set-cookie': 'b=2',
  });
});

test('header modifiers work the same on a request HeaderList (case-insensitive names)', () => {
  const mod = ruleWithFilter(
    { path: { type: 'PathPrefix', value: '/' } },
    {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: {
        set: [{ name: 'X-A', value: '1' }],
        add: [{ name: 'X-B', value: '2' }],
        remove: ['X-C'],
      },
    },
  ).match(req('/'))!.rule.requestHeaders!;
  const headers = new HeaderList(['x-a', 'old', 'X-B', 'first', 'x-c', 'gone', 'Host', 'h']);
  applyHeaderModifier(mod, headers);
  assert.deepEqual(headers.raw, ['Host', 'h', 'x-a', '1', 'x-b', 'first,2']);
});

test('ReplacePrefixMatch follows the Gateway API table', () => {
  const cases: [prefix: string, path: string, replacement: string, want: string][] = [
    ['/foo', '/foo/bar', '/xyz', '/xyz/bar'],
    ['/foo', '/foo/bar', '/xyz/', '/xyz/bar'],
    ['/foo/', '/foo/bar', '/xyz', '/xyz/bar'],
    ['/foo/', '/foo/bar', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo', '/foo/', '/xyz', '/xyz/'],
    ['/foo/', '/foo/', '/xyz', '/xyz/'],
    ['/foo', '/foo/baz', '/', '/baz'],
    ['/foo', '/foo', '/', '/'],
    ['/foo', '/foo/', '/', '/'],
    ['/prefix/one', '/prefix/one/two', '/one', '/one/two'],
    ['/strip-prefix', '/strip-prefix/three', '/', '/three'],
    ['/', '/a/b', '/x', '/x/a/b'],
  ];
  for (const [prefix, path, replacement, want] of cases) {
    const table = ruleWithFilter(
      { path: { type: 'PathPrefix', value: prefix } },
      {
        type: 'URLRewrite',
        urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: replacement } },
      },
    );
    const m = table.match(req(path))!;
    assert.equal(
      rewritePath(m.rule.rewrite!.path!, path, m.pathPrefix),
      want,
      `${prefix} ${path} ${replacement}`,
    );
  }
});

test('URLRewrite: ReplaceFullPath and hostname', () => {
  const table = ruleWithFilter(
    { path: { type: 'PathPrefix', value: '/full/one' } },
    {
      type: 'URLRewrite',
      urlRewrite: { hostname: 'one.example.org', path: { type: 'ReplaceFullPath', replaceFullPath: '/one' } },
    },
  );
  const m = table.match(req('/full/one/two'))!;
  assert.equal(m.rule.rewrite!.hostname, 'one.example.org');
  assert.equal(rewritePath(m.rule.rewrite!.path!, '/full/one/two', m.pathPrefix), '/one');
});

test('RequestRedirect: scheme, host, port, path and status as in httproute-request-redirect', () => {
  const base: RedirectRequest = {
    scheme: 'http',
    host: 'example.com:8080',
    listenerPort: 8080,
    path: '',
    query: '',
  };
  const cases: [
    filter: Record<string, unknown>,
    prefix: string,
    path: string,
    status: number,
    location: string,
  ][] = [
    [
      { hostname: 'example.org' },
      '/hostname-redirect',
      '/hostname-redirect',
      302,
      'http://example.org:8080/hostname-redirect',
    ],
    [
      { statusCode: 301 },
      '/status-code-301',
      '/status-code-301',
      301,
      'http://example.com:8080/status-code-301',
    ],
    [{ scheme: 'https' }, '/scheme', '/scheme', 302, 'https://example.com/scheme'],
    [{ scheme: 'https', port: 8443 }, '/scheme', '/scheme', 302, 'https://example.com:8443/scheme'],
    [{ scheme: 'http' }, '/plain', '/plain', 302, 'http://example.com/plain'],
    [{ port: 80 }, '/port', '/port', 302, 'http://example.com/port'],
    [
      { hostname: 'example.org', path: { type: 'ReplaceFullPath', replaceFullPath: '/replacement-full' } },
      '/full',
      '/full/path',
      302,
      'http://example.org:8080/replacement-full?q=1',
    ],
    [
      { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/replacement-prefix' } },
      '/path-and-host',
      '/path-and-host/one',
      302,
      'http://example.com:8080/replacement-prefix/one?q=1',
    ],
  ];
  for (const [filter, prefix, path, status, location] of cases) {
    const table = ruleWithFilter(
      { path: { type: 'PathPrefix', value: prefix } },
      { type: 'RequestRedirect', requestRedirect: filter },
    );
    const m = table.match(req(path))!;
    const query = location.includes('?') ? '?q=1' : '';
    assert.deepEqual(redirectResponse(m.rule.redirect!, { ...base, path, query }, m.pathPrefix), {
      status,
      location,
    });
  }
});

test('weighted backendRefs: cumulative weights; weight 0 never picked; unresolved keeps its share', () => {
  const table = tableOf([
    routeDoc('weights', {
      rules: [
        {
          backendRefs: [
            { name: 'infra-backend-v1', weight: 90 },
            { name: 'infra-backend-v2', weight: 0 },
            { name: 'missing', weight: 10 },
          ],
        },
      ],
    }),
  ]);
  const backends = table.match(req('/'))!.rule.backends;
  assert.deepEqual(backends.cumulative, [90, 100]);
  const counts = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const pick = pickBackend(backends, i / 100);
    const key = pick.status === 'none' ? 'none' : `${pick.status}:${pick.backendId}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), {
    'resolved:gateway-conformance-infra/infra-backend-v1': 90,
    'unresolved:gateway-conformance-infra/missing': 10,
  });
  const pick = pickBackend(backends, 0);
  assert.equal(pick.status === 'resolved' && pick.backendId, 'gateway-conformance-infra/infra-backend-v1');
});

test('all weights zero, or no refs, picks no backend (the gateway answers 500)', () => {
  const table = tableOf([
    routeDoc('zero', {
      rules: [
        {
          matches: [{ path: { type: 'Exact', value: '/zero' } }],
          backendRefs: [{ name: 'infra-backend-v1', weight: 0 }],
        },
        { matches: [{ path: { type: 'Exact', value: '/none' } }] },
      ],
    }),
  ]);
  assert.equal(pickBackend(table.match(req('/zero'))!.rule.backends, 0.5).status, 'none');
  assert.equal(pickBackend(table.match(req('/none'))!.rule.backends).status, 'none');
});

test('timeouts and cache settings are compiled to milliseconds', () => {
  const table = tableOf([
    routeDoc('t', {
      rules: [
        rule('infra-backend-v1', undefined, {
          timeouts: { request: '1m30s', backendRequest: '500ms' },
          cache: { maxObjectBytes: 1024, defaultTtl: '1h' },
        }),
        rule('infra-backend-v2', [{ path: { type: 'Exact', value: '/no-timeout' } }], {
          timeouts: { request: '0s' },
        }),
      ],
    }),
  ]);
  const r = table.match(req('/'))!.rule;
  assert.equal(r.requestTimeoutMs, 90_000);
  assert.equal(r.backendRequestTimeoutMs, 500);
  assert.deepEqual(r.cache, { enabled: true, maxObjectBytes: 1024, defaultTtlMs: 3_600_000 });
  assert.equal(table.match(req('/no-timeout'))!.rule.requestTimeoutMs, undefined);
});
