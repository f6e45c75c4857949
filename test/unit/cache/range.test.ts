import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpCache, type HeaderMap } from '../../../src/cache/index.ts';
import { selectRange } from '../../../src/cache/range.ts';
import { clock, httpDate, request, response, T0 } from './fixtures.ts';

const stored: HeaderMap = { etag: '"v1"', 'last-modified': httpDate(T0 - 1000) };

void describe('selectRange', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'full'],
    ['bytes=0-3', 'partial bytes 0-3/10'],
    ['bytes=2-', 'partial bytes 2-9/10'],
    ['bytes=-3', 'partial bytes 7-9/10'],
    ['bytes=-30', 'partial bytes 0-9/10'],
    ['bytes=5-100', 'partial bytes 5-9/10'],
    ['BYTES = 1-1', 'partial bytes 1-1/10'],
    ['bytes=10-', 'unsatisfiable bytes */10'],
    ['bytes=-0', 'unsatisfiable bytes */10'],
    ['bytes=0-1,4-5', 'full'],
    ['bytes=5-2', 'full'],
    ['bytes=-', 'full'],
    ['bytes=abc', 'full'],
    ['items=0-1', 'full'],
  ];
  for (const [range, expected] of cases) {
    void test(`${range ?? '(none)'} → ${expected}`, () => {
      const outcome = selectRange(range === undefined ? {} : { range }, stored, 10);
      const observed = outcome.kind === 'full' ? 'full' : `${outcome.kind} ${outcome.contentRange}`;
      assert.equal(observed, expected);
    });
  }

  void test('If-Range must name the stored representation', () => {
    assert.equal(selectRange({ range: 'bytes=0-1', 'if-range': '"v1"' }, stored, 10).kind, 'partial');
    assert.equal(selectRange({ range: 'bytes=0-1', 'if-range': '"v0"' }, stored, 10).kind, 'full');
    assert.equal(selectRange({ range: 'bytes=0-1', 'if-range': 'W/"v1"' }, stored, 10).kind, 'full');
    assert.equal(
      selectRange({ range: 'bytes=0-1', 'if-range': httpDate(T0 - 1000) }, stored, 10).kind,
      'partial',
    );
    assert.equal(selectRange({ range: 'bytes=0-1', 'if-range': httpDate(T0) }, stored, 10).kind, 'full');
  });
});

void describe('respond with Range', () => {
  function cached() {
    const cache = new HttpCache({ now: clock().now });
    const result = cache.store(
      request(),
      response({ 'cache-control': 'max-age=60' }, { body: '0123456789' }),
    );
    assert.ok(result.stored);
    return { cache, entry: result.entry };
  }

  void test('206 slice with Content-Range and Content-Length', () => {
    const { cache, entry } = cached();
    const served = cache.respond(entry, request({ headers: { range: 'bytes=2-4' } }));
    assert.equal(served.status, 206);
    assert.equal(served.body?.toString(), '234');
    assert.equal(served.headers['content-range'], 'bytes 2-4/10');
    assert.equal(served.headers['content-length'], '3');
  });

  void test('416 for an unsatisfiable range', () => {
    const { cache, entry } = cached();
    const served = cache.respond(entry, request({ headers: { range: 'bytes=20-' } }));
    assert.equal(served.status, 416);
    assert.equal(served.headers['content-range'], 'bytes */10');
    assert.equal(served.body?.length, 0);
  });

  void test('multiple ranges fall back to the full 200', () => {
    const { cache, entry } = cached();
    const served = cache.respond(entry, request({ headers: { range: 'bytes=0-1,3-4' } }));
    assert.equal(served.status, 200);
    assert.equal(served.body?.toString(), '0123456789');
  });
});
