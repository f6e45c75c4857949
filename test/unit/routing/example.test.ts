// examples/config must stay valid: it is the README demo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { compileRouteTable, pickBackend, validateObjects } from '../../../src/routing/index.ts';
import { req } from './fixtures.ts';

test('examples/config/echo.yaml validates, routes every host to echo and redirects localhost /old', async () => {
  const text = await readFile(new URL('../../../examples/config/echo.yaml', import.meta.url), 'utf8');
  const result = validateObjects(parseAllDocuments(text).map((d) => d.toJS() as unknown));
  assert.deepEqual(result.rejected, []);
  assert.deepEqual(result.unresolvedRefs, []);
  const table = compileRouteTable(result.routes, result.backends, 1);
  const m = table.match(req('/anything', { host: 'localhost:8080' }));
  assert.ok(m !== undefined);
  const pick = pickBackend(m.rule.backends);
  assert.equal(pick.status, 'resolved');
  assert.deepEqual(pick.status === 'resolved' && table.backends.get(pick.backendId)?.spec.endpoints, [
    { address: '127.0.0.1', port: 9001, weight: 1 },
  ]);
  assert.equal(table.match(req('/', { host: 'example.com' }))?.routeId, 'default/echo');
  assert.ok(table.match(req('/old', { host: 'localhost' }))?.rule.redirect !== undefined);
  assert.equal(table.match(req('/old', { host: 'example.com' }))?.routeId, 'default/echo');
});
