/**
 * The cache benchmark (issue 4 targets), from the production build:
 *   - hit path, one worker: Portico's cache vs nginx proxy_cache on the same pinned core (≥ 0.6×);
 *   - a unique-key flood: worker RSS against the configured cache bound (≤ bound + 10 %), beside the
 *     same flood through a cache that stores nothing, so the cache's own memory shows apart from the load's.
 *   npm run bench:cache -- [--duration 10] [--rounds 2] [--flood 60] [--bound-mb 64]
 * The stampede target (1,000 concurrent requests for one expired key → 1 origin request) is a test
 * (test/integration/cache-lock.test.ts), and so is the cache's own byte accounting under a flood.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { get } from '../helpers/servers.ts';
import {
  childPids,
  median,
  nginxConfig,
  pairedRatio,
  pinned,
  requireTool,
  rssMb,
  stop,
  waitForPort,
  warmUp,
  wrk,
} from './run.ts';

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

function startPortico(
  port: number,
  admin: number,
  boundBytes = BOUND_MB * 2 ** 20,
): ReturnType<typeof pinned> {
  return pinned(0, process.execPath, [join(here, 'portico-cache.mjs')], {
    UPSTREAM: `127.0.0.1:${ORIGIN}`,
    LISTEN: `127.0.0.1:${port}`,
    ADMIN: `127.0.0.1:${admin}`,
    CACHE_MAX_BYTES: String(boundBytes),
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
        warmUp(port, 50);
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
  const ratio = pairedRatio(samples.portico!, samples.nginx!);
  console.log(
    `\ncache hit path, one worker, ${ROUNDS} rounds: nginx proxy_cache ${Math.round(n)} req/s, Portico ${Math.round(p)} req/s (medians); median of per-round ratios ${ratio.toFixed(2)}×`,
  );
}

/** Worker RSS during a unique-key flood through a cache of `boundBytes`: before, and peak growth above it. */
async function floodRss(boundBytes: number, port: number): Promise<{ baseline: number; growth: number }> {
  const child = startPortico(port, port + 1000, boundBytes);
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
    await new Promise<void>((resolve) => {
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
    clearInterval(sampler);
    return { baseline, growth: Math.max(...samples) - baseline };
  } finally {
    await stop(child);
  }
}

/**
 * The flood twice: through a cache of the configured bound, and through one that stores nothing (a
 * 1-byte bound: the same lookups, the same requests upstream). The difference is what the cache
 * itself holds; the rest is what the load costs any proxy.
 */
async function flood(): Promise<void> {
  const cached = await floodRss(BOUND_MB * 2 ** 20, 18_270);
  const control = await floodRss(1, 18_272);
  const own = cached.growth - control.growth;
  console.log(
    `\nunique-key flood, ${FLOOD_SECONDS}s each, cache bound ${BOUND_MB} MiB (target: the cache's own ≤ ${(BOUND_MB * 1.1).toFixed(0)} MiB):`,
  );
  console.log(
    `  worker RSS growth: ${cached.growth.toFixed(0)} MiB with the cache, ${control.growth.toFixed(0)} MiB storing nothing (from ${cached.baseline.toFixed(0)} / ${control.baseline.toFixed(0)} MiB idle)`,
  );
  console.log(`  the cache's own: ${own.toFixed(0)} MiB = ${(own / BOUND_MB).toFixed(2)}× the bound`);
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
