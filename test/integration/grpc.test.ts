/**
 * gRPC end to end: a real grpc-js server as the upstream (h2c) and a grpc-js client through the proxy
 * (listening with h2c), in process and through `portico serve` with a Backend of protocol H2C. Statuses,
 * messages and metadata trailers must arrive as the server sent them, and failures of the proxy itself
 * must reach the client as gRPC statuses.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HttpPeer, type ProxyHttp } from '../../src/index.ts';
import { closedPort, startProxy, type TestProxy } from '../helpers/servers.ts';
import { startPortico, backendYaml, type PorticoProcess } from '../helpers/portico.ts';

interface Message {
  text: string;
}

interface EchoClient extends grpc.Client {
  Say(
    request: Message,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<Message>,
  ): grpc.ClientUnaryCall;
  Count(request: { to: number }): grpc.ClientReadableStream<Message>;
}

const echoPackage = grpc.loadPackageDefinition(
  protoLoader.loadSync(new URL('../fixtures/echo.proto', import.meta.url).pathname),
) as unknown as { portico: { test: { Echo: grpc.ServiceClientConstructor } } };
const Echo = echoPackage.portico.test.Echo;

/** What a call ended with: the reply or messages, the status, and the server's headers and trailers. */
interface CallResult {
  messages: Message[];
  status: grpc.StatusObject;
  headers: grpc.Metadata | undefined;
}

function say(client: EchoClient, text: string): Promise<CallResult> {
  return new Promise((resolve) => {
    const messages: Message[] = [];
    let headers: grpc.Metadata | undefined;
    const call = client.Say({ text }, { deadline: Date.now() + 10_000 }, (_error, reply) => {
      if (reply !== undefined) messages.push(reply);
    });
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status, headers }));
  });
}

function count(client: EchoClient, to: number): Promise<CallResult> {
  return new Promise((resolve) => {
    const messages: Message[] = [];
    let headers: grpc.Metadata | undefined;
    const call = client.Count({ to });
    call.on('data', (m: Message) => messages.push(m));
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('error', () => undefined); // the status event below carries the same
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status, headers }));
  });
}

function metadata(entries: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries)) m.set(key, value);
  return m;
}

const echoService: grpc.UntypedServiceImplementation = {
  Say(call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) {
    const text = call.request.text;
    if (text === 'fail') {
      callback({
        code: grpc.status.INVALID_ARGUMENT,
        details: 'text must not be "fail" — ✗ 100%',
        metadata: metadata({ 'x-reason': 'because' }),
      });
    } else if (text === 'slow') {
      setTimeout(() => callback(null, { text }), 2_000).unref();
    } else {
      callback(null, { text: `echo: ${text}` }, metadata({ 'x-served-by': 'upstream' }));
    }
  },
  Count(call: grpc.ServerWritableStream<{ to: number }, Message>) {
    const to = call.request.to;
    call.sendMetadata(metadata({ 'x-count': String(to) }));
    if (to < 0) {
      call.write({ text: 'first' });
      call.emit('error', {
        code: grpc.status.OUT_OF_RANGE,
        details: 'count must be positive',
        metadata: metadata({ 'x-limit': '0' }),
      });
      return;
    }
    for (let i = 1; i <= to; i++) call.write({ text: String(i) });
    call.end(metadata({ 'x-total': String(to) }));
  },
};

async function startGrpcServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(Echo.service, echoService);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, port };
}

function client(port: number, authority?: string): EchoClient {
  const options: grpc.ClientOptions = authority === undefined ? {} : { 'grpc.default_authority': authority };
  return new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as EchoClient;
}

/** One unary call through a proxy of its own (listening with h2c), stopped after the call. */
async function sayThrough(proxyHttp: ProxyHttp, text: string): Promise<CallResult> {
  const proxy = await startProxy(proxyHttp, { h2c: true });
  const c = client(proxy.port);
  try {
    return await say(c, text);
  } finally {
    c.close();
    await proxy.stop();
  }
}

const h2cPeer = (port: number): HttpPeer => new HttpPeer({ address: `127.0.0.1:${port}`, alpn: 'h2' });

describe('gRPC through the proxy (in process)', () => {
  let upstream: { server: grpc.Server; port: number };
  let proxy: TestProxy;
  let echo: EchoClient;

  before(async () => {
    upstream = await startGrpcServer();
    const peer = h2cPeer(upstream.port);
    proxy = await startProxy({ upstreamPeer: () => peer }, { h2c: true });
    echo = client(proxy.port);
  });

  after(async () => {
    echo.close();
    await proxy.stop();
    upstream.server.forceShutdown();
  });

  test('unary call: the reply and the trailing metadata arrive', async () => {
    const result = await say(echo, 'hello');
    assert.equal(result.status.code, grpc.status.OK);
    assert.deepEqual(result.messages, [{ text: 'echo: hello' }]);
    assert.deepEqual(result.status.metadata.get('x-served-by'), ['upstream']);
  });

  test('server streaming: every message in order, then headers and trailers as sent', async () => {
    const result = await count(echo, 5);
    assert.equal(result.status.code, grpc.status.OK);
    assert.deepEqual(
      result.messages.map((m) => m.text),
      ['1', '2', '3', '4', '5'],
    );
    assert.deepEqual(result.headers?.get('x-count'), ['5']);
    assert.deepEqual(result.status.metadata.get('x-total'), ['5']);
  });

  test('an error status (Trailers-Only) keeps its code, percent-encoded message and metadata', async () => {
    const result = await say(echo, 'fail');
    assert.equal(result.status.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(result.status.details, 'text must not be "fail" — ✗ 100%');
    assert.deepEqual(result.status.metadata.get('x-reason'), ['because']);
  });

  test('an error after a message: the message, then the status in the trailers', async () => {
    const result = await count(echo, -1);
    assert.deepEqual(result.messages, [{ text: 'first' }]);
    assert.equal(result.status.code, grpc.status.OUT_OF_RANGE);
    assert.equal(result.status.details, 'count must be positive');
    assert.deepEqual(result.status.metadata.get('x-limit'), ['0']);
  });

  test('upstream down → UNAVAILABLE', async () => {
    const down = h2cPeer(await closedPort());
    const result = await sayThrough({ upstreamPeer: () => down }, 'hello');
    assert.equal(result.status.code, grpc.status.UNAVAILABLE);
    assert.equal(result.status.details, 'Bad Gateway');
  });

  test('the proxy timing out → DEADLINE_EXCEEDED', async () => {
    const peer = h2cPeer(upstream.port);
    const impatient: ProxyHttp = {
      upstreamPeer: () => peer,
      requestFilter: (session) => {
        session.backendRequestTimeoutMs = 200;
        return 'continue';
      },
    };
    const result = await sayThrough(impatient, 'slow');
    assert.equal(result.status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(result.status.details, 'Gateway Timeout');
  });
});

describe('gRPC through portico serve (Backend protocol H2C)', () => {
  let upstream: { server: grpc.Server; port: number };
  let portico: PorticoProcess;
  const clients: EchoClient[] = [];
  const on = (authority: string): EchoClient => {
    const c = client(portico.port, authority);
    clients.push(c);
    return c;
  };

  before(async () => {
    upstream = await startGrpcServer();
    const down = await closedPort();
    portico = await startPortico(
      {
        'backends.yaml':
          backendYaml('echo', [`127.0.0.1:${upstream.port}`], '  protocol: H2C\n') +
          backendYaml('down', [`127.0.0.1:${down}`], '  protocol: H2C\n'),
        'routes.yaml': `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: grpc }
spec:
  hostnames: [grpc.example]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /portico.test.Echo/ }, method: POST }]
      backendRefs: [{ name: echo }]
---
apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: down }
spec:
  hostnames: [down.example]
  rules:
    - backendRefs: [{ name: down }]
`,
      },
      { workers: 1, extraArgs: ['--h2c', 'true'] },
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    await portico.stop();
    upstream.server.forceShutdown();
  });

  test('unary and server-streaming calls are routed to the H2C Backend', async () => {
    const echo = on('grpc.example');
    const unary = await say(echo, 'via gateway');
    assert.equal(unary.status.code, grpc.status.OK);
    assert.deepEqual(unary.messages, [{ text: 'echo: via gateway' }]);
    const stream = await count(echo, 3);
    assert.equal(stream.status.code, grpc.status.OK);
    assert.deepEqual(
      stream.messages.map((m) => m.text),
      ['1', '2', '3'],
    );
    assert.deepEqual(stream.status.metadata.get('x-total'), ['3']);
  });

  test('no route → UNIMPLEMENTED; no reachable endpoint → UNAVAILABLE', async () => {
    const unrouted = await say(on('nowhere.example'), 'hello');
    assert.equal(unrouted.status.code, grpc.status.UNIMPLEMENTED);
    assert.equal(unrouted.status.details, 'no route matches this host and path');
    const down = await say(on('down.example'), 'hello');
    assert.equal(down.status.code, grpc.status.UNAVAILABLE);
  });
});
