/**
 * Issue 22, point 1: an origin's trailer section with connection-specific fields. Over HTTP/2
 * downstream, node's sendTrailers throws on them (RFC 9113 §8.2.2 makes them malformed), which used to
 * take the worker down with every request on it; over HTTP/1.1 they are hop-by-hop (RFC 9110 §7.6.1)
 * and must not be forwarded either. A raw-socket origin sends them; real h2c and HTTP/1.1 clients read.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2connect } from 'node:http2';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { HttpPeer } from '../../src/index.ts';
import { startProxy, type TestProxy } from '../helpers/servers.ts';

const HOSTILE_TRAILERS = [
  'Connection: close, x-listed',
  'Keep-Alive: timeout=5',
  'Proxy-Connection: keep-alive',
  'Transfer-Encoding: chunked',
  'Upgrade: h2c',
  'TE: trailers',
  'HTTP2-Settings: AAMAAABkAAQAAP__',
  'Content-Length: 5',
  'Host: evil.example',
  'Trailer: x-checksum',
  'X-Listed: named by Connection',
  'X-Checksum: abc123',
];

/** Answers every request with a chunked body and the hostile trailer section. */
async function hostileOrigin(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    socket.on('data', () => {
      socket.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n' +
          `5\r\nhello\r\n0\r\n${HOSTILE_TRAILERS.join('\r\n')}\r\n\r\n`,
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

describe('an origin sends connection-specific fields in its trailers', () => {
  let origin: { server: Server; port: number };
  let proxy: TestProxy;

  before(async () => {
    origin = await hostileOrigin();
    const peer = new HttpPeer({ address: `127.0.0.1:${origin.port}` });
    proxy = await startProxy({ upstreamPeer: () => peer }, { h2c: true });
  });
  after(async () => {
    await proxy.stop();
    origin.server.close();
  });

  test('HTTP/2 downstream: the body and the end-to-end trailer arrive, the process lives on', async () => {
    const session = h2connect(proxy.url);
    try {
      for (let i = 0; i < 3; i++) {
        const stream = session.request({ ':path': '/', te: 'trailers' });
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        // Both listened for before either fires: 'end' follows 'trailers' in the same tick.
        const trailersArrived = once(stream, 'trailers') as Promise<[Record<string, string>]>;
        const ended = once(stream, 'end');
        const [[trailers]] = await Promise.all([trailersArrived, ended]);
        assert.equal(Buffer.concat(chunks).toString(), 'hello');
        assert.equal(trailers['x-checksum'], 'abc123');
        for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'])
          assert.equal(trailers[name], undefined, name);
        for (const name of ['te', 'http2-settings', 'content-length', 'host', 'trailer', 'x-listed'])
          assert.equal(trailers[name], undefined, name);
      }
    } finally {
      session.close();
    }
  });

  test('HTTP/1.1 downstream: the trailer section carries only end-to-end fields', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    let raw = '';
    socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
    await once(socket, 'end');
    const tail = raw.slice(raw.indexOf('\r\n0\r\n') + 5).toLowerCase();
    assert.match(tail, /^x-checksum: abc123\r\n\r\n$/, JSON.stringify(tail));
  });
});
