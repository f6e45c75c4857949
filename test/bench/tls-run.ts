/**
 * The TLS benchmark: nginx and Portico terminating TLS in front of the same origin, in one run, with
 * the same ECDSA P-256 certificate and the same load generator.
 *
 *   npm run bench:tls -- [--duration 10] [--rounds 2] [--connections 50]
 *
 * Two figures per proxy, each on core 0 alone (origin and wrk on core 1): new TLS handshakes per
 * second (every request on a new connection, `Connection: close`; wrk does not resume sessions), and
 * keep-alive HTTPS requests per second. Rounds interleave the proxies so drift hits both alike.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPki } from '../helpers/certs.ts';
import {
  ORIGIN_PORT,
  median,
  nginxConfig,
  pairedRatio,
  pinned,
  requireTool,
  startOrigin,
  stop,
  waitForPort,
  warmUp,
  wrk,
  type WrkResult,
} from './run.ts';

const { values: args } = parseArgs({
  strict: false,
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const here = new URL('.', import.meta.url).pathname;

type Proxy = 'nginx' | 'portico';
type Figure = 'handshakes' | 'keepalive';

function start(proxy: Proxy, port: number, cert: { certFile: string; keyFile: string }): ChildProcess {
  if (proxy === 'nginx')
    return pinned(0, 'nginx', [
      '-c',
      nginxConfig(
        'tls-proxy',
        port,
        `upstream origin { server 127.0.0.1:${ORIGIN_PORT}; keepalive 64; }
         server { listen 127.0.0.1:PORT ssl; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};
           ssl_protocols TLSv1.2 TLSv1.3;
           location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
      ),
    ]);
  return pinned(0, process.execPath, [join(here, 'portico-fixed.mjs')], {
    UPSTREAM: `127.0.0.1:${ORIGIN_PORT}`,
    LISTEN: `127.0.0.1:${port}`,
    ADMIN: `127.0.0.1:${port + 1000}`,
    WORKERS: '1',
    TLS_CERT: cert.certFile,
    TLS_KEY: cert.keyFile,
  });
}

async function measure(proxy: Proxy, port: number, cert: { certFile: string; keyFile: string }) {
  const child = start(proxy, port, cert);
  try {
    await waitForPort(port);
    warmUp(port, CONNECTIONS, 'https');
    return {
      handshakes: wrk(port, DURATION, ['Connection: close'], CONNECTIONS, 'https'),
      keepalive: wrk(port, DURATION, [], CONNECTIONS, 'https'),
    };
  } finally {
    await stop(child);
  }
}

async function main(): Promise<void> {
  requireTool('nginx');
  requireTool('wrk');
  requireTool('taskset');
  const cert = createPki().issue('bench.test', ['bench.test', '127.0.0.1']);
  const origin = startOrigin();
  const samples: Record<Proxy, Record<Figure, WrkResult[]>> = {
    nginx: { handshakes: [], keepalive: [] },
    portico: { handshakes: [], keepalive: [] },
  };
  try {
    await waitForPort(ORIGIN_PORT);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, proxy] of (['nginx', 'portico'] as const).entries()) {
        const result = await measure(proxy, 18_300 + i, cert);
        for (const figure of ['handshakes', 'keepalive'] as const)
          samples[proxy][figure].push(result[figure]);
        console.error(
          `round ${round} ${proxy}: ${Math.round(result.handshakes.rps)} handshakes/s, ` +
            `${Math.round(result.keepalive.rps)} keep-alive req/s`,
        );
      }
    }
  } finally {
    await stop(origin);
  }
  console.log(
    `\nTLS (ECDSA P-256), ${CONNECTIONS} connections, ${DURATION}s x ${ROUNDS} rounds (medians; ×nginx is the median of per-round ratios), proxy on core 0, origin + wrk on core 1\n`,
  );
  console.log('figure'.padEnd(22) + 'nginx'.padStart(10) + 'portico'.padStart(10) + '  ×nginx' + '  errors');
  for (const figure of ['handshakes', 'keepalive'] as const) {
    const n = median(samples.nginx[figure].map((s) => s.rps));
    const p = median(samples.portico[figure].map((s) => s.rps));
    const ratio = pairedRatio(
      samples.portico[figure].map((s) => s.rps),
      samples.nginx[figure].map((s) => s.rps),
    );
    const errors = samples.portico[figure].reduce((a, s) => a + s.errors, 0);
    console.log(
      (figure === 'handshakes' ? 'new handshakes/s' : 'keep-alive req/s').padEnd(22) +
        String(Math.round(n)).padStart(10) +
        String(Math.round(p)).padStart(10) +
        ratio.toFixed(2).padStart(7) +
        String(errors).padStart(8),
    );
  }
}

await main();
