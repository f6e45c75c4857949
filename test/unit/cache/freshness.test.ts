import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpCache, type HeaderMap } from '../../../src/cache/index.ts';
import { clock, httpDate, request, response, T0 } from './fixtures.ts';

const DAY = 86_400;

interface Case {
  name: string;
  status?: number;
  method?: string;
  requestHeaders?: HeaderMap;
  headers: HeaderMap;
  defaultTtlMs?: number;
  /** Lifetime in seconds and its source when stored, or the reason it is not. */
  expect: { lifetime: number; source: string } | { notStored: string };
}

const cases: Case[] = [
  {
    name: 'max-age',
    headers: { 'cache-control': 'max-age=60' },
    expect: { lifetime: 60, source: 'max-age' },
  },
  {
    name: 's-maxage beats max-age',
    headers: { 'cache-control': 'max-age=60, s-maxage=120' },
    expect: { lifetime: 120, source: 's-maxage' },
  },
  {
    name: 'max-age beats Expires',
    headers: { 'cache-control': 'max-age=10', expires: httpDate(T0 + 300_000) },
    expect: { lifetime: 10, source: 'max-age' },
  },
  {
    name: 'Expires − Date',
    headers: { expires: httpDate(T0 + 300_000) },
    expect: { lifetime: 300, source: 'expires' },
  },
  {
    name: 'Expires is relative to Date, not to our clock',
    headers: { date: httpDate(T0 - 100_000), expires: httpDate(T0 + 200_000) },
    expect: { lifetime: 300, source: 'expires' },
  },
  {
    name: 'invalid Expires is already expired (kept for its ETag)',
    headers: { expires: '0', etag: '"a"' },
    expect: { lifetime: 0, source: 'expires' },
  },
  {
    name: 'heuristic: 10% of Date − Last-Modified',
    headers: { 'last-modified': httpDate(T0 - 5 * DAY * 1000) },
    expect: { lifetime: DAY / 2, source: 'heuristic' },
  },
  {
    name: 'heuristic is capped at one day',
    headers: { 'last-modified': httpDate(T0 - 100 * DAY * 1000) },
    expect: { lifetime: DAY, source: 'heuristic' },
  },
  {
    name: 'heuristic beats the route default',
    headers: { 'last-modified': httpDate(T0 - 1000_000) },
    defaultTtlMs: 30_000,
    expect: { lifetime: 100, source: 'heuristic' },
  },
  {
    name: 'route default only when the origin says nothing',
    headers: {},
    defaultTtlMs: 30_000,
    expect: { lifetime: 30, source: 'default' },
  },
  {
    name: 'explicit max-age beats the route default',
    headers: { 'cache-control': 'max-age=5' },
    defaultTtlMs: 30_000,
    expect: { lifetime: 5, source: 'max-age' },
  },
  { name: 'nothing to go on: not stored', headers: {}, expect: { notStored: 'no-freshness' } },
  // RFC 9213 (issue 22, point 8): the first targeted field with directives decides, alone.
  {
    name: 'CDN-Cache-Control wins over Cache-Control (its no-store included)',
    headers: { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=600' },
    expect: { lifetime: 600, source: 'max-age' },
  },
  {
    name: 'Portico-Cache-Control wins over CDN-Cache-Control',
    headers: { 'cdn-cache-control': 'max-age=600', 'portico-cache-control': 'max-age=30' },
    expect: { lifetime: 30, source: 'max-age' },
  },
  {
    name: 'a targeted no-store wins over a Cache-Control that allows storing',
    headers: { 'cache-control': 'public, max-age=600', 'cdn-cache-control': 'no-store' },
    expect: { notStored: 'no-store' },
  },
  {
    name: 'with a targeted field in force, Expires counts for nothing',
    headers: { 'cdn-cache-control': 'must-revalidate', expires: httpDate(T0 + 300_000) },
    expect: { notStored: 'no-freshness' },
  },
  {
    name: 'an empty targeted field is no targeted field: Cache-Control applies',
    headers: { 'cdn-cache-control': '', 'cache-control': 'max-age=60' },
    expect: { lifetime: 60, source: 'max-age' },
  },
  {
    name: 'max-age=0 with a validator is stored (always revalidated)',
    headers: { 'cache-control': 'max-age=0', etag: '"v1"' },
    expect: { lifetime: 0, source: 'max-age' },
  },
  {
    name: 'conflicting max-age is stale',
    headers: { 'cache-control': 'max-age=10, max-age=99', etag: '"v1"' },
    expect: { lifetime: 0, source: 'max-age' },
  },
  { name: 'private', headers: { 'cache-control': 'private, max-age=60' }, expect: { notStored: 'private' } },
  {
    name: 'qualified private is treated as private',
    headers: { 'cache-control': 'private="set-cookie", max-age=60' },
    expect: { notStored: 'private' },
  },
  {
    name: 'no-store',
    headers: { 'cache-control': 'no-store, max-age=60' },
    expect: { notStored: 'no-store' },
  },
  {
    name: 'request no-store',
    requestHeaders: { 'cache-control': 'no-store' },
    headers: { 'cache-control': 'max-age=60' },
    expect: { notStored: 'request-no-store' },
  },
  {
    name: 'Authorization alone forbids sharing',
    requestHeaders: { authorization: 'Bearer x' },
    headers: { 'cache-control': 'max-age=60' },
    expect: { notStored: 'authorization' },
  },
  {
    name: 'Authorization + public',
    requestHeaders: { authorization: 'Bearer x' },
    headers: { 'cache-control': 'public, max-age=60' },
    expect: { lifetime: 60, source: 'max-age' },
  },
  {
    name: 'Authorization + s-maxage',
    requestHeaders: { authorization: 'Bearer x' },
    headers: { 'cache-control': 's-maxage=60' },
    expect: { lifetime: 60, source: 's-maxage' },
  },
  {
    name: 'Authorization + must-revalidate',
    requestHeaders: { authorization: 'Bearer x' },
    headers: { 'cache-control': 'must-revalidate, max-age=60' },
    expect: { lifetime: 60, source: 'max-age' },
  },
  {
    name: 'must-understand overrides no-store for an understood status',
    headers: { 'cache-control': 'must-understand, no-store, max-age=60' },
    expect: { lifetime: 60, source: 'max-age' },
  },
  {
    name: 'must-understand with an unknown status is not stored',
    status: 299,
    headers: { 'cache-control': 'must-understand, max-age=60' },
    expect: { notStored: 'no-store' },
  },
  {
    name: '404 is heuristically cacheable',
    status: 404,
    headers: { 'last-modified': httpDate(T0 - 1000_000) },
    expect: { lifetime: 100, source: 'heuristic' },
  },
  { name: '500 without explicit freshness', status: 500, headers: {}, expect: { notStored: 'status' } },
  {
    name: '500 with explicit max-age',
    status: 500,
    headers: { 'cache-control': 'max-age=5' },
    expect: { lifetime: 5, source: 'max-age' },
  },
  {
    name: '302 without explicit freshness',
    status: 302,
    headers: { 'last-modified': httpDate(T0 - 1000_000) },
    expect: { notStored: 'status' },
  },
  {
    name: '206 is never stored',
    status: 206,
    headers: { 'cache-control': 'max-age=60' },
    expect: { notStored: 'status' },
  },
  {
    name: 'Vary: *',
    headers: { 'cache-control': 'max-age=60', vary: 'Accept, *' },
    expect: { notStored: 'vary-star' },
  },
  {
    name: 'HEAD responses are not stored',
    method: 'HEAD',
    headers: { 'cache-control': 'max-age=60' },
    expect: { notStored: 'method' },
  },
  {
    name: 'POST responses are not stored',
    method: 'POST',
    headers: { 'cache-control': 'max-age=60' },
    expect: { notStored: 'method' },
  },
];

void describe('freshness and storability (shared cache)', () => {
  for (const c of cases) {
    void test(c.name, () => {
      const cache = new HttpCache({ now: clock().now });
      const req = request({ method: c.method ?? 'GET', headers: c.requestHeaders ?? {} });
      const result = cache.store(req, response(c.headers, { status: c.status ?? 200 }), {
        defaultTtlMs: c.defaultTtlMs,
      });
      const observed = result.stored
        ? { lifetime: result.entry.lifetimeMs / 1000, source: result.entry.freshnessSource }
        : { notStored: result.reason };
      assert.deepEqual(observed, c.expect);
    });
  }
});

void describe('age (RFC 9111 §4.2.3)', () => {
  void test('an Age header counts against the lifetime', () => {
    const time = clock();
    const cache = new HttpCache({ now: time.now });
    cache.store(request(), response({ 'cache-control': 'max-age=60', age: '50' }));
    const hit = cache.lookup(request());
    assert.equal(hit.status, 'hit');
    assert.equal(hit.status === 'hit' && hit.ttlSeconds, 10);
    time.advance(11_000);
    assert.equal(cache.lookup(request()).status, 'revalidate');
  });

  void test('apparent age from a Date in the past, and response delay, count too', () => {
    const time = clock();
    const cache = new HttpCache({ now: time.now });
    const stored = {
      ...response({ 'cache-control': 'max-age=60', date: httpDate(T0 - 30_000) }),
      requestTime: T0 - 2000,
    };
    cache.store(request(), stored);
    const hit = cache.lookup(request());
    assert.equal(hit.status === 'hit' && hit.ttlSeconds, 30);
    // corrected_age_value (0 + 2 s delay) is less than the apparent age (30 s), so 30 s wins.
    time.advance(5_000);
    assert.ok(hit.status === 'hit');
    assert.equal(cache.respond(hit.entry, request()).headers.age, '35');
  });

  void test('response delay is added to the Age header value', () => {
    const cache = new HttpCache({ now: clock().now });
    cache.store(request(), {
      ...response({ 'cache-control': 'max-age=60', age: '10' }),
      requestTime: T0 - 3000,
    });
    const hit = cache.lookup(request());
    assert.equal(hit.status === 'hit' && hit.ttlSeconds, 47);
  });
});
