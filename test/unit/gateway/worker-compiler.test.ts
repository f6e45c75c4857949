// The worker's incremental compile, fed the way ConfigStore feeds it: a full set first, then deltas
// carrying texts only for Routes the previous broadcast lacked. Unchanged Routes keep their compiled
// entries; edits and Backends that appear or go recompile exactly the Routes they touch; removed
// Routes are dropped. Keys follow validated objects, which validation reuses per input document, so
// the tests reuse documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects, type RouteRequest } from '../../../src/routing/index.ts';
import { EMPTY_ROUTE_SET, toWire, type WireRouteSet } from '../../../src/gateway/route-set.ts';
import type { GatewayTable } from '../../../src/gateway/index.ts';
import { WorkerTableCompiler } from '../../../src/gateway/worker-compiler.ts';
import { backendDoc, req, routeDoc, rule } from '../routing/fixtures.ts';

/** Broadcasts as the primary does: the first set in full, every later one as a delta on the previous. */
class Primary {
  #known: Set<number> | undefined;
  #version = 0;

  next(docs: unknown[]): WireRouteSet {
    const result = validateObjects(docs);
    assert.deepEqual(result.rejected, []);
    const set = {
      ...EMPTY_ROUTE_SET,
      version: ++this.#version,
      routes: result.routes,
      backends: result.backends,
    };
    const wire = toWire(set, this.#known);
    this.#known = new Set(wire.routeKeys);
    return wire;
  }
}

function compiled(compiler: WorkerTableCompiler, wire: WireRouteSet): GatewayTable {
  const table = compiler.compile(wire);
  assert.ok(table !== undefined, `version ${wire.version} compiles`);
  return table;
}

const shop = (path: string) =>
  routeDoc('shop', {
    hostnames: ['shop.example.com'],
    rules: [rule('web', [{ path: { type: 'PathPrefix', value: path } }])],
  });
const api = routeDoc('api', { hostnames: ['api.example.com'], rules: [rule('api')] });
const wild = routeDoc('wild', { hostnames: ['*.example.com'], rules: [rule('web')] });
const at = (host: string, path = '/'): RouteRequest => req(path, { host });
const servedBy = (table: GatewayTable, host: string, path = '/') =>
  table.routes.match(at(host, path))?.routeId;

test('an edit sends and recompiles one Route; the others keep their compiled entries', () => {
  const primary = new Primary();
  const compiler = new WorkerTableCompiler();
  const backends = [backendDoc('web'), backendDoc('api')];
  const v1 = compiled(compiler, primary.next([...backends, shop('/cart'), api, wild]));
  assert.deepEqual(compiler.lastStats, { compiled: 3, reused: 0, kept: 3 });
  const apiHit = v1.routes.match(at('api.example.com'));
  assert.equal(servedBy(v1, 'shop.example.com', '/cart'), 'gateway-conformance-infra/shop');

  const delta = primary.next([...backends, shop('/basket'), api, wild]);
  assert.equal(Object.keys(delta.routeTexts).length, 1, 'the delta carries the edited Route only');
  const v2 = compiled(compiler, delta);
  assert.deepEqual(compiler.lastStats, { compiled: 1, reused: 2, kept: 3 });
  assert.equal(v2.routes.match(at('api.example.com')), apiHit, 'the same compiled entry, not a copy');
  // Precedence still spans kept and new Routes: /cart now falls to the wildcard.
  assert.equal(servedBy(v2, 'shop.example.com', '/cart'), 'gateway-conformance-infra/wild');
  assert.equal(servedBy(v2, 'shop.example.com', '/basket/1'), 'gateway-conformance-infra/shop');
  assert.equal(servedBy(v1, 'shop.example.com', '/cart'), 'gateway-conformance-infra/shop', 'v1 unchanged');
});

test('a Backend that appears or goes recompiles the Routes that name it, from the kept text', () => {
  const primary = new Primary();
  const compiler = new WorkerTableCompiler();
  const root = shop('/');
  const refOf = (table: GatewayTable) =>
    table.routes.match(at('api.example.com'))?.rule.backends.refs[0]?.status;
  assert.equal(refOf(compiled(compiler, primary.next([backendDoc('web'), root, api]))), 'unresolved');
  const delta = primary.next([backendDoc('web'), backendDoc('api'), root, api]);
  assert.deepEqual(delta.routeTexts, {}, 'no Route changed, so the delta carries no text');
  assert.equal(refOf(compiled(compiler, delta)), 'resolved');
  assert.deepEqual(compiler.lastStats, { compiled: 1, reused: 1, kept: 2 });
  assert.equal(refOf(compiled(compiler, primary.next([backendDoc('web'), root, api]))), 'unresolved');
});

test('removed Routes are dropped from the table and from what the compiler keeps', () => {
  const primary = new Primary();
  const compiler = new WorkerTableCompiler();
  compiled(compiler, primary.next([backendDoc('web'), backendDoc('api'), shop('/'), api, wild]));
  const v2 = compiled(compiler, primary.next([backendDoc('web'), backendDoc('api'), api]));
  assert.deepEqual(compiler.lastStats, { compiled: 0, reused: 1, kept: 1 });
  assert.equal(servedBy(v2, 'shop.example.com'), undefined);
  assert.equal(v2.version, 2);
});

test('a worker that missed the full set declines a delta naming Routes it lacks, then takes the full set', () => {
  const primary = new Primary();
  const root = shop('/');
  primary.next([backendDoc('web'), root]);
  const late = new WorkerTableCompiler();
  const delta = primary.next([backendDoc('web'), root, wild]);
  assert.equal(late.compile(delta), undefined);
  const result = validateObjects([backendDoc('web'), root, wild]);
  const full = toWire({ ...EMPTY_ROUTE_SET, version: 2, routes: result.routes, backends: result.backends });
  assert.equal(servedBy(compiled(late, full), 'x.example.com'), 'gateway-conformance-infra/wild');
  assert.equal(servedBy(compiled(late, full), 'shop.example.com'), 'gateway-conformance-infra/shop');
});
