import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.ts';
import {
  HealthChecker,
  type Endpoint,
  type HealthCheckOptions,
  type HealthSnapshot,
} from '../../../src/lb/index.ts';
import { createPki } from '../../helpers/certs.ts';
import { endpoint } from './fixtures/endpoints.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const CERT = readFileSync(new URL('backend.cert.pem', FIXTURES));
const KEY = readFileSync(new URL('backend.key.pem', FIXTURES));

/** Probes fast so transitions happen within a few tens of milliseconds. */
const FAST: HealthCheckOptions = {
  intervalMs: 10,
  timeoutMs: 500,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
};

const checkers: HealthChecker[] = [];
after(() => checkers.forEach((c) => c.stop()));
/** Servers a failed test left open, closed at the end so the file fails rather than hangs. */
const servers: net.Server[] = [];
after(() => Promise.all(servers.filter((s) => s.listening).map((s) => close(s))));

function startChecker(endpoints: Endpoint[], options: HealthCheckOptions): HealthChecker {
  const checker = new HealthChecker(endpoints, { ...FAST, ...options });
  checkers.push(checker);
  checker.start();
  return checker;
}

/** Resolves with the first snapshot (current or future) where `id` has state `healthy`; bounded. */
function waitForState(checker: HealthChecker, id: string, healthy: boolean): Promise<HealthSnapshot> {
  return new Promise((resolve, reject) => {
    const matches = (s: HealthSnapshot): boolean => s.states.get(id) === healthy;
    if (matches(checker.snapshot())) return resolve(checker.snapshot());
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${id} did not become ${healthy ? 'healthy' : 'unhealthy'} within 5 s`));
    }, 5_000);
    const unsubscribe = checker.onChange((s) => {
      if (!matches(s)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(s);
    });
  });
}

async function listen(server: net.Server, port = 0): Promise<number> {
  servers.push(server);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

async function close(server: net.Server & { closeAllConnections?: () => void }): Promise<void> {
  server.closeAllConnections?.();
  server.close();
  await once(server, 'close');
}

describe('active health checks', () => {
  it('TCP: a closed server turns unhealthy, reopened on the same port it turns healthy again', async () => {
    let server = net.createServer((socket) => socket.destroy());
    const port = await listen(server);
    const target = endpoint(`127.0.0.1:${port}`);
    const checker = startChecker([target], { protocol: 'tcp', initiallyHealthy: false });
    await waitForState(checker, target.id, true);
    await close(server);
    const down = await waitForState(checker, target.id, false);
    assert.equal(checker.isHealthy(target.id), false);
    server = net.createServer((socket) => socket.destroy());
    await listen(server, port);
    const up = await waitForState(checker, target.id, true);
    assert.ok(up.version > down.version);
    await close(server);
  });

  it('HTTP: healthy only with an expected status, probing the configured path and host', async () => {
    let status = 503;
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.headers.host} ${req.url}`);
      res.writeHead(status).end('body');
    });
    const target = endpoint(`127.0.0.1:${await listen(server)}`);
    const checker = startChecker([target], {
      protocol: 'http',
      path: '/healthz',
      host: 'api.internal',
      expectedStatuses: [200, [204, 206]],
    });
    await waitForState(checker, target.id, false);
    status = 205;
    await waitForState(checker, target.id, true);
    assert.equal(seen[0], 'api.internal /healthz');
    checker.stop();
    await close(server);
  });

  it('HTTP: a backend that never answers fails by timeout', async () => {
    const server = net.createServer((socket) => socket.resume()); // reads, never answers
    const target = endpoint(`127.0.0.1:${await listen(server)}`);
    const checker = startChecker([target], { protocol: 'http', timeoutMs: 50, unhealthyThreshold: 1 });
    await waitForState(checker, target.id, false);
    checker.stop();
    await close(server);
  });

  it('HTTPS: verifies the certificate against the given CA and SNI', async () => {
    const server = https.createServer({ cert: CERT, key: KEY }, (_req, res) => res.end('ok'));
    const target = endpoint(`127.0.0.1:${await listen(server)}`);
    const trusting = startChecker([target], {
      protocol: 'https',
      tls: { ca: CERT, servername: 'backend.test' },
      initiallyHealthy: false,
      healthyThreshold: 1,
    });
    const untrusting = startChecker([target], { protocol: 'https', unhealthyThreshold: 1 });
    const skipping = startChecker([target], {
      protocol: 'https',
      tls: { rejectUnauthorized: false },
      initiallyHealthy: false,
      healthyThreshold: 1,
    });
    await Promise.all([
      waitForState(trusting, target.id, true),
      waitForState(untrusting, target.id, false),
      waitForState(skipping, target.id, true),
    ]);
    [trusting, untrusting, skipping].forEach((c) => c.stop());
    await close(server);
  });

  it('HTTPS: presents the client certificate a mutual-TLS backend requires', async () => {
    const pki = createPki();
    const serverPair = pki.issue('backend.test', ['backend.test']);
    const clientPair = pki.issue('portico', [], 'client');
    const server = https.createServer(
      {
        cert: serverPair.cert,
        key: serverPair.key,
        ca: pki.caCert,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (_req, res) => res.end('ok'),
    );
    const target = endpoint(`127.0.0.1:${await listen(server)}`);
    const tls = { ca: pki.caCert, servername: 'backend.test' };
    const withCertificate = startChecker([target], {
      protocol: 'https',
      tls: { ...tls, cert: clientPair.cert, key: clientPair.key },
      initiallyHealthy: false,
      healthyThreshold: 1,
    });
    const without = startChecker([target], { protocol: 'https', tls, unhealthyThreshold: 1 });
    try {
      await Promise.all([
        waitForState(withCertificate, target.id, true),
        waitForState(without, target.id, false),
      ]);
    } finally {
      [withCertificate, without].forEach((c) => c.stop());
      await close(server);
    }
  });

  it('keeps states across endpoint updates and publishes a new version', () => {
    const a = endpoint('192.0.2.1:80');
    const b = endpoint('192.0.2.2:80');
    const checker = new HealthChecker([a], { initiallyHealthy: false });
    const versions: number[] = [];
    checker.onChange((s) => versions.push(s.version));
    checker.setEndpoints([a, b]);
    assert.deepEqual(versions, [2]);
    assert.deepEqual(
      [...checker.snapshot().states],
      [
        [a.id, false],
        [b.id, false],
      ],
    );
    assert.equal(checker.isHealthy('198.51.100.1:80'), true, 'ids it does not check count as healthy');
  });

  it('a throwing listener becomes a warning and does not stop the others', async () => {
    const checker = new HealthChecker([]);
    let called = false;
    checker.onChange(() => {
      throw new Error('listener bug');
    });
    checker.onChange(() => {
      called = true;
    });
    const warning = once(process, 'warning');
    checker.setEndpoints([endpoint('192.0.2.1:80')]);
    assert.equal(called, true);
    const [emitted] = (await warning) as [Error];
    assert.equal(emitted.message, 'listener bug');
  });

  it('validates options, naming the option', () => {
    const cases: [HealthCheckOptions, RegExp][] = [
      [{ intervalMs: 0 }, /^intervalMs/],
      [{ timeoutMs: 1.5 }, /^timeoutMs/],
      [{ healthyThreshold: -1 }, /^healthyThreshold/],
      [{ path: 'healthz' }, /^path/],
      [{ tls: {} }, /^tls/],
      [{ protocol: 'https', tls: { cert: 'PEM' } }, /^tls\.key/],
      [{ protocol: 'https', tls: { key: 'PEM' } }, /^tls\.cert/],
      [{ protocol: 'http', expectedStatuses: [[300, 200]] }, /^expectedStatuses\[0\]/],
      [{ protocol: 'http', expectedStatuses: [] }, /^expectedStatuses/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => new HealthChecker([], options),
        (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message),
      );
    }
  });
});
