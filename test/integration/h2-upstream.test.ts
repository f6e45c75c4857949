/**
 * HTTP/2 upstreams: a real node:http2 origin (h2c, and h2 over TLS) behind the proxy, reached by
 * HTTP/1.1 and h2c clients. The origin counts its sessions and the streams open on each, so
 * multiplexing, the per-session stream cap and idle-session closing are observed, not inferred.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import {
  connect as h2connect,
  createSecureServer,
  createServer as createH2cServer,
  type Http2Server,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
} from 'node:http2';
import { request as httpRequest, type IncomingHttpHeaders as Http1Headers } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { HttpPeer, type HttpPeerOptions } from '../../src/index.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { msUntilSilentConnectionClosed, startProxy, get, type TestProxy } from '../helpers/servers.ts';

type H2Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** A node:http2 origin that records every session and the most streams each had open at once. */
interface H2Origin {
  port: number;
  sessions: ServerHttp2Session[];
  /** Per session, in `sessions` order: the most streams open at the same time. */
  maxOpenStreams: number[];
  /** Streams open right now, over all sessions, and per session. */
  open: number;
  openBySession: number[];
  lastHeaders: IncomingHttpHeaders;
  close(): Promise<void>;
}

async function startH2Origin(handler: H2Handler, tls?: { cert: string; key: string }): Promise<H2Origin> {
  const origin: H2Origin = {
    port: 0,
    sessions: [],
    maxOpenStreams: [],
    open: 0,
    openBySession: [],
    lastHeaders: {},
    close: async () => {
      for (const session of origin.sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  // Counted here rather than on the session's 'stream' event, whose listener node runs after this one.
  const onRequest = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const index = origin.sessions.indexOf(req.stream.session as ServerHttp2Session);
    origin.open++;
    origin.openBySession[index]!++;
    origin.maxOpenStreams[index] = Math.max(origin.maxOpenStreams[index]!, origin.openBySession[index]!);
    req.stream.on('close', () => {
      origin.open--;
      origin.openBySession[index]!--;
    });
    origin.lastHeaders = req.headers;
    handler(req, res);
  };
  const server: Http2Server | Http2SecureServer =
    tls === undefined ? createH2cServer(onRequest) : createSecureServer(tls, onRequest);
  server.on('session', (session: ServerHttp2Session) => {
    origin.sessions.push(session);
    origin.openBySession.push(0);
    origin.maxOpenStreams.push(0);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin.port = (server.address() as AddressInfo).port;
  return origin;
}

/**
 * Holds every request until `count` are open on the origin at the same time, then answers them all:
 * the requests can only complete if the proxy really sends them concurrently.
 */
function gate(count: number, origin: () => H2Origin): H2Handler {
  const waiting: Http2ServerResponse[] = [];
  return (req, res) => {
    waiting.push(res);
    req.resume();
    if (origin().open >= count) for (const r of waiting.splice(0)) r.end(`open=${count}`);
  };
}

function h2cPeer(origin: H2Origin, options: Partial<HttpPeerOptions> = {}): HttpPeer {
  return new HttpPeer({ address: `127.0.0.1:${origin.port}`, alpn: 'h2', ...options });
}

interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders;
}

/** One request from an h2c (prior knowledge) client to the proxy; GET unless `headers` say otherwise. */
async function h2cRequest(url: string, headers: Record<string, string>, body?: Buffer): Promise<H2Response> {
  const session = h2connect(url);
  try {
    const stream = session.request(headers);
    if (body !== undefined) stream.end(body);
    const chunks: Buffer[] = [];
    let trailers: IncomingHttpHeaders = {};
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = t));
    const [responseHeaders] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    await once(stream, 'end');
    return {
      status: Number(responseHeaders[':status']),
      headers: responseHeaders,
      body: Buffer.concat(chunks),
      trailers,
    };
  } finally {
    session.close();
  }
}

/** An HTTP/1.1 request that also returns the response trailers. */
function h1WithTrailers(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; trailers: Http1Headers }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP/2 upstreams', () => {
  test('h2c: concurrent requests share one upstream session', async () => {
    const n = 10;
    const origin: H2Origin = await startH2Origin(gate(n, () => origin));
    const proxy = await startProxy({ upstreamPeer: () => h2cPeer(origin) });
    try {
      const responses = await Promise.all(Array.from({ length: n }, () => get(`${proxy.url}/`)));
      assert.deepEqual(
        responses.map((r) => r.status),
        Array.from({ length: n }, () => 200),
      );
      assert.equal(origin.sessions.length, 1);
      assert.equal(origin.maxOpenStreams[0], n);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('h2c: maxConcurrentStreams caps the streams on each session; more requests open more sessions', async () => {
    const origin: H2Origin = await startH2Origin(gate(6, () => origin));
    const peer = h2cPeer(origin, { maxConcurrentStreams: 2 });
    const proxy = await startProxy({ upstreamPeer: () => peer });
    try {
      const responses = await Promise.all(Array.from({ length: 6 }, () => get(`${proxy.url}/`)));
      assert.ok(responses.every((r) => r.status === 200));
      assert.equal(origin.sessions.length, 3);
      assert.ok(
        origin.maxOpenStreams.every((m) => m <= 2),
        `streams per session: ${origin.maxOpenStreams.join(', ')}`,
      );
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('h2c: a session idle for the peer idle timeout is closed', async () => {
    const origin = await startH2Origin((_req, res) => res.end('ok'));
    const proxy = await startProxy({ upstreamPeer: () => h2cPeer(origin, { timeouts: { idle: 300 } }) });
    try {
      const answered = Date.now();
      assert.equal((await get(`${proxy.url}/`)).status, 200);
      assert.equal(origin.sessions.length, 1);
      await once(origin.sessions[0]!, 'close');
      const idleMs = Date.now() - answered;
      assert.ok(idleMs >= 250, `closed after ${idleMs} ms, before the idle timeout`);
      // The next request opens a new session.
      assert.equal((await get(`${proxy.url}/`)).status, 200);
      assert.equal(origin.sessions.length, 2);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  describe('an h2c listener with a 300 ms keep-alive timeout', () => {
    let origin: H2Origin;
    let proxy: TestProxy;

    before(async () => {
      origin = await startH2Origin((_req, res) => res.end('ok'));
      proxy = await startProxy(
        { upstreamPeer: () => h2cPeer(origin) },
        { h2c: true, limits: { keepAliveTimeoutMs: 300 } },
      );
    });

    after(async () => {
      await proxy.stop();
      await origin.close();
    });

    test('a silent connection closes at the keep-alive timeout; a split preface still gets HTTP/2', async () => {
      const held = await msUntilSilentConnectionClosed(proxy.port, 3_000);
      assert.ok(held >= 250 && held < 3_000, `closed after ${held} ms`);

      const split = connect(proxy.port, '127.0.0.1');
      try {
        await once(split, 'connect');
        split.write('PR');
        await new Promise((r) => setTimeout(r, 50));
        // The rest of the client preface, then an empty SETTINGS frame.
        split.write(
          Buffer.concat([
            Buffer.from('I * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
            Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
          ]),
        );
        const [frame] = (await once(split, 'data', { signal: AbortSignal.timeout(3_000) })) as [Buffer];
        assert.equal(frame[3], 4, 'the server answers with an HTTP/2 SETTINGS frame');
      } finally {
        split.destroy();
      }
    });

    test('a session silent for the keep-alive timeout gets a GOAWAY and closes', async () => {
      const session = h2connect(proxy.url);
      try {
        const stream = session.request({ ':path': '/' });
        stream.resume();
        await once(stream, 'end');
        const idleFrom = Date.now();
        await once(session, 'goaway', { signal: AbortSignal.timeout(5_000) });
        const idle = Date.now() - idleFrom;
        assert.ok(idle >= 250 && idle < 3_000, `GOAWAY after ${idle} ms of silence`);
      } finally {
        session.destroy();
      }
    });
  });

  test('h2c: a request body is uploaded, from HTTP/1.1 and from h2c clients', async () => {
    const origin = await startH2Origin((req, res) => {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      req.on('end', () => res.end(`${size}:${hash.digest('hex')}`));
    });
    const proxy = await startProxy({ upstreamPeer: () => h2cPeer(origin) }, { h2c: true });
    const body = Buffer.alloc(1024 * 1024 + 7, 'portico');
    const expected = `${body.length}:${createHash('sha256').update(body).digest('hex')}`;
    try {
      const h1 = await get(`${proxy.url}/upload`, { method: 'POST', body });
      assert.equal(h1.status, 200);
      assert.equal(h1.body.toString(), expected);

      const h2 = await h2cRequest(proxy.url, { ':method': 'POST', ':path': '/upload' }, body);
      assert.equal(h2.body.toString(), expected);
      assert.equal(origin.sessions.length, 1);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('response trailers reach h2c and chunked HTTP/1.1 clients; TE: trailers goes upstream', async () => {
    const origin = await startH2Origin((_req, res) => {
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.write('part one,');
      res.end('part two');
    });
    const proxy = await startProxy({ upstreamPeer: () => h2cPeer(origin) }, { h2c: true });
    try {
      const h2 = await h2cRequest(proxy.url, { ':path': '/', te: 'trailers' });
      assert.equal(h2.body.toString(), 'part one,part two');
      assert.equal(h2.trailers['x-checksum'], 'abc123');
      assert.equal(origin.lastHeaders.te, 'trailers');

      const h1 = await h1WithTrailers(`${proxy.url}/`, { te: 'gzip, trailers', connection: 'TE' });
      assert.equal(h1.body, 'part one,part two');
      assert.equal(h1.trailers['x-checksum'], 'abc123');
      assert.equal(origin.lastHeaders.te, 'trailers');

      await get(`${proxy.url}/`, { headers: { te: 'gzip' } });
      assert.equal(origin.lastHeaders.te, undefined);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  describe('over TLS', () => {
    let pki: TestPki;
    before(() => {
      pki = createPki();
    });

    const tlsPeer = (port: number, alpn: 'h2' | 'h2h1'): HttpPeer =>
      new HttpPeer({ address: `127.0.0.1:${port}`, tls: true, sni: 'h2.internal', ca: pki.caCert, alpn });

    test('h2: requests are multiplexed on one TLS session', async () => {
      const leaf = pki.issue('h2.internal', ['h2.internal']);
      const origin: H2Origin = await startH2Origin(
        gate(4, () => origin),
        leaf,
      );
      const proxy = await startProxy({ upstreamPeer: () => tlsPeer(origin.port, 'h2') }, { h2c: true });
      try {
        const responses = await Promise.all([
          get(`${proxy.url}/`),
          get(`${proxy.url}/`),
          h2cRequest(proxy.url, { ':path': '/' }),
          h2cRequest(proxy.url, { ':path': '/' }),
        ]);
        assert.ok(responses.every((r) => r.status === 200));
        assert.equal(origin.sessions.length, 1);
        assert.equal(origin.maxOpenStreams[0], 4);
      } finally {
        await proxy.stop();
        await origin.close();
      }
    });

    test('alpn h2 refuses an upstream that picks HTTP/1.1 (502); h2h1 falls back to it', async () => {
      const leaf = pki.issue('h2.internal', ['h2.internal']);
      const h1Only = createHttpsServer(leaf, (_req, res) => res.end('http/1.1'));
      h1Only.listen(0, '127.0.0.1');
      await once(h1Only, 'listening');
      const port = (h1Only.address() as AddressInfo).port;
      const errors: (string | undefined)[] = [];
      const strict = await startProxy({
        upstreamPeer: () => tlsPeer(port, 'h2'),
        logging: (_session, error) => void errors.push(error?.code),
      });
      const lenient = await startProxy({ upstreamPeer: () => tlsPeer(port, 'h2h1') });
      try {
        assert.equal((await get(`${strict.url}/`)).status, 502);
        assert.deepEqual(errors, ['UPSTREAM_PROTOCOL']);
        const fallback = await get(`${lenient.url}/`);
        assert.equal(fallback.status, 200);
        assert.equal(fallback.body.toString(), 'http/1.1');
      } finally {
        await Promise.all([strict.stop(), lenient.stop()]);
        h1Only.closeAllConnections();
        await new Promise<void>((resolve) => h1Only.close(() => resolve()));
      }
    });
  });
});
