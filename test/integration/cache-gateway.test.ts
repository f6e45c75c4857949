import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, createLogger, httpProxyService } from '../../src/index.ts';
import { HttpCache } from '../../src/cache/index.ts';
import { parseDocuments } from '../../src/config/file-source.ts';
import { ConfigStore, TableHolder, TableService, registerAdminApi } from '../../src/gateway/index.ts';
import { GatewayCacheService, GatewayProxy } from '../../src/gateway/gateway-proxy.ts';
import { startOrigin, get, type Origin } from '../helpers/servers.ts';
import { backendYaml } from '../helpers/portico.ts';

const TOKEN = 'cache-test-token';
const MAX_BYTES = 256 * 1024;

function routeYaml(): string {
  return `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: site }
spec:
  hostnames: [site.example]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /static } }]
      backendRefs: [{ name: origin }]
      cache: { enabled: true, defaultTtl: 60s }
    - matches: [{ path: { type: PathPrefix, value: /small } }]
      backendRefs: [{ name: origin }]
      cache: { enabled: true, maxObjectBytes: 100 }
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: origin }]
`;
}

/**
 * The gateway wired as `portico serve` would wire it, in one process (workers: 0): table service, cache
 * service, and the admin API with the purge channel.
 */
describe('gateway: Route cache rules, purge and the memory bound', () => {
  let origin: Origin;
  let server: Server;
  let url: string;
  let admin: string;
  let cache: HttpCache;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const big = req.url!.includes('flood') ? 'x'.repeat(1024) : '';
      // No freshness information: only the rule's defaultTtl makes it cacheable.
      res.end(`${req.url} ${big}`);
    });
    server = new Server({
      workers: 0,
      admin: '127.0.0.1:0',
      logger: createLogger({ level: 'silent', sync: true }),
    });
    const holder = new TableHolder();
    cache = new HttpCache({ maxBytes: MAX_BYTES });
    const gateway = new GatewayProxy(holder, { cache });
    server.addService(new TableService(holder, server, 2_000));
    server.addService(new GatewayCacheService(gateway, server));
    const service = httpProxyService(gateway, { listen: ['127.0.0.1:0'], accessLog: false });
    server.addService(service);
    const store = new ConfigStore(server, createLogger({ level: 'silent', sync: true }));
    registerAdminApi(server.admin!, store, { token: TOKEN, cacheChannel: server });
    await server.start();
    await store.replace(parseDocuments(backendYaml('origin', [origin.address]) + routeYaml(), 'test'));
    url = `http://127.0.0.1:${service.ports[0]}`;
    admin = `http://127.0.0.1:${server.adminPort}`;
  });
  after(async () => {
    await server.stop(1_000);
    await origin.close();
  });

  const site = { host: 'site.example' };

  test('a rule with cache.enabled caches (defaultTtl applies); other rules do not', async () => {
    const before = origin.requests;
    await get(`${url}/static/a.css`, { headers: site });
    const hit = await get(`${url}/static/a.css`, { headers: site });
    assert.match(String(hit.headers['cache-status']), /^Portico; hit; ttl=\d+$/);
    assert.equal(origin.requests - before, 1);
    const plain = await get(`${url}/other`, { headers: site });
    assert.equal(plain.headers['cache-status'], undefined);
  });

  test("a rule's maxObjectBytes keeps larger bodies out", async () => {
    const r = await get(`${url}/small/${'y'.repeat(200)}`, { headers: site });
    assert.match(String(r.headers['cache-status']), /detail=too-large/);
  });

  test('POST /api/v1/cache/purge by key and by host + pathPrefix, counted per worker', async () => {
    await get(`${url}/static/p/1`, { headers: site });
    await get(`${url}/static/p/2`, { headers: site });
    await get(`${url}/static/q/1`, { headers: site });
    const unauthorised = await get(`${admin}/api/v1/cache/purge`, { method: 'POST', body: '{"key":"x"}' });
    assert.equal(unauthorised.status, 401);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const bad = await get(`${admin}/api/v1/cache/purge`, {
      method: 'POST',
      headers: auth,
      body: '{"host":"a"}',
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /pathPrefix/);
    const byKey = await get(`${admin}/api/v1/cache/purge`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ key: 'http://site.example/static/q/1' }),
    });
    assert.deepEqual(JSON.parse(byKey.body.toString()), { removed: 1, workers: { '0': 1 }, missing: 0 });
    const byPrefix = await get(`${admin}/api/v1/cache/purge`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ host: 'site.example', pathPrefix: '/static/p/' }),
    });
    assert.equal((JSON.parse(byPrefix.body.toString()) as { removed: number }).removed, 2);
    const before = origin.requests;
    const again = await get(`${url}/static/p/1`, { headers: site });
    assert.match(String(again.headers['cache-status']), /fwd=uri-miss/);
    assert.equal(origin.requests - before, 1);
  });

  test('a unique-key flood stays under the byte bound, and /metrics reports the cache', async () => {
    for (let i = 0; i < 1_000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => get(`${url}/static/flood/${i + j}`, { headers: site })),
      );
      assert.ok(cache.stats().bytes <= MAX_BYTES);
    }
    const stats = cache.stats();
    assert.ok(stats.evictions > 0, 'old entries were evicted');
    const metrics = (await get(`${admin}/metrics`)).body.toString();
    assert.match(metrics, /portico_cache_hits_total \d+/);
    assert.match(metrics, /portico_cache_evictions_total [1-9]\d*/);
    const bytes = Number(/portico_cache_stored_bytes (\d+)/.exec(metrics)?.[1]);
    assert.ok(bytes > 0 && bytes <= MAX_BYTES, `stored bytes ${bytes}`);
  });
});
