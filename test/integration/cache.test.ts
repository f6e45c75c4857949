import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { HttpPeer, type ProxyHttp } from '../../src/index.ts';
import { HttpCache } from '../../src/cache/index.ts';
import {
  startOrigin,
  startProxy,
  get,
  type Origin,
  type TestProxy,
  type SimpleResponse,
} from '../helpers/servers.ts';

/** A clock the cache reads; tests move it instead of sleeping. Starts at real time so Date headers agree. */
class Clock {
  now = Date.now();
  readonly read = (): number => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

/** Opts every request into one cache; responseFilter tags responses so we can see it ran on hits. */
function cachingProxy(address: string, cache: HttpCache, extra: Partial<ProxyHttp> = {}): ProxyHttp {
  const peer = new HttpPeer({ address });
  return {
    upstreamPeer: () => peer,
    requestCacheFilter: () => ({ cache }),
    responseFilter: (_s, response) => response.set('x-filtered', 'yes'),
    ...extra,
  };
}

/** Per-path counters for the origin, so each case asserts how often it went upstream. */
const hits = new Map<string, number>();
let downPaths = new Set<string>();
/** The origin's Date header follows the cache's test clock, as a real origin's follows real time. */
let originNow: () => number = Date.now;

function count(path: string): number {
  const n = (hits.get(path) ?? 0) + 1;
  hits.set(path, n);
  return n;
}

function originHandler(
  url: URL,
  method: string,
  headers: Record<string, string | string[] | undefined>,
  res: ServerResponse,
): void {
  const path = url.pathname;
  const n = count(`${method} ${path}`);
  res.setHeader('date', new Date(originNow()).toUTCString());
  if (downPaths.has(path)) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('down');
    return;
  }
  switch (path) {
    case '/max-age':
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
      return void res.end(`v${n}`);
    case '/no-store':
      res.writeHead(200, { 'cache-control': 'no-store, max-age=60' });
      return void res.end(`v${n}`);
    case '/private':
      res.writeHead(200, { 'cache-control': 'private, max-age=60' });
      return void res.end(`v${n}`);
    case '/s-maxage':
      res.writeHead(200, { 'cache-control': 's-maxage=60, max-age=0' });
      return void res.end(`v${n}`);
    case '/etag':
      if (headers['if-none-match'] === '"e1"') {
        res.writeHead(304, { 'cache-control': 'max-age=10', etag: '"e1"', 'x-version': `fresh-${n}` });
        return void res.end();
      }
      res.writeHead(200, { 'cache-control': 'max-age=10', etag: '"e1"', 'x-version': `orig-${n}` });
      return void res.end('etag-body');
    case '/vary':
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
      return void res.end(`lang=${String(headers['accept-language'])} n=${n}`);
    case '/range':
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"r"' });
      return void res.end('0123456789');
    case '/item':
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      return void res.end(`${method} ${n}`);
    case '/swr':
      // The refresh is slow, so the stale answers cannot race it.
      setTimeout(
        () => {
          res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60' });
          res.end(`swr-${n}`);
        },
        n === 1 ? 0 : 200,
      );
      return;
    case '/sie':
      res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60' });
      return void res.end(`sie-${n}`);
    case '/big':
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      return void res.end(Buffer.alloc(4096, 'b'));
    default:
      res.writeHead(404);
      res.end();
  }
}

interface Step {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** Moves the cache clock before this request. */
  advanceMs?: number;
}

interface Case {
  name: string;
  steps: Step[];
  /** Origin requests per `METHOD /path` after all steps. */
  origin: Record<string, number>;
  /** Checks on the last response. */
  last: (r: SimpleResponse) => void;
}

const CASES: Case[] = [
  {
    name: 'max-age: the second request is a hit with Age and Cache-Status',
    steps: [{ path: '/max-age' }, { path: '/max-age', advanceMs: 5_000 }],
    origin: { 'GET /max-age': 1 },
    last: (r) => {
      assert.equal(r.body.toString(), 'v1');
      assert.equal(r.headers.age, '5');
      assert.match(String(r.headers['cache-status']), /^Portico; hit; ttl=5[45]$/);
      assert.equal(r.headers['x-filtered'], 'yes', 'responseFilter runs on a cached response');
    },
  },
  {
    name: 'no-store is never stored',
    steps: [{ path: '/no-store' }, { path: '/no-store' }],
    origin: { 'GET /no-store': 2 },
    last: (r) => {
      assert.equal(r.body.toString(), 'v2');
      assert.match(String(r.headers['cache-status']), /fwd=uri-miss; fwd-status=200; detail=no-store/);
    },
  },
  {
    name: 'private is not stored by a shared cache',
    steps: [{ path: '/private' }, { path: '/private' }],
    origin: { 'GET /private': 2 },
    last: (r) => assert.match(String(r.headers['cache-status']), /detail=private/),
  },
  {
    name: 's-maxage wins over max-age=0 for a shared cache',
    steps: [{ path: '/s-maxage' }, { path: '/s-maxage', advanceMs: 1_000 }],
    origin: { 'GET /s-maxage': 1 },
    last: (r) => assert.match(String(r.headers['cache-status']), /hit/),
  },
  {
    name: 'expired → conditional revalidation; the 304 refreshes the stored headers',
    steps: [{ path: '/etag' }, { path: '/etag', advanceMs: 11_000 }, { path: '/etag', advanceMs: 1_000 }],
    origin: { 'GET /etag': 2 },
    last: (r) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'etag-body');
      assert.equal(r.headers['x-version'], 'fresh-2', 'headers from the 304 were merged into the entry');
      assert.match(String(r.headers['cache-status']), /hit/);
    },
  },
  {
    name: 'Vary: each Accept-Language gets its own variant',
    steps: [
      { path: '/vary', headers: { 'accept-language': 'en' } },
      { path: '/vary', headers: { 'accept-language': 'fr' } },
      { path: '/vary', headers: { 'accept-language': 'en' } },
      { path: '/vary', headers: { 'accept-language': 'fr' } },
    ],
    origin: { 'GET /vary': 2 },
    last: (r) => assert.equal(r.body.toString(), 'lang=fr n=2'),
  },
  {
    name: 'HEAD is answered from a stored GET',
    steps: [{ path: '/max-age' }, { method: 'HEAD', path: '/max-age' }],
    origin: { 'GET /max-age': 1, 'HEAD /max-age': 0 },
    last: (r) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers['content-length'], '2');
      assert.match(String(r.headers['cache-status']), /hit/);
    },
  },
  {
    name: 'Range is sliced from the stored complete body',
    steps: [
      { path: '/range', headers: { range: 'bytes=0-1' } },
      { path: '/range', headers: { range: 'bytes=2-4' } },
    ],
    origin: { 'GET /range': 1 },
    last: (r) => {
      assert.equal(r.status, 206);
      assert.equal(r.body.toString(), '234');
      assert.equal(r.headers['content-range'], 'bytes 2-4/10');
    },
  },
  {
    name: 'a client conditional matching the stored ETag gets 304 from the cache',
    steps: [{ path: '/range' }, { path: '/range', headers: { 'if-none-match': '"r"' } }],
    origin: { 'GET /range': 1 },
    last: (r) => {
      assert.equal(r.status, 304);
      assert.equal(r.headers.etag, '"r"');
    },
  },
  {
    name: 'POST invalidates the stored GET',
    steps: [{ path: '/item' }, { path: '/item' }, { method: 'POST', path: '/item' }, { path: '/item' }],
    origin: { 'GET /item': 2, 'POST /item': 1 },
    last: (r) => {
      assert.equal(r.body.toString(), 'GET 2');
      assert.match(String(r.headers['cache-status']), /fwd=uri-miss/);
    },
  },
  {
    name: 'only-if-cached on a miss is a 504 without going upstream',
    steps: [{ path: '/max-age', headers: { 'cache-control': 'only-if-cached' } }],
    origin: { 'GET /max-age': 0 },
    last: (r) => {
      assert.equal(r.status, 504);
      assert.match(String(r.headers['cache-status']), /detail=only-if-cached/);
    },
  },
];

describe('HTTP cache through the proxy', () => {
  let origin: Origin;

  before(async () => {
    origin = await startOrigin((req, res) =>
      originHandler(new URL(req.url!, 'http://x'), req.method!, req.headers, res),
    );
  });
  after(() => origin.close());

  for (const c of CASES) {
    test(c.name, async () => {
      hits.clear();
      const clock = new Clock();
      const cache = new HttpCache({ now: clock.read });
      originNow = clock.read;
      const proxy = await startProxy(cachingProxy(origin.address, cache));
      try {
        let last: SimpleResponse | undefined;
        for (const step of c.steps) {
          clock.advance(step.advanceMs ?? 0);
          last = await get(proxy.url + step.path, { method: step.method, headers: step.headers });
        }
        for (const [key, expected] of Object.entries(c.origin)) {
          assert.equal(hits.get(key) ?? 0, expected, `origin requests for ${key}`);
        }
        c.last(last!);
      } finally {
        await proxy.stop();
      }
    });
  }

  describe('stale responses', () => {
    let clock: Clock;
    let cache: HttpCache;
    let proxy: TestProxy;

    before(async () => {
      clock = new Clock();
      originNow = clock.read;
      cache = new HttpCache({ now: clock.read });
      proxy = await startProxy(cachingProxy(origin.address, cache));
    });
    after(() => proxy.stop());

    test('stale-while-revalidate serves stale at once and refreshes in the background, once', async () => {
      hits.clear();
      await get(`${proxy.url}/swr`);
      clock.advance(5_000);
      const stale = await Promise.all([
        get(`${proxy.url}/swr`),
        get(`${proxy.url}/swr`),
        get(`${proxy.url}/swr`),
      ]);
      for (const r of stale) {
        assert.equal(r.body.toString(), 'swr-1');
        assert.match(String(r.headers['cache-status']), /hit; ttl=-4; detail=stale/);
      }
      await waitFor(() => cache.stats().revalidations === 1 && (hits.get('GET /swr') ?? 0) === 2);
      await waitFor(() => cache.lock.stats().held === 0);
      const fresh = await get(`${proxy.url}/swr`);
      assert.equal(fresh.body.toString(), 'swr-2');
      assert.equal(hits.get('GET /swr'), 2, 'one background revalidation for three stale requests');
    });

    test('stale-if-error serves the stale entry while the origin fails', async () => {
      hits.clear();
      await get(`${proxy.url}/sie`);
      clock.advance(5_000);
      downPaths = new Set(['/sie']);
      try {
        const r = await get(`${proxy.url}/sie`);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'sie-1');
        assert.match(String(r.headers['cache-status']), /fwd=stale; fwd-status=503; .*detail=stale-if-error/);
      } finally {
        downPaths = new Set();
      }
      const recovered = await get(`${proxy.url}/sie`);
      assert.equal(recovered.body.toString(), 'sie-3');
    });

    test('stale-if-error covers an origin that is gone entirely', async () => {
      const gone = await startOrigin((_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60' });
        res.end('from-gone');
      });
      const c2 = new HttpCache({ now: clock.read });
      const p2 = await startProxy(cachingProxy(gone.address, c2));
      try {
        assert.equal((await get(`${p2.url}/x`)).body.toString(), 'from-gone');
        await gone.close();
        clock.advance(5_000);
        const r = await get(`${p2.url}/x`);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'from-gone');
        assert.match(String(r.headers['cache-status']), /detail=stale-if-error/);
      } finally {
        await p2.stop();
      }
    });

    test('a body over maxObjectBytes streams through unstored', async () => {
      hits.clear();
      const small = new HttpCache({ now: clock.read, maxObjectBytes: 1024 });
      const p = await startProxy(cachingProxy(origin.address, small));
      try {
        const a = await get(`${p.url}/big`);
        const b = await get(`${p.url}/big`);
        assert.equal(a.body.length, 4096);
        assert.equal(b.body.length, 4096);
        assert.equal(hits.get('GET /big'), 2);
        assert.equal(small.stats().entries, 0);
      } finally {
        await p.stop();
      }
    });
  });
});

/** Polls a condition the test can observe (background work has no event to await). */
async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
