// Validation: every problem names the object and the field, with a PascalCase reason, and a bad
// object never affects the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects, type Backend, type Route } from '../../../src/routing/index.ts';
import { backendDoc, routeDoc, rule } from './fixtures.ts';

function errorsOf(doc: unknown): [path: string, reason: string][] {
  const result = validateObjects([backendDoc('infra-backend-v1'), doc]);
  assert.equal(result.ok.length, 1, 'the good Backend is unaffected');
  assert.equal(result.rejected.length, 1);
  return result.rejected[0]!.errors.map((e) => [e.path, e.reason]);
}

test('a valid Route and Backend get their schema defaults and a namespace', () => {
  const result = validateObjects([
    { ...backendDoc('web'), metadata: { name: 'web' } },
    {
      ...routeDoc('shop', { rules: [{ matches: [{ path: {} }], backendRefs: [{ name: 'web' }] }] }),
      metadata: { name: 'shop' },
    },
  ]);
  assert.deepEqual(result.rejected, []);
  assert.deepEqual(result.unresolvedRefs, []);
  const backend = result.backends[0] as Backend;
  assert.equal(backend.metadata.namespace, 'default');
  assert.equal(backend.spec.protocol, 'HTTP');
  assert.deepEqual(backend.spec.loadBalancer, { policy: 'RoundRobin' });
  assert.equal(backend.spec.endpoints![0]!.weight, 1);
  const route = result.routes[0] as Route;
  assert.deepEqual(route.spec.rules[0]!.matches![0]!.path, { type: 'PathPrefix', value: '/' });
  assert.equal(route.spec.rules[0]!.backendRefs![0]!.weight, 1);
});

test('schema errors carry dotted field paths and reasons', () => {
  const errors = errorsOf(
    routeDoc('shop', {
      hostnames: ['Shop.Example.com'],
      rules: [
        {
          matches: [{ path: { type: 'Prefix', value: '/' }, method: 'FETCH' }],
          backendRefs: [{ weight: -1 }],
          colour: 'red',
        },
      ],
    }),
  );
  assert.deepEqual(errors.sort(), [
    ['spec.hostnames[0]', 'InvalidField'],
    ['spec.rules[0].backendRefs[0].name', 'MissingField'],
    ['spec.rules[0].backendRefs[0].weight', 'InvalidField'],
    ['spec.rules[0].colour', 'UnknownField'],
    ['spec.rules[0].matches[0].method', 'InvalidField'],
    ['spec.rules[0].matches[0].path.type', 'InvalidField'],
  ]);
});

test('messages name the object and explain the value', () => {
  const result = validateObjects([
    routeDoc('shop', { hostnames: ['bad_host'], rules: [{ matches: [{ path: { type: 'Nope' } }] }] }),
  ]);
  const [hostname, type] = result.rejected[0]!.errors;
  assert.equal(hostname!.object, 'Route gateway-conformance-infra/shop');
  assert.match(hostname!.message, /"bad_host" is not a lower-case DNS name/);
  assert.equal(type!.message, 'must be one of: Exact, PathPrefix, RegularExpression');
});

test('regexes must compile', () => {
  const errors = errorsOf(
    routeDoc('re', {
      rules: [
        {
          matches: [
            { path: { type: 'RegularExpression', value: '/(unclosed' } },
            { headers: [{ type: 'RegularExpression', name: 'x', value: '[' }] },
            { queryParams: [{ type: 'RegularExpression', name: 'q', value: '*' }] },
          ],
        },
      ],
    }),
  );
  assert.deepEqual(errors, [
    ['spec.rules[0].matches[0].path.value', 'InvalidRegex'],
    ['spec.rules[0].matches[1].headers[0].value', 'InvalidRegex'],
    ['spec.rules[0].matches[2].queryParams[0].value', 'InvalidRegex'],
  ]);
});

test('path values, duplicate header names, durations', () => {
  const errors = errorsOf(
    routeDoc('p', {
      rules: [
        {
          matches: [
            { path: { type: 'PathPrefix', value: 'api' } },
            { path: { type: 'Exact', value: '/a//b' } },
            {
              headers: [
                { name: 'X-A', value: '1' },
                { name: 'x-a', value: '2' },
              ],
            },
          ],
          timeouts: { request: '1s', backendRequest: '2s' },
          cache: { defaultTtl: '1s1h' },
        },
      ],
    }),
  );
  assert.deepEqual(errors, [
    ['spec.rules[0].matches[0].path.value', 'InvalidField'],
    ['spec.rules[0].matches[1].path.value', 'InvalidField'],
    ['spec.rules[0].matches[2].headers[1].name', 'DuplicateField'],
    ['spec.rules[0].timeouts.backendRequest', 'InvalidField'],
    ['spec.rules[0].cache.defaultTtl', 'InvalidDuration'],
  ]);
});

test('filters: config must match type; redirect and rewrite exclude each other', () => {
  const errors = errorsOf(
    routeDoc('f', {
      rules: [
        {
          matches: [{ path: { type: 'Exact', value: '/x' } }],
          filters: [
            { type: 'RequestHeaderModifier', responseHeaderModifier: {} },
            { type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath' } } },
            {
              type: 'URLRewrite',
              urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/y' } },
            },
          ],
        },
      ],
    }),
  );
  assert.deepEqual(errors, [
    ['spec.rules[0].filters[0].requestHeaderModifier', 'MissingField'],
    ['spec.rules[0].filters[0].responseHeaderModifier', 'InvalidField'],
    ['spec.rules[0].filters', 'InvalidField'],
    ['spec.rules[0].filters[1].requestRedirect.path.replaceFullPath', 'MissingField'],
    ['spec.rules[0].filters[2].urlRewrite.path.type', 'InvalidField'],
  ]);
});

test('Backend: exactly one of endpoints or service; tls and load balancer rules', () => {
  const both = backendDoc('b');
  (both['spec'] as Record<string, unknown>)['service'] = { name: 'b', port: 80 };
  assert.deepEqual(errorsOf(both), [['spec', 'InvalidField']]);
  const errors = errorsOf({
    ...backendDoc('c'),
    spec: {
      service: { name: 'c', port: 80 },
      protocol: 'HTTP3',
      tls: { caFile: '/ca.pem', caSecretRef: { name: 'ca' }, clientCertFile: '/c.pem' },
      loadBalancer: { policy: 'ConsistentHash' },
    },
  });
  assert.deepEqual(errors, [['spec.protocol', 'InvalidField']]);
  const semantic = errorsOf({
    ...backendDoc('d'),
    spec: {
      service: { name: 'd', port: 80 },
      tls: { caFile: '/ca.pem', caSecretRef: { name: 'ca' }, clientCertFile: '/c.pem' },
      loadBalancer: { policy: 'ConsistentHash' },
      healthCheck: { type: 'TCP', path: '/healthz', interval: '5m5m' },
    },
  });
  assert.deepEqual(semantic, [
    ['spec.tls.caSecretRef', 'InvalidField'],
    ['spec.tls.keyFile', 'MissingField'],
    ['spec.loadBalancer.hashOn', 'InvalidField'],
    ['spec.healthCheck.interval', 'InvalidDuration'],
    ['spec.healthCheck', 'InvalidField'],
  ]);
});

test('Backend: query-parameter hashing needs a name; session persistence timeouts and lifetimes', () => {
  const lb = (loadBalancer: unknown): unknown => ({
    ...backendDoc('s'),
    spec: { service: { name: 's', port: 80 }, loadBalancer },
  });
  assert.deepEqual(errorsOf(lb({ policy: 'ConsistentHash', hashOn: { type: 'QueryParameter' } })), [
    ['spec.loadBalancer.hashOn.name', 'InvalidField'],
  ]);
  assert.deepEqual(errorsOf(lb({ sessionPersistence: { absoluteTimeout: '1h' } })), [
    ['spec.loadBalancer.sessionPersistence.absoluteTimeout', 'InvalidField'],
  ]);
  assert.deepEqual(errorsOf(lb({ sessionPersistence: { cookieConfig: { lifetimeType: 'Permanent' } } })), [
    ['spec.loadBalancer.sessionPersistence.absoluteTimeout', 'InvalidField'],
  ]);
  const permanent = { cookieConfig: { lifetimeType: 'Permanent' } };
  assert.deepEqual(errorsOf(lb({ sessionPersistence: { ...permanent, absoluteTimeout: '500ms' } })), [
    ['spec.loadBalancer.sessionPersistence.absoluteTimeout', 'InvalidField'],
  ]);
  assert.deepEqual(errorsOf(lb({ sessionPersistence: { sessionName: 'a b' } })), [
    ['spec.loadBalancer.sessionPersistence.sessionName', 'InvalidField'],
  ]);
  const ok = validateObjects([lb({ sessionPersistence: { ...permanent, absoluteTimeout: '12h' } })]);
  assert.equal(ok.rejected.length, 0);
  const spec = (ok.ok[0] as Backend).spec;
  assert.equal(spec.loadBalancer.sessionPersistence?.sessionName, 'portico-session');
  assert.equal(spec.loadBalancer.sessionPersistence?.type, 'Cookie');
});

test('Backend: outlier detection and retry budget get defaults; ejection times are checked', () => {
  const backend = (spec: Record<string, unknown>): unknown => ({
    ...backendDoc('o'),
    spec: { service: { name: 'o', port: 80 }, ...spec },
  });
  const ok = validateObjects([backend({ outlierDetection: {}, retryBudget: { percent: 50 } })]);
  assert.equal(ok.rejected.length, 0);
  const spec = (ok.ok[0] as Backend).spec;
  assert.deepEqual(spec.outlierDetection, {
    consecutive5xx: 5,
    consecutiveConnectFailures: 3,
    baseEjectionTime: '30s',
    maxEjectionTime: '300s',
    maxEjectionPercent: 50,
  });
  assert.deepEqual(spec.retryBudget, { percent: 50, minRetryConcurrency: 3 });
  assert.deepEqual(
    errorsOf(backend({ outlierDetection: { baseEjectionTime: '1m', maxEjectionTime: '30s' } })),
    [['spec.outlierDetection.maxEjectionTime', 'InvalidField']],
  );
  assert.deepEqual(errorsOf(backend({ outlierDetection: { baseEjectionTime: '0s' } })), [
    ['spec.outlierDetection.baseEjectionTime', 'InvalidField'],
  ]);
  assert.deepEqual(errorsOf(backend({ outlierDetection: { maxEjectionPercent: 101 } })), [
    ['spec.outlierDetection.maxEjectionPercent', 'InvalidField'],
  ]);
  assert.deepEqual(errorsOf(backend({ retryBudget: { percent: -1 } })), [
    ['spec.retryBudget.percent', 'InvalidField'],
  ]);
});

test('duplicates, unknown kinds and non-objects are rejected one by one', () => {
  const result = validateObjects([
    backendDoc('web'),
    backendDoc('web'),
    routeDoc('web', { rules: [rule('web')] }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } },
    'not an object',
  ]);
  assert.equal(result.ok.length, 2, 'a Route may share a Backend name');
  assert.deepEqual(
    result.rejected.map((r) => [r.errors[0]!.object, r.errors[0]!.reason]),
    [
      ['Backend gateway-conformance-infra/web', 'DuplicateName'],
      ['Service default/x', 'UnsupportedKind'],
      ['object default/<unnamed document 4>', 'UnsupportedKind'],
    ],
  );
});

test('a ref to a missing or rejected Backend leaves the Route accepted with BackendNotFound', () => {
  const result = validateObjects([
    { ...backendDoc('broken'), spec: {} },
    routeDoc('shop', {
      rules: [rule('infra-backend-v1'), { backendRefs: [{ name: 'broken' }, { name: 'gone' }] }],
    }),
  ]);
  assert.equal(result.routes.length, 1);
  assert.deepEqual(result.unresolvedRefs, [
    {
      object: 'Route gateway-conformance-infra/shop',
      path: 'spec.rules[0].backendRefs[0].name',
      message: 'Backend gateway-conformance-infra/infra-backend-v1 not found',
      reason: 'BackendNotFound',
    },
    {
      object: 'Route gateway-conformance-infra/shop',
      path: 'spec.rules[1].backendRefs[0].name',
      message: 'Backend gateway-conformance-infra/broken not found',
      reason: 'BackendNotFound',
    },
    {
      object: 'Route gateway-conformance-infra/shop',
      path: 'spec.rules[1].backendRefs[1].name',
      message: 'Backend gateway-conformance-infra/gone not found',
      reason: 'BackendNotFound',
    },
  ]);
});

test('validation does not modify its input', () => {
  const doc = routeDoc('shop', { rules: [{ backendRefs: [{ name: 'x' }] }] });
  const before = structuredClone(doc);
  validateObjects([doc]);
  assert.deepEqual(doc, before);
});

test('a document defaults change nothing in is accepted as it is, not copied (issue #5)', () => {
  const defaulted = structuredClone(
    validateObjects([routeDoc('shop', { rules: [{ backendRefs: [{ name: 'x' }] }] })]).routes[0]!,
  );
  const result = validateObjects([defaulted]);
  assert.equal(result.routes[0], defaulted);
  assert.equal(Object.isFrozen(defaulted), false, "the caller's object is left as it was");
  assert.equal(validateObjects([defaulted]).routes[0], defaulted, 'and remembered');
});
