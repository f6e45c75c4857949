/**
 * TLS termination on the gateway's TLS listener, with real TLS clients (node's https/http2/tls and
 * curl): certificates chosen by SNI from Routes (exact, wildcard, default), 421 for a Host another
 * certificate serves, client-certificate validation (Require / Optional / absent / wrong CA) and its
 * forwarding upstream, HTTP/1.1 and HTTP/2 on one port, session resumption, invalid certificates
 * reported while the rest keeps serving, and rotation under load without a failed request.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as http2Connect } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { Server, createLogger } from '../../src/index.ts';
import { parseDocuments } from '../../src/config/file-source.ts';
import { ConfigStore, type ApplyReport } from '../../src/gateway/index.ts';
import { addGatewayDataPlane } from '../../src/cli/data-plane.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { get, startOrigin, type Origin } from '../helpers/servers.ts';

interface TlsResponse {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  /** CN and SHA-256 fingerprint of the certificate the server presented. */
  servedCn: string;
  servedFingerprint: string;
  reused: boolean;
  session: Buffer | undefined;
}

/** What the test origin echoes back. */
interface Seen {
  host: string;
  proto: string;
  xfcc: string | null;
}

const seen = (response: TlsResponse): Seen => JSON.parse(response.body) as Seen;

interface TlsRequest {
  servername?: string;
  host?: string;
  path?: string;
  cert?: string;
  key?: string;
  session?: Buffer;
  headers?: Record<string, string>;
}

describe('downstream TLS on the gateway', () => {
  let pki: TestPki;
  let clientPki: TestPki;
  let origin: Origin;
  let server: Server;
  let store: ConfigStore;
  let tlsPort: number;
  let plainPort: number;
  let dir: string;
  let yaml: string;
  /** The files a.test's certificate is read from, rewritten by the rotation test. */
  let aFiles: { certFile: string; keyFile: string };

  const tlsGet = (options: TlsRequest): Promise<TlsResponse> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: tlsPort,
          path: options.path ?? '/',
          servername: options.servername,
          headers: { host: options.host ?? options.servername ?? 'localhost', ...options.headers },
          ca: pki.caCert,
          cert: options.cert,
          key: options.key,
          // The tests assert which certificate was served, including a default one that does not match.
          checkServerIdentity: () => undefined,
          agent: false,
          ...({ session: options.session } as RequestOptions),
        },
        (res) => {
          const socket = res.socket as TLSSocket;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              body,
              headers: res.headers,
              servedCn: String(socket.getPeerCertificate().subject?.CN),
              servedFingerprint: socket.getPeerCertificate().fingerprint256,
              reused: socket.isSessionReused(),
              session: socket.getSession(),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });

  const apply = (text: string): Promise<ApplyReport> => store.replace(parseDocuments(text, 'test'));

  before(async () => {
    pki = createPki();
    clientPki = createPki();
    dir = pki.dir;
    const a = pki.issue('a.test', ['a.test']);
    aFiles = a;
    const wild = pki.issue('wild.test', ['*.wild.test']);
    const fallback = pki.issue('default.test', ['default.test']);
    const mtls = pki.issue('mtls.test', ['mtls.test', 'optional.test']);
    writeFileSync(join(dir, 'client-ca.crt'), clientPki.caCert);
    origin = await startOrigin((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          host: req.headers.host,
          proto: req.headers['x-forwarded-proto'],
          xfcc: req.headers['x-client-cert'] ?? null,
        }),
      );
    });
    const route = (name: string, hostnames: string, tls: string): string => `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: ${name} }
spec:
  ${hostnames}
  tls:
${tls}
  rules:
    - backendRefs: [{ name: origin }]
---
`;
    const pair = (c: { certFile: string; keyFile: string }): string =>
      `    certificateFiles: [{ certFile: ${c.certFile}, keyFile: ${c.keyFile} }]`;
    yaml =
      route('a', 'hostnames: [a.test]', pair(a)) +
      route('wild', "hostnames: ['*.wild.test']", pair(wild)) +
      route('fallback', '', pair(fallback)) +
      route(
        'mtls',
        'hostnames: [mtls.test]',
        `${pair(mtls)}\n    clientValidation: { caFile: ${join(dir, 'client-ca.crt')}, mode: Require, forwardHeader: X-Client-Cert }`,
      ) +
      route(
        'optional',
        'hostnames: [optional.test]',
        `${pair(mtls)}\n    clientValidation: { caFile: ${join(dir, 'client-ca.crt')}, mode: Optional, forwardHeader: X-Client-Cert }`,
      ) +
      `apiVersion: portico.dev/v1alpha1
kind: Backend
metadata: { name: origin }
spec:
  endpoints: [{ address: 127.0.0.1, port: ${origin.port} }]
`;
    const logger = createLogger({ level: 'silent', sync: true });
    server = new Server({ workers: 0, admin: false, logger });
    const service = addGatewayDataPlane(server, {
      listen: ['127.0.0.1:0'],
      tlsListen: ['127.0.0.1:0'],
      h2c: false,
      accessLog: false,
    });
    store = new ConfigStore(server, logger);
    const report = await apply(yaml);
    assert.deepEqual(report.fileErrors, []);
    await server.start();
    await store.programmed(store.current.version);
    tlsPort = service.tlsPorts[0]!;
    plainPort = service.ports[0]!;
  });

  after(async () => {
    store.close();
    await server.stop(1_000);
    await origin.close();
  });

  test('SNI picks the exact, the wildcard and the default certificate', async () => {
    const exact = await tlsGet({ servername: 'a.test' });
    assert.equal(exact.status, 200);
    assert.equal(exact.servedCn, 'a.test');
    assert.equal(seen(exact).proto, 'https');
    assert.equal((await tlsGet({ servername: 'x.wild.test' })).servedCn, 'wild.test');
    // One label only, as certificates match: a.b.wild.test is not covered by *.wild.test.
    assert.equal((await tlsGet({ servername: 'a.b.wild.test' })).servedCn, 'default.test');
    assert.equal((await tlsGet({ servername: 'unknown.test' })).servedCn, 'default.test');
    // No SNI at all (an IP address): the default certificate.
    assert.equal((await tlsGet({ host: 'a.b.wild.test' })).servedCn, 'default.test');
  });

  test('a Host served by another certificate than the SNI chose gets 421', async () => {
    const misdirected = await tlsGet({ servername: 'a.test', host: 'x.wild.test' });
    assert.equal(misdirected.status, 421);
    // A Host without a certificate of its own is the default's: misdirected on a.test's connection.
    assert.equal((await tlsGet({ servername: 'a.test', host: 'plain.test' })).status, 421);
    // The Host's port does not matter.
    assert.equal((await tlsGet({ servername: 'a.test', host: `a.test:${tlsPort}` })).status, 200);
  });

  test('HTTP/1.1 and HTTP/2 share the TLS port (ALPN); curl agrees', async () => {
    const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { ca: pki.caCert, servername: 'a.test' });
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/h2', ':authority': 'a.test' });
      let data = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (data += c));
      stream.on('end', () => resolve(data));
      stream.on('error', reject);
      stream.end();
    });
    session.close();
    assert.equal((JSON.parse(body) as Seen).host, 'a.test', 'HTTP/2 :authority arrives upstream as Host');
    const curl = await run('curl', [
      '-sS',
      '--http2',
      '--cacert',
      pki.caCertFile,
      '--resolve',
      `a.test:${tlsPort}:127.0.0.1`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code}',
      `https://a.test:${tlsPort}/`,
    ]);
    assert.equal(curl, '2 200');
    const curl1 = await run('curl', [
      '-sS',
      '--http1.1',
      '--cacert',
      pki.caCertFile,
      '--resolve',
      `a.test:${tlsPort}:127.0.0.1`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code}',
      `https://a.test:${tlsPort}/`,
    ]);
    assert.equal(curl1, '1.1 200');
  });

  test('only TLS 1.2 and newer is offered', async () => {
    const error = await new Promise<Error>((resolve) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: tlsPort,
        servername: 'a.test',
        ca: pki.caCert,
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      });
      socket.on('error', resolve);
      socket.on('secureConnect', () => resolve(new Error('handshake succeeded')));
    });
    assert.notEqual(error.message, 'handshake succeeded');
  });

  test('sessions resume (tickets)', async () => {
    const first = await tlsGet({ servername: 'a.test' });
    assert.equal(first.reused, false);
    const second = await tlsGet({ servername: 'a.test', session: first.session });
    assert.equal(second.reused, true);
  });

  test('Require: no certificate → TLS alert; wrong CA → closed; trusted → forwarded upstream', async () => {
    await assert.rejects(tlsGet({ servername: 'mtls.test' }), (e: NodeJS.ErrnoException) =>
      /certificate required|alert number 116/.test(e.message),
    );
    const stranger = pki.issue('stranger', ['stranger'], 'client');
    await assert.rejects(
      tlsGet({ servername: 'mtls.test', cert: stranger.cert, key: stranger.key }),
      /socket hang up|ECONNRESET/,
    );
    const client = clientPki.issue('client-1', ['client-1.example'], 'client');
    const ok = await tlsGet({
      servername: 'mtls.test',
      cert: client.cert,
      key: client.key,
      headers: { 'x-client-cert': 'Hash=forged' },
    });
    assert.equal(ok.status, 200);
    const xfcc = seen(ok).xfcc!;
    assert.match(xfcc, /^Hash=[0-9a-f]{64};Subject="CN=client-1";DNS=client-1\.example$/);
  });

  test('Optional: absent passes without the header, wrong CA gets 403, trusted is forwarded', async () => {
    const absent = await tlsGet({ servername: 'optional.test', headers: { 'x-client-cert': 'Hash=forged' } });
    assert.equal(absent.status, 200);
    assert.equal(seen(absent).xfcc, null, "a client's own header never passes");
    const stranger = pki.issue('stranger', ['stranger'], 'client');
    const wrong = await tlsGet({ servername: 'optional.test', cert: stranger.cert, key: stranger.key });
    assert.equal(wrong.status, 403);
    const client = clientPki.issue('client-2', [], 'client');
    const ok = await tlsGet({ servername: 'optional.test', cert: client.cert, key: client.key });
    assert.equal(ok.status, 200);
    assert.match(seen(ok).xfcc!, /Subject="CN=client-2"/);
  });

  test('a Route with client validation cannot be reached around it (plaintext, other SNI)', async () => {
    const plain = await get(`http://127.0.0.1:${plainPort}/`, { headers: { host: 'mtls.test' } });
    assert.equal(plain.status, 403);
    assert.equal(
      (await get(`http://127.0.0.1:${plainPort}/`, { headers: { host: 'optional.test' } })).status,
      200,
    );
    // optional.test's connection verified nothing for mtls.test: 421 first (another certificate entry).
    assert.equal((await tlsGet({ servername: 'optional.test', host: 'mtls.test' })).status, 421);
  });

  test('an unusable certificate is reported on its Route; the others keep serving', async () => {
    const bad = pki.issue('bad.test', ['bad.test']);
    const other = pki.issue('other', ['other']);
    const report = await apply(
      `${yaml}---
apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: bad }
spec:
  hostnames: [bad.test]
  tls:
    certificateFiles: [{ certFile: ${bad.certFile}, keyFile: ${other.keyFile} }]
  rules:
    - backendRefs: [{ name: origin }]
---
apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: thief }
spec:
  hostnames: [a.test]
  tls:
    certificateFiles: [{ certFile: ${bad.certFile}, keyFile: ${bad.keyFile} }]
  rules:
    - backendRefs: [{ name: origin }]
`,
    );
    const errors = report.fileErrors.map((e) => `${e.object} ${e.path} ${e.reason}: ${e.message}`);
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(
      errors[0]!,
      /^Route default\/bad spec.tls InvalidCertificateRef: .*private key does not match/,
    );
    assert.match(
      errors[1]!,
      /^Route default\/thief spec.hostnames\[0\] CertificateConflict: Route default\/a already/,
    );
    await store.programmed(store.current.version);
    assert.equal((await tlsGet({ servername: 'a.test' })).servedCn, 'a.test');
    assert.equal((await tlsGet({ servername: 'bad.test' })).servedCn, 'default.test');
    await apply(yaml);
  });

  test('rotating a certificate under load fails no request; new handshakes get the new one', async () => {
    const before = await tlsGet({ servername: 'a.test' });
    const keepAlive = http2Connect(`https://127.0.0.1:${tlsPort}`, { ca: pki.caCert, servername: 'a.test' });
    let failed = 0;
    let sent = 0;
    let stop = false;
    const fresh = async (): Promise<void> => {
      while (!stop) {
        sent++;
        const r = await tlsGet({ servername: 'a.test' }).catch(() => undefined);
        if (r?.status !== 200) failed++;
      }
    };
    const reused = async (): Promise<void> => {
      while (!stop) {
        sent++;
        const status = await new Promise<number>((resolve) => {
          const stream = keepAlive.request({ ':path': '/', ':authority': 'a.test' });
          stream.on('response', (h) => resolve(Number(h[':status'])));
          stream.on('error', () => resolve(0));
          stream.resume();
          stream.end();
        });
        if (status !== 200) failed++;
      }
    };
    const load = Promise.all([fresh(), fresh(), reused()]);
    const renewed = pki.issue('a.test', ['a.test']);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const next = i % 2 === 0 ? renewed : pki.issue('a.test', ['a.test']);
      writeFileSync(aFiles.certFile, next.cert);
      writeFileSync(aFiles.keyFile, next.key);
      await apply(yaml);
      await store.programmed(store.current.version);
    }
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await load;
    keepAlive.close();
    assert.equal(failed, 0, `${failed} of ${sent} requests failed`);
    assert.ok(sent > 50, `only ${sent} requests were sent`);
    const after = await tlsGet({ servername: 'a.test' });
    assert.equal(after.servedCn, 'a.test');
    assert.notEqual(
      after.servedFingerprint,
      before.servedFingerprint,
      'new handshakes use the new certificate',
    );
  });
});

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))),
  );
}
