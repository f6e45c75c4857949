import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HeaderList,
  ResponseHeader,
  forwardRequestHeaders,
  stripResponseHopByHop,
} from '../../../src/proxy/index.ts';

const info = { clientAddress: '10.0.0.1', protocol: 'https', via: '1.1 portico' };

/** The fields `info` makes a request with Host `host` and no forwarding fields of its own gain. */
const addedFor = (host: string): string[] => [
  'x-forwarded-for',
  '10.0.0.1',
  'x-forwarded-proto',
  'https',
  'x-forwarded-host',
  host,
  'via',
  '1.1 portico',
];

test('HeaderList is case-insensitive, keeps order and repeated values', () => {
  const h = new HeaderList(['Accept', 'a', 'X-Multi', '1', 'x-multi', '2']);
  assert.equal(h.get('accept'), 'a');
  assert.deepEqual(h.getAll('X-MULTI'), ['1', '2']);
  h.set('x-multi', '3');
  assert.deepEqual(h.raw, ['Accept', 'a', 'x-multi', '3']);
  h.append('accept', 'b');
  h.remove('ACCEPT');
  assert.deepEqual(h.raw, ['x-multi', '3']);
  assert.equal(h.has('accept'), false);
});

test('forwardRequestHeaders: the table of what is dropped, kept and added', () => {
  const cases: Array<{ name: string; raw: string[]; expect: string[] }> = [
    {
      name: 'plain request gains forwarding headers',
      raw: ['Host', 'a.example', 'Accept', '*/*'],
      expect: ['Host', 'a.example', 'Accept', '*/*', ...addedFor('a.example')],
    },
    {
      name: 'hop-by-hop, Connection-listed and Expect removed',
      raw: [
        'Host',
        'h',
        'Connection',
        'X-Secret, close',
        'X-Secret',
        's',
        'Keep-Alive',
        '1',
        'TE',
        'gzip',
        'Upgrade',
        'h2c',
        'Expect',
        '100-continue',
        'Transfer-Encoding',
        'chunked',
      ],
      expect: ['Host', 'h', ...addedFor('h')],
    },
    {
      name: 'of TE only trailers goes on, even when Connection lists TE',
      raw: ['Host', 'h', 'Connection', 'TE', 'TE', 'gzip;q=0.5, trailers'],
      expect: ['Host', 'h', 'te', 'trailers', ...addedFor('h')],
    },
    {
      name: 'a TE of trailers with parameters is not trailers (RFC 9110 §10.1.4), so no TE goes on',
      raw: ['Host', 'h', 'TE', 'trailers;q=0.5'],
      expect: ['Host', 'h', ...addedFor('h')],
    },
    {
      name: 'existing chain is appended to; proto and host from a previous hop are kept',
      raw: [
        'Host',
        'h',
        'X-Forwarded-For',
        '1.1.1.1',
        'x-forwarded-for',
        '2.2.2.2',
        'X-Forwarded-Proto',
        'http',
        'X-Forwarded-Host',
        'orig',
        'Via',
        '1.0 cdn',
      ],
      expect: [
        'Host',
        'h',
        'X-Forwarded-Proto',
        'http',
        'X-Forwarded-Host',
        'orig',
        'x-forwarded-for',
        '1.1.1.1, 2.2.2.2, 10.0.0.1',
        'via',
        '1.0 cdn, 1.1 portico',
      ],
    },
  ];
  for (const c of cases) assert.deepEqual(forwardRequestHeaders(c.raw, info).raw, c.expect, c.name);
});

test('stripResponseHopByHop removes standard hop-by-hop headers and Connection-listed ones', () => {
  const headers: Record<string, string | string[]> = {
    connection: 'x-a, keep-alive',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'x-a': '1',
    'x-b': '2',
  };
  stripResponseHopByHop(headers);
  assert.deepEqual(headers, { 'x-b': '2' });
});

test('ResponseHeader set/append/remove keep names lower case', () => {
  const r = new ResponseHeader(200, { 'set-cookie': 'a=1' });
  r.append('Set-Cookie', 'b=2');
  r.set('X-New', 'v');
  assert.deepEqual(r.headers, { 'set-cookie': ['a=1', 'b=2'], 'x-new': 'v' });
  r.remove('X-NEW');
  assert.equal(r.get('x-new'), undefined);
  assert.equal(r.get('set-cookie'), 'a=1');
});

test('ResponseHeader checks what set and append are given; taking the record gives up `checked`', () => {
  const received = ResponseHeader.received(200, { server: 'origin' });
  received.set('X-Added', 'ok');
  received.append('Set-Cookie', 'a=1');
  received.remove('server');
  assert.equal(received.checked, true);
  assert.deepEqual(received.fields, { 'x-added': 'ok', 'set-cookie': 'a=1' });
  assert.throws(() => received.set('x-bad', 'a\r\nInjected: 1'), /x-bad holds a control character/);
  assert.throws(() => received.append('x bad', 'v'), /invalid response header name "x bad"/);
  assert.throws(() => received.set('x-wide', 'snow\u2603man'), /beyond latin1/);
  assert.equal(received.get('x-bad'), undefined);
  assert.equal(received.checked, true);
  received.headers['x-direct'] = 'anything';
  assert.equal(received.checked, false);
  assert.equal(new ResponseHeader(200, { server: 'built by hand' }).checked, false);
});

test('HeaderList checks what set and append are given; taking the raw array gives up `checked`', () => {
  const raw = ['Host', 'a.example', 'Accept', '*/*'];
  // Only a caller vouching for the raw headers (the engine, for a server's parse) gets a checked list.
  assert.equal(forwardRequestHeaders(raw, info).checked, false);
  const forwarded = forwardRequestHeaders(raw, { ...info, checked: true });
  assert.equal(forwarded.checked, true);
  forwarded.set('x-added', 'ok');
  forwarded.remove('accept');
  assert.throws(() => forwarded.set('x-bad', 'a\r\nInjected: 1'), /x-bad holds a control character/);
  assert.throws(() => forwarded.append('x bad', 'v'), /header name "x bad" is not a token/);
  assert.equal(forwarded.get('x-bad'), undefined);
  assert.equal(forwarded.checked, true);
  assert.deepEqual(forwarded.fields.slice(-2), ['x-added', 'ok']);
  forwarded.raw.push('x-direct', 'anything');
  assert.equal(forwarded.checked, false);
  assert.equal(new HeaderList(['x', 'y']).checked, false);
});
