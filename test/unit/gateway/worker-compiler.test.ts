// The worker's incremental compile: unchanged Route texts keep their compiled entries, edits and
// Backends that appear or go recompile exactly the Routes they touch, removed Routes are dropped.
// Keys follow validated objects, which validation reuses per input document: the tests reuse documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects, type RouteRequest } from '../../../src/routing/index.ts';
import { EMPTY_ROUTE_SET, type RouteSet } from '../../../src/gateway/route-set.ts';
import { toWire } from '../../../src/gateway/route-set.ts';
import { WorkerTableCompiler } from '../../../src/gateway/worker-compiler.ts';
import { backendDoc, req, routeDoc, rule } from '../routing/fixtures.ts';

function routeSet(version: number, docs: unknown[]): RouteSet {
  const result = validateObjects(docs);
  assert.deepEqual(result.rejected, []);
  return { ...EMPTY_ROUTE_SET, version, routes: result.routes, backends: result.backends };
}

const shop = (path: string) =>
  routeDoc('shop', {
    hostnames: ['shop.example.com'],
    rules: [rule('web', [{ path: { type: 'PathPrefix', value: path } }])],
  });
const api = routeDoc('api', { hostnames: ['api.example.com'], rules: [rule('api')] });
const wild = routeDoc('wild', { hostnames: ['*.example.com'], rules: [rule('web')] });
const at = (host: string, path = '/'): RouteRequest => req(path, { host });

test('an edit recompiles one Route; the others keep their compiled entries', () => {
  const compiler = new WorkerTableCompiler();
  const backends = [backendDoc('web'), backendDoc('api')];
  const v1 = compiler.compile(toWire(routeSet(1, [...backends, shop('/cart'), api, wild])));
  assert.deepEqual(compiler.lastStats, { compiled: 3, reused: 0, kept: 3 });
  const apiHit = v1.routes.match(at('api.example.com'));
  assert.equal(v1.routes.match(at('shop.example.com', '/cart'))?.routeId.endsWith('/shop'), true);

  const v2 = compiler.compile(toWire(routeSet(2, [...backends, shop('/basket'), api, wild])));
  assert.deepEqual(compiler.lastStats, { compiled: 1, reused: 2, kept: 3 });
  assert.equal(v2.routes.match(at('api.example.com')), apiHit, 'the same compiled entry, not a copy');
  // Precedence still spans kept and new Routes: /cart now falls to the wildcard.
  assert.equal(v2.routes.match(at('shop.example.com', '/cart'))?.routeId.endsWith('/wild'), true);
  assert.equal(v2.routes.match(at('shop.example.com', '/basket/1'))?.routeId.endsWith('/shop'), true);
  assert.equal(
    v1.routes.match(at('shop.example.com', '/cart'))?.routeId.endsWith('/shop'),
    true,
    'v1 unchanged',
  );
});

test('a Backend that appears or goes recompiles the Routes that name it', () => {
  const compiler = new WorkerTableCompiler();
  const root = shop('/'); // the same document each version, as a file or watch source hands over
  const refOf = (table: ReturnType<WorkerTableCompiler['compile']>) =>
    table.routes.match(at('api.example.com'))?.rule.backends.refs[0]?.status;
  assert.equal(refOf(compiler.compile(toWire(routeSet(1, [backendDoc('web'), root, api])))), 'unresolved');
  const added = compiler.compile(toWire(routeSet(2, [backendDoc('web'), backendDoc('api'), root, api])));
  assert.equal(refOf(added), 'resolved');
  assert.deepEqual(compiler.lastStats, { compiled: 1, reused: 1, kept: 2 });
  assert.equal(refOf(compiler.compile(toWire(routeSet(3, [backendDoc('web'), root, api])))), 'unresolved');
});

test('removed Routes are dropped from the table and from what the compiler keeps', () => {
  const compiler = new WorkerTableCompiler();
  compiler.compile(toWire(routeSet(1, [backendDoc('web'), backendDoc('api'), shop('/'), api, wild])));
  const v2 = compiler.compile(toWire(routeSet(2, [backendDoc('web'), backendDoc('api'), api])));
  assert.deepEqual(compiler.lastStats, { compiled: 0, reused: 1, kept: 1 });
  assert.equal(v2.routes.match(at('shop.example.com')), undefined);
  assert.equal(v2.version, 2);
});
