import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpCache, type CacheEntry, type HeaderMap, type LookupResult } from '../../../src/cache/index.ts';
import { PorticoError } from '../../../src/errors.ts';
import { clock, httpDate, request, response, T0 } from './fixtures.ts';

function entryOf(result: LookupResult): CacheEntry {
  assert.notEqual(result.status, 'miss');
  return (result as Exclude<LookupResult, { status: 'miss' }>).entry;
}

/** A cache holding one response stored at T0, and the clock that drives it. */
function cacheWith(headers: HeaderMap, body = 'hello') {
  const time = clock();
  const cache = new HttpCache({ now: time.now });
  const stored = cache.store(request(), response(headers, { body }));
  assert.equal(stored.stored, true);
  return { cache, time };
}

void describe('reuse: request and response directives', () => {
  const cases: Array<{ name: string; cc: string; after: number; req?: HeaderMap; expect: string }> = [
    { name: 'fresh', cc: 'max-age=60', after: 59_000, expect: 'hit' },
    { name: 'stale', cc: 'max-age=60', after: 60_000, expect: 'revalidate:stale' },
    {
      name: 'response no-cache',
      cc: 'no-cache, max-age=60',
      after: 0,
      expect: 'revalidate:response-no-cache',
    },
    {
      name: 'request no-cache',
      cc: 'max-age=60',
      after: 0,
      req: { 'cache-control': 'no-cache' },
      expect: 'revalidate:request-no-cache',
    },
    {
      name: 'Pragma no-cache',
      cc: 'max-age=60',
      after: 0,
      req: { pragma: 'no-cache' },
      expect: 'revalidate:request-no-cache',
    },
    {
      name: 'request max-age',
      cc: 'max-age=60',
      after: 11_000,
      req: { 'cache-control': 'max-age=10' },
      expect: 'revalidate:request-max-age',
    },
    {
      name: 'request min-fresh',
      cc: 'max-age=60',
      after: 30_000,
      req: { 'cache-control': 'min-fresh=40' },
      expect: 'revalidate:min-fresh',
    },
    {
      name: 'max-stale allows stale',
      cc: 'max-age=60',
      after: 65_000,
      req: { 'cache-control': 'max-stale=10' },
      expect: 'stale:fg',
    },
    {
      name: 'max-stale bound',
      cc: 'max-age=60',
      after: 71_000,
      req: { 'cache-control': 'max-stale=10' },
      expect: 'revalidate:stale',
    },
    {
      name: 'bare max-stale',
      cc: 'max-age=60',
      after: 1e9,
      req: { 'cache-control': 'max-stale' },
      expect: 'stale:fg',
    },
    {
      name: 'must-revalidate beats max-stale',
      cc: 'max-age=60, must-revalidate',
      after: 61_000,
      req: { 'cache-control': 'max-stale' },
      expect: 'revalidate:stale',
    },
    {
      name: 'proxy-revalidate beats max-stale',
      cc: 'max-age=60, proxy-revalidate',
      after: 61_000,
      req: { 'cache-control': 'max-stale' },
      expect: 'revalidate:stale',
    },
    {
      name: 's-maxage beats max-stale',
      cc: 's-maxage=60',
      after: 61_000,
      req: { 'cache-control': 'max-stale' },
      expect: 'revalidate:stale',
    },
    {
      name: 'only-if-cached hit',
      cc: 'max-age=60',
      after: 0,
      req: { 'cache-control': 'only-if-cached' },
      expect: 'hit',
    },
    {
      name: 'only-if-cached stale → 504',
      cc: 'max-age=60',
      after: 61_000,
      req: { 'cache-control': 'only-if-cached' },
      expect: 'miss:504',
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const { cache, time } = cacheWith({ 'cache-control': c.cc, etag: '"v1"' });
      time.advance(c.after);
      const r = cache.lookup(request({ headers: c.req ?? {} }));
      const observed =
        r.status === 'revalidate'
          ? `revalidate:${r.reason}`
          : r.status === 'stale'
            ? `stale:${r.revalidateInBackground ? 'bg' : 'fg'}`
            : r.status === 'miss'
              ? `miss:${r.onlyIfCached ? '504' : 'forward'}`
              : r.status;
      assert.equal(observed, c.expect);
    });
  }

  void test('only-if-cached on an empty cache asks for a 504', () => {
    const cache = new HttpCache({ now: clock().now });
    const r = cache.lookup(request({ headers: { 'cache-control': 'only-if-cached' } }));
    assert.deepEqual(r, {
      status: 'miss',
      key: 'https://shop.example/item',
      fwd: 'uri-miss',
      onlyIfCached: true,
    });
  });
});

void describe('stale-while-revalidate and stale-if-error windows', () => {
  const cc = 'max-age=10, stale-while-revalidate=20, stale-if-error=60';

  void test('fresh, then stale served while revalidating in background, then revalidate', () => {
    const { cache, time } = cacheWith({ 'cache-control': cc, etag: '"v1"' });
    time.set(T0 + 5_000);
    assert.equal(cache.lookup(request()).status, 'hit');
    time.set(T0 + 30_000);
    const stale = cache.lookup(request());
    assert.equal(stale.status, 'stale');
    assert.equal(stale.status === 'stale' && stale.revalidateInBackground, true);
    assert.equal(stale.status === 'stale' && stale.ttlSeconds, -20);
    time.set(T0 + 30_001);
    assert.equal(cache.lookup(request()).status, 'revalidate');
  });

  void test('stale-if-error allows a stale answer to an upstream error up to its window', () => {
    const { cache, time } = cacheWith({ 'cache-control': cc, etag: '"v1"' });
    const entry = entryOf(cache.lookup(request()));
    time.set(T0 + 70_000);
    assert.equal(cache.staleIfError(entry), true);
    time.set(T0 + 70_001);
    assert.equal(cache.staleIfError(entry), false);
  });

  void test('must-revalidate disables both windows', () => {
    const { cache, time } = cacheWith({ 'cache-control': `${cc}, must-revalidate`, etag: '"v1"' });
    const entry = entryOf(cache.lookup(request()));
    time.set(T0 + 15_000);
    assert.equal(cache.lookup(request()).status, 'revalidate');
    assert.equal(cache.staleIfError(entry), false);
  });
});

void describe('Vary', () => {
  void test('variants per primary key, selected by normalised request values', () => {
    const cache = new HttpCache({ now: clock().now });
    const headers = { 'cache-control': 'max-age=60', vary: 'Accept-Encoding, Accept-Language' };
    const gzip = { 'accept-encoding': 'gzip, br', 'accept-language': 'en' };
    cache.store(request({ headers: gzip }), response(headers, { body: 'gzip-en' }));
    cache.store(
      request({ headers: { 'accept-language': 'en' } }),
      response(headers, { body: 'identity-en' }),
    );

    const same = cache.lookup(
      request({ headers: { 'accept-encoding': ['GZIP ', 'br'], 'accept-language': 'en' } }),
    );
    assert.equal(entryOf(same).response.body.toString(), 'gzip-en');
    const absent = cache.lookup(request({ headers: { 'accept-language': 'en' } }));
    assert.equal(entryOf(absent).response.body.toString(), 'identity-en');
    const other = cache.lookup(
      request({ headers: { 'accept-encoding': 'gzip, br', 'accept-language': 'fr' } }),
    );
    assert.equal(other.status === 'miss' && other.fwd, 'vary-miss');
    assert.equal(cache.stats().entries, 2);
  });

  void test('a HEAD is answered from the stored GET, without a body', () => {
    const { cache } = cacheWith({ 'cache-control': 'max-age=60' }, 'hello');
    const head = request({ method: 'HEAD' });
    const served = cache.respond(entryOf(cache.lookup(head)), head);
    assert.equal(served.body, undefined);
    assert.equal(served.headers['content-length'], '5');
    assert.equal(served.headers.age, '0');
  });

  void test('a new Vary on the same key drops the variants stored under the old one', () => {
    const cache = new HttpCache({ now: clock().now });
    cache.store(
      request({ headers: { accept: 'a' } }),
      response({ 'cache-control': 'max-age=60', vary: 'accept' }),
    );
    cache.store(
      request({ headers: { accept: 'b' } }),
      response({ 'cache-control': 'max-age=60', vary: 'accept' }),
    );
    cache.store(
      request({ headers: { 'x-v': '1' } }),
      response({ 'cache-control': 'max-age=60', vary: 'x-v' }),
    );
    assert.equal(cache.stats().entries, 1);
    assert.equal(cache.lookup(request({ headers: { 'x-v': '1' } })).status, 'hit');
  });
});

void describe('revalidation', () => {
  const storedHeaders = {
    'cache-control': 'max-age=10',
    etag: '"v1"',
    'last-modified': httpDate(T0 - 60_000),
    'content-type': 'text/plain',
    'x-old': 'kept',
  };

  void test('conditional headers come from the stored validators', () => {
    const { cache, time } = cacheWith(storedHeaders);
    time.advance(11_000);
    const r = cache.lookup(request());
    assert.equal(r.status, 'revalidate');
    assert.deepEqual(r.status === 'revalidate' && r.conditionalHeaders, {
      'if-none-match': '"v1"',
      'if-modified-since': httpDate(T0 - 60_000),
    });
  });

  void test('a 304 refreshes the stored header (RFC 9111 §3.2) and the freshness', () => {
    const { cache, time } = cacheWith(storedHeaders);
    time.advance(11_000);
    const stale = entryOf(cache.lookup(request()));
    const at = time.now();
    const notModified = {
      status: 304,
      headers: {
        date: httpDate(at),
        etag: '"v1"',
        'cache-control': 'max-age=100',
        'content-length': '0',
        'x-new': 'added',
        connection: 'x-hop',
        'x-hop': 'gone',
        'keep-alive': 'timeout=5',
      },
      requestTime: at,
      responseTime: at,
    };
    const refreshed = cache.freshen(request(), stale, notModified);
    assert.ok(refreshed);
    assert.equal(refreshed.stored, true);
    const { headers } = refreshed.entry.response;
    assert.equal(headers['content-length'], '5');
    assert.equal(headers['cache-control'], 'max-age=100');
    assert.equal(headers['x-new'], 'added');
    assert.equal(headers['x-old'], 'kept');
    assert.equal(headers['x-hop'], undefined);
    assert.equal(headers['keep-alive'], undefined);
    assert.equal(refreshed.entry.response.body.toString(), 'hello');
    const hit = cache.lookup(request());
    assert.equal(hit.status === 'hit' && hit.ttlSeconds, 100);
  });

  void test('a 304 for a different strong ETag drops the entry', () => {
    const { cache, time } = cacheWith(storedHeaders);
    time.advance(11_000);
    const stale = entryOf(cache.lookup(request()));
    const refreshed = cache.freshen(request(), stale, {
      status: 304,
      headers: { etag: '"v2"' },
      requestTime: T0,
      responseTime: T0,
    });
    assert.equal(refreshed, undefined);
    assert.equal(cache.lookup(request()).status, 'miss');
  });

  void test('a 304 that adds no-store is served once but not kept', () => {
    const { cache, time } = cacheWith(storedHeaders);
    time.advance(11_000);
    const stale = entryOf(cache.lookup(request()));
    const at = time.now();
    const refreshed = cache.freshen(request(), stale, {
      status: 304,
      headers: { 'cache-control': 'no-store' },
      requestTime: at,
      responseTime: at,
    });
    assert.equal(refreshed?.stored, false);
    assert.equal(refreshed.entry.response.body.toString(), 'hello');
    assert.equal(cache.lookup(request()).status, 'miss');
  });
});

void describe('invalidation (RFC 9111 §4.4)', () => {
  function seeded() {
    const cache = new HttpCache({ now: clock().now });
    for (const path of ['/item', '/item/7', '/other', '/list']) {
      cache.store(request({ path }), response({ 'cache-control': 'max-age=60' }));
    }
    cache.store(
      request({ host: 'evil.example', path: '/list' }),
      response({ 'cache-control': 'max-age=60' }),
    );
    return cache;
  }

  void test('a successful POST invalidates its URI and same-origin Location / Content-Location', () => {
    const cache = seeded();
    const removed = cache.invalidate(request({ method: 'POST', host: 'SHOP.example:443' }), {
      status: 201,
      headers: { location: '/item/7', 'content-location': 'https://shop.example/list' },
    });
    assert.equal(removed, 3);
    assert.equal(cache.lookup(request({ path: '/other' })).status, 'hit');
    assert.equal(cache.lookup(request({ path: '/item' })).status, 'miss');
  });

  void test('cross-origin Location is ignored, and so are error responses and safe methods', () => {
    const cache = seeded();
    assert.equal(
      cache.invalidate(request({ method: 'PUT', path: '/x' }), {
        status: 200,
        headers: { location: 'https://evil.example/list' },
      }),
      0,
    );
    assert.equal(cache.invalidate(request({ method: 'DELETE' }), { status: 500, headers: {} }), 0);
    assert.equal(cache.invalidate(request({ method: 'GET' }), { status: 200, headers: {} }), 0);
    assert.equal(cache.invalidate(request({ method: 'PATCH' }), { status: 204, headers: {} }), 1);
  });
});

void describe('facade', () => {
  void test('purge by key and by host/path prefix', () => {
    const cache = new HttpCache({ now: clock().now });
    for (const path of ['/api/a', '/api/b', '/apix', '/static/x']) {
      cache.store(request({ path }), response({ 'cache-control': 'max-age=60' }));
    }
    cache.store(
      request({ host: 'other.example', path: '/api/a' }),
      response({ 'cache-control': 'max-age=60' }),
    );
    assert.equal(cache.purgePrefix('Shop.Example', '/api/'), 2);
    assert.equal(cache.purge('https://shop.example/static/x'), 1);
    assert.equal(cache.purgeUrl({ scheme: 'https', host: 'shop.example', path: '/apix', query: '' }), 1);
    assert.equal(cache.stats().entries, 1);
    assert.equal(cache.lookup(request({ host: 'other.example', path: '/api/a' })).status, 'hit');
  });

  void test('non-GET/HEAD lookups bypass the cache', () => {
    const { cache } = cacheWith({ 'cache-control': 'max-age=60' });
    const r = cache.lookup(request({ method: 'POST' }));
    assert.equal(r.status === 'miss' && r.fwd, 'method');
  });

  void test('the key ignores the method and default ports; a custom key replaces it', () => {
    const cache = new HttpCache({ now: clock().now });
    assert.equal(
      cache.keyFor(request({ host: 'Shop.Example:443', query: 'a=1' })),
      'https://shop.example/item?a=1',
    );
    const custom = new HttpCache({ cacheKey: (r) => `${r.host}${r.path}` });
    assert.equal(custom.keyFor(request({ query: 'utm=1' })), 'shop.example/item');
  });

  void test('Cache-Status members (RFC 9211)', () => {
    const cache = new HttpCache();
    assert.equal(cache.cacheStatus({ hit: true, ttl: 42 }), 'Portico; hit; ttl=42');
    assert.equal(cache.cacheStatus({ fwd: 'miss', stored: true }), 'Portico; fwd=miss; stored');
    assert.equal(
      cache.cacheStatus({ fwd: 'stale', fwdStatus: 304, ttl: -3.7 }),
      'Portico; fwd=stale; fwd-status=304; ttl=-3',
    );
    assert.equal(
      cache.cacheStatus({ fwd: 'uri-miss', collapsed: true, key: 'a"b', detail: 'no store' }),
      'Portico; fwd=uri-miss; collapsed; key="a\\"b"; detail="no store"',
    );
  });

  void test('storability from the head: Content-Length over maxObjectBytes is too large', () => {
    const cache = new HttpCache({ maxBytes: 10_000, maxObjectBytes: 100 });
    const head = { status: 200, headers: { 'cache-control': 'max-age=60', 'content-length': '101' } };
    assert.deepEqual(cache.storability(request(), head), { storable: false, reason: 'too-large' });
    assert.equal(cache.bodyCollector(head).state, 'too-large');
    const big = cache.store(
      request(),
      response({ 'cache-control': 'max-age=60' }, { body: Buffer.alloc(101) }),
    );
    assert.deepEqual(big, { stored: false, reason: 'too-large' });
  });

  void test('options are validated at construction and name the option', () => {
    assert.throws(
      () => new HttpCache({ maxBytes: 0 }),
      (e: unknown) => e instanceof PorticoError && e.message.startsWith('maxBytes'),
    );
    assert.throws(() => new HttpCache({ maxBytes: 10, maxObjectBytes: 11 }), /maxObjectBytes/);
    assert.throws(() => new HttpCache({ lockTimeoutMs: -1 }), /lockTimeoutMs/);
    assert.throws(() => new HttpCache({ heuristicFraction: 2 }), /heuristicFraction/);
  });
});
