import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BodyCollector, HttpCache } from '../../../src/cache/index.ts';
import { clock, request, response } from './fixtures.ts';

void describe('memory bound', () => {
  void test('a flood of 100k unique keys stays under maxBytes and evicts', () => {
    const maxBytes = 1024 * 1024;
    const cache = new HttpCache({ maxBytes, now: clock().now });
    const body = Buffer.alloc(200, 'x');
    for (let i = 0; i < 100_000; i++) {
      const stored = cache.store(
        request({ path: `/flood/${i}` }),
        response({ 'cache-control': 'max-age=60' }, { body }),
      );
      assert.equal(stored.stored, true);
    }
    const stats = cache.stats();
    assert.ok(stats.bytes <= maxBytes, `${stats.bytes} > ${maxBytes}`);
    assert.ok(stats.evictions > 0);
    assert.equal(stats.entries + stats.evictions, 100_000);
    // The newest survive, the oldest went; the purge index holds exactly the live entries.
    assert.equal(cache.lookup(request({ path: '/flood/99999' })).status, 'hit');
    assert.equal(cache.lookup(request({ path: '/flood/0' })).status, 'miss');
    assert.equal(cache.purgePrefix('shop.example', '/flood/'), stats.entries);
    assert.deepEqual(
      { entries: cache.stats().entries, bytes: cache.stats().bytes },
      { entries: 0, bytes: 0 },
    );
  });

  void test('charged size counts header bytes, body bytes and a fixed overhead', () => {
    const cache = new HttpCache({ now: clock().now });
    const small = cache.store(
      request({ path: '/a' }),
      response({ 'cache-control': 'max-age=60' }, { body: 'x' }),
    );
    const large = cache.store(
      request({ path: '/b' }),
      response({ 'cache-control': 'max-age=60' }, { body: 'x'.repeat(1001) }),
    );
    assert.ok(small.stored && large.stored);
    assert.equal(large.entry.size - small.entry.size, 1000 + 3); // body, plus content-length digits
    assert.ok(small.entry.size > 256);
    assert.equal(cache.stats().bytes, small.entry.size + large.entry.size);
  });
});

void describe('BodyCollector', () => {
  void test('concatenates chunks once at the end', () => {
    const collector = new BodyCollector(10);
    assert.equal(collector.push(Buffer.from('hel')), 'buffering');
    assert.equal(collector.push(Buffer.from('lo')), 'buffering');
    assert.equal(collector.finish()?.toString(), 'hello');
  });

  void test('gives up past the limit and holds nothing more', () => {
    const collector = new BodyCollector(4);
    collector.push(Buffer.from('abc'));
    assert.equal(collector.push(Buffer.from('de')), 'too-large');
    assert.equal(collector.push(Buffer.from('f')), 'too-large');
    assert.equal(collector.finish(), undefined);
  });

  void test('a declared length over the limit is refused before the first byte', () => {
    assert.equal(new BodyCollector(4, 5).state, 'too-large');
    assert.equal(new BodyCollector(4, 4).state, 'buffering');
  });
});
