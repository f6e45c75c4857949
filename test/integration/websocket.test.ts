/**
 * WebSockets through the proxy: a real `ws` server as the upstream, Node's own WebSocket (the browser
 * API) and `ws`'s client downstream. The phases run for upgrades, refusals are relayed, failures become
 * 502/504, idle tunnels close, and a graceful stop lets open tunnels finish within the grace period.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket as WsClient, WebSocketServer, type ClientOptions } from 'ws';
import {
  HttpPeer,
  Server,
  createLogger,
  httpProxyService,
  type ProxyHttp,
  type Session,
} from '../../src/index.ts';
import { parseDocuments } from '../../src/config/file-source.ts';
import { ConfigStore, GatewayProxy, TableHolder, TableService } from '../../src/gateway/index.ts';
import { CertificateEntryCache, CertificateStore, type CertificateEntry } from '../../src/tls/index.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { backendYaml } from '../helpers/portico.ts';
import { eventually } from '../helpers/process.ts';
import { closedPort, get, startOrigin, startProxy, type Origin, type TestProxy } from '../helpers/servers.ts';

/** A WebSocket echo origin (plain HTTP, or on a given server); `/forbidden` refuses the upgrade with a 403. */
interface WsOrigin {
  address: string;
  /** Every upgrade request the origin received, oldest first. */
  upgrades: { url: string; headers: IncomingHttpHeaders }[];
  /** Connections the origin holds open. */
  readonly open: number;
  close(): Promise<void>;
}

function echoServer(): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return wss;
}

async function startWsOrigin(server?: Origin['server']): Promise<WsOrigin> {
  const plain =
    server === undefined ? await startOrigin((req, res) => res.end(`plain ${req.url}`)) : undefined;
  const http = server ?? plain!.server;
  const wss = echoServer();
  const upgrades: WsOrigin['upgrades'] = [];
  http.on('upgrade', (req, socket: Socket, head: Buffer) => {
    upgrades.push({ url: req.url!, headers: req.headers });
    if (req.url!.startsWith('/forbidden')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nX-Why: members only\r\nContent-Length: 7\r\n\r\nno way\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  return {
    address: `127.0.0.1:${(http.address() as AddressInfo).port}`,
    upgrades,
    get open() {
      return wss.clients.size;
    },
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      if (plain !== undefined) await plain.close();
    },
  };
}

/** `ws`'s client options; it passes TLS ones such as `servername` on to `tls.connect`. */
type WsOptions = ClientOptions & Pick<ConnectionOptions, 'servername'>;

/** Opens a WebSocket with `ws`'s client. */
async function openWs(url: string, options: WsOptions = {}): Promise<WsClient> {
  const ws = new WsClient(url, options);
  await once(ws, 'open');
  return ws;
}

async function echo(ws: WsClient, message: string | Buffer): Promise<Buffer> {
  ws.send(message);
  const [data] = (await once(ws, 'message')) as [Buffer];
  return data;
}

/** An upgrade the proxy or the origin refused: the HTTP response the client got instead of a 101. */
function refusal(
  url: string,
  options: WsOptions = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WsClient(url, options);
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
  });
}

/** The proxy under test: `/denied` answers locally; every request is logged with what the session saw. */
function proxyTo(peer: HttpPeer, logged: Session[], extra: Partial<ProxyHttp> = {}): ProxyHttp {
  return {
    upstreamPeer: () => peer,
    requestFilter: (session) => {
      if (!session.path.startsWith('/denied')) return 'continue';
      session.respond(403, 'denied here\n');
      return 'responded';
    },
    upstreamRequestFilter: (_session, request) => request.headers.set('x-through', 'portico'),
    logging: (session) => logged.push(session),
    ...extra,
  };
}

describe('WebSocket through the proxy', () => {
  let origin: WsOrigin;
  let proxy: TestProxy;
  const logged: Session[] = [];

  before(async () => {
    origin = await startWsOrigin();
    proxy = await startProxy(proxyTo(new HttpPeer({ address: origin.address }), logged));
  });

  after(async () => {
    await origin.close();
    await proxy.stop();
  });

  test('echoes text and binary both ways (Node’s WebSocket), with forwarding headers and the subprotocol', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/chat?room=1`, ['chat']);
    ws.binaryType = 'arraybuffer';
    await once(ws, 'open');
    assert.equal(ws.protocol, 'chat');
    const reply = async (message: string | Uint8Array): Promise<unknown> => {
      ws.send(message);
      const [event] = (await once(ws, 'message')) as [MessageEvent];
      return event.data;
    };
    assert.equal(await reply('hello'), 'hello');
    const binary = Uint8Array.from([0, 1, 2, 254, 255]);
    assert.deepEqual(new Uint8Array((await reply(binary)) as ArrayBuffer), binary);
    const large = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 251);
    assert.deepEqual(new Uint8Array((await reply(large)) as ArrayBuffer), large);
    ws.close(1000, 'bye');
    const [closed] = (await once(ws, 'close')) as [CloseEvent];
    assert.equal(closed.code, 1000);

    const seen = origin.upgrades.at(-1)!;
    assert.equal(seen.url, '/chat?room=1');
    assert.equal(seen.headers.upgrade, 'websocket');
    assert.equal(seen.headers.connection, 'Upgrade');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers.via, '1.1 portico');
    assert.equal(seen.headers['x-through'], 'portico');
    const session = await eventually(() => {
      const last = logged.at(-1);
      assert.equal(last?.path, '/chat?room=1');
      return last;
    });
    assert.equal(session.status, 101);
    assert.equal(session.error, undefined);
    assert.ok(session.bytesSent > large.length, `bytesSent ${session.bytesSent}`);
  });

  test('a request filter that responds locally gives a proper HTTP error and no tunnel', async () => {
    const before = origin.upgrades.length;
    const res = await refusal(`ws://127.0.0.1:${proxy.port}/denied`);
    assert.equal(res.status, 403);
    assert.equal(res.body, 'denied here\n');
    assert.equal(res.headers.connection, 'close');
    assert.equal(origin.upgrades.length, before);
  });

  test('the upstream refusing the upgrade is relayed as it answered', async () => {
    const res = await refusal(`ws://127.0.0.1:${proxy.port}/forbidden`);
    assert.equal(res.status, 403);
    assert.equal(res.headers['x-why'], 'members only');
    assert.equal(res.body, 'no way\n');
    await eventually(() => assert.equal(logged.at(-1)?.status, 403));
  });

  test('an h2c upgrade is served as plain HTTP/1.1, never tunnelled', async () => {
    const res = await get(`${proxy.url}/h2c`, {
      headers: {
        connection: 'Upgrade, HTTP2-Settings',
        upgrade: 'h2c',
        'http2-settings': 'AAMAAABkAAQAAP__',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'plain /h2c');
  });
});

describe('WebSocket failures', () => {
  test('upstream down → 502; failToConnect retries onto another peer', async () => {
    const dead = new HttpPeer({ address: `127.0.0.1:${await closedPort()}` });
    const origin = await startWsOrigin();
    const live = new HttpPeer({ address: origin.address });
    const logged: Session[] = [];
    const down = await startProxy(proxyTo(dead, logged));
    const retrying = await startProxy(
      proxyTo(dead, logged, {
        upstreamPeer: (session) => (session.attempt === 1 ? dead : live),
        failToConnect: () => 'retry',
      }),
    );
    try {
      const res = await refusal(`ws://127.0.0.1:${down.port}/`);
      assert.equal(res.status, 502);
      const ws = await openWs(`ws://127.0.0.1:${retrying.port}/again`);
      assert.equal((await echo(ws, 'still here')).toString(), 'still here');
      ws.close();
      const session = await eventually(() => {
        const last = logged.at(-1);
        assert.equal(last?.path, '/again');
        return last;
      });
      assert.equal(session.attempt, 2);
      assert.deepEqual(session.triedPeers, [dead]);
    } finally {
      await Promise.all([down.stop(), retrying.stop()]);
      await origin.close();
    }
  });

  test('an upstream that never answers the upgrade → 504 after the peer read timeout', async () => {
    const silent = createNetServer((socket) => socket.on('error', () => undefined));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const peer = new HttpPeer({
      address: `127.0.0.1:${(silent.address() as AddressInfo).port}`,
      timeouts: { read: 200 },
    });
    const proxy = await startProxy(proxyTo(peer, []));
    try {
      const started = Date.now();
      assert.equal((await refusal(`ws://127.0.0.1:${proxy.port}/`)).status, 504);
      assert.ok(Date.now() - started < 2_000);
    } finally {
      await proxy.stop();
      silent.close();
    }
  });

  test('a tunnel idle longer than websocketIdleTimeoutMs is closed on both sides; traffic keeps it open', async () => {
    const origin = await startWsOrigin();
    const proxy = await startProxy(proxyTo(new HttpPeer({ address: origin.address }), []), {
      limits: { websocketIdleTimeoutMs: 300 },
    });
    try {
      const ws = await openWs(`ws://127.0.0.1:${proxy.port}/idle`);
      const closed = once(ws, 'close');
      // Twice the idle timeout in all, but never more than a third of it without a byte.
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal((await echo(ws, `tick ${i}`)).toString(), `tick ${i}`);
      }
      assert.equal(ws.readyState, WsClient.OPEN);
      const quietSince = Date.now();
      const [code] = (await closed) as [number];
      assert.equal(code, 1006, 'closed by the proxy, without a close frame');
      assert.ok(Date.now() - quietSince >= 250, 'not before the idle timeout');
      await eventually(() => assert.equal(origin.open, 0), 5_000, 'the upstream side closed');
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('WebSocket and graceful stop', () => {
  test('an open WebSocket keeps working during the grace period and may close by itself', async () => {
    const origin = await startWsOrigin();
    const proxy = await startProxy(proxyTo(new HttpPeer({ address: origin.address }), []));
    try {
      const ws = await openWs(`ws://127.0.0.1:${proxy.port}/drain`);
      const started = Date.now();
      const stopped = proxy.server.stop(10_000);
      assert.equal((await echo(ws, 'during the drain')).toString(), 'during the drain');
      ws.close(1000);
      await stopped;
      assert.ok(Date.now() - started < 5_000, 'the stop ended with the last tunnel, not the grace period');
    } finally {
      await origin.close();
    }
  });

  test('a WebSocket still open when the grace period ends is cut', async () => {
    const origin = await startWsOrigin();
    const proxy = await startProxy(proxyTo(new HttpPeer({ address: origin.address }), []));
    try {
      const ws = await openWs(`ws://127.0.0.1:${proxy.port}/linger`);
      const closed = once(ws, 'close');
      const started = Date.now();
      await proxy.server.stop(300);
      assert.ok(Date.now() - started >= 250, 'the tunnel had its grace period');
      const [code] = (await closed) as [number];
      assert.equal(code, 1006);
      await eventually(() => assert.equal(origin.open, 0), 5_000, 'the upstream side closed');
    } finally {
      await origin.close();
    }
  });
});

describe('WebSocket and TLS', () => {
  let pki: TestPki;
  before(() => {
    pki = createPki();
  });

  test('to a TLS upstream: dials 127.0.0.1 with the peer’s SNI and CA, as pooled requests do', async () => {
    const leaf = pki.issue('ws.internal', ['ws.internal']);
    const https = createHttpsServer({ cert: leaf.cert, key: leaf.key });
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const origin = await startWsOrigin(https);
    const peer = new HttpPeer({ address: origin.address, tls: true, sni: 'ws.internal', ca: pki.caCert });
    const proxy = await startProxy(proxyTo(peer, []));
    const untrusted = await startProxy(
      proxyTo(new HttpPeer({ address: origin.address, tls: true, sni: 'ws.internal' }), []),
    );
    try {
      const ws = await openWs(`ws://127.0.0.1:${proxy.port}/secure`);
      assert.equal((await echo(ws, Buffer.from([1, 2, 3]))).toString('hex'), '010203');
      ws.close();
      assert.equal((await refusal(`ws://127.0.0.1:${untrusted.port}/`)).status, 502);
    } finally {
      await Promise.all([proxy.stop(), untrusted.stop()]);
      await origin.close();
      https.closeAllConnections();
      https.close();
    }
  });

  test('on a TLS listener: wss works, and a Host another certificate serves gets 421 as any request would', async () => {
    const origin = await startWsOrigin();
    const ticketKeys = Buffer.alloc(48, 7);
    const entries = new CertificateEntryCache(ticketKeys);
    const entry = (name: string): CertificateEntry =>
      entries.entry({ key: name, pairs: [pki.issue(name, [name])] });
    const store = new CertificateStore(
      new Map([
        ['a.test', entry('a.test')],
        ['b.test', entry('b.test')],
      ]),
    );
    const server = new Server({
      workers: 0,
      admin: false,
      logger: createLogger({ level: 'silent', sync: true }),
    });
    const service = httpProxyService(proxyTo(new HttpPeer({ address: origin.address }), []), {
      listen: [],
      tls: { listen: ['127.0.0.1:0'], certificates: () => store, ticketKeys },
      accessLog: false,
    });
    server.addService(service);
    await server.start();
    const url = `wss://127.0.0.1:${service.tlsPorts[0]}/tls`;
    try {
      const ws = await openWs(url, { ca: pki.caCert, servername: 'a.test', headers: { host: 'a.test' } });
      assert.equal((await echo(ws, 'over tls')).toString(), 'over tls');
      ws.close();
      assert.equal(origin.upgrades.at(-1)!.headers['x-forwarded-proto'], 'https');
      const misdirected = await refusal(url, {
        ca: pki.caCert,
        servername: 'a.test',
        headers: { host: 'b.test' },
      });
      assert.equal(misdirected.status, 421);
    } finally {
      await server.stop(1_000);
      await origin.close();
    }
  });
});

describe('WebSocket through the gateway (Routes and Backends)', () => {
  let origin: WsOrigin;
  let server: Server;
  let store: ConfigStore;
  let holder: TableHolder;
  let port: number;

  before(async () => {
    origin = await startWsOrigin();
    const dead = `127.0.0.1:${await closedPort()}`;
    const logger = createLogger({ level: 'silent', sync: true });
    server = new Server({ workers: 0, admin: false, logger });
    holder = new TableHolder();
    server.addService(new TableService(holder, server, 2_000));
    const service = httpProxyService(new GatewayProxy(holder), { listen: ['127.0.0.1:0'], accessLog: false });
    server.addService(service);
    store = new ConfigStore(server, logger);
    await store.replace(
      parseDocuments(
        backendYaml('ws', [dead, origin.address]) +
          `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: live }
spec:
  hostnames: [live.example]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /live } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Tenant, value: t1 }], remove: [X-Secret] }
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /socket } }
      backendRefs: [{ name: ws }]
`,
        'test',
      ),
    );
    await server.start();
    await store.programmed(store.current.version);
    port = service.ports[0]!;
  });

  after(async () => {
    store.close();
    await origin.close();
    await server.stop(1_000);
  });

  test('a Route-matched WebSocket arrives rewritten and with the header modifier applied, past a dead endpoint', async () => {
    for (let i = 0; i < 2; i++) {
      const ws = await openWs(`ws://127.0.0.1:${port}/live/feed?n=${i}`, {
        headers: { host: 'live.example', 'x-secret': 'token' },
      });
      assert.equal((await echo(ws, `frame ${i}`)).toString(), `frame ${i}`);
      ws.close();
      const seen = origin.upgrades.at(-1)!;
      assert.equal(seen.url, `/socket/feed?n=${i}`);
      assert.equal(seen.headers['x-tenant'], 't1');
      assert.equal(seen.headers['x-secret'], undefined);
      assert.equal(seen.headers['x-forwarded-host'], 'live.example');
    }
    // Round robin sent one of the two to the dead endpoint first; the rule's retry moved it on.
    assert.ok(holder.lb.backend('default/ws')!.retries >= 1);
  });

  test('an upgrade no Route matches gets the gateway’s 404', async () => {
    const res = await refusal(`ws://127.0.0.1:${port}/live`, { headers: { host: 'nowhere.example' } });
    assert.equal(res.status, 404);
    assert.match(res.body, /no route/);
  });
});
