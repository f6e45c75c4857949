// The worker's incremental compile, fed the way ConfigStore feeds it: a full set first, then deltas
// carrying texts only for Routes the previous broadcast lacked. Unchanged Routes keep their compiled
// entries; edits and Backends that appear or go recompile exactly the Routes they touch; removed
// Routes are dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteRequest } from '../../../src/routing/index.ts';
import { toWire, type WireRouteSet } from '../../../src/gateway/route-set.ts';
import type { GatewayTable } from '../../../src/gateway/index.ts';
import { WorkerTableCompiler } from '../../../src/gateway/worker-compiler.ts';
import { backendDoc, req, routeDoc, rule } from '../routing/fixtures.ts';
import { storeWithBroadcasts } from './store.ts';

/** The real ConfigStore, which broadcasts the first set in full and every later one as a delta. */
class Primary {
  readonly #recorded = storeWithBroadcasts();

  async next(docs: unknown[]): Promise<WireRouteSet> {
    const report = await this.#recorded.store.replace(docs);
    assert.deepEqual(report.rejected, []);
    return this.#recorded.sent.at(-1)!;
  }

  /** The current set in full, as a `routeset-request` gets it. */
  full(): WireRouteSet {
    return toWire(this.#recorded.store.current);
  }

  close(): void {
    this.#recorded.store.close();
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

test('an edit sends and recompiles one Route; the others keep their compiled entries', async (t) => {
  const primary = new Primary();
  t.after(() => primary.close());
  const compiler = new WorkerTableCompiler();
  const backends = [backendDoc('web'), backendDoc('api')];
  const v1 = compiled(compiler, await primary.next([...backends, shop('/cart'), api, wild]));
  assert.deepEqual(compiler.lastStats, { compiled: 3, reused: 0, kept: 3 });
  const apiHit = v1.routes.match(at('api.example.com'));
  assert.equal(servedBy(v1, 'shop.example.com', '/cart'), 'gateway-conformance-infra/shop');

  const delta = await primary.next([...backends, shop('/basket'), api, wild]);
  assert.equal(Object.keys(delta.routeTexts).length, 1, 'the delta carries the edited Route only');
  const v2 = compiled(compiler, delta);
  assert.deepEqual(compiler.lastStats, { compiled: 1, reused: 2, kept: 3 });
  assert.equal(v2.routes.match(at('api.example.com')), apiHit, 'the same compiled entry, not a copy');
  // Precedence still spans kept and new Routes: /cart now falls to the wildcard.
  assert.equal(servedBy(v2, 'shop.example.com', '/cart'), 'gateway-conformance-infra/wild');
  assert.equal(servedBy(v2, 'shop.example.com', '/basket/1'), 'gateway-conformance-infra/shop');
  assert.equal(servedBy(v1, 'shop.example.com', '/cart'), 'gateway-conformance-infra/shop', 'v1 unchanged');
});

test('a Backend that appears or goes recompiles the Routes that name it, from the kept text', async (t) => {
  const primary = new Primary();
  t.after(() => primary.close());
  const compiler = new WorkerTableCompiler();
  const root = shop('/');
  const refOf = (table: GatewayTable) =>
    table.routes.match(at('api.example.com'))?.rule.backends.refs[0]?.status;
  assert.equal(refOf(compiled(compiler, await primary.next([backendDoc('web'), root, api]))), 'unresolved');
  const delta = await primary.next([backendDoc('web'), backendDoc('api'), root, api]);
  assert.deepEqual(delta.routeTexts, {}, 'no Route changed, so the delta carries no text');
  assert.equal(refOf(compiled(compiler, delta)), 'resolved');
  assert.deepEqual(compiler.lastStats, { compiled: 1, reused: 1, kept: 2 });
  assert.equal(refOf(compiled(compiler, await primary.next([backendDoc('web'), root, api]))), 'unresolved');
});

test('removed Routes are dropped from the table and from what the compiler keeps', async (t) => {
  const primary = new Primary();
  t.after(() => primary.close());
  const compiler = new WorkerTableCompiler();
  compiled(compiler, await primary.next([backendDoc('web'), backendDoc('api'), shop('/'), api, wild]));
  const v2 = compiled(compiler, await primary.next([backendDoc('web'), backendDoc('api'), api]));
  assert.deepEqual(compiler.lastStats, { compiled: 0, reused: 1, kept: 1 });
  assert.equal(servedBy(v2, 'shop.example.com'), undefined);
  assert.equal(v2.version, 2);
});

test('a worker that missed the full set declines a delta naming Routes it lacks, then takes the full set', async (t) => {
  const primary = new Primary();
  t.after(() => primary.close());
  const root = shop('/');
  await primary.next([backendDoc('web'), root]);
  const late = new WorkerTableCompiler();
  const delta = await primary.next([backendDoc('web'), root, wild]);
  assert.equal(late.compile(delta), undefined);
  const full = primary.full();
  assert.equal(servedBy(compiled(late, full), 'x.example.com'), 'gateway-conformance-infra/wild');
  assert.equal(servedBy(compiled(late, full), 'shop.example.com'), 'gateway-conformance-infra/shop');
});
