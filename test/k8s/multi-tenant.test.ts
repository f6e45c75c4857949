/**
 * Issue #21 (multi-tenant safety) against a real kube-apiserver, real kubectl and a real controller:
 * one namespace cannot take another's host, certificate or paths by sorting first, a bad endpoint
 * address is refused where it is written, and `kubectl get` / `kubectl explain` show what is wrong.
 * Waits observe state (status, HTTP answers, certificates); nothing sleeps.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { stringify } from 'yaml';
import { BACKEND_WIDE_COLUMNS, parseTable, ROUTE_COLUMNS, ROUTE_WIDE_COLUMNS } from '../e2e/suite.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startOrigin, type Origin } from '../helpers/servers.ts';
import {
  applyCrds,
  backendYaml,
  conditions,
  eventually,
  routeYaml,
  startControlPlane,
  startTestController,
  type ControlPlane,
  type TestController,
} from './helpers.ts';

let cp: ControlPlane;
let ctl: TestController;
let pki: TestPki;
const origins: Origin[] = [];

/** An origin answering `body`, and a Backend for it in `namespace`. */
async function backendIn(namespace: string, name: string, body: string): Promise<void> {
  const origin = await startOrigin((_req, res) => res.end(body));
  origins.push(origin);
  cp.apply(backendYaml(name, { endpoints: [{ address: '127.0.0.1', port: origin.port }] }, namespace));
}

async function expectBody(host: string, path: string, body: string): Promise<void> {
  await eventually(
    async () => {
      const res = await ctl.request(host, path);
      assert.equal(`${res.status} ${res.body.toString()}`, `200 ${body}`, `${host}${path}`);
    },
    10_000,
    `${host}${path} answering ${body}`,
  );
}

function tlsSecret(namespace: string, name: string, leaf: { cert: string; key: string }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace },
    data: {
      'tls.crt': Buffer.from(leaf.cert).toString('base64'),
      'tls.key': Buffer.from(leaf.key).toString('base64'),
    },
  });
}

/** The fingerprint of the certificate served for `servername`. */
function servedFingerprint(servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: ctl.tlsPort,
        servername,
        headers: { host: servername },
        ca: pki.caCert,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve((res.socket as TLSSocket).getPeerCertificate().fingerprint256));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function creationTime(namespace: string, name: string): number {
  return Date.parse(
    cp.kubectl(['get', 'route', name, '-n', namespace, '-o', 'jsonpath={.metadata.creationTimestamp}']),
  );
}

describe('issue #21: multi-tenant safety', () => {
  before(async () => {
    cp = await startControlPlane();
    applyCrds(cp);
    pki = createPki();
    for (const ns of ['zz', 'aa', 'shop', 'any']) cp.kubectl(['create', 'namespace', ns]);
    ctl = await startTestController(cp, 'tenants');
  });

  after(async () => {
    await ctl?.stop();
    for (const origin of origins) await origin.close();
    cp?.stop();
  });

  test('the older Route keeps its host, path and certificate; the newer one is told it lost to zz/older', async () => {
    const host = 'shared.example.com';
    const [olderLeaf, newerLeaf] = [pki.issue(host, [host]), pki.issue(host, [host])];
    await backendIn('zz', 'old', 'older');
    await backendIn('aa', 'new', 'newer');
    cp.apply(tlsSecret('zz', 'cert', olderLeaf));
    cp.apply(tlsSecret('aa', 'cert', newerLeaf));
    const tls = { tls: { certificateRefs: [{ name: 'cert' }] } };
    const route = (namespace: string, name: string, backend: string): string =>
      stringify({
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Route',
        metadata: { name, namespace },
        spec: {
          hostnames: [host],
          ...tls,
          rules: [
            { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: backend }] },
          ],
        },
      });
    cp.apply(route('zz', 'older', 'old'));
    await expectBody(host, '/', 'older');
    // creationTimestamp has whole seconds: the newer Route must be created in a later second.
    const olderCreated = creationTime('zz', 'older');
    await eventually(() => assert.ok(Date.now() >= olderCreated + 1_000), 5_000, 'a later second');
    cp.apply(route('aa', 'newer', 'new'));
    await eventually(() => {
      const lost = conditions(cp, 'route', 'newer', 'aa')['Conflicted'];
      assert.equal(lost?.status, 'True');
      assert.equal(lost?.reason, 'RuleMatchConflict');
      assert.match(
        lost?.message ?? '',
        /spec\.rules\[0\]\.matches\[0\]: the same match on shared\.example\.com is served by Route zz\/older: it is older/,
      );
      assert.match(
        lost?.message ?? '',
        /spec\.hostnames\[0\]: Route zz\/older already serves a certificate for shared\.example\.com: it is older/,
      );
      assert.equal(lost?.observedGeneration, 1);
    });
    const newer = conditions(cp, 'route', 'newer', 'aa');
    assert.equal(newer['Accepted']?.status, 'True', 'the loser stays Accepted: it is valid');
    assert.equal(
      newer['ResolvedRefs']?.status,
      'True',
      'a lost certificate is a conflict, not a missing ref',
    );
    const older = conditions(cp, 'route', 'older', 'zz');
    assert.equal(older['Conflicted']?.status, 'False');
    assert.equal(older['Conflicted']?.reason, 'NoConflicts');
    for (let i = 0; i < 5; i++) await expectBody(host, '/', 'older');
    assert.equal(await servedFingerprint(host), new X509Certificate(olderLeaf.cert).fingerprint256);

    // When the winner goes, the loser takes over and is told it no longer conflicts.
    cp.kubectl(['delete', 'route', 'older', '-n', 'zz']);
    await expectBody(host, '/', 'newer');
    await eventually(async () =>
      assert.equal(await servedFingerprint(host), new X509Certificate(newerLeaf.cert).fingerprint256),
    );
    await eventually(() =>
      assert.equal(conditions(cp, 'route', 'newer', 'aa')['Conflicted']?.status, 'False'),
    );
    cp.kubectl(['delete', 'route', 'newer', '-n', 'aa']);
  });

  test('a catch-all Route in another namespace cannot take paths on a named host', async () => {
    await backendIn('shop', 'shop', 'shop');
    await backendIn('any', 'any', 'any');
    cp.apply(routeYaml('shop', 'shop.example.com', 'shop', {}, 'shop'));
    cp.apply(
      stringify({
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Route',
        metadata: { name: 'catch-all', namespace: 'any' },
        spec: {
          rules: [
            {
              matches: [
                { path: { type: 'Exact', value: '/admin' } },
                { path: { type: 'PathPrefix', value: '/api' } },
              ],
              backendRefs: [{ name: 'any' }],
            },
          ],
        },
      }),
    );
    await expectBody('elsewhere.example.org', '/admin', 'any');
    await expectBody('shop.example.com', '/admin', 'shop');
    await expectBody('shop.example.com', '/api/orders', 'shop');
    await expectBody('shop.example.com', '/', 'shop');
  });

  test('a bad endpoint address is refused by the API server, and by the controller when the CRD lets it in', async () => {
    const bad = backendYaml('bad', { endpoints: [{ address: 'not an address!', port: 8080 }] }, 'shop');
    assert.throws(
      () => cp.apply(bad),
      (error: Error & { stderr?: string }) => {
        assert.match(
          String(error.stderr),
          /spec\.endpoints\[0\]\.address: Invalid value: "not an address!": must be an IPv4 address, an IPv6 address or a lower-case DNS name/,
        );
        return true;
      },
    );
    // A CRD from before the CEL rule (or one edited by hand) lets it through; the controller refuses it.
    cp.kubectl([
      'patch',
      'crd',
      'backends.portico.dev',
      '--type=json',
      '-p',
      JSON.stringify([
        {
          op: 'remove',
          path: '/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/endpoints/items/properties/address/x-kubernetes-validations',
        },
      ]),
    ]);
    try {
      await eventually(() => void cp.apply(bad), 10_000, 'the API server accepting the address');
      await eventually(() => {
        const c = conditions(cp, 'backend', 'bad', 'shop');
        assert.equal(c['Accepted']?.status, 'False');
        assert.equal(c['Accepted']?.reason, 'InvalidField');
        assert.match(
          c['Accepted']?.message ?? '',
          /^spec\.endpoints\[0\]\.address: "not an address!" is not an IPv4 address/,
        );
        assert.equal(c['Accepted']?.observedGeneration, 1);
        assert.equal(c['Programmed']?.status, 'False');
      });
      await expectBody('shop.example.com', '/', 'shop');
    } finally {
      cp.kubectl(['delete', 'backend', 'bad', '-n', 'shop', '--ignore-not-found']);
      applyCrds(cp);
    }
  });

  test('kubectl get shows every host, backend and endpoint and all three conditions; explain describes fields', async () => {
    const ip = (n: number): { address: string; port: number } => ({ address: `10.0.0.${n}`, port: 8000 + n });
    cp.apply(backendYaml('multi', { endpoints: [ip(1), ip(2), { address: 'fd00::3', port: 443 }] }, 'shop'));
    cp.apply(
      stringify({
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Route',
        metadata: { name: 'wide', namespace: 'shop' },
        spec: {
          hostnames: ['a.example.com', 'b.example.com'],
          rules: [
            { backendRefs: [{ name: 'shop' }, { name: 'missing' }] },
            { backendRefs: [{ name: 'multi' }] },
          ],
        },
      }),
    );
    const table = (kind: string, ...extra: string[]): ReturnType<typeof parseTable> =>
      parseTable(cp.kubectl(['get', kind, '-n', 'shop', ...extra]));
    const cells = (row: Record<string, string> | undefined, names: string[]): Array<string | undefined> =>
      names.map((n) => row?.[n]);
    await eventually(() => {
      const routes = table('routes');
      assert.deepEqual(routes.headings, ROUTE_COLUMNS);
      assert.deepEqual(
        cells(
          routes.rows.find((r) => r['NAME'] === 'wide'),
          ['HOSTS', 'BACKENDS', 'ACCEPTED', 'RESOLVEDREFS', 'PROGRAMMED'],
        ),
        ['a.example.com,b.example.com', 'shop,missing,multi', 'True', 'False', 'True'],
      );
    });
    assert.deepEqual(table('routes', '-o', 'wide').headings, ROUTE_WIDE_COLUMNS);
    await eventually(() => {
      const backends = table('backends', '-o', 'wide');
      assert.deepEqual(backends.headings, BACKEND_WIDE_COLUMNS);
      assert.deepEqual(
        cells(
          backends.rows.find((r) => r['NAME'] === 'multi'),
          ['ENDPOINTS', 'PROTOCOL', 'ACCEPTED', 'RESOLVEDREFS', 'PROGRAMMED', 'SERVICE', 'POLICY'],
        ),
        ['10.0.0.1:8001,10.0.0.2:8002,[fd00::3]:443', 'HTTP', 'True', 'True', 'True', '', 'RoundRobin'],
      );
    });
    // The API server republishes its OpenAPI a moment after the CRD changes.
    await eventually(() => {
      const explained = cp.kubectl(['explain', 'route.spec.rules.backendRefs']);
      assert.doesNotMatch(explained, /<no description>|<empty>/, explained);
      assert.match(explained, /weight\s+<integer>\n/, 'weight has a default: not -required-');
      assert.match(explained, /A Backend in the Route's namespace/);
    }, 30_000);
    for (const path of [
      'route.spec',
      'route.spec.rules.matches.path',
      'backend.spec',
      'backend.spec.healthCheck',
      'backend.status',
    ]) {
      const explained = cp.kubectl(['explain', path]);
      assert.doesNotMatch(explained, /<no description>|<empty>/, `${path}:\n${explained}`);
    }
    assert.doesNotMatch(cp.kubectl(['explain', 'backend.spec']), /protocol\s+<string> -required-/);
  });
});
