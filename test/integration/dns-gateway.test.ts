/**
 * A Backend endpoint named by DNS name, through the gateway: traffic spreads over every address the
 * name resolves to, follows the records as they change (re-resolved on TTL), and keeps flowing to
 * the last good addresses while the resolver is down. The resolver is a real DNS server on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Server, createLogger } from '../../src/index.ts';
import { parseDocuments } from '../../src/config/file-source.ts';
import { ConfigStore } from '../../src/gateway/index.ts';
import { addGatewayDataPlane } from '../../src/cli/data-plane.ts';
import { startDns } from '../helpers/dns-server.ts';
import { get } from '../helpers/servers.ts';
import { eventually } from '../helpers/process.ts';

async function listen(handler: (name: string) => string, host: string, port: number): Promise<HttpServer> {
  const server = createServer((_req, res) => res.end(handler(host)));
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

test('a DNS-named endpoint follows its records, on every address, through a resolver outage', async () => {
  // Two origins on one port, at two loopback addresses: what a name with two A records points at.
  const first = await listen((h) => h, '127.0.0.1', 0);
  const port = (first.address() as AddressInfo).port;
  const second = await listen((h) => h, '127.0.0.2', port);
  const dns = await startDns({ 'api.test': ['127.0.0.1'] }, 1);
  const logger = createLogger({ level: 'silent', sync: true });
  const server = new Server({ workers: 0, admin: false, logger });
  const service = addGatewayDataPlane(server, {
    listen: ['127.0.0.1:0'],
    tlsListen: [],
    h2c: false,
    accessLog: false,
  });
  const store = new ConfigStore(server, logger, {
    dns: { servers: [dns.server], minTtlMs: 200, retryMs: 200, timeoutMs: 300 },
  });
  try {
    await store.replace(
      parseDocuments(
        `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: api }
spec:
  hostnames: [api.example]
  rules: [{ backendRefs: [{ name: api }] }]
---
apiVersion: portico.dev/v1alpha1
kind: Backend
metadata: { name: api }
spec:
  endpoints: [{ address: api.test, port: ${port} }]
`,
        'test',
      ),
    );
    await server.start();
    const url = `http://127.0.0.1:${service.ports[0]}/`;
    const served = async (n: number): Promise<Set<string>> => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++)
        seen.add((await get(url, { headers: { host: 'api.example' } })).body.toString());
      return seen;
    };
    await eventually(() => assert.deepEqual(store.current.resolved['api.test'], ['127.0.0.1']));
    assert.deepEqual(await served(6), new Set(['127.0.0.1']));

    dns.records.set('api.test', ['127.0.0.1', '127.0.0.2']);
    await eventually(
      async () => assert.deepEqual(await served(6), new Set(['127.0.0.1', '127.0.0.2'])),
      5_000,
    );

    dns.records.set('api.test', ['127.0.0.2']);
    await eventually(async () => assert.deepEqual(await served(6), new Set(['127.0.0.2'])), 5_000);

    dns.silent = true;
    const queries = dns.queries.get('api.test') ?? 0;
    await eventually(() => assert.ok((dns.queries.get('api.test') ?? 0) > queries + 2), 5_000);
    assert.deepEqual(await served(6), new Set(['127.0.0.2']), 'the last good answer keeps serving');
  } finally {
    store.close();
    await server.stop(1_000);
    await dns.close();
    first.close();
    second.close();
  }
});
