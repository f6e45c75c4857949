/**
 * TLS across worker processes of a real `portico serve`: the kernel spreads connections over the
 * workers' reuseport sockets, so a session resumes only if every worker can decrypt every other's
 * tickets (the primary shares the ticket keys). Without that, about half the resumptions fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { createPki } from '../helpers/certs.ts';
import { X509Certificate } from 'node:crypto';
import { closedPort, get, startOrigin } from '../helpers/servers.ts';
import { backendYaml, startPortico } from '../helpers/portico.ts';

/** One handshake; resolves with whether it resumed and a ticket for the next (or the one given). */
function handshake(
  port: number,
  ca: string,
  session?: Buffer,
): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'resume.test', ca, session });
    let ticket = session;
    // TLS 1.3 tickets arrive after the handshake, with the first read: send a request to get them.
    socket.on('session', (t: Buffer) => (ticket = t));
    socket.once('secureConnect', () =>
      socket.write('GET / HTTP/1.1\r\nhost: resume.test\r\nconnection: close\r\n\r\n'),
    );
    socket.resume();
    socket.once('end', () => resolve({ reused: socket.isSessionReused(), session: ticket! }));
    socket.on('error', reject);
  });
}

test('sessions resume on whichever worker the next connection lands; the expiry metric counts once', async () => {
  const pki = createPki();
  const leaf = pki.issue('resume.test', ['resume.test']);
  const origin = await startOrigin((_req, res) => res.end('ok'));
  const tlsPort = await closedPort();
  const portico = await startPortico(
    {
      'config.yaml': `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: resume }
spec:
  hostnames: [resume.test]
  tls:
    certificateFiles: [{ certFile: ${leaf.certFile}, keyFile: ${leaf.keyFile} }]
  rules:
    - backendRefs: [{ name: origin }]
---
${backendYaml('origin', [origin.address])}`,
    },
    { workers: 2, extraArgs: ['--tls-listen', `127.0.0.1:${tlsPort}`] },
  );
  try {
    const first = await handshake(tlsPort, pki.caCert);
    assert.equal(first.reused, false);
    let resumed = 0;
    const attempts = 24;
    for (let i = 0; i < attempts; i++) {
      if ((await handshake(tlsPort, pki.caCert, first.session)).reused) resumed++;
    }
    assert.equal(resumed, attempts, `${resumed} of ${attempts} handshakes resumed`);

    // The primary reports the certificate's expiry once, however many workers serve it.
    const metrics = (await get(`http://127.0.0.1:${portico.admin}/metrics`)).body.toString();
    const line = metrics.split('\n').find((l) => l.startsWith('portico_tls_certificate_not_after_seconds{'));
    assert.equal(
      line,
      `portico_tls_certificate_not_after_seconds{certificate="Route default/resume: ${leaf.certFile}"} ` +
        String(new X509Certificate(leaf.cert).validToDate.getTime() / 1000),
    );
  } finally {
    await portico.stop();
    await origin.close();
  }
});
