/**
 * Portico's HTTP/1.1 upstream client through the real proxy, against raw TCP upstreams that write
 * exact bytes: connection reuse and its limits (Connection: close, HTTP/1.0, close-delimited bodies,
 * Transfer-Encoding with Content-Length, Keep-Alive timeouts), the keep-alive race, malformed
 * responses, timeouts, queueing beyond maxConnections, and header injection from a filter.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HttpPeer, type HttpPeerOptions, type ProxyHttp } from '../../src/index.ts';
import { get, rawExchange, startOrigin, startProxy, type TestProxy } from '../helpers/servers.ts';

interface RawUpstream {
  address: string;
  /** Connections accepted so far. */
  connections: number;
  /** Request heads received, in order. */
  requests: string[];
  /** Connections open now. */
  open(): number;
  close(): Promise<void>;
}

/** A TCP server that answers each request head with `respond(head, socket, index)`. */
type Respond = (head: string, socket: Socket, index: number) => void;

async function rawUpstream(respond: Respond): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const upstream: RawUpstream = {
    address: '',
    connections: 0,
    requests: [],
    open: () => sockets.size,
    close: async () => {},
  };
  const server: NetServer = createServer((socket) => {
    upstream.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        upstream.requests.push(head);
        respond(head, socket, upstream.requests.length - 1);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstream.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  upstream.close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return upstream;
}

/** Runs `check` against a proxy whose one peer is a raw upstream answering with `respond`; stops both. */
/** A GET whose `upstreamRequestFilter` makes its head unsendable: 500, and the upstream sees nothing. */
function refusedBeforeTheUpstream(filter: NonNullable<ProxyHttp['upstreamRequestFilter']>): Promise<void> {
  return exchange(
    (_head, socket) => socket.write(ok('x')),
    async (proxy, upstream) => {
      assert.equal((await get(proxy.url)).status, 500);
      assert.equal(upstream.requests.length, 0);
    },
    {},
    { upstreamRequestFilter: filter },
  );
}

async function exchange(
  respond: Respond,
  check: (proxy: TestProxy, upstream: RawUpstream) => Promise<void>,
  peer: Partial<HttpPeerOptions> = {},
  extra: Partial<ProxyHttp> = {},
): Promise<void> {
  const upstream = await rawUpstream(respond);
  const fixed = new HttpPeer({ address: upstream.address, ...peer });
  const proxy = await startProxy({ upstreamPeer: () => fixed, ...extra });
  try {
    await check(proxy, upstream);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
}

const CRLF = Buffer.from('\r\n');

const ok = (body: string, fields = ''): string =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${fields}\r\n${body}`;

describe('HTTP/1.1 upstream client', () => {
  test('keeps connections alive and reuses them; sends Host and forwarding fields', () =>
    exchange(
      (_head, socket, i) => socket.write(ok(`r${i}`)),
      async (proxy, upstream) => {
        for (let i = 0; i < 5; i++) assert.equal((await get(`${proxy.url}/a?b=c`)).body.toString(), `r${i}`);
        assert.equal(upstream.connections, 1);
        const head = upstream.requests[0]!;
        assert.match(head, /^GET \/a\?b=c HTTP\/1\.1\r\n/);
        assert.match(head, /\r\nhost: 127\.0\.0\.1:\d+/i);
        assert.match(head, /\r\nx-forwarded-for: 127\.0\.0\.1/i);
      },
    ));

  test('body slices a filter keeps are never read over, small (copied) or large (views)', async () => {
    // Small bodies, each response in one read, then large ones that go out as views of the read memory.
    for (const size of [24, 6000]) {
      const bodyOf = (i: number): string => `${i}:`.padEnd(size, String.fromCharCode(97 + (i % 26)));
      const kept: Buffer[] = [];
      await exchange(
        (_head, socket, i) => socket.write(ok(bodyOf(i))),
        async (proxy, upstream) => {
          for (let i = 0; i < 150; i++) await get(proxy.url);
          assert.equal(upstream.connections, 1);
        },
        {},
        {
          responseBodyFilter: (_session, chunk) => {
            if (chunk.length > 0) kept.push(chunk);
            return chunk;
          },
        },
      );
      assert.equal(
        Buffer.concat(kept).toString('latin1'),
        Array.from({ length: 150 }, (_, i) => bodyOf(i)).join(''),
      );
    }
  });

  test('Connection: close, HTTP/1.0 and close-delimited bodies are not reused; bodies arrive whole', () => {
    const answers = [
      ok('closing', 'Connection: close\r\n'),
      'HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold1',
      'HTTP/1.1 200 OK\r\n\r\nuntil the end',
    ];
    return exchange(
      (_head, socket, i) => {
        socket.write(answers[i]!);
        if (i !== 0 && i !== 1) socket.end();
      },
      async (proxy, upstream) => {
        assert.equal((await get(proxy.url)).body.toString(), 'closing');
        assert.equal((await get(proxy.url)).body.toString(), 'old1');
        const eof = await get(proxy.url);
        assert.equal(eof.body.toString(), 'until the end');
        assert.equal(upstream.connections, 3);
      },
    );
  });

  test('a chunked response with trailers passes whole, and its connection is reused', () =>
    exchange(
      (_head, socket) =>
        socket.write(
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n',
        ),
      async (proxy, upstream) => {
        for (let i = 0; i < 3; i++) assert.equal((await get(proxy.url)).body.toString(), 'abcde');
        assert.equal(upstream.connections, 1);
      },
    ));

  test('an idle connection closes before the upstream Keep-Alive timeout says it would', () =>
    exchange(
      (_head, socket) => socket.write(ok('x', 'Keep-Alive: timeout=2\r\n')),
      async (proxy, upstream) => {
        await get(proxy.url);
        await get(proxy.url);
        assert.equal(upstream.connections, 1);
        // timeout=2 → closed after 1 s idle (a second of margin), so the next request opens a new one.
        await new Promise((resolve) => setTimeout(resolve, 1_300));
        await get(proxy.url);
        assert.equal(upstream.connections, 2);
      },
      { timeouts: { idle: 60_000 } },
    ));

  test('a connection idle past timeouts.idle is closed, not only left unused', () =>
    exchange(
      (_head, socket) => socket.write(ok('x')),
      async (proxy, upstream) => {
        await get(proxy.url);
        assert.equal(upstream.open(), 1);
        // idle 300 ms, checked by a sweep every 500 ms: closed well within 1.5 s.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        assert.equal(upstream.open(), 0);
        await get(proxy.url);
        assert.equal(upstream.connections, 2);
      },
      { timeouts: { idle: 300 } },
    ));

  test('the keep-alive race: a reused connection closed by the upstream is retried on a new one', () =>
    exchange(
      (_head, socket, i) => {
        // The second request arrives on the kept connection, which the upstream then drops unanswered.
        if (i === 1) socket.destroy();
        else socket.write(ok(`r${i}`));
      },
      async (proxy, upstream) => {
        assert.equal((await get(proxy.url)).body.toString(), 'r0');
        const retried = await get(proxy.url);
        assert.equal(retried.status, 200);
        assert.equal(retried.body.toString(), 'r2');
        assert.equal(upstream.connections, 2);
      },
    ));

  test('malformed heads answer 502, a malformed body cuts the response; the connection is dropped', () => {
    const bad: Array<[string, 'bad-gateway' | 'cut']> = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc', 'bad-gateway'],
      ['HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n', 'bad-gateway'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'bad-gateway'],
      ['SSH-2.0-OpenSSH_9.2\r\n\r\n', 'bad-gateway'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nnope\r\n', 'cut'],
    ];
    return exchange(
      (_head, socket, i) => socket.write(bad[i]![0]),
      async (proxy, upstream) => {
        for (const [raw, outcome] of bad) {
          const result = await get(proxy.url).then(
            (r) => r.status,
            (e: Error) => e.message,
          );
          if (outcome === 'bad-gateway') assert.equal(result, 502, JSON.stringify(raw));
          else assert.match(String(result), /aborted|hang up|ECONNRESET/, JSON.stringify(raw));
        }
        assert.equal(upstream.connections, bad.length);
      },
    );
  });

  test('a response head with more than 256 fields answers 502', () => {
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
    return exchange(
      (head, socket) =>
        socket.write(
          `HTTP/1.1 200 OK\r\n${fields(head.startsWith('GET /many') ? 256 : 255)}Content-Length: 0\r\n\r\n`,
        ),
      async (proxy) => {
        assert.equal((await get(`${proxy.url}/few`)).status, 200);
        assert.equal((await get(`${proxy.url}/many`)).status, 502);
      },
    );
  });

  // Issue 22, point 4. A status outside 100–599 used to be taken for an interim response, and the
  // client waited for the read timeout.
  test('a status code outside 100–599 answers 502 at once', () => {
    const bad = [
      'HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 099 Low\r\n\r\n',
      'HTTP/1.1 600 High\r\nContent-Length: 0\r\n\r\n',
    ];
    return exchange(
      (_head, socket, i) => socket.write(bad[i]!),
      async (proxy) => {
        for (const raw of bad) {
          const started = Date.now();
          assert.equal((await get(proxy.url)).status, 502, JSON.stringify(raw));
          assert.ok(
            Date.now() - started < 1_000,
            `${JSON.stringify(raw)}: waited ${Date.now() - started} ms`,
          );
        }
      },
    );
  });

  // RFC 9110 §8.6: a list of one repeated value may be passed on as that value; a 204 has none.
  test('Content-Length "2, 2" goes on as "2"; a Content-Length on a 204 is not forwarded', () =>
    exchange(
      (head, socket) =>
        socket.write(
          head.startsWith('GET /empty')
            ? 'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n'
            : 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok',
        ),
      async (proxy) => {
        const listed = await rawExchange(
          proxy.port,
          'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
        );
        assert.match(listed, /\r\ncontent-length: 2\r\n/i, listed);
        assert.doesNotMatch(listed, /content-length: 2,/i, listed);
        assert.ok(listed.endsWith('\r\n\r\nok'), listed);
        const empty = await rawExchange(
          proxy.port,
          'GET /empty HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
        );
        assert.match(empty, /^HTTP\/1\.1 204 /, empty);
        assert.doesNotMatch(empty, /content-length/i, empty);
      },
    ));

  test('a TLS handshake that never completes → 504 after timeouts.connect', () =>
    exchange(
      () => undefined, // accepts TCP, never answers the ClientHello
      async (proxy, upstream) => {
        const started = Date.now();
        const res = await get(`${proxy.url}/`);
        assert.equal(res.status, 504);
        assert.ok(Date.now() - started < 5_000, 'within the connect timeout, not the read timeout');
        assert.ok(upstream.connections >= 1);
      },
      { tls: true, verify: false, timeouts: { connect: 300, read: 30_000 } },
    ));

  test('no answer within timeouts.read → 504; requests beyond maxConnections wait for a connection', () => {
    const held: Socket[] = [];
    return exchange(
      (head, socket) => {
        if (head.startsWith('GET /silent')) return;
        if (head.startsWith('GET /hold')) {
          held.push(socket);
          return;
        }
        socket.write(ok('fine'));
      },
      async (proxy, upstream) => {
        const started = Date.now();
        assert.equal((await get(`${proxy.url}/silent`)).status, 504);
        const waited = Date.now() - started;
        // The sweep checks every read/8: the timeout fires at most a quarter late.
        assert.ok(waited >= 290 && waited < 600, `timed out after ${waited} ms`);
        const before = upstream.connections;
        const all = Promise.all(Array.from({ length: 6 }, () => get(`${proxy.url}/hold`)));
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(upstream.connections - before, 2, 'at most maxConnections are opened');
        for (let i = 0; i < 6; i++) {
          while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
          held.shift()!.write(ok('held'));
        }
        const answers = await all;
        assert.deepEqual(
          answers.map((r) => r.body.toString()),
          Array(6).fill('held'),
        );
        assert.equal(upstream.connections - before, 2, 'queued requests reused the two connections');
      },
      { timeouts: { read: 300 }, maxConnections: 2 },
    );
  });

  test('timeouts.read is the longest silence: a body trickling in passes, one that stalls is cut off', () =>
    exchange(
      (head, socket) => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        // A chunk every 120 ms for ~720 ms in all: well past timeouts.read, never silent that long.
        const stallAt = head.startsWith('GET /stall') ? 2 : -1;
        let sent = 0;
        const next = (): void => {
          if (socket.destroyed) return;
          if (sent === 6) return void socket.write('0\r\n\r\n');
          socket.write(`1\r\n${sent}\r\n`);
          setTimeout(next, ++sent === stallAt ? 800 : 120);
        };
        next();
      },
      async (proxy) => {
        const trickle = await get(`${proxy.url}/trickle`);
        assert.equal(trickle.status, 200);
        assert.equal(trickle.body.toString(), '012345');
        await assert.rejects(
          get(`${proxy.url}/stall`),
          'a body cut off by the read timeout ends the response early',
        );
      },
      { timeouts: { read: 300 } },
    ));

  test('a header with CR LF set by a filter never reaches the upstream', () =>
    refusedBeforeTheUpstream((_session, request) => request.headers.set('x-evil', 'a\r\nInjected: yes')));

  test('a header with CR LF written straight into the raw list never reaches the upstream either', () =>
    refusedBeforeTheUpstream(
      (_session, request) => void request.headers.raw.push('x-evil', 'a\r\nInjected: yes'),
    ));

  test('a Transfer-Encoding set by a filter is refused: the pool frames a body itself', () =>
    refusedBeforeTheUpstream((_session, request) => request.headers.set('Transfer-Encoding', 'chunked')));

  test('a control character or a character beyond latin1 in a filter-set header never reaches the upstream', async () => {
    for (const value of ['a\x01b', 'snow\u2603man']) {
      await refusedBeforeTheUpstream((_session, request) => request.headers.set('x-odd', value));
    }
  });

  test('a body read faster than the client takes it arrives intact (read memory is never reused under it)', () => {
    // Pseudo-random bytes in uneven writes, chunked and sized, so reads end mid-chunk and mid-line.
    const body = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0, x = 1; i < body.length; i++) body[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const expected = createHash('sha256').update(body).digest('hex');
    return exchange(
      (head, socket) => {
        const chunked = head.startsWith('GET /chunked');
        socket.write(
          `HTTP/1.1 200 OK\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`}\r\n\r\n`,
        );
        for (let at = 0, step = 1; at < body.length; step = (step * 7) % 100_003) {
          const piece = body.subarray(at, at + step);
          at += piece.length;
          socket.write(
            chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, CRLF]) : piece,
          );
        }
        if (chunked) socket.write('0\r\n\r\n');
      },
      async (proxy) => {
        for (const path of ['/chunked', '/sized']) {
          const digest = await new Promise<string>((resolve, reject) => {
            const req = httpRequest(`${proxy.url}${path}`, { agent: false }, (res) => {
              const hash = createHash('sha256');
              // A slow reader: the proxy's writes to it queue, holding views of what it read.
              res.on('data', (c: Buffer) => {
                hash.update(c);
                res.pause();
                setTimeout(() => res.resume(), 1);
              });
              res.on('end', () => resolve(hash.digest('hex')));
            });
            req.on('error', reject);
            req.end();
          });
          assert.equal(digest, expected, path);
        }
      },
    );
  });

  test('request bodies: Content-Length passes as is, a body without one goes chunked', async () => {
    const origin = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        res.end(
          JSON.stringify({
            length: req.headers['content-length'],
            te: req.headers['transfer-encoding'],
            body: Buffer.concat(chunks).toString(),
          }),
        ),
      );
    });
    const fixed = new HttpPeer({ address: origin.address });
    const proxy = await startProxy({ upstreamPeer: () => fixed });
    try {
      const sized = await get(proxy.url, { method: 'POST', body: 'hello' });
      assert.deepEqual(JSON.parse(sized.body.toString()), { length: '5', body: 'hello' });
      // Written in two pieces without a length, the client sends it chunked; so does the proxy.
      const streamed = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(`${proxy.url}/`, { method: 'POST', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        });
        req.on('error', reject);
        req.write('hel');
        setImmediate(() => req.end('lo'));
      });
      assert.deepEqual(JSON.parse(streamed), { te: 'chunked', body: 'hello' });
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });
});
