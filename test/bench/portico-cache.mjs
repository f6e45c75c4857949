// Portico with the HTTP cache for the cache benchmark, from the production build (dist/): every GET is
// offered to one byte-bounded cache per worker (CACHE_MAX_BYTES), access log off.
import { HttpCache, HttpPeer, Server, httpProxyService } from '../../dist/index.js';

const peer = new HttpPeer({ address: process.env.UPSTREAM, maxConnections: 64 });
const settings = { cache: new HttpCache({ maxBytes: Number(process.env.CACHE_MAX_BYTES ?? 64 * 2 ** 20) }) };
const proxy = { requestCacheFilter: () => settings, upstreamPeer: () => peer };
const server = new Server({ workers: 1, admin: process.env.ADMIN });
server.addService(httpProxyService(proxy, { listen: [process.env.LISTEN], accessLog: false }));
await server.run();
