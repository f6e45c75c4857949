// ConfigStore hands workers the same validated object for a document that did not change, even when
// a source re-reads it as a new object (a file reload, PUT): that object's wire key is what lets a
// worker keep the Route compiled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toWire } from '../../../src/gateway/route-set.ts';
import { backendDoc, routeDoc, rule } from '../routing/fixtures.ts';
import { storeWithBroadcasts } from './store.ts';

const docs = (edited: string) => [
  backendDoc('web'),
  routeDoc('a', { hostnames: ['a.example.com'], rules: [rule('web')] }),
  routeDoc('b', { hostnames: ['b.example.com'], rules: [rule('web')] }),
  routeDoc('c', { hostnames: [edited], rules: [rule('web')] }),
];

test('a reload of equal documents keeps their objects, so only the edited Route gets a new key', async () => {
  const { store, sent } = storeWithBroadcasts();
  try {
    await store.replace(docs('c.example.com'));
    await store.replace(docs('c2.example.com')); // every document a new object, as a file reload gives
    await store.apply(docs('c2.example.com').slice(1, 2)); // PATCH with an equal Route: nothing changes
    assert.equal(sent.length, 3);
    const [first, second, third] = sent.map((s) => s.routeKeys);
    assert.equal(first!.length, 3);
    assert.deepEqual(second!.slice(0, 2), first!.slice(0, 2), 'a and b keep their keys');
    assert.notEqual(second![2], first![2], 'the edited Route c has a new key');
    assert.deepEqual(third, second);
    assert.deepEqual(toWire(store.current).routeKeys, third);
  } finally {
    store.close();
  }
});
