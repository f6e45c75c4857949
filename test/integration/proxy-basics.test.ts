import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { HttpPeer, PorticoError, type ProxyHttp, type Session } from '../../src/index.ts';
import { startOrigin, startProxy, get, closedPort, type Origin, type TestProxy } from '../helpers/servers.ts';

/** Sends every request to one fixed peer. */
function fixed(peer: HttpPeer, extra: Partial<ProxyHttp> = {}): ProxyHttp {
  return { upstreamPeer: () => peer, ...extra };
}

describe('proxying to a real origin', () => {
  let origin: Origin;
  let proxy: TestProxy;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const url = new URL(req.url!, 'http://x');
      switch (url.pathname) {
        case '/echo': {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          req.pipe(res);
          return;
        }
        case '/hop': {
          res.writeHead(200, {
            connection: 'keep-alive, x-private',
            'keep-alive': 'timeout=5',
            'x-private': 'secret',
            'proxy-authenticate': 'Basic',
            'x-kept': 'yes',
            'content-length': '2',
          });
          res.end('ok');
          return;
        }
        case '/status': {
          const code = Number(url.searchParams.get('code'));
          res.writeHead(code, code === 304 ? { etag: '"v1"' } : {});
          res.end(code === 204 || code === 304 ? undefined : 'body');
          return;
        }
        case '/chunked': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('a'.repeat(1000));
          setImmediate(() => res.end('b'.repeat(1000)));
          return;
        }
        case '/cookies': {
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.end('c');
          return;
        }
        default:
          res.end(`path=${req.url}`);
      }
    });
    proxy = await startProxy(fixed(new HttpPeer({ address: origin.address })));
  });

  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  test('passes path, query and body through, both directions', async () => {
    const body = Buffer.alloc(300_000, 7);
    const res = await get(`${proxy.url}/echo?x=1`, { method: 'POST', body });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, body);
    const plain = await get(`${proxy.url}/a/b?c=d&e`);
    assert.equal(plain.body.toString(), 'path=/a/b?c=d&e');
  });

  test('streams a request body: the origin sees the first chunk before the client sends the last', async () => {
    let firstChunkSeen: () => void = () => undefined;
    const firstChunk = new Promise<void>((resolve) => (firstChunkSeen = resolve));
    const streaming = await startOrigin((req, res) => {
      req.once('data', () => firstChunkSeen());
      req.pipe(res);
    });
    const streamingProxy = await startProxy(fixed(new HttpPeer({ address: streaming.address })));
    try {
      const received = await new Promise<Buffer>((resolve, reject) => {
        const req = httpRequest(`${streamingProxy.url}/`, { method: 'PUT', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        });
        req.on('error', reject);
        req.write('first,');
        void firstChunk.then(() => req.end('second'));
      });
      assert.equal(received.toString(), 'first,second');
      assert.equal(streaming.lastHeaders['transfer-encoding'], 'chunked');
    } finally {
      await streamingProxy.stop();
      await streaming.close();
    }
  });

  test('removes hop-by-hop request headers and those named by Connection', async () => {
    await get(`${proxy.url}/`, {
      headers: {
        connection: 'x-drop-me',
        'x-drop-me': '1',
        'keep-alive': 'timeout=1',
        te: 'gzip', // only `TE: trailers` goes on (h2-upstream.test.ts)
        'proxy-authorization': 'x',
        'x-keep': '1',
      },
    });
    const h = origin.lastHeaders;
    assert.equal(h['x-drop-me'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h['x-keep'], '1');
  });

  test('removes hop-by-hop response headers and those named by Connection', async () => {
    const res = await get(`${proxy.url}/hop`);
    assert.equal(res.headers['x-private'], undefined);
    assert.equal(res.headers['proxy-authenticate'], undefined);
    assert.notEqual(res.headers['keep-alive'], 'timeout=5');
    assert.equal(res.headers['x-kept'], 'yes');
    assert.equal(res.body.toString(), 'ok');
  });

  test('sets X-Forwarded-For/-Proto/-Host and Via, appending to what the client sent', async () => {
    await get(`${proxy.url}/`, {
      headers: { host: 'shop.example', 'x-forwarded-for': '203.0.113.9', via: '1.0 edge' },
    });
    const h = origin.lastHeaders;
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'shop.example');
    assert.equal(h.via, '1.0 edge, 1.1 portico');
    assert.equal(h.host, 'shop.example');
  });

  test('HEAD, 204 and 304 carry no body; repeated Set-Cookie survives', async () => {
    const head = await get(`${proxy.url}/status?code=200`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const noContent = await get(`${proxy.url}/status?code=204`);
    assert.equal(noContent.status, 204);
    assert.equal(noContent.body.length, 0);
    const notModified = await get(`${proxy.url}/status?code=304`);
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.etag, '"v1"');
    const cookies = await get(`${proxy.url}/cookies`);
    assert.deepEqual(cookies.headers['set-cookie'], ['a=1', 'b=2']);
  });

  test('a chunked origin response arrives whole', async () => {
    const res = await get(`${proxy.url}/chunked`);
    assert.equal(res.body.toString(), 'a'.repeat(1000) + 'b'.repeat(1000));
  });

  test('keeps one upstream connection for many sequential requests', async () => {
    let connections = 0;
    const count = (): void => void connections++;
    origin.server.on('connection', count);
    for (let i = 0; i < 50; i++) await get(`${proxy.url}/`);
    origin.server.off('connection', count);
    assert.ok(
      connections <= 1,
      `expected reuse, saw ${connections} new upstream connections for 50 requests`,
    );
  });
});

describe('phases', () => {
  test('requestFilter can answer locally; logging runs once with the error or none', async () => {
    const origin = await startOrigin((_req, res) => res.end('upstream'));
    const logged: Array<[string, string | undefined]> = [];
    const proxy = await startProxy<{ id: number }>({
      newCtx: () => ({ id: 1 }),
      requestFilter(session: Session) {
        if (session.path === '/deny') {
          session.respond(403, 'no');
          return 'responded';
        }
        return 'continue';
      },
      upstreamPeer: () => new HttpPeer({ address: origin.address }),
      upstreamRequestFilter(_s, request) {
        request.headers.set('x-added', 'yes');
        request.path = request.path.replace('/old', '/new');
      },
      responseFilter(_s, response) {
        response.set('x-served-by', 'portico');
      },
      logging(session, error) {
        logged.push([session.path, error?.code]);
      },
    });
    try {
      const denied = await get(`${proxy.url}/deny`);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.toString(), 'no');
      const ok = await get(`${proxy.url}/old/x`);
      assert.equal(ok.headers['x-served-by'], 'portico');
      assert.equal(origin.lastHeaders['x-added'], 'yes');
      assert.equal(origin.requests, 1);
      assert.deepEqual(logged, [
        ['/deny', undefined],
        ['/old/x', undefined],
      ]);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('responseBodyFilter transforms the body and drops content-length', async () => {
    const origin = await startOrigin((_req, res) => res.end('hello'));
    const proxy = await startProxy({
      upstreamPeer: () => new HttpPeer({ address: origin.address }),
      responseBodyFilter: (_s, chunk, end) =>
        end ? Buffer.from('!') : Buffer.from(chunk.toString().toUpperCase()),
    });
    try {
      const res = await get(`${proxy.url}/`);
      assert.equal(res.body.toString(), 'HELLO!');
      assert.equal(res.headers['content-length'], undefined);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('hooks that answer with promises: each phase waits for its hook; a rejection becomes a 500', async () => {
    const origin = await startOrigin((req, res) =>
      res.end(`upstream ${req.url} ${String(req.headers['x-added'])}`),
    );
    const peer = new HttpPeer({ address: origin.address });
    const later = <T>(value: T): Promise<T> => new Promise((resolve) => setTimeout(resolve, 5, value));
    const failIn = (session: Session, phase: string): Promise<void> =>
      session.path === `/fail-${phase}` ? Promise.reject(new Error(`${phase} failed`)) : later(undefined);
    const logged: Array<[string, string | undefined]> = [];
    const proxy = await startProxy<{ phases: string[] }>({
      newCtx: () => ({ phases: [] }),
      async earlyRequestFilter(session, ctx) {
        await failIn(session, 'early');
        ctx.phases.push('early');
      },
      async requestFilter(session, ctx) {
        await failIn(session, 'request');
        ctx.phases.push('request');
        if (session.path !== '/deny') return 'continue';
        session.respond(403, ctx.phases.join(','));
        return 'responded';
      },
      async upstreamPeer(session, ctx) {
        await failIn(session, 'peer');
        ctx.phases.push('peer');
        return peer;
      },
      async upstreamRequestFilter(session, request, ctx) {
        await failIn(session, 'upstream-request');
        ctx.phases.push('upstream-request');
        request.headers.set('x-added', ctx.phases.join(','));
      },
      logging(session, error) {
        logged.push([session.path, error?.code]);
      },
    });
    try {
      const denied = await get(`${proxy.url}/deny`);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.toString(), 'early,request');
      const ok = await get(`${proxy.url}/ok`);
      assert.equal(ok.body.toString(), 'upstream /ok early,request,peer,upstream-request');
      for (const phase of ['early', 'request', 'peer', 'upstream-request']) {
        assert.equal((await get(`${proxy.url}/fail-${phase}`)).status, 500, phase);
      }
      assert.equal(origin.requests, 1);
      assert.deepEqual(logged, [
        ['/deny', undefined],
        ['/ok', undefined],
        ['/fail-early', 'HOOK_FAILED'],
        ['/fail-request', 'HOOK_FAILED'],
        ['/fail-peer', 'HOOK_FAILED'],
        ['/fail-upstream-request', 'HOOK_FAILED'],
      ]);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('a throwing hook becomes a 500, and the worker keeps serving', async () => {
    const origin = await startOrigin((_req, res) => res.end('fine'));
    const proxy = await startProxy({
      upstreamPeer: (session: Session) => {
        if (session.path === '/boom') throw new Error('user bug');
        return new HttpPeer({ address: origin.address });
      },
    });
    try {
      assert.equal((await get(`${proxy.url}/boom`)).status, 500);
      assert.equal((await get(`${proxy.url}/ok`)).body.toString(), 'fine');
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('failures', () => {
  test('refused connection → retry onto a second peer via failToConnect', async () => {
    const origin = await startOrigin((_req, res) => res.end('second'));
    const dead = new HttpPeer({ address: `127.0.0.1:${await closedPort()}` });
    const live = new HttpPeer({ address: origin.address });
    const decisions: string[] = [];
    const proxy = await startProxy({
      upstreamPeer: (session: Session) => (session.triedPeers.includes(dead) ? live : dead),
      failToConnect(_s, peer, _ctx, error) {
        decisions.push(`${peer.address}:${error.code}`);
        return 'retry';
      },
    });
    try {
      const res = await get(`${proxy.url}/`);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'second');
      assert.deepEqual(decisions, [`${dead.address}:CONNECT_REFUSED`]);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('refused everywhere → 502 after maxAttempts', async () => {
    const dead = new HttpPeer({ address: `127.0.0.1:${await closedPort()}` });
    let attempts = 0;
    const proxy = await startProxy(
      {
        upstreamPeer: () => {
          attempts++;
          return dead;
        },
        failToConnect: () => 'retry',
      },
      { maxAttempts: 3 },
    );
    try {
      const res = await get(`${proxy.url}/`);
      assert.equal(res.status, 502);
      assert.match(res.body.toString(), /502 Bad Gateway/);
      assert.equal(attempts, 3);
    } finally {
      await proxy.stop();
    }
  });

  test('upstream slower than the read timeout → 504; backendRequest timeout → 504', async () => {
    const origin = await startOrigin((req, res) => {
      setTimeout(() => res.end('late'), 1_500).unref();
      req.on('close', () => res.destroy());
    });
    const proxy = await startProxy({
      upstreamPeer: (session: Session) => {
        if (session.path === '/route-timeout') session.backendRequestTimeoutMs = 100;
        return new HttpPeer({
          address: origin.address,
          timeouts: { read: session.path === '/read-timeout' ? 200 : 10_000 },
        });
      },
    });
    try {
      const started = Date.now();
      assert.equal((await get(`${proxy.url}/read-timeout`)).status, 504);
      assert.equal((await get(`${proxy.url}/route-timeout`)).status, 504);
      assert.ok(Date.now() - started < 1_400, 'timeouts fired before the origin answered');
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('origin that resets mid-body → the client connection is closed, not a truncated 200 on keep-alive', async () => {
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000));
      setImmediate(() => res.socket?.destroy());
    });
    const proxy = await startProxy({ upstreamPeer: () => new HttpPeer({ address: origin.address }) });
    try {
      await assert.rejects(get(`${proxy.url}/`), /aborted|socket hang up|ECONNRESET/);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('upstreamPeer throwing NOT_FOUND → 404, NO_UPSTREAM → 502', async () => {
    const proxy = await startProxy({
      upstreamPeer: (session: Session) => {
        throw session.path === '/nf'
          ? new PorticoError('NOT_FOUND', 'no route')
          : new PorticoError('NO_UPSTREAM', 'no endpoint', { source: 'upstream' });
      },
    });
    try {
      assert.equal((await get(`${proxy.url}/nf`)).status, 404);
      assert.equal((await get(`${proxy.url}/x`)).status, 502);
    } finally {
      await proxy.stop();
    }
  });
});
