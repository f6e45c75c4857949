// Portico framework proxy for the benchmarks, from the production build (dist/, `npm run build`, or
// the build PORTICO_DIST names): one fixed peer, access log off (nginx's is off too). With TLS_CERT and
// TLS_KEY, LISTEN is a TLS listener serving that certificate to every client.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const build =
  process.env.PORTICO_DIST === undefined
    ? new URL('../../dist/index.js', import.meta.url)
    : pathToFileURL(`${process.env.PORTICO_DIST}/index.js`);
const { CertificateEntryCache, CertificateStore, HttpPeer, Server, httpProxyService, sharedTicketKeys } =
  await import(build.href);

const peer = new HttpPeer({
  address: process.env.UPSTREAM,
  maxConnections: Number(process.env.UPSTREAM_CONNECTIONS ?? 64),
});
const server = new Server({
  workers: Number(process.env.WORKERS ?? 1),
  admin: process.env.ADMIN ?? '127.0.0.1:0',
});
let tls;
if (process.env.TLS_CERT !== undefined) {
  const pair = {
    cert: readFileSync(process.env.TLS_CERT, 'utf8'),
    key: readFileSync(process.env.TLS_KEY, 'utf8'),
  };
  const entry = new CertificateEntryCache(sharedTicketKeys()).entry({ key: 'bench', pairs: [pair] });
  const store = new CertificateStore(new Map(), entry);
  tls = { listen: [process.env.LISTEN], certificates: () => store };
}
server.addService(
  httpProxyService(
    { upstreamPeer: () => peer },
    { listen: tls === undefined ? [process.env.LISTEN] : [], tls, accessLog: false },
  ),
);
await server.run();
