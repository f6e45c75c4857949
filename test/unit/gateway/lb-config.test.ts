import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../../../src/config/file-source.ts';
import { validateObjects, type Backend } from '../../../src/routing/index.ts';
import { compileGatewayTable, explain, EMPTY_ROUTE_SET } from '../../../src/gateway/index.ts';
import { checkOptions } from '../../../src/gateway/health-monitor.ts';
import { secretFileKey } from '../../../src/gateway/route-set.ts';
import { ConfigError } from '../../../src/errors.ts';
import { backendYaml } from '../../helpers/portico.ts';

const route = (retry: string): string => `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: r }
spec:
  rules:
    - ${retry}backendRefs: [{ name: b }]
`;

test('Route rule retry: defaults applied, compiled, shown by explain', () => {
  const result = validateObjects(
    parseDocuments(backendYaml('b', ['127.0.0.1:1']) + route('retry: {}\n      '), 't'),
  );
  assert.deepEqual(result.rejected, []);
  const table = compileGatewayTable({
    ...EMPTY_ROUTE_SET,
    version: 1,
    routes: result.routes,
    backends: result.backends,
  });
  const e = explain(table, { host: 'x', path: '/' });
  assert.deepEqual(e.retry, {
    attempts: 2,
    retryOn: ['connect-failure', 'reset'],
    allowNonIdempotent: false,
    default: false,
  });
  assert.deepEqual(e.backends?.[0]?.health, [{ endpoint: '127.0.0.1:1', state: 'unchecked' }]);
});

test('retryOn takes 502/503/504 next to connect-failure and reset', () => {
  const result = validateObjects(
    parseDocuments(
      backendYaml('b', ['127.0.0.1:1']) + route('retry: { retryOn: [reset, "503"] }\n      '),
      't',
    ),
  );
  assert.deepEqual(result.rejected, []);
  assert.deepEqual(result.routes[0]!.spec.rules[0]!.retry?.retryOn, ['reset', '503']);
});

/** A checked HTTPS Backend `b` with the given `spec.tls` and `spec.healthCheck` (flow YAML). */
function httpsBackend(tls: string, healthCheck: string): Backend {
  const yaml = backendYaml(
    'b',
    ['127.0.0.1:1'],
    `  protocol: HTTPS\n  tls: ${tls}\n  healthCheck: ${healthCheck}\n`,
  );
  return validateObjects(parseDocuments(yaml, 't')).backends[0] as Backend;
}

test('health check options: HTTP over TLS for an HTTPS Backend, with its SNI, verify and CA', () => {
  const backend = httpsBackend(
    '{ sni: api.example, verify: false, caFile: /ca.pem }',
    '{ path: /hz, interval: 250ms }',
  );
  const options = checkOptions(backend, { ...EMPTY_ROUTE_SET, files: { '/ca.pem': 'PEM' } });
  assert.equal(options.protocol, 'https');
  assert.equal(options.intervalMs, 250);
  assert.equal(options.path, '/hz');
  assert.deepEqual(options.tls, {
    servername: 'api.example',
    rejectUnauthorized: false,
    ca: 'PEM',
    cert: undefined,
    key: undefined,
  });
});

test('health check options: the checks of an mTLS Backend present its client certificate', () => {
  const backend = httpsBackend('{ clientCertSecretRef: { name: client } }', '{ path: /hz }');
  const files = {
    [secretFileKey('default', 'client', 'tls.crt')]: 'CERT',
    [secretFileKey('default', 'client', 'tls.key')]: 'KEY',
  };
  const tls = checkOptions(backend, { ...EMPTY_ROUTE_SET, files }).tls;
  assert.equal(tls?.cert, 'CERT');
  assert.equal(tls?.key, 'KEY');
  assert.throws(
    () => checkOptions(backend, EMPTY_ROUTE_SET),
    (e: unknown) => e instanceof ConfigError && /clientCertSecretRef/.test(e.message),
  );
});

test('a Backend compiles its outlier detection and retry budget into the lb library options', () => {
  const yaml = backendYaml(
    'b',
    ['127.0.0.1:1'],
    '  outlierDetection: { consecutive5xx: 7, baseEjectionTime: 1m30s }\n  retryBudget: { percent: 50, minRetryConcurrency: 0 }\n',
  );
  const backends = validateObjects(parseDocuments(yaml, 't')).backends;
  const table = compileGatewayTable({ ...EMPTY_ROUTE_SET, version: 1, backends });
  assert.deepEqual(table.backends.get('default/b')!.lb, {
    outlier: {
      consecutive5xx: 7,
      consecutiveConnectFailures: 3,
      baseEjectionTimeMs: 90_000,
      maxEjectionTimeMs: 300_000,
      maxEjectionPercent: 50,
    },
    budget: { budgetPercent: 50, minRetryConcurrency: 0 },
  });
  const plain = validateObjects(parseDocuments(backendYaml('p', ['127.0.0.1:1']), 't')).backends;
  const defaults = compileGatewayTable({ ...EMPTY_ROUTE_SET, version: 1, backends: plain });
  assert.deepEqual(defaults.backends.get('default/p')!.lb, { outlier: undefined, budget: undefined });
});
