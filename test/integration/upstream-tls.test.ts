import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpPeer, loadClientCertificate, PorticoError } from '../../src/index.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startProxy, get } from '../helpers/servers.ts';

interface TlsOrigin {
  server: HttpsServer;
  port: number;
  seenServernames: string[];
  close(): Promise<void>;
}

async function startTlsOrigin(
  pki: TestPki,
  options: { requireClientCert?: boolean } = {},
): Promise<TlsOrigin> {
  const leaf = pki.issue('secure.api.endpoint', ['secure.api.endpoint']);
  const seenServernames: string[] = [];
  const server = createHttpsServer(
    {
      cert: leaf.cert,
      key: leaf.key,
      ca: pki.caCert,
      requestCert: options.requireClientCert ?? false,
      rejectUnauthorized: options.requireClientCert ?? false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const client = socket.getPeerCertificate();
      res.end(`sni=${socket.servername};client=${String(client?.subject?.CN ?? 'none')}`);
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => seenServernames.push(String(socket.servername)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    seenServernames,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('upstream TLS', () => {
  let pki: TestPki;
  before(() => {
    pki = createPki();
  });

  test('dials 127.0.0.1 while presenting SNI secure.api.endpoint, and verifies the certificate against it', async () => {
    const origin = await startTlsOrigin(pki);
    const peer = new HttpPeer({
      address: `127.0.0.1:${origin.port}`,
      tls: true,
      sni: 'secure.api.endpoint',
      ca: pki.caCert,
    });
    const proxy = await startProxy({ upstreamPeer: () => peer });
    try {
      const res = await get(`${proxy.url}/`);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'sni=secure.api.endpoint;client=none');
      assert.deepEqual(origin.seenServernames, ['secure.api.endpoint']);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('a certificate that does not match the SNI is refused (502), unless verify is off', async () => {
    const origin = await startTlsOrigin(pki);
    const wrongName = new HttpPeer({
      address: `127.0.0.1:${origin.port}`,
      tls: true,
      sni: 'other.example',
      ca: pki.caCert,
    });
    const unverified = new HttpPeer({
      address: `127.0.0.1:${origin.port}`,
      tls: true,
      sni: 'other.example',
      verify: false,
    });
    const untrusted = new HttpPeer({
      address: `127.0.0.1:${origin.port}`,
      tls: true,
      sni: 'secure.api.endpoint',
    });
    const errors: string[] = [];
    const proxy = await startProxy({
      upstreamPeer: (s) =>
        s.path === '/wrong' ? wrongName : s.path === '/untrusted' ? untrusted : unverified,
      failToConnect: (_s, _p, _c, error) => {
        errors.push(error.code);
        return 'fail';
      },
    });
    try {
      assert.equal((await get(`${proxy.url}/wrong`)).status, 502);
      assert.equal((await get(`${proxy.url}/untrusted`)).status, 502);
      assert.deepEqual(errors, ['TLS_FAILURE', 'TLS_FAILURE']);
      assert.equal((await get(`${proxy.url}/unverified`)).status, 200);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('mTLS: a server that requires a client certificate accepts ours, and refuses a peer without one', async () => {
    const origin = await startTlsOrigin(pki, { requireClientCert: true });
    const client = pki.issue('portico-client', ['portico-client'], 'client');
    const certificate = await loadClientCertificate(client.certFile, client.keyFile);
    const base = {
      address: `127.0.0.1:${origin.port}`,
      tls: true,
      sni: 'secure.api.endpoint',
      ca: pki.caCert,
    };
    const withCert = new HttpPeer({ ...base, clientCertificate: certificate });
    const withoutCert = new HttpPeer(base);
    assert.notEqual(withCert.identity, withoutCert.identity, 'a client certificate means a different pool');
    const proxy = await startProxy({
      upstreamPeer: (s) => (s.path === '/with' ? withCert : withoutCert),
      failToConnect: () => 'fail',
    });
    try {
      const accepted = await get(`${proxy.url}/with`);
      assert.equal(accepted.status, 200);
      assert.equal(accepted.body.toString(), 'sni=secure.api.endpoint;client=portico-client');
      assert.equal((await get(`${proxy.url}/without`)).status, 502);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });

  test('loadClientCertificate rejects a key that does not belong to the certificate, naming the files', async () => {
    const a = pki.issue('a', ['a'], 'client');
    const b = pki.issue('b', ['b'], 'client');
    await assert.rejects(loadClientCertificate(a.certFile, b.keyFile), (error: unknown) => {
      assert.ok(error instanceof PorticoError);
      assert.match(error.message, /does not match/);
      assert.ok(error.message.includes(a.certFile));
      return true;
    });
    await assert.rejects(
      loadClientCertificate('/nonexistent.crt', b.keyFile),
      /cannot read \/nonexistent\.crt/,
    );
  });
});
