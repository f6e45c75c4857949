/** A tiny origin for the quickstart: answers every request with what it received, as JSON. */
import { createServer } from 'node:http';

const [host, port] = (process.argv[2] ?? '127.0.0.1:9001').split(':') as [string, string];
createServer((req, res) => {
  const body = JSON.stringify(
    { origin: `${host}:${port}`, method: req.method, url: req.url, headers: req.headers },
    null,
    2,
  );
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) + 1 });
  res.end(`${body}\n`);
}).listen(Number(port), host);
