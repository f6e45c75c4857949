import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeHost, parseDuration, queryParam } from '../../../src/routing/index.ts';

test('normalizeHost drops port, case and trailing dot', () => {
  const cases: [string, string][] = [
    ['example.com', 'example.com'],
    ['Example.COM:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:443', 'example.com'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['', ''],
  ];
  for (const [input, want] of cases) assert.equal(normalizeHost(input), want, input);
});

test('queryParam finds the first value, decodes, and is case-sensitive', () => {
  assert.equal(queryParam('a=1&b=2&a=3', 'a'), '1');
  assert.equal(queryParam('?b=2', 'b'), '2');
  assert.equal(queryParam('flag&x=1', 'flag'), '');
  assert.equal(queryParam('q=hello+world%21', 'q'), 'hello world!');
  assert.equal(queryParam('my%20key=v', 'my key'), 'v');
  assert.equal(queryParam('A=1', 'a'), undefined);
  assert.equal(queryParam('ab=1', 'a'), undefined);
  assert.equal(queryParam('a=%E0%A4%A', 'a'), undefined);
  assert.equal(queryParam('', 'a'), undefined);
});

test('parseDuration accepts Gateway API durations and refuses the rest', () => {
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1h2m3s4ms'), 3_723_004);
  assert.equal(parseDuration('0s'), 0);
  for (const bad of ['', '10', 's', '1m1h', '1s1s', '1.5s', '1d', ' 1s']) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});
