/**
 * The Node.js peers Portico is compared with, each in its recommended keep-alive setup, and
 * `node-hello`: Node's own HTTP server answering without an upstream, the reference for what Node's
 * server path alone costs.
 */
import http from 'node:http';
import httpProxy from 'http-proxy';
import Fastify from 'fastify';
import fastifyHttpProxy from '@fastify/http-proxy';

const [kind, listen, upstream] = process.argv.slice(2) as [string, string, string];
const [host, port] = listen.split(':') as [string, string];

if (kind === 'http-proxy') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const proxy = httpProxy.createProxyServer({ target: `http://${upstream}`, agent, xfwd: true });
  proxy.on('error', (_e, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  http.createServer((req, res) => proxy.web(req, res)).listen(Number(port), host);
} else if (kind === 'fastify-http-proxy') {
  const app = Fastify({ logger: false });
  await app.register(fastifyHttpProxy, {
    upstream: `http://${upstream}`,
    undici: { connections: 64, pipelining: 1 },
  });
  await app.listen({ host, port: Number(port) });
} else if (kind === 'node-hello') {
  // Not a proxy: node:http answering the origin's body itself, the floor any Node proxy stands on.
  const body = 'hello from the origin\n';
  http
    .createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    })
    .listen(Number(port), host);
} else {
  throw new Error(`unknown peer ${kind}`);
}
