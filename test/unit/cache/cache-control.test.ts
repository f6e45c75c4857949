import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  parseAge,
  parseDirectives,
  parseExpires,
  parseHttpDate,
  parseRequestCacheControl,
  parseResponseCacheControl,
} from '../../../src/cache/cache-control.ts';

void describe('parseDirectives', () => {
  void test('names are case-insensitive, quoted values unescaped, commas inside quotes kept', () => {
    const d = parseDirectives('Max-Age=60, no-cache="set-cookie, x-a", private , ext="a\\"b",,');
    assert.deepEqual(d.get('max-age'), ['60']);
    assert.deepEqual(d.get('no-cache'), ['set-cookie, x-a']);
    assert.deepEqual(d.get('private'), [true]);
    assert.deepEqual(d.get('ext'), ['a"b']);
    assert.equal(d.size, 4);
  });

  void test('duplicates are all kept for the caller to judge', () => {
    assert.deepEqual(parseDirectives('max-age=1, max-age=2').get('max-age'), ['1', '2']);
  });

  void test('an unterminated quoted string runs to the end without throwing', () => {
    assert.deepEqual(parseDirectives('a="x, b').get('a'), ['x, b']);
  });
});

void describe('parseResponseCacheControl', () => {
  void test('reads every line of the field', () => {
    const d = parseResponseCacheControl({ 'cache-control': ['public', 'S-MAXAGE=30, max-age="10"'] });
    assert.equal(d.public, true);
    assert.equal(d.sMaxAge, 30);
    assert.equal(d.maxAge, 10);
  });

  void test('conflicting or invalid max-age reads as stale (0)', () => {
    assert.equal(parseResponseCacheControl({ 'cache-control': 'max-age=10, max-age=20' }).maxAge, 0);
    assert.equal(parseResponseCacheControl({ 'cache-control': 'max-age=ten' }).maxAge, 0);
    assert.equal(parseResponseCacheControl({ 'cache-control': 'max-age=10, max-age=10' }).maxAge, 10);
  });

  void test('huge delta-seconds are capped at 2^31', () => {
    assert.equal(parseResponseCacheControl({ 'cache-control': 'max-age=99999999999999' }).maxAge, 2 ** 31);
  });

  void test('stale windows ignore invalid values and take the smaller of duplicates', () => {
    const d = parseResponseCacheControl({
      'cache-control':
        'stale-while-revalidate=30, stale-while-revalidate=x, stale-if-error=9, stale-if-error=5',
    });
    assert.equal(d.staleWhileRevalidate, 30);
    assert.equal(d.staleIfError, 5);
  });
});

void describe('parseRequestCacheControl', () => {
  void test('request directives', () => {
    const d = parseRequestCacheControl({
      'cache-control': 'max-age=5, min-fresh=3, max-stale, only-if-cached, no-store',
    });
    assert.deepEqual(d, {
      maxAge: 5,
      maxStale: Infinity,
      minFresh: 3,
      noCache: false,
      noStore: true,
      onlyIfCached: true,
    });
    assert.equal(parseRequestCacheControl({ 'cache-control': 'max-stale=7' }).maxStale, 7);
  });

  void test('Pragma: no-cache counts only without Cache-Control', () => {
    assert.equal(parseRequestCacheControl({ pragma: 'no-cache' }).noCache, true);
    assert.equal(
      parseRequestCacheControl({ pragma: 'no-cache', 'cache-control': 'max-age=5' }).noCache,
      false,
    );
  });
});

void describe('HTTP dates', () => {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
  const now = Date.UTC(2025, 0, 1);

  void test('all three formats parse to the same instant', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), expected);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now), expected);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), expected);
  });

  void test('two-digit years more than 50 years ahead belong to the past century', () => {
    assert.equal(parseHttpDate('Tuesday, 01-Jan-80 00:00:00 GMT', now), Date.UTC(1980, 0, 1));
    assert.equal(parseHttpDate('Monday, 01-Jan-74 00:00:00 GMT', now), Date.UTC(2074, 0, 1));
  });

  void test('invalid dates are rejected', () => {
    for (const bad of [
      '0',
      '',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 25:00:00 GMT',
      '1994-11-06',
    ]) {
      assert.equal(parseHttpDate(bad), undefined, bad);
    }
  });

  void test('an invalid or conflicting Expires means already expired; an absent one is undefined', () => {
    assert.equal(parseExpires({}), undefined);
    assert.equal(parseExpires({ expires: '0' }), 0);
    assert.equal(
      parseExpires({ expires: ['Sun, 06 Nov 1994 08:49:37 GMT', 'Mon, 07 Nov 1994 08:49:37 GMT'] }),
      0,
    );
    assert.equal(parseExpires({ expires: 'Sun, 06 Nov 1994 08:49:37 GMT' }), expected);
  });

  // RFC 9111 §5.1: a list-based Age is read as its first member; an invalid one is ignored.
  void test('Age: the first member of the first line wins, invalid is ignored', () => {
    assert.equal(parseAge({ age: ['30', '40'] }), 30);
    assert.equal(parseAge({ age: '600, 0' }), 600);
    assert.equal(parseAge({ age: ' 7 ,8' }), 7);
    assert.equal(parseAge({ age: 'old, 0' }), undefined);
    assert.equal(parseAge({ age: '-1' }), undefined);
    assert.equal(parseAge({}), undefined);
  });
});
