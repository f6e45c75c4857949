import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { HttpPeer, respondError, type ResponseHeader } from '../../src/index.ts';
import { startOrigin, startProxy, rawExchange, type Origin, type TestProxy } from '../helpers/servers.ts';

/** Reads from `socket` until `done(text so far)` holds or it closes; fails after `timeoutMs`. */
function readUntil(socket: Socket, done: (text: string) => boolean, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', finish);
      resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (done(text)) finish();
    };
    const timer = setTimeout(() => reject(new Error(`timed out; read so far: ${text}`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', finish);
  });
}

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

describe("Portico's HTTP/1.1 server (plaintext listeners)", () => {
  let origin: Origin;
  let proxy: TestProxy;
  let seen: Array<Record<string, string | string[] | undefined>> = [];

  before(async () => {
    origin = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        res.setHeader('content-type', 'text/plain');
        res.end(`${req.method} ${req.url} ${body}`);
      });
    });
    proxy = await startProxy(
      {
        upstreamPeer: () => new HttpPeer({ address: origin.address }),
        requestFilter: (session) => {
          seen.push({ 'x-a': session.header('x-a'), cookie: session.header('cookie'), host: session.host });
          return 'continue';
        },
      },
      { limits: { keepAliveTimeoutMs: 400, requestTimeoutMs: 600, headersTimeoutMs: 2_000 } },
    );
  });

  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  test('pipelined requests are answered in order on one connection', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    const requests = Array.from({ length: 50 }, (_, i) => `GET /p${i} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
    socket.write(requests);
    const text = await readUntil(socket, (t) => count(t, /GET \/p\d+ /g) === 50);
    socket.destroy();
    const order = [...text.matchAll(/GET \/p(\d+) /g)].map((m) => Number(m[1]));
    assert.deepEqual(
      order,
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.equal(count(text, /HTTP\/1\.1 200 /g), 50);
  });

  test('a request body, chunked or sized, reaches the origin whole', async () => {
    const chunked = await rawExchange(
      proxy.port,
      'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n',
    );
    assert.match(chunked, /^HTTP\/1\.1 200 /);
    assert.match(chunked, /POST \/c abcde$/);
    const sized = await rawExchange(
      proxy.port,
      'PUT /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    assert.match(sized, /PUT \/s hello$/);
  });

  test('HTTP/1.0: closed after the response unless the client asks to keep it alive', async () => {
    const closed = await rawExchange(proxy.port, 'GET /old HTTP/1.0\r\n\r\n');
    assert.match(closed, /^HTTP\/1\.1 200 /);
    assert.match(closed, /\r\nConnection: close\r\n/i);
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write('GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const first = await readUntil(socket, (t) => t.includes('GET /k1 '));
    assert.match(first, /\r\nConnection: keep-alive\r\n/i);
    socket.write('GET /k2 HTTP/1.0\r\n\r\n');
    const second = await readUntil(socket, (t) => t.includes('GET /k2 '));
    assert.match(second, /^HTTP\/1\.1 200 /);
    socket.destroy();
  });

  test('Expect: 100-continue gets 100 Continue first; another expectation gets 417', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write('POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
    const interim = await readUntil(socket, (t) => t.includes('\r\n\r\n'));
    assert.equal(interim, 'HTTP/1.1 100 Continue\r\n\r\n');
    socket.write('ok');
    const final = await readUntil(socket, (t) => t.includes('POST /e ok'));
    assert.match(final, /^HTTP\/1\.1 200 /);
    socket.destroy();
    const refused = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n');
    assert.match(refused, /^HTTP\/1\.1 417 /);
  });

  // Issue 22, point 6: counted next to the byte limit (Pingora's 256), as many tiny fields cost more.
  test('a request with more than 256 header fields is a 431; with 256 it is served', async () => {
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
    const at = (n: number): Promise<string> =>
      rawExchange(proxy.port, `GET / HTTP/1.1\r\nHost: a\r\n${fields(n)}Connection: close\r\n\r\n`);
    assert.match(await at(254), /^HTTP\/1\.1 200 /); // + Host + Connection = 256
    assert.match(await at(255), /^HTTP\/1\.1 431 /);
  });

  // Issue 22, point 3 (RFC 9112 §3.2, RFC 3986 §3.2.2): a Host is a host and an optional port.
  test('a Host that is not host[:port] is a 400 and reaches no upstream', async () => {
    const statusFor = async (host: string): Promise<string> =>
      (await rawExchange(proxy.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).slice(
        9,
        12,
      );
    const before = origin.requests;
    for (const host of [
      'bench.local:80@evil.example',
      'bench.local:x/../evil',
      'a b',
      'a:1:2',
      '[::1',
      'a?b',
      'a#b',
    ])
      assert.equal(await statusFor(host), '400', host);
    assert.equal(origin.requests, before);
    for (const host of [
      'bench.local',
      'bench.local:8080',
      '[::1]:80',
      '10.0.0.1',
      'xn--bcher-kva.example',
      '',
    ])
      assert.equal(await statusFor(host), '200', host);
  });

  // RFC 9112 §3.2.2: a server must accept the absolute form; its authority wins over Host.
  test('an absolute-form target is served with its authority as Host and its path as the target', async () => {
    seen = [];
    const response = await rawExchange(
      proxy.port,
      'GET http://Target.Example:8080/p/q?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n',
    );
    assert.match(response, /^HTTP\/1\.1 200 /, response);
    assert.ok(response.endsWith('GET /p/q?x=1 '), response);
    assert.equal(seen[0]?.host, 'Target.Example:8080');
    assert.equal(origin.lastHeaders.host, 'Target.Example:8080');
    assert.ok(
      (
        await rawExchange(
          proxy.port,
          'GET https://t.example?y=2 HTTP/1.1\r\nHost: t.example\r\nConnection: close\r\n\r\n',
        )
      ).endsWith('GET /?y=2 '),
    );
    // Its authority is checked as a Host is; userinfo has no place in it (RFC 9110 §4.2.4).
    assert.match(
      await rawExchange(proxy.port, 'GET http://user@t.example/ HTTP/1.1\r\nHost: t.example\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
    );
  });

  test('repeated fields are joined as node joins them; a second Host or a CONNECT is a 400', async () => {
    seen = [];
    const response = await rawExchange(
      proxy.port,
      'GET /j HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-A: 2\r\nCookie: c=1\r\nCookie: d=2\r\nConnection: close\r\n\r\n',
    );
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.deepEqual(seen, [{ 'x-a': '1, 2', cookie: 'c=1; d=2', host: 'a' }]);
    assert.deepEqual(
      origin.lastRawHeaders.filter((_, i, all) => i % 2 === 1 && /^x-a$/i.test(all[i - 1]!)),
      ['1', '2'],
    );
    const before = origin.requests;
    assert.match(
      await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
    );
    assert.match(
      await rawExchange(proxy.port, 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
    );
    assert.match(await rawExchange(proxy.port, 'GET / HTTP/1.2\r\nHost: a\r\n\r\n'), /^HTTP\/1\.1 400 /);
    for (const line of [
      'GET  / HTTP/1.1', // two spaces: an empty target
      'GET / x HTTP/1.1', // a space in the target
      'GET /\x01 HTTP/1.1', // a control character in the target
      'G(T / HTTP/1.1', // a method that is no token
      ' GET / HTTP/1.1', // nothing before the first space
      'GET / http/1.1',
      'GET / HTTP/1.1 ', // something after the version
      'GET HTTP/1.1', // no target at all
    ]) {
      const response = await rawExchange(proxy.port, `${line}\r\nHost: a\r\n\r\n`);
      assert.match(response, /^HTTP\/1\.1 400 /, JSON.stringify(line));
    }
    assert.equal(origin.requests, before);
    const custom = await rawExchange(proxy.port, 'PURGE /j HTTP/1.0\r\nHost: a\r\n\r\n');
    assert.match(custom, /^HTTP\/1\.1 200 /, 'a method of its own passes, and HTTP/1.0');
  });

  test('an empty line before a request line is ignored', async () => {
    const response = await rawExchange(
      proxy.port,
      '\r\nGET /blank HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    assert.match(response, /GET \/blank $/);
  });

  test('an idle keep-alive connection closes after keepAliveTimeoutMs', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write('GET /idle HTTP/1.1\r\nHost: a\r\n\r\n');
    await readUntil(socket, (t) => t.includes('GET /idle '));
    const started = Date.now();
    await once(socket, 'close');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 2_500, `closed after ${elapsed} ms`);
  });

  test('a request body slower than requestTimeoutMs gets 408 and the connection closes', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
    const started = Date.now();
    const text = await readUntil(socket, () => false, 4_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 3_000, `closed after ${elapsed} ms`);
    assert.match(text, /^HTTP\/1\.1 408 /);
  });

  test('write and end callbacks run once the bytes went out, as with node', async () => {
    const calls: string[] = [];
    const local = await startProxy({
      upstreamPeer: () => new HttpPeer({ address: origin.address }),
      requestFilter: (session) => {
        const res = session.response as unknown as {
          write(chunk: string, callback: () => void): boolean;
          end(chunk: string, callback: () => void): void;
        };
        res.write('a', () => calls.push('write'));
        res.end('b', () => calls.push('end'));
        return 'responded';
      },
    });
    try {
      const response = await rawExchange(
        local.port,
        'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      );
      assert.match(response, /\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n$/);
      assert.deepEqual(calls, ['write', 'end']);
    } finally {
      await local.stop();
    }
  });

  test('a header value or name that would split the response is refused before anything is written', async () => {
    const attempts: Array<[string, string]> = [
      ['x-a', 'one\r\nSet-Cookie: injected=1'],
      ['x-a', 'one\nSet-Cookie: injected=1'],
      ['x-b: c', 'd'],
      ['x-e', 'caf\u20ac'],
    ];
    // Through `set`, which checks at once, and straight into the record, which the head check catches.
    const ways: Array<(response: ResponseHeader, name: string, value: string) => void> = [
      (response, name, value) => response.set(name, value),
      (response, name, value) => void (response.headers[name] = value),
    ];
    for (const [[name, value], setField] of attempts.flatMap((a) => ways.map((w) => [a, w] as const))) {
      const local = await startProxy({
        upstreamPeer: () => new HttpPeer({ address: origin.address }),
        responseFilter: (_session, response) => setField(response, name, value),
      });
      try {
        const response = await rawExchange(
          local.port,
          'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        );
        assert.doesNotMatch(response, /injected|x-b|caf/i, JSON.stringify([name, value]));
        assert.match(response, /^HTTP\/1\.1 50\d /, JSON.stringify([name, value]));
      } finally {
        await local.stop();
      }
    }
  });
});

describe('a response sent before its request body arrived', () => {
  let origin: Origin;
  let proxy: TestProxy;

  before(async () => {
    origin = await startOrigin((req, res) => {
      // An origin that answers an upload at once, as one refusing it would, without reading it.
      if (req.url === '/early') return void res.writeHead(413, { 'content-length': 0 }).end();
      if (req.url === '/reset') return void req.socket.destroy();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).length}`));
    });
    proxy = await startProxy(
      {
        upstreamPeer: () => new HttpPeer({ address: origin.address }),
        requestFilter: (session) => {
          if (!session.path.startsWith('/deny')) return 'continue';
          session.respond(403, 'no');
          return 'responded';
        },
      },
      { limits: { requestTimeoutMs: 1_000 } },
    );
  });

  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  /** Sends `head` and `first`, waits for the early response, then `rest`; returns both reads. */
  async function earlyAnswer(
    head: string,
    first: string,
    rest: string,
    earlyDone: (text: string) => boolean,
  ): Promise<{ early: string; after: string; socket: Socket }> {
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(head + first);
    const early = await readUntil(socket, earlyDone);
    socket.write(rest);
    const after = await readUntil(socket, (t) => /GET \/after \d+$/.test(t));
    return { early, after, socket };
  }

  test('a sized body is read to its end and dropped; the connection serves the next request', async () => {
    const { early, after, socket } = await earlyAnswer(
      'POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 6000\r\n\r\n',
      'x'.repeat(1000),
      'y'.repeat(5000) + 'GET /after HTTP/1.1\r\nHost: a\r\n\r\n',
      (t) => t.endsWith('\r\n\r\nno'),
    );
    socket.destroy();
    assert.match(early, /^HTTP\/1\.1 403 /);
    assert.doesNotMatch(early, /connection: close/i);
    assert.match(after, /^HTTP\/1\.1 200 [\s\S]*GET \/after 0$/);
  });

  test('so is a chunked body, and one the origin answered early', async () => {
    const chunked = await earlyAnswer(
      'POST /deny HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
      '5\r\nhello\r\n',
      '6\r\n world\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n',
      (t) => t.endsWith('\r\n\r\nno'),
    );
    chunked.socket.destroy();
    assert.match(chunked.after, /^HTTP\/1\.1 200 [\s\S]*GET \/after 0$/);
    const upstream = await earlyAnswer(
      'POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n',
      'x'.repeat(1000),
      'y'.repeat(2000) + 'GET /after HTTP/1.1\r\nHost: a\r\n\r\n',
      (t) => /^HTTP\/1\.1 413 [\s\S]*\r\n\r\n$/.test(t),
    );
    upstream.socket.destroy();
    assert.doesNotMatch(upstream.early, /connection: close/i);
    assert.match(upstream.after, /^HTTP\/1\.1 200 [\s\S]*GET \/after 0$/);
  });

  test('an error response (502) while the body is on its way keeps the connection as well', async () => {
    const { early, after, socket } = await earlyAnswer(
      'POST /reset HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n',
      'x'.repeat(1000),
      'y'.repeat(2000) + 'GET /after HTTP/1.1\r\nHost: a\r\n\r\n',
      (t) => /^HTTP\/1\.1 502 [\s\S]*\r\n\r\n[\s\S]+$/.test(t),
    );
    socket.destroy();
    assert.doesNotMatch(early, /connection: close/i);
    assert.match(after, /^HTTP\/1\.1 200 [\s\S]*GET \/after 0$/);
  });

  test('a body over the discard bound closes the connection, and the early response says so', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: ${2 << 20}\r\n\r\n${'x'.repeat(1000)}`);
    const text = await readUntil(socket, () => false);
    assert.match(text, /^HTTP\/1\.1 403 [\s\S]*\r\n\r\nno$/);
    assert.match(text, /\r\nconnection: close\r\n/i);
    assert.ok(socket.readableEnded, 'the proxy ended the connection');
    socket.destroy();
  });

  test('a malformed body after the early response closes the connection with nothing more sent', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /deny HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    const early = await readUntil(socket, (t) => t.endsWith('\r\n\r\nno'));
    socket.write('zz\r\nnot a chunk size\r\n');
    const rest = await readUntil(socket, () => false);
    assert.match(early, /^HTTP\/1\.1 403 /);
    assert.equal(rest, '', 'no second response (no 400) after the 403');
    socket.destroy();
  });

  test('a body that stops arriving is dropped at the request timeout by closing', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a part');
    const started = Date.now();
    const text = await readUntil(socket, () => false, 4_000);
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.ok(Date.now() - started >= 900, 'the connection was held for the request timeout');
    socket.destroy();
  });
});

/**
 * Plaintext connections all read into one region of memory. What outlives a read must be copied out of
 * it: these tests keep such bytes waiting while other connections read over the region.
 */
describe('many connections reading into one memory', () => {
  let origin: Origin;
  let proxy: TestProxy;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = `${req.method} ${req.url} ${String(req.headers['x-a'])} ${Buffer.concat(chunks).toString()}`;
        if (req.url!.startsWith('/slow')) setTimeout(() => res.end(reply), 150);
        else res.end(reply);
      });
    });
    origin.server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      // Answers after a while, then echoes the tunnel: bytes sent with the request head come back first.
      setTimeout(() => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
        if (head.length > 0) socket.write(head);
        socket.pipe(socket);
      }, 100);
    });
    proxy = await startProxy({ upstreamPeer: () => new HttpPeer({ address: origin.address }) });
  });

  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  async function open(): Promise<Socket> {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    return socket;
  }

  /** Several requests on another connection, their bytes all unlike the ones waiting. */
  async function overwriteReads(): Promise<void> {
    const noise = `POST /noise HTTP/1.1\r\nHost: n\r\nX-A: ${'#'.repeat(3000)}\r\nContent-Length: 4000\r\n\r\n${'%'.repeat(4000)}`;
    const text = await rawExchange(
      proxy.port,
      noise.repeat(3).replace(/Host: n\r\n(?![\s\S]*Host: n)/, 'Host: n\r\nConnection: close\r\n'),
    );
    assert.equal(count(text, /HTTP\/1\.1 200 /g), 3);
  }

  test('heads and bodies arriving in pieces on many connections at once each reach the origin whole', async () => {
    const sockets = await Promise.all(Array.from({ length: 6 }, open));
    const messages = sockets.map((_, i) => {
      const letter = String.fromCharCode(97 + i);
      const body = letter.repeat(2_000 + i);
      const head = `POST /piece${i} HTTP/1.1\r\nHost: a\r\nX-A: ${letter.toUpperCase().repeat(300)}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      return { text: head + body, expected: `POST /piece${i} ${letter.toUpperCase().repeat(300)} ${body}` };
    });
    const replies = sockets.map((socket) => readUntil(socket, () => false, 10_000));
    const longest = Math.max(...messages.map((m) => m.text.length));
    // Pieces of 97 bytes, round-robin, a few milliseconds apart: each one a read of its own.
    for (let offset = 0; offset < longest; offset += 97) {
      messages.forEach((m, i) => {
        if (offset < m.text.length) sockets[i]!.write(m.text.slice(offset, offset + 97));
      });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const texts = await Promise.all(replies);
    texts.forEach((text, i) => {
      assert.match(text, /^HTTP\/1\.1 200 /, `connection ${i}`);
      assert.ok(text.endsWith(`\r\n\r\n${messages[i]!.expected}`), `connection ${i} got: ${text.slice(-80)}`);
    });
  });

  test('a pipelined request waiting for the one before it survives other connections’ reads', async () => {
    const socket = await open();
    const reply = readUntil(socket, (t) => t.includes('POST /after'), 5_000);
    socket.write(
      'GET /slow HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n' +
        `POST /after HTTP/1.1\r\nHost: a\r\nX-A: ${'w'.repeat(500)}\r\nContent-Length: 1000\r\n\r\n${'v'.repeat(1000)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    await overwriteReads();
    const text = await reply;
    socket.destroy();
    assert.equal(count(text, /HTTP\/1\.1 200 /g), 2);
    assert.ok(text.endsWith(`POST /after ${'w'.repeat(500)} ${'v'.repeat(1000)}`), text.slice(-80));
  });

  test('an h2c preface split in two, other connections read between, is still HTTP/2', async () => {
    // The same process, so the same read memory: the first two bytes must be kept over the noise.
    const h2c = await startProxy(
      { upstreamPeer: () => new HttpPeer({ address: origin.address }) },
      { h2c: true },
    );
    // A relay that sends the client's first two bytes, then the rest after other connections read.
    const relay = createServer((client) => {
      const upstream = connect(h2c.port, '127.0.0.1');
      client.once('data', (first: Buffer) => {
        client.pause();
        upstream.write(first.subarray(0, 2));
        void (async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          await overwriteReads();
          upstream.write(first.subarray(2));
          client.pipe(upstream);
          client.resume();
        })();
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const { connect: connectH2 } = await import('node:http2');
    const session = connectH2(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`);
    try {
      const stream = session.request({ ':path': '/h2c', 'x-a': 'over h2' });
      stream.end();
      const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (body += chunk));
      await once(stream, 'end');
      assert.equal(headers[':status'], 200);
      assert.equal(body, 'GET /h2c over h2 ');
    } finally {
      session.close();
      relay.close();
      await h2c.stop();
    }
  });

  test('field values with obs-text bytes pass byte for byte, upstream and back', async () => {
    const value = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80, 0xff]); // "café", 0x80, 0xff
    // A raw origin: it records the request's bytes and answers with the value in a field of its own.
    let received = Buffer.alloc(0);
    const raw = createServer((socket) =>
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (!received.includes('\r\n\r\n')) return;
        const head = Buffer.from('HTTP/1.1 200 OK\r\nx-b: ');
        socket.end(Buffer.concat([head, value, Buffer.from('\r\ncontent-length: 2\r\n\r\nok')]));
      }),
    );
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const local = await startProxy({
      upstreamPeer: () => new HttpPeer({ address: `127.0.0.1:${(raw.address() as AddressInfo).port}` }),
    });
    try {
      const socket = connect(local.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.write(
        Buffer.concat([
          Buffer.from('GET /bytes HTTP/1.1\r\nHost: a\r\nX-A: '),
          value,
          Buffer.from('\r\nConnection: close\r\n\r\n'),
        ]),
      );
      await once(socket, 'close');
      const line = (name: string): Buffer =>
        Buffer.concat([Buffer.from(`\r\n${name}: `), value, Buffer.from('\r\n')]);
      assert.notEqual(received.indexOf(line('X-A')), -1, received.toString('latin1'));
      const response = Buffer.concat(chunks);
      assert.notEqual(response.indexOf(line('x-b')), -1, response.toString('latin1'));
    } finally {
      await local.stop();
      raw.close();
    }
  });

  test('the bytes that came with an upgrade request reach the upstream once it answers', async () => {
    const socket = await open();
    const early = 'early tunnel bytes '.repeat(40);
    const reply = readUntil(socket, (t) => t.endsWith(early), 5_000);
    socket.write(`GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n${early}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await overwriteReads();
    const text = await reply;
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.ok(text.endsWith(`\r\n\r\n${early}`), text.slice(-80));
    // Then more through the tunnel than a Readable holds before it stops reading: it must resume.
    const bulk = 'z'.repeat(1024 * 1024);
    const echoed = readUntil(socket, (t) => t.length >= bulk.length, 5_000);
    socket.write(bulk);
    assert.equal(await echoed, bulk);
    socket.destroy();
  });
});

describe('heads built with setHeader, and connections closing while the client still sends', () => {
  let origin: Origin;
  let proxy: TestProxy;

  before(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    proxy = await startProxy({
      upstreamPeer: () => new HttpPeer({ address: origin.address }),
      requestFilter: (session) => {
        if (session.path === '/numbers') {
          // As node allows: numbers, alone or in a list; the body's length becomes a number too.
          session.response.setHeader('x-n', [1, 2] as unknown as string[]);
          session.response.setHeader('x-m', 3);
          session.response.end('hi');
          return 'responded';
        }
        if (session.path === '/grpc') {
          respondError(session, 503, 'no backend');
          return 'responded';
        }
        if (session.path === '/deny') {
          session.respond(403, 'no');
          return 'responded';
        }
        return 'continue';
      },
    });
  });

  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  test('numbers set as field values, and a length the server adds, go out as their digits', async () => {
    const text = await rawExchange(
      proxy.port,
      'GET /numbers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\r\nx-n: 1\r\nx-n: 2\r\nx-m: 3\r\n/);
    assert.match(text, /\r\ncontent-length: 2\r\n[\s\S]*\r\n\r\nhi$/i);
  });

  test('a gRPC request the proxy refuses gets a Trailers-Only answer over HTTP/1.1 too', async () => {
    const text = await rawExchange(
      proxy.port,
      'POST /grpc HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\r\ngrpc-status: 14\r\n/);
    assert.match(text, /\r\ncontent-length: 0\r\n/i);
  });

  /**
   * Sends `head` and 32 MB of body at once; resolves with what came back once the connection closed on
   * both sides: the proxy must go on reading (and dropping) the client's bytes until the client's own
   * end, which follows the proxy's, or the client could not flush what it sent.
   */
  async function closesWhileSending(head: string): Promise<{ text: string; ms: number }> {
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const started = Date.now();
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write(head);
    // More than loopback's socket buffers hold (a few MB each way), all queued at once: the client can
    // flush it, and so close, only if the proxy goes on reading.
    const chunk = Buffer.alloc(512 * 1024, 'x');
    for (let sent = 0; sent < 32 * 1024 * 1024; sent += chunk.length) socket.write(chunk);
    socket.on('error', () => {}); // a reset is a close too
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(resolve, 3_000, false)),
    ]);
    socket.destroy();
    assert.ok(closed, `the connection had not closed after 3 s; the proxy sent: ${text.slice(0, 80)}`);
    return { text, ms: Date.now() - started };
  }

  test('a malformed request whose body keeps coming is answered 400 and its connection closed', async () => {
    const { text, ms } = await closesWhileSending(
      'POST /x HTTP/1.1\r\nHost: a\r\nBad Header: 1\r\nContent-Length: 100000000\r\n\r\n',
    );
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.ok(ms < 2_000, `closed after ${ms} ms`);
  });

  test('an upload refused before its body, past the discard bound, is closed while it still comes', async () => {
    const { text, ms } = await closesWhileSending(
      'POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n',
    );
    assert.match(text, /^HTTP\/1\.1 403 [\s\S]*\r\nconnection: close\r\n/i);
    assert.ok(ms < 2_000, `closed after ${ms} ms`);
  });
});
