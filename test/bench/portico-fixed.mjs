// Portico framework proxy for the benchmark, from the production build (dist/, `npm run build`):
// one fixed peer, access log off (nginx's is off too).
import { HttpPeer, Server, httpProxyService } from '../../dist/index.js';

const peer = new HttpPeer({
  address: process.env.UPSTREAM,
  maxConnections: Number(process.env.UPSTREAM_CONNECTIONS ?? 64),
});
const server = new Server({
  workers: Number(process.env.WORKERS ?? 1),
  admin: process.env.ADMIN ?? '127.0.0.1:0',
});
server.addService(
  httpProxyService({ upstreamPeer: () => peer }, { listen: [process.env.LISTEN], accessLog: false }),
);
await server.run();
