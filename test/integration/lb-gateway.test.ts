/**
 * The gateway's use of the load-balancing library, in one process (workers: 0) so the worker state can
 * be read directly and the outlier clock injected: ejection after consecutive failures and recovery,
 * retries onto another endpoint, and the retry budget refusing retries beyond its share.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Server, createLogger, httpProxyService } from '../../src/index.ts';
import { SessionAffinity } from '../../src/lb/index.ts';
import { parseDocuments } from '../../src/config/file-source.ts';
import {
  ConfigStore,
  GatewayProxy,
  TableHolder,
  TableService,
  type EndpointStateOptions,
} from '../../src/gateway/index.ts';
import { closedPort, get, startOrigin, type Origin, type SimpleResponse } from '../helpers/servers.ts';
import { eventually } from '../helpers/process.ts';
import { backendYaml } from '../helpers/portico.ts';

interface Gateway {
  url: string;
  holder: TableHolder;
  /** Publishes new configuration and waits until the worker serves it. */
  replace(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

async function startGateway(yaml: string, options: EndpointStateOptions = {}): Promise<Gateway> {
  const logger = createLogger({ level: 'silent', sync: true });
  const server = new Server({ workers: 0, admin: false, logger });
  const holder = new TableHolder(options);
  server.addService(new TableService(holder, server, 2_000));
  const service = httpProxyService(new GatewayProxy(holder), { listen: ['127.0.0.1:0'], accessLog: false });
  server.addService(service);
  const store = new ConfigStore(server, logger);
  // Published before start: the table service's first request for a table gets it at once.
  await store.replace(parseDocuments(yaml, 'test'));
  await server.start();
  await store.programmed(store.current.version);
  return {
    url: `http://127.0.0.1:${service.ports[0]}`,
    holder,
    replace: async (next) => {
      await store.replace(parseDocuments(next, 'test'));
      await store.programmed(store.current.version);
    },
    stop: async () => {
      store.close();
      await server.stop(1_000);
    },
  };
}

function routeYaml(rules: string): string {
  return `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: r }
spec:
  hostnames: [lb.example]
  rules:
${rules}`;
}

const onHost = (url: string, path = '/', headers: Record<string, string> = {}): Promise<SimpleResponse> =>
  get(`${url}${path}`, { headers: { host: 'lb.example', ...headers } });

describe('gateway load balancing (in process)', () => {
  test("a Backend's own outlier settings override the worker's, and a change keeps its ejections", async () => {
    const good = await startOrigin((_req, res) => res.end('good'));
    const bad = await startOrigin((_req, res) => {
      res.statusCode = 500;
      res.end('bad');
    });
    const pair = (outlier: string): string =>
      backendYaml('pair', [good.address, bad.address], `  outlierDetection: ${outlier}\n`) +
      backendYaml('never', [bad.address, good.address], '  outlierDetection: { maxEjectionPercent: 0 }\n') +
      routeYaml('    - matches: [{ path: { value: /never } }]\n      backendRefs: [{ name: never }]\n') +
      '---\n' +
      routeYaml('    - backendRefs: [{ name: pair }]\n').replace('name: r', 'name: r2');
    // The worker's default would need 5 failures in a row; the Backend asks for 2.
    const gw = await startGateway(pair('{ consecutive5xx: 2, baseEjectionTime: 1h, maxEjectionTime: 2h }'), {
      outlier: { now: () => 1_000_000 },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await onHost(gw.url)).status);
      const state = gw.holder.lb.backend('default/pair')!;
      assert.equal(statuses.filter((s) => s === 500).length, 2);
      assert.equal(state.ejections, 1);

      for (let i = 0; i < 10; i++) await onHost(gw.url, '/never');
      const never = gw.holder.lb.backend('default/never')!;
      assert.equal(never.ejections, 0, 'maxEjectionPercent 0 ejects nothing');
      assert.equal(never.gate!.condition(0), 'healthy');

      // New settings for the same Backend: the ejection stands and the counters carry over.
      await gw.replace(pair('{ consecutive5xx: 3, baseEjectionTime: 1h, maxEjectionTime: 2h }'));
      assert.equal(gw.holder.lb.backend('default/pair'), state);
      assert.deepEqual(state.outlier.ejectedIds(), [bad.address]);
      assert.equal(state.ejections, 1);
      for (let i = 0; i < 10; i++) assert.equal((await onHost(gw.url)).status, 200);
    } finally {
      await gw.stop();
      await Promise.all([good.close(), bad.close()]);
    }
  });

  test('consecutive 5xx eject an endpoint; it returns when the ejection ends', async () => {
    let failing = true;
    const good = await startOrigin((_req, res) => res.end('good'));
    const bad = await startOrigin((_req, res) => {
      res.statusCode = failing ? 500 : 200;
      res.end('bad');
    });
    let now = 1_000_000;
    const gw = await startGateway(
      backendYaml('pair', [good.address, bad.address]) + routeYaml('    - backendRefs: [{ name: pair }]\n'),
      { outlier: { now: () => now, consecutive5xx: 3, baseEjectionTimeMs: 10_000 } },
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await onHost(gw.url)).status);
      const state = gw.holder.lb.backend('default/pair')!;
      assert.equal(state.ejections, 1);
      assert.deepEqual(state.outlier.ejectedIds(), [bad.address]);
      // Only the failures that led to the ejection reached the client (5xx responses are not retried).
      assert.equal(statuses.filter((s) => s === 500).length, 3);
      assert.equal(state.gate!.condition(1), 'ejected');

      const badBefore = bad.requests;
      for (let i = 0; i < 10; i++) assert.equal((await onHost(gw.url)).status, 200);
      assert.equal(bad.requests, badBefore, 'an ejected endpoint gets no traffic');

      failing = false;
      now += 10_001; // the ejection ends
      for (let i = 0; i < 10; i++) assert.equal((await onHost(gw.url)).status, 200);
      assert.ok(bad.requests - badBefore >= 4, `traffic returns (${bad.requests - badBefore} of 10)`);
      assert.equal(state.gate!.condition(1), 'healthy');
    } finally {
      await gw.stop();
      await Promise.all([good.close(), bad.close()]);
    }
  });

  test('a connect failure is retried on another endpoint; attempts: 1 turns retries off', async () => {
    const good = await startOrigin((_req, res) => res.end('good'));
    const dead = `127.0.0.1:${await closedPort()}`;
    const gw = await startGateway(
      backendYaml('withretry', [dead, good.address]) +
        backendYaml('noretry', [dead, good.address]) +
        routeYaml(`    - matches: [{ path: { type: PathPrefix, value: /once } }]
      retry: { attempts: 1 }
      backendRefs: [{ name: noretry }]
    - backendRefs: [{ name: withretry }]
`),
    );
    try {
      for (let i = 0; i < 6; i++) assert.equal((await onHost(gw.url)).status, 200);
      const withRetry = gw.holder.lb.backend('default/withretry')!;
      assert.ok(withRetry.retries >= 1, 'at least one request was retried');
      assert.equal(withRetry.ejections, 1, 'three connect failures eject the dead endpoint');

      const once: number[] = [];
      for (let i = 0; i < 6; i++) once.push((await onHost(gw.url, '/once')).status);
      assert.ok(once.includes(502), `without retries the dead endpoint answers 502: ${once.join()}`);
      assert.equal(gw.holder.lb.backend('default/noretry')!.retries, 0);
    } finally {
      await gw.stop();
      await good.close();
    }
  });

  test('a 503 listed in retryOn goes to another endpoint; the client never sees it', async () => {
    const good = await startOrigin((_req, res) => res.end('good'));
    let busyConnections = 0;
    const busy = await startOrigin((_req, res) => {
      // A body large enough to span several reads: it must be drained, not sent on.
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('x'.repeat(100_000));
    });
    busy.server.on('connection', () => busyConnections++);
    const gw = await startGateway(
      backendYaml('retry503', [busy.address, good.address]) +
        backendYaml('plain', [busy.address, good.address]) +
        routeYaml(`    - matches: [{ path: { type: PathPrefix, value: /plain } }]
      backendRefs: [{ name: plain }]
    - retry: { attempts: 2, retryOn: [connect-failure, "503"] }
      backendRefs: [{ name: retry503 }]
`),
      // Keep the 503 endpoint in rotation: this test is about retries, not ejection.
      { outlier: { consecutive5xx: 1_000 } },
    );
    try {
      for (let i = 0; i < 10; i++) {
        const res = await onHost(gw.url);
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'good');
      }
      assert.ok(busy.requests >= 4, `the 503 endpoint was asked (${busy.requests} times)`);
      assert.ok(busyConnections <= 2, `drained 503 bodies keep its connection reusable (${busyConnections})`);
      assert.ok(gw.holder.lb.backend('default/retry503')!.retries >= 4);

      const plain: number[] = [];
      for (let i = 0; i < 6; i++) plain.push((await onHost(gw.url, '/plain')).status);
      assert.ok(plain.includes(503), `without "503" in retryOn the 503 is sent on: ${plain.join()}`);
      // A request with a body is never sent twice.
      const posts: number[] = [];
      for (let i = 0; i < 6; i++)
        posts.push(
          (await get(`${gw.url}/`, { method: 'PUT', body: 'x', headers: { host: 'lb.example' } })).status,
        );
      assert.ok(posts.includes(503), `a PUT with a body is not retried: ${posts.join()}`);
    } finally {
      await gw.stop();
      await good.close();
      await busy.close();
    }
  });

  test('when every endpoint answers 503, the client gets the last 503 as sent', async () => {
    const busy = await startOrigin((_req, res) => {
      res.writeHead(503, { 'retry-after': '7' });
      res.end('busy');
    });
    const gw = await startGateway(
      backendYaml('allbusy', [busy.address]) +
        routeYaml(`    - retry: { attempts: 3, retryOn: ["503"] }
      backendRefs: [{ name: allbusy }]
`),
    );
    try {
      const res = await onHost(gw.url);
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '7');
      assert.equal(res.body.toString(), 'busy');
      assert.equal(busy.requests, 1, 'one endpoint, tried once: nothing untried to retry on');
    } finally {
      await gw.stop();
      await busy.close();
    }
  });

  test('the retry budget refuses retries beyond max(3, 20% of active requests)', async () => {
    const held: Array<() => void> = [];
    let hold = true;
    const slow: Origin = await startOrigin((_req, res) => {
      if (hold) held.push(() => res.end('slow'));
      else res.end('slow');
    });
    const dead = `127.0.0.1:${await closedPort()}`;
    // No ejection here, so first attempts keep alternating between the two endpoints.
    const gw = await startGateway(
      backendYaml('budget', [dead, slow.address]) + routeYaml('    - backendRefs: [{ name: budget }]\n'),
      { outlier: { consecutiveConnectFailures: 1000, consecutive5xx: 1000 } },
    );
    try {
      const total = 12;
      const responses: SimpleResponse[] = [];
      const all = Array.from({ length: total }, () => onHost(gw.url).then((r) => void responses.push(r)));
      const state = gw.holder.lb.backend('default/budget')!;
      // Every request is either held at the slow origin or already answered.
      await eventually(() => assert.equal(held.length + responses.length, total), 5_000, 'requests settled');
      assert.ok(state.retries <= 3, `retries in flight stay within the budget (${state.retries})`);
      assert.ok(state.budgetExhausted >= 1, 'some retries were refused');
      assert.equal(responses.filter((r) => r.status === 502).length, state.budgetExhausted);
      hold = false;
      for (const release of held.splice(0)) release();
      await Promise.all(all);
      assert.equal(responses.filter((r) => r.status === 200).length, slow.requests);
      // Once the held requests finished, the budget is free again: retries go through.
      const refused = state.budgetExhausted;
      for (let i = 0; i < 4; i++) assert.equal((await onHost(gw.url)).status, 200);
      assert.equal(state.budgetExhausted, refused);
    } finally {
      for (const release of held) release();
      await gw.stop();
      await slow.close();
    }
  });

  test('session persistence: the cookie pins a client to its endpoint until it is ejected', async () => {
    let failing = false;
    const origins = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        startOrigin((_req, res) => {
          res.statusCode = failing && name === 'b' ? 500 : 200;
          res.end(name);
        }),
      ),
    );
    const gw = await startGateway(
      backendYaml(
        'sticky',
        origins.map((o) => o.address),
        `  loadBalancer:
    policy: RoundRobin
    sessionPersistence:
      sessionName: shop-session
      absoluteTimeout: 1h
      cookieConfig: { lifetimeType: Permanent }
`,
      ) + routeYaml('    - backendRefs: [{ name: sticky }]\n'),
      { outlier: { consecutive5xx: 1 } },
    );
    try {
      // Without a cookie, round robin spreads the requests and each response pins its client.
      const first = await Promise.all([0, 1, 2].map(() => onHost(gw.url)));
      assert.deepEqual(first.map((r) => r.body.toString()).sort(), ['a', 'b', 'c']);
      const cookies = new Map<string, string>();
      for (const r of first) {
        const [setCookie] = r.headers['set-cookie']!;
        assert.match(
          setCookie!,
          /^shop-session=[A-Za-z0-9_-]{16}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/,
        );
        assert.ok(!setCookie!.includes('127.0.0.1'), 'the cookie does not reveal the address');
        cookies.set(r.body.toString(), setCookie!.split(';')[0]!);
      }
      // With a cookie, every request goes to the endpoint it names, and no new cookie is set.
      for (const [name, cookie] of cookies) {
        for (let i = 0; i < 5; i++) {
          const r = await onHost(gw.url, '/', { cookie: `theme=dark; ${cookie}` });
          assert.equal(r.body.toString(), name);
          assert.equal(r.headers['set-cookie'], undefined);
        }
      }
      // A cookie naming no endpoint (another backend's, or forged) is replaced.
      const stale = await onHost(gw.url, '/', { cookie: 'shop-session=AAAAAAAAAAAAAAAA' });
      assert.match(stale.headers['set-cookie']![0]!, /^shop-session=/);
      // Its endpoint ejected, a pinned client moves, and the response pins it to the new endpoint.
      failing = true;
      assert.equal((await onHost(gw.url, '/', { cookie: cookies.get('b')! })).status, 500);
      const moved = await onHost(gw.url, '/', { cookie: cookies.get('b')! });
      assert.notEqual(moved.body.toString(), 'b');
      assert.equal(moved.headers['set-cookie']![0]!.split(';')[0], cookies.get(moved.body.toString()));
    } finally {
      await gw.stop();
      await Promise.all(origins.map((o) => o.close()));
    }
  });

  test('session persistence: a weight-0 endpoint keeps its pinned clients and takes no new ones', async () => {
    const [kept, live] = await Promise.all(
      ['kept', 'live'].map((n) => startOrigin((_req, res) => res.end(n))),
    );
    const endpoints = [kept!, live!].map((o, i) => {
      const [address, port] = o.address.split(':');
      return { id: o.address, address: address!, port: Number(port), weight: i === 0 ? 0 : 1 };
    });
    const gw = await startGateway(
      `apiVersion: portico.dev/v1alpha1
kind: Backend
metadata: { name: drain }
spec:
  endpoints:
${endpoints.map((e) => `    - { address: ${e.address}, port: ${e.port}, weight: ${e.weight} }`).join('\n')}
  loadBalancer: { sessionPersistence: {} }
---
` + routeYaml('    - backendRefs: [{ name: drain }]\n'),
    );
    try {
      // The token a response pinning to the weight-0 endpoint would carry, computed as every node does.
      const pin = new SessionAffinity('default/drain', endpoints, { name: 'portico-session' })
        .setCookie(0, false)
        .split(';')[0]!;
      for (let i = 0; i < 4; i++) {
        assert.equal((await onHost(gw.url)).body.toString(), 'live', 'new clients avoid weight 0');
        assert.equal((await onHost(gw.url, '/', { cookie: pin })).body.toString(), 'kept');
      }
    } finally {
      await gw.stop();
      await Promise.all([kept!.close(), live!.close()]);
    }
  });

  test('session persistence: a pinned endpoint that refuses the connection is retried, and the client re-pinned', async () => {
    const live = await startOrigin((_req, res) => res.end('live'));
    const dead = `127.0.0.1:${await closedPort()}`;
    const endpoints = [dead, live.address].map((a) => {
      const [address, port] = a.split(':');
      return { id: a, address: address!, port: Number(port), weight: 1 };
    });
    const gw = await startGateway(
      backendYaml('repin', [dead, live.address], '  loadBalancer: { sessionPersistence: {} }\n') +
        routeYaml('    - backendRefs: [{ name: repin }]\n'),
    );
    try {
      const affinity = new SessionAffinity('default/repin', endpoints, { name: 'portico-session' });
      const toDead = affinity.setCookie(0, false).split(';')[0]!;
      const r = await onHost(gw.url, '/', { cookie: toDead });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'live');
      assert.equal(r.headers['set-cookie']![0]!.split(';')[0], affinity.setCookie(1, false).split(';')[0]);
    } finally {
      await gw.stop();
      await live.close();
    }
  });

  test('consistent hashing on a query parameter: one value, one endpoint', async () => {
    const origins = await Promise.all(
      [0, 1, 2, 3].map((i) => startOrigin((_req, res) => res.end(String(i)))),
    );
    const gw = await startGateway(
      backendYaml(
        'byuser',
        origins.map((o) => o.address),
        '  loadBalancer: { policy: ConsistentHash, hashOn: { type: QueryParameter, name: user } }\n',
      ) + routeYaml('    - backendRefs: [{ name: byuser }]\n'),
    );
    try {
      const seen = new Set<string>();
      for (let user = 0; user < 40; user++) {
        const served = new Set<string>();
        for (let i = 0; i < 3; i++)
          served.add((await onHost(gw.url, `/items?page=${i}&user=u${user}`)).body.toString());
        assert.equal(served.size, 1, `user u${user} always reaches one endpoint`);
        seen.add([...served][0]!);
      }
      assert.equal(seen.size, 4, 'users spread over every endpoint');
    } finally {
      await gw.stop();
      await Promise.all(origins.map((o) => o.close()));
    }
  });
});
