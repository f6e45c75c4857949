// The upstream HTTP/1.1 response parser: every response is fed whole, one byte at a time and split at
// every offset, and must come out the same; malformed responses are protocol errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseParser, type ResponseSink } from '../../../src/upstream/h1-response.ts';

interface Parsed {
  heads: Array<[number, Record<string, string | string[]>]>;
  body: string;
  trailers: Record<string, string | string[]> | undefined;
  extra: number;
  mustClose: boolean;
  keepAliveMs: number | undefined;
}

function parse(raw: string, pieces: number[] = [], noBody = false, eof = false): Parsed {
  const out: Parsed = {
    heads: [],
    body: '',
    trailers: undefined,
    extra: -1,
    mustClose: false,
    keepAliveMs: 0,
  };
  const sink: ResponseSink = {
    onHead: (status, headers) => void out.heads.push([status, headers]),
    onBody: (chunk) => void (out.body += chunk.toString('latin1')),
    onEnd: (trailers) => void (out.trailers = trailers),
  };
  const parser = new ResponseParser(sink);
  parser.reset(noBody);
  const bytes = Buffer.from(raw, 'latin1');
  const cuts = [0, ...pieces, bytes.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const extra = parser.execute(bytes.subarray(cuts[i], cuts[i + 1]));
    if (extra !== -1) {
      out.extra = cuts[i]! + extra;
      break;
    }
  }
  if (eof) parser.finish();
  out.mustClose = parser.mustClose;
  out.keepAliveMs = parser.keepAliveMs;
  return out;
}

/** The same result however the bytes are split. */
function parseEverySplit(raw: string, noBody = false, eof = false): Parsed {
  const whole = parse(raw, [], noBody, eof);
  for (let cut = 1; cut < raw.length; cut++)
    assert.deepEqual(parse(raw, [cut], noBody, eof), whole, `split at ${cut}`);
  const bytewise = Array.from({ length: raw.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(parse(raw, bytewise, noBody, eof), whole, 'one byte at a time');
  return whole;
}

test('Content-Length body, repeated fields as arrays, keep-alive hint', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nKeep-Alive: timeout=5, max=100\r\n\r\nhello',
  );
  assert.deepEqual(r.heads, [[200, { 'content-length': '5', 'set-cookie': ['a=1', 'b=2'] }]]);
  assert.equal(r.body, 'hello');
  assert.deepEqual(r.trailers, {});
  assert.equal(r.mustClose, false);
  assert.equal(r.keepAliveMs, 5000);
});

test('field names in lower case however they were spelled, common or not', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nContent-Type: a\r\nETag: "b"\r\nCONTENT-LANGUAGE: c\r\nX-Custom-THING: d\r\nVary: e\r\nvary: f\r\nContent-Length: 0\r\n\r\n',
  );
  assert.deepEqual(r.heads, [
    [
      200,
      {
        'content-type': 'a',
        etag: '"b"',
        'content-language': 'c',
        'x-custom-thing': 'd',
        vary: ['e', 'f'],
        'content-length': '0',
      },
    ],
  ]);
});

test('hop-by-hop fields, and those Connection names, never reach the sink; they still frame the body', () => {
  const r = parseEverySplit(
    'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\nProxy-Connection: keep-alive\r\nX-End: 2\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  );
  assert.deepEqual(r.heads, [[200, { 'x-end': '2' }]]);
  assert.equal(r.body, 'abc');
  assert.equal(r.mustClose, false);
});

test('chunked body with extensions and trailers; bytes after the response are reported', () => {
  const raw =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nGrpc-Status: 0\r\nX-T: a\r\n\r\nEXTRA';
  const r = parseEverySplit(raw);
  assert.equal(r.body, 'hello world');
  assert.deepEqual(r.trailers, { 'grpc-status': '0', 'x-t': 'a' });
  assert.equal(r.extra, raw.length - 5);
  const empty = parseEverySplit('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.equal(empty.body, '');
  assert.deepEqual(empty.trailers, {});
  assert.equal(empty.extra, -1);
});

test('no body for HEAD, 204 and 304, whatever the framing fields say', () => {
  assert.deepEqual(parseEverySplit('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', true).trailers, {});
  assert.deepEqual(parseEverySplit('HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n').trailers, {});
  assert.deepEqual(parseEverySplit('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n').trailers, {});
});

test('1xx heads come before the final one; 103 keeps its fields', () => {
  const r = parseEverySplit(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  );
  assert.deepEqual(
    r.heads.map(([status]) => status),
    [100, 103, 200],
  );
  assert.deepEqual(r.heads[1]![1], { link: '</a.css>; rel=preload' });
  assert.equal(r.body, 'ok');
});

test('close-delimited bodies end at EOF and close the connection; so do HTTP/1.0 and Connection: close', () => {
  const eof = parseEverySplit('HTTP/1.1 200 OK\r\n\r\nuntil the end', false, true);
  assert.equal(eof.body, 'until the end');
  assert.deepEqual(eof.trailers, {});
  assert.equal(eof.mustClose, true);
  assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').mustClose, true);
  assert.equal(
    parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').mustClose,
    false,
  );
  assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n').mustClose, true);
});

test('malformed responses are protocol errors', () => {
  const cases: Array<[string, RegExp]> = [
    ['HTTP/2 200 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 20 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.2 200 OK\r\n\r\n', /invalid status line/],
    ['http/1.1 200 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 2x0 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 2000 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1  200 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 200 O\rK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n', /obs-fold/],
    ['HTTP/1.1 200 OK\r\nBad Name: a\r\n\r\n', /invalid header name/],
    ['HTTP/1.1 200 OK\r\nNoColon\r\n\r\n', /no colon/],
    ['HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n', /bare CR/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n', /not followed by CRLF/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n', /does not end in CRLF/],
    ['HTTP/1.1 101 Switching Protocols\r\n\r\n', /101/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n', /both/],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`, /too large/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(() => parse(raw), message, JSON.stringify(raw.slice(0, 60)));
    assert.throws(() => parse(raw, [raw.length >> 1]), message, `split: ${JSON.stringify(raw.slice(0, 60))}`);
  }
});

test('a status line may have no reason phrase, or an empty one; HTTP/1.0 is read as such', () => {
  assert.deepEqual(parseEverySplit('HTTP/1.1 204\r\n\r\n').heads, [[204, {}]]);
  assert.deepEqual(parseEverySplit('HTTP/1.1 404 \r\n\r\n').heads, [[404, {}]]);
  const old = parseEverySplit('HTTP/1.0 200 Fine by me\r\nContent-Length: 2\r\n\r\nok');
  assert.deepEqual(old.heads, [[200, { 'content-length': '2' }]]);
  assert.equal(old.mustClose, true, 'HTTP/1.0 without keep-alive closes');
});

test('equal repeated Content-Length values are one length', () => {
  const r = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok');
  assert.equal(r.body, 'ok');
});

test('finish before the end of a framed body reports an incomplete response', () => {
  const sink: ResponseSink = { onHead: () => {}, onBody: () => {}, onEnd: () => assert.fail('no end') };
  const parser = new ResponseParser(sink);
  parser.reset(false);
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  assert.equal(parser.finish(), false);
});
