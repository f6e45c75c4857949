/**
 * Health checks and ejection through a real `portico serve` (one worker): an endpoint whose server
 * goes down stops getting traffic and gets it back when it returns; and the target, one of
 * three origins killed under steady keep-alive load.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, Agent, request, type Server as HttpServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { eventually } from '../helpers/process.ts';
import { startPortico, backendYaml, type PorticoProcess } from '../helpers/portico.ts';

/** An origin that can be killed (server closed, sockets destroyed) and revived on the same port. */
class KillableOrigin {
  readonly name: string;
  readonly delayMs: number;
  port = 0;
  requests = 0;
  inFlight = 0;
  server: HttpServer | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(name: string, delayMs = 0) {
    this.name = name;
    this.delayMs = delayMs;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((_req, res) => {
      this.requests++;
      this.inFlight++;
      const reply = (r: ServerResponse): void => void r.end(this.name);
      res.on('close', () => this.inFlight--);
      if (this.delayMs > 0) setTimeout(reply, this.delayMs, res);
      else reply(res);
    });
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the listener and destroys every connection; returns how many requests were in flight. */
  kill(): number {
    const inFlight = this.inFlight;
    this.server?.close();
    for (const socket of this.#sockets) socket.destroy();
    this.server = undefined;
    return inFlight;
  }
}

const HOST = 'lb.example';

function routeYaml(backend: string): string {
  return `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: r }
spec:
  hostnames: [${HOST}]
  rules:
    - backendRefs: [{ name: ${backend} }]
`;
}

/** GET through a keep-alive agent; resolves with the status and the origin's name (or the error). */
function fetchVia(agent: Agent, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: HOST }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

async function explainHealth(portico: PorticoProcess): Promise<Record<string, string>> {
  const res = await portico.adminCall('POST', '/api/v1/explain', JSON.stringify({ host: HOST, path: '/' }));
  const body = JSON.parse(res.body.toString()) as {
    backends: Array<{ health: Array<{ endpoint: string; state: string }> }>;
  };
  return Object.fromEntries(body.backends[0]!.health.map((h) => [h.endpoint, h.state]));
}

async function metric(portico: PorticoProcess, name: string, backend: string): Promise<number> {
  const text = (await portico.adminCall('GET', '/metrics')).body.toString();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{backend="${backend}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('portico serve: health checks and ejection', () => {
  test('an endpoint whose server goes down stops getting traffic; when it is back, traffic returns', async () => {
    const a = new KillableOrigin('a');
    const b = new KillableOrigin('b');
    await Promise.all([a.start(), b.start()]);
    const portico = await startPortico(
      {
        'config.yaml':
          backendYaml(
            'checked',
            [a.address, b.address],
            '  healthCheck: { type: HTTP, path: /healthz, interval: 100ms, timeout: 100ms, healthyThreshold: 1, unhealthyThreshold: 2 }\n',
          ) + routeYaml('checked'),
      },
      { workers: 1 },
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    try {
      const spread = async (n: number): Promise<Record<string, number>> => {
        const seen: Record<string, number> = {};
        for (let i = 0; i < n; i++) {
          const r = await fetchVia(agent, portico.port);
          assert.equal(r.status, 200);
          seen[r.body] = (seen[r.body] ?? 0) + 1;
        }
        return seen;
      };
      assert.deepEqual(Object.keys(await spread(10)).sort(), ['a', 'b']);

      b.kill();
      await eventually(
        async () => assert.equal((await explainHealth(portico))[b.address], 'unhealthy'),
        5_000,
        'b marked unhealthy',
      );
      assert.equal(await metric(portico, 'portico_upstream_endpoints_unhealthy', 'default/checked'), 1);
      assert.deepEqual(await spread(20), { a: 20 });

      await b.start();
      await eventually(
        async () => assert.equal((await explainHealth(portico))[b.address], 'healthy'),
        5_000,
        'b healthy again',
      );
      await eventually(
        async () =>
          assert.equal(await metric(portico, 'portico_upstream_endpoints_unhealthy', 'default/checked'), 0),
        2_000,
        'workers saw b healthy',
      );
      const back = await spread(20);
      assert.ok((back.b ?? 0) >= 5, `traffic returns to b: ${JSON.stringify(back)}`);
    } finally {
      agent.destroy();
      await portico.stop();
      a.kill();
      b.kill();
    }
  });

  test('kill one of three origins under load: failures ≤ its in-flight requests, ejected within 1 s', async () => {
    const origins = [new KillableOrigin('a', 20), new KillableOrigin('b', 20), new KillableOrigin('c', 20)];
    await Promise.all(origins.map((o) => o.start()));
    const portico = await startPortico(
      {
        'config.yaml':
          // A retry budget for every client at once: a request that picks the dead endpoint before
          // its ejection is retried whatever the others do (the default, 3 concurrent retries, can
          // refuse some of eight clients' retries in that burst: a 502 that is the budget's, not the kill's).
          backendYaml(
            'three',
            origins.map((o) => o.address),
            '  retryBudget: { percent: 100, minRetryConcurrency: 8 }\n',
          ) + routeYaml('three'),
      },
      { workers: 1 },
    );
    const clients = 8;
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const victim = origins[2]!;
    let stop = false;
    let failed = 0;
    const failures: number[] = [];
    let ok = 0;
    const loop = async (): Promise<void> => {
      while (!stop) {
        const r = await fetchVia(agent, portico.port);
        if (r.status === 200) ok++;
        else {
          failed++;
          failures.push(r.status);
        }
      }
    };
    try {
      const started = performance.now();
      const loops = Array.from({ length: clients }, loop);
      // Steady load for 1.5 s, the kill, then load until 3 s in all.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.ok(victim.requests > 50, `steady load on the victim (${victim.requests})`);
      const killedAt = performance.now();
      const inFlight = victim.kill();
      const failedBefore = failed;
      let ejectedAfterMs = -1;
      await eventually(
        async () => {
          assert.ok((await metric(portico, 'portico_upstream_endpoints_ejected', 'default/three')) >= 1);
          ejectedAfterMs = performance.now() - killedAt;
        },
        3_000,
        'victim ejected',
      );
      const victimRequests = victim.requests;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3_000 - (performance.now() - started))));
      stop = true;
      await Promise.all(loops);
      const failedAfterKill = failed - failedBefore;
      const budgetRefusals = await metric(
        portico,
        'portico_upstream_retry_budget_exhausted_total',
        'default/three',
      );
      const retries = await metric(portico, 'portico_upstream_backend_retries_total', 'default/three');
      console.log(
        JSON.stringify({
          inFlightAtKill: inFlight,
          failed: failedAfterKill,
          failures,
          ejectedAfterMs,
          ok,
          retries,
          budgetRefusals,
        }),
      );
      assert.equal(failedBefore, 0);
      assert.equal(budgetRefusals, 0);
      assert.ok(failedAfterKill <= inFlight, `${failedAfterKill} failed > ${inFlight} in flight`);
      assert.ok(ejectedAfterMs < 1_000, `ejected after ${ejectedAfterMs} ms`);
      assert.equal(victim.requests, victimRequests);
      assert.ok(origins[0]!.requests > 0 && origins[1]!.requests > 0);
    } finally {
      stop = true;
      agent.destroy();
      await portico.stop();
      for (const o of origins) o.kill();
    }
  });
});
