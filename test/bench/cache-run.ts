/**
 * The cache benchmark (issue 4 targets), from the production build:
 *   - hit path, one worker: Portico's cache vs nginx proxy_cache on the same pinned core (≥ 0.6×);
 *   - a unique-key flood: worker RSS over time against the configured cache bound (≤ bound + 10 %).
 *   npm run bench:cache -- [--duration 10] [--rounds 2] [--flood 60] [--bound-mb 64]
 * The stampede target (1,000 concurrent requests for one expired key → 1 origin request) is a test
 * (test/integration/cache-lock.test.ts), and so is the cache's own byte accounting under a flood.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { get } from '../helpers/servers.ts';
import { childPids, median, nginxConfig, pinned, requireTool, rssMb, stop, waitForPort, wrk } from './run.ts';

const { values } = parseArgs({
  strict: false,
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    flood: { type: 'string', default: '60' },
    'bound-mb': { type: 'string', default: '64' },
  },
});
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const FLOOD_SECONDS = Number(values.flood);
const BOUND_MB = Number(values['bound-mb']);
const ORIGIN = 18_190;
const here = new URL('.', import.meta.url).pathname;

// 1 KiB bodies, cacheable for an hour, for any path.
const body = 'x'.repeat(1024);
const originConf = `server { listen 127.0.0.1:PORT; location / { add_header Cache-Control "max-age=3600"; return 200 "${body}"; } }`;

function startNginxCache(port: number): ReturnType<typeof pinned> {
  const dir = join(tmpdir(), `portico-bench-nginx-cache-${port}`);
  return pinned(0, 'nginx', [
    '-c',
    nginxConfig(
      'cache',
      port,
      `proxy_cache_path ${dir} levels=1:2 keys_zone=c:10m max_size=${BOUND_MB}m inactive=1h use_temp_path=off;
       upstream origin { server 127.0.0.1:${ORIGIN}; keepalive 64; }
       server { listen 127.0.0.1:PORT; location / { proxy_cache c; proxy_cache_lock on; proxy_pass http://origin;
         proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
    ),
  ]);
}

function startPortico(port: number, admin: number): ReturnType<typeof pinned> {
  return pinned(0, process.execPath, [join(here, 'portico-cache.mjs')], {
    UPSTREAM: `127.0.0.1:${ORIGIN}`,
    LISTEN: `127.0.0.1:${port}`,
    ADMIN: `127.0.0.1:${admin}`,
    CACHE_MAX_BYTES: String(BOUND_MB * 2 ** 20),
  });
}

async function hitPath(): Promise<void> {
  const samples: Record<string, number[]> = { nginx: [], portico: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of ['nginx', 'portico'] as const) {
      const port = 18_250 + round * 2 + (name === 'nginx' ? 0 : 1);
      const child = name === 'nginx' ? startNginxCache(port) : startPortico(port, port + 1000);
      try {
        await waitForPort(port);
        await get(`http://127.0.0.1:${port}/hot`); // fill
        wrk(port, 2, [], 50);
        const r = wrk(port, DURATION, [], 50);
        samples[name]!.push(r.rps);
        console.error(
          `round ${round + 1} ${name} proxy cache hit: ${Math.round(r.rps)} req/s p99 ${r.p99Ms} ms`,
        );
      } finally {
        await stop(child);
      }
    }
  }
  const n = median(samples.nginx!);
  const p = median(samples.portico!);
  console.log(
    `\ncache hit path, one worker, median of ${ROUNDS}: nginx proxy_cache ${Math.round(n)} req/s, Portico ${Math.round(p)} req/s → ${(p / n).toFixed(2)}×`,
  );
}

async function flood(): Promise<void> {
  const port = 18_270;
  const admin = 19_270;
  const child = startPortico(port, admin);
  const script = join(tmpdir(), 'portico-unique-keys.lua');
  writeFileSync(
    script,
    'counter = 0\nrequest = function()\n  counter = counter + 1\n  return wrk.format(nil, "/k/" .. counter)\nend\n',
  );
  try {
    await waitForPort(port);
    const worker = childPids(child.pid!)[0]!;
    const baseline = rssMb(worker);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(worker)), 1_000);
    const load = new Promise<void>((resolve) => {
      const wrkProcess = pinned(1, 'wrk', [
        '-t1',
        '-c50',
        `-d${FLOOD_SECONDS}s`,
        '-s',
        script,
        `http://127.0.0.1:${port}/`,
      ]);
      wrkProcess.on('exit', () => resolve());
    });
    await load;
    clearInterval(sampler);
    const peak = Math.max(...samples);
    console.log(`\nunique-key flood, ${FLOOD_SECONDS}s, cache bound ${BOUND_MB} MiB:`);
    console.log(
      `  worker RSS: ${baseline.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB, end ${samples.at(-1)?.toFixed(0)} MB; growth ${(peak - baseline).toFixed(0)} MB vs bound ${BOUND_MB} MiB + 10 %`,
    );
  } finally {
    await stop(child);
  }
}

requireTool('nginx');
requireTool('wrk');
const origin = pinned(1, 'nginx', ['-c', nginxConfig('cache-origin', ORIGIN, originConf)]);
try {
  await waitForPort(ORIGIN);
  await hitPath();
  if (FLOOD_SECONDS > 0) await flood();
} finally {
  await stop(origin);
}
