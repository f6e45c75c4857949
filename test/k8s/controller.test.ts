/**
 * The controller against a real kube-apiserver: Routes and Backends applied with kubectl steer real
 * traffic through a real data plane to real origins on loopback. Waits observe state (status, HTTP
 * answers, rebuild counters); nothing sleeps.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { createPki } from '../helpers/certs.ts';
import { startOrigin, type Origin } from '../helpers/servers.ts';
import {
  applyCrds,
  backendYaml,
  conditions,
  eventually,
  hostAddress,
  originOn,
  routeYaml,
  startControlPlane,
  startTestController,
  type ControlPlane,
  type TestController,
} from './helpers.ts';

let cp: ControlPlane;
let ctl: TestController;
let a: Origin;
let b: Origin;

async function expectBody(host: string, body: string, path = '/', timeoutMs = 10_000): Promise<void> {
  await eventually(
    async () => {
      const res = await ctl.request(host, path);
      assert.equal(res.status, 200, `${host}: ${res.status} ${res.body.toString()}`);
      assert.equal(res.body.toString(), body);
    },
    timeoutMs,
    `${host} answering ${body}`,
  );
}

async function expectStatus(host: string, status: number): Promise<void> {
  await eventually(
    async () => assert.equal((await ctl.request(host)).status, status),
    10_000,
    `${host} → ${status}`,
  );
}

describe('portico controller', () => {
  before(async () => {
    cp = await startControlPlane();
    applyCrds(cp);
    a = await startOrigin((_req, res) => res.end('a'));
    b = await startOrigin((_req, res) => res.end('b'));
    ctl = await startTestController(cp, 'solo');
  });

  after(async () => {
    await ctl?.stop();
    await a?.close();
    await b?.close();
    cp?.stop();
  });

  test('apply, update and delete a Route: traffic follows, status says Programmed', async () => {
    cp.apply(backendYaml('a', { endpoints: [{ address: '127.0.0.1', port: a.port }] }));
    cp.apply(backendYaml('b', { endpoints: [{ address: '127.0.0.1', port: b.port }] }));
    cp.apply(routeYaml('shop', 'shop.example.com', 'a'));
    await expectBody('shop.example.com', 'a');
    await eventually(() => {
      const c = conditions(cp, 'route', 'shop');
      assert.equal(c['Accepted']?.status, 'True');
      assert.equal(c['Programmed']?.status, 'True');
      assert.equal(c['Programmed']?.observedGeneration, 1);
    });
    cp.apply(routeYaml('shop', 'shop.example.com', 'b'));
    await expectBody('shop.example.com', 'b');
    await eventually(() =>
      assert.equal(conditions(cp, 'route', 'shop')['Programmed']?.observedGeneration, 2),
    );
    assert.ok(ctl.controller!.ready, 'readiness gate: first sync served');
    cp.kubectl(['delete', 'route', 'shop']);
    await expectStatus('shop.example.com', 404);
  });

  test('an invalid Route is rejected with a reason; other Routes keep serving', async () => {
    cp.apply(routeYaml('good', 'good.example.com', 'a'));
    cp.apply(
      routeYaml('broken', 'broken.example.com', 'a', {
        matches: [{ path: { type: 'RegularExpression', value: '(?<=x)[' } }],
      }),
    );
    await eventually(() => {
      const c = conditions(cp, 'route', 'broken');
      assert.equal(c['Accepted']?.status, 'False');
      assert.equal(c['Accepted']?.reason, 'InvalidRegex');
      assert.match(c['Accepted'].message, /spec\.rules\[0\]\.matches\[0\]\.path\.value/);
    });
    await expectBody('good.example.com', 'a');
    await expectStatus('broken.example.com', 404);
    const events = cp.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=broken',
      '-o',
      'json',
    ]);
    assert.match(events, /"reason": "InvalidRegex"/);
    cp.apply(routeYaml('dangling', 'dangling.example.com', 'missing'));
    await eventually(() =>
      assert.equal(conditions(cp, 'route', 'dangling')['ResolvedRefs']?.reason, 'BackendNotFound'),
    );
  });

  test('a Backend naming a Service follows its EndpointSlices (ready only, terminating drained)', async () => {
    const ip = hostAddress();
    const [x, y] = [await originOn(ip, 'x'), await originOn(ip, 'y')];
    try {
      cp.apply(backendYaml('svc', { service: { name: 'web', port: 8080 } }));
      cp.apply(routeYaml('svc', 'svc.example.com', 'svc'));
      const slice = (endpoints: Array<{ port: number; ready: boolean; terminating?: boolean }>): string =>
        stringify({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4',
          ports: [{ name: 'http', port: endpoints[0]!.port, protocol: 'TCP' }],
          endpoints: endpoints.map((e) => ({
            addresses: [ip],
            conditions: { ready: e.ready, serving: e.ready, terminating: e.terminating ?? false },
          })),
        });
      await eventually(async () => assert.notEqual((await ctl.request('svc.example.com')).status, 404));
      cp.apply(slice([{ port: x.port, ready: true }]));
      await expectBody('svc.example.com', 'x');
      cp.apply(slice([{ port: y.port, ready: true }]));
      await expectBody('svc.example.com', 'y');
      cp.apply(slice([{ port: y.port, ready: false, terminating: true }]));
      await eventually(async () => assert.notEqual((await ctl.request('svc.example.com')).status, 200));
      assert.deepEqual(ctl.store!.current.discovered['default/svc'], []);
    } finally {
      await x.close();
      await y.close();
    }
  });

  test('Secret rotation: caSecretRef → new table, no failed request while rotating', async () => {
    const pki1 = createPki();
    const pki2 = createPki();
    const leaf1 = pki1.issue('origin.internal', ['origin.internal']);
    const leaf2 = pki2.issue('origin.internal', ['origin.internal']);
    const tlsOrigin = createHttpsServer({ cert: leaf1.cert, key: leaf1.key }, (_req, res) => res.end('tls'));
    tlsOrigin.listen(0, '127.0.0.1');
    await once(tlsOrigin, 'listening');
    const port = (tlsOrigin.address() as AddressInfo).port;
    const secret = (ca: string): string =>
      stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'origin-ca', namespace: 'default' },
        data: { 'ca.crt': Buffer.from(ca).toString('base64') },
      });
    try {
      cp.apply(
        backendYaml('tls', {
          endpoints: [{ address: '127.0.0.1', port }],
          protocol: 'HTTPS',
          tls: { sni: 'origin.internal', caSecretRef: { name: 'origin-ca' } },
        }),
      );
      cp.apply(routeYaml('tls', 'tls.example.com', 'tls'));
      // No Secret yet: this Backend reports SecretNotFound and answers 502; the others keep serving.
      await eventually(() =>
        assert.equal(conditions(cp, 'backend', 'tls')['ResolvedRefs']?.reason, 'SecretNotFound'),
      );
      await expectStatus('tls.example.com', 502);
      await expectBody('good.example.com', 'a');
      cp.apply(secret(pki1.caCert));
      await expectBody('tls.example.com', 'tls');
      await eventually(() => assert.equal(conditions(cp, 'backend', 'tls')['ResolvedRefs']?.status, 'True'));

      let failures = 0;
      let sent = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          const res = await ctl.request('tls.example.com');
          sent++;
          if (res.status !== 200) failures++;
        }
      })();
      const before = ctl.store!.current.version;
      cp.apply(secret(pki1.caCert + pki2.caCert)); // step 1: trust both CAs
      await eventually(() =>
        assert.ok(ctl.store!.current.files['secret:default/origin-ca/ca.crt']?.includes(pki2.caCert.trim())),
      );
      assert.ok(ctl.store!.current.version > before, 'a new table was published');
      await ctl.store!.programmed(ctl.store!.current.version);
      tlsOrigin.setSecureContext({ cert: leaf2.cert, key: leaf2.key }); // step 2: the origin moves to CA 2
      cp.apply(secret(pki2.caCert)); // step 3: drop CA 1
      await eventually(() =>
        assert.ok(!ctl.store!.current.files['secret:default/origin-ca/ca.crt']?.includes(pki1.caCert.trim())),
      );
      await ctl.store!.programmed(ctl.store!.current.version);
      const settled = sent;
      await eventually(() => assert.ok(sent > settled + 20));
      running = false;
      await load;
      assert.equal(failures, 0, `${failures} of ${sent} requests failed during rotation`);
    } finally {
      tlsOrigin.closeAllConnections();
      tlsOrigin.close();
    }
  });

  test('TLS from kubernetes.io/tls Secrets: served once the Secret exists, rotated, bad key reported', async () => {
    const pki = createPki();
    const tlsSecret = (name: string, leaf: { cert: string; key: string }): string =>
      stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name, namespace: 'default' },
        data: {
          'tls.crt': Buffer.from(leaf.cert).toString('base64'),
          'tls.key': Buffer.from(leaf.key).toString('base64'),
        },
      });
    const served = (): Promise<{ fingerprint: string; status: number }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: ctl.tlsPort,
            servername: 'secure.example.com',
            headers: { host: 'secure.example.com' },
            ca: pki.caCert,
            agent: false,
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256,
                status: res.statusCode!,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    const route = stringify({
      apiVersion: 'portico.dev/v1alpha1',
      kind: 'Route',
      metadata: { name: 'secure', namespace: 'default' },
      spec: {
        hostnames: ['secure.example.com'],
        tls: { certificateRefs: [{ name: 'secure-tls' }] },
        rules: [{ backendRefs: [{ name: 'a' }] }],
      },
    });
    cp.apply(route);
    await eventually(() =>
      assert.equal(conditions(cp, 'route', 'secure')['ResolvedRefs']?.reason, 'SecretNotFound'),
    );
    await assert.rejects(served(), 'no certificate for the name, and no default: the handshake fails');
    const first = pki.issue('secure.example.com', ['secure.example.com']);
    cp.apply(tlsSecret('secure-tls', first));
    await eventually(async () => assert.equal((await served()).status, 200));
    await eventually(() => assert.equal(conditions(cp, 'route', 'secure')['ResolvedRefs']?.status, 'True'));

    let failures = 0;
    let sent = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        sent++;
        if ((await served().catch(() => undefined))?.status !== 200) failures++;
      }
    })();
    const second = pki.issue('secure.example.com', ['secure.example.com']);
    const secondFingerprint = new X509Certificate(second.cert).fingerprint256;
    cp.apply(tlsSecret('secure-tls', second));
    await eventually(async () => assert.equal((await served()).fingerprint, secondFingerprint));
    const settled = sent;
    await eventually(() => assert.ok(sent > settled + 20));
    running = false;
    await load;
    assert.equal(failures, 0, `${failures} of ${sent} requests failed during rotation`);

    const stranger = pki.issue('stranger', ['stranger']);
    cp.apply(tlsSecret('secure-tls', { cert: second.cert, key: stranger.key }));
    await eventually(() => {
      const resolved = conditions(cp, 'route', 'secure')['ResolvedRefs'];
      assert.equal(resolved?.reason, 'InvalidCertificateRef');
      assert.match(resolved?.message ?? '', /Secret default\/secure-tls: the private key does not match/);
    });
    await expectBody('good.example.com', 'a');
    cp.kubectl(['delete', 'route', 'secure']);
    cp.kubectl(['delete', 'secret', 'secure-tls']);
  });

  test('API server stopped: the data plane keeps serving; after restart the controller converges', async () => {
    const rebuilds = ctl.controller!.sequence;
    const restart = await cp.stopApiServer();
    for (let i = 0; i < 20; i++) assert.equal((await ctl.request('good.example.com')).body.toString(), 'a');
    await restart();
    cp.apply(routeYaml('after-restart', 'after.example.com', 'b'));
    await expectBody('after.example.com', 'b', '/', 30_000);
    assert.ok(ctl.controller!.sequence > rebuilds);
    await eventually(
      () => assert.equal(conditions(cp, 'route', 'after-restart')['Programmed']?.status, 'True'),
      15_000,
    );
  });
});
