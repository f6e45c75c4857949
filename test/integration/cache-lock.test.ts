import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { HttpPeer, type ProxyHttp } from '../../src/index.ts';
import { HttpCache } from '../../src/cache/index.ts';
import { startOrigin, startProxy, get, type Origin, type TestProxy } from '../helpers/servers.ts';

/** The origin's answers; each test sets the one for its path. */
type Reply = { delayMs: number; status: number; headers: Record<string, string>; body: string };
const replies = new Map<string, Reply>();

function cachingProxy(address: string, cache: HttpCache): ProxyHttp {
  const peer = new HttpPeer({ address });
  return { upstreamPeer: () => peer, requestCacheFilter: () => ({ cache }) };
}

/** Sends `n` concurrent GETs over a pool with one connection per request; returns statuses and bodies. */
async function burst(pool: Pool, path: string, n: number): Promise<Array<{ status: number; body: string }>> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const r = await pool.request({ path, method: 'GET' });
      return { status: r.statusCode, body: await r.body.text() };
    }),
  );
}

describe('cache lock (request coalescing)', () => {
  let origin: Origin;
  let cache: HttpCache;
  let proxy: TestProxy;
  let pool: Pool;
  let clock = Date.now();

  before(async () => {
    origin = await startOrigin((req, res) => {
      const reply = replies.get(new URL(req.url!, 'http://x').pathname)!;
      setTimeout(() => {
        res.writeHead(reply.status, { date: new Date(clock).toUTCString(), ...reply.headers });
        res.end(reply.body);
      }, reply.delayMs);
    });
    cache = new HttpCache({ now: () => clock, lockTimeoutMs: 2_000 });
    proxy = await startProxy(cachingProxy(origin.address, cache));
    pool = new Pool(proxy.url, { connections: 1_000, pipelining: 1 });
  });
  after(async () => {
    await pool.close();
    await proxy.stop();
    await origin.close();
  });

  test('1,000 concurrent requests for one expired key reach the origin once', async (t) => {
    replies.set('/hot', { delayMs: 0, status: 200, headers: { 'cache-control': 'max-age=1' }, body: 'v1' });
    assert.equal((await get(`${proxy.url}/hot`)).body.toString(), 'v1');
    clock += 5_000;
    replies.set('/hot', {
      delayMs: 300,
      status: 200,
      headers: { 'cache-control': 'max-age=60' },
      body: 'v2',
    });
    const before = origin.requests;
    const waitsBefore = cache.stats().lockWaits;
    const results = await burst(pool, '/hot', 1_000);
    assert.equal(origin.requests - before, 1, 'exactly one origin request');
    assert.ok(results.every((r) => r.status === 200 && r.body === 'v2'));
    // Requests that arrive after the fill are plain hits; those during it waited on the lock.
    const waited = cache.stats().lockWaits - waitsBefore;
    t.diagnostic(`${waited} of 1000 waited on the lock; the rest were hits after the fill`);
    assert.ok(waited > 0, 'some requests waited on the lock');
  });

  test('lock timeout: when the origin is slower than the lock, waiters go upstream themselves', async () => {
    const short = new HttpCache({ now: () => clock, lockTimeoutMs: 50 });
    const p = await startProxy(cachingProxy(origin.address, short));
    try {
      replies.set('/slow', {
        delayMs: 300,
        status: 200,
        headers: { 'cache-control': 'max-age=60' },
        body: 's',
      });
      const before = origin.requests;
      const results = await Promise.all(Array.from({ length: 5 }, () => get(`${p.url}/slow`)));
      assert.ok(results.every((r) => r.status === 200 && r.body.toString() === 's'));
      assert.equal(origin.requests - before, 5, 'the writer plus four waiters that timed out');
      assert.equal(short.stats().lockTimeouts, 4);
    } finally {
      await p.stop();
    }
  });

  test('an uncacheable response releases the waiters at once', async () => {
    replies.set('/nostore', {
      delayMs: 200,
      status: 200,
      headers: { 'cache-control': 'no-store' },
      body: 'n',
    });
    const before = origin.requests;
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 5 }, () => get(`${proxy.url}/nostore`)));
    assert.ok(results.every((r) => r.status === 200 && r.body.toString() === 'n'));
    assert.equal(origin.requests - before, 5);
    // Waiters went upstream when the writer's headers arrived (~200 ms), not after the 2 s lock timeout.
    assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`);
    assert.equal(cache.lock.stats().held, 0);
  });

  test('a failing fetch releases the waiters (and the lock)', async () => {
    const gone = await startOrigin((req) => req.socket.destroy());
    const c = new HttpCache({ now: () => clock, lockTimeoutMs: 5_000 });
    const p = await startProxy(cachingProxy(gone.address, c));
    try {
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 5 }, () => get(`${p.url}/x`)));
      assert.ok(results.every((r) => r.status === 502));
      assert.ok(Date.now() - started < 3_000, 'nobody waited for the 5 s lock timeout');
      assert.equal(c.lock.stats().held, 0);
    } finally {
      await p.stop();
      await gone.close();
    }
  });
});
