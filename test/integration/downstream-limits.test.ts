import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { CertificateEntryCache, CertificateStore, HttpPeer, sharedTicketKeys } from '../../src/index.ts';
import { createPki } from '../helpers/certs.ts';
import {
  closedPort,
  msUntilSilentConnectionClosed,
  startOrigin,
  startProxy,
  rawExchange,
  type Origin,
  type TestProxy,
} from '../helpers/servers.ts';

describe('malformed and abusive requests', () => {
  let origin: Origin;
  let proxy: TestProxy;

  before(async () => {
    origin = await startOrigin((req, res) => {
      req.resume();
      req.on('end', () => res.end('origin'));
    });
    proxy = await startProxy(
      { upstreamPeer: () => new HttpPeer({ address: origin.address }) },
      {
        limits: { maxHeaderBytes: 4_096, maxUrlBytes: 1_024, headersTimeoutMs: 300, requestTimeoutMs: 1_000 },
      },
    );
  });

  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const smuggling: Array<[string, string]> = [
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'two different Content-Length',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    ],
    ['obs-fold continuation line', 'GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    [
      'Transfer-Encoding not ending in chunked',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    ],
    [
      'bad chunk size',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    ],
    ['bare LF line endings in headers', 'GET / HTTP/1.1\nHost: a\nX: y\n\n'],
    ['no Host header', 'GET / HTTP/1.1\r\nX: y\r\n\r\n'],
  ];

  for (const [name, payload] of smuggling) {
    test(`rejects ${name} with 400 and never reaches the origin`, async () => {
      const before = origin.requests;
      const response = await rawExchange(proxy.port, payload);
      assert.match(response, /^HTTP\/1\.1 400 /, response);
      assert.equal(origin.requests, before);
    });
  }

  test('headers larger than maxHeaderBytes → 431', async () => {
    const response = await rawExchange(
      proxy.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(8_000)}\r\n\r\n`,
    );
    assert.match(response, /^HTTP\/1\.1 431 /);
  });

  test('URL longer than maxUrlBytes → 414', async () => {
    const response = await rawExchange(proxy.port, `GET /${'a'.repeat(2_000)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.match(response, /^HTTP\/1\.1 414 /);
  });

  test('a client that never finishes its headers is cut off by headersTimeout', async () => {
    const started = Date.now();
    const response = await new Promise<string>((resolve) => {
      const socket = connect(proxy.port, '127.0.0.1');
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString()));
      socket.on('close', () => resolve(data));
      socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 3_000, `closed after ${elapsed} ms`);
    assert.match(response, /^(HTTP\/1\.1 408 |$)/);
  });

  test('a well-formed request on the same listener still works', async () => {
    const response = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /origin$/);
  });
});

test('a TLS connection that never finishes its handshake is dropped at the headers timeout', async () => {
  const pki = createPki();
  const { cert, key } = pki.issue('limits.test', ['limits.test']);
  const entry = new CertificateEntryCache(sharedTicketKeys()).entry({
    key: 'limits',
    pairs: [{ cert, key }],
  });
  const store = new CertificateStore(new Map(), entry);
  const port = await closedPort();
  const proxy = await startProxy(
    { upstreamPeer: () => new HttpPeer({ address: '127.0.0.1:9' }) },
    {
      listen: [],
      tls: { listen: [`127.0.0.1:${port}`], certificates: () => store },
      limits: { headersTimeoutMs: 300 },
    },
  );
  try {
    // A TCP connection and not one byte of ClientHello: node alone would hold it for 120 s.
    const held = await msUntilSilentConnectionClosed(port, 5_000);
    assert.ok(held >= 250 && held < 3_000, `closed after ${held} ms`);
  } finally {
    await proxy.stop();
  }
});
