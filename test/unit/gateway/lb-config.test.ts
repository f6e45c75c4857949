import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../../../src/config/file-source.ts';
import { validateObjects, type Backend } from '../../../src/routing/index.ts';
import { compileGatewayTable, explain, EMPTY_ROUTE_SET } from '../../../src/gateway/index.ts';
import { checkOptions } from '../../../src/gateway/health-monitor.ts';
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

test('health check options: HTTP over TLS for an HTTPS Backend, with its SNI, verify and CA', () => {
  const yaml = backendYaml(
    'b',
    ['127.0.0.1:1'],
    '  protocol: HTTPS\n  tls: { sni: api.example, verify: false, caFile: /ca.pem }\n  healthCheck: { path: /hz, interval: 250ms }\n',
  );
  const backend = validateObjects(parseDocuments(yaml, 't')).backends[0] as Backend;
  const options = checkOptions(backend, { ...EMPTY_ROUTE_SET, files: { '/ca.pem': 'PEM' } });
  assert.equal(options.protocol, 'https');
  assert.equal(options.intervalMs, 250);
  assert.equal(options.path, '/hz');
  assert.deepEqual(options.tls, { servername: 'api.example', rejectUnauthorized: false, ca: 'PEM' });
});
