/**
 * Routing at scale (issue 3 targets), from the production build:
 *   - compile + swap of a 10,000-Route table in a worker (≤ 50 ms),
 *   - proxy throughput with 10,000 Routes vs 10 (≥ 95 %),
 *   - worker RSS with 10,000 Routes (≤ 150 MB).
 *   npm run bench:routes -- [--routes 10000] [--duration 5] [--pairs 3] [--rounds 2]
 * Same layout as run.ts: origin nginx + wrk on core 1, Portico (one worker) on core 0. Both
 * instances are loaded at the same time, each by its own wrk, and share core 0: the ratio of their
 * rates is the ratio of their costs per request, free of this machine's drift (taken one after the
 * other, rounds of one build swing by ±10 %; side by side, two instances of one build measure
 * 0.99-1.01 of each other). One start of a process can differ from the next by a few per cent, so the
 * bench starts several pairs afresh; the figure is the median of all rounds' ratios. Each worker swaps
 * tables seven times before traffic (the compile figure), as a worker does in service. Swaps while
 * idle are the hard case: their full GCs once made nextTick's literal megamorphic (92-94 % here,
 * 99-101 % with traffic first), which `keepTickObjectShape` prevents (docs/architecture.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { get } from '../helpers/servers.ts';
import { serveArgs } from '../helpers/portico.ts';
import {
  ORIGIN_PORT,
  childPids,
  median,
  requireTool,
  rssMb,
  startOrigin,
  stop,
  waitForPort,
  wrkConcurrently,
  type WrkResult,
} from './run.ts';

const { values } = parseArgs({
  strict: false,
  options: {
    routes: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    pairs: { type: 'string', default: '3' },
  },
});
const ROUTES = Number(values.routes);
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const PAIRS = Number(values.pairs);
const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

function config(routes: number): string {
  const dir = mkdtempSync(join(tmpdir(), `portico-routes-${routes}-`));
  const docs = [
    `apiVersion: portico.dev/v1alpha1\nkind: Backend\nmetadata: { name: origin }\nspec:\n  endpoints: [{ address: 127.0.0.1, port: ${ORIGIN_PORT} }]\n`,
  ];
  // Ingress-like: one host per Route, an API prefix and a catch-all; the measured host sits among them.
  for (let i = 0; i < routes; i++) {
    const host = i === Math.floor(routes / 2) ? 'target.example.com' : `r${i}.example.com`;
    docs.push(
      `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: r${i} }\nspec:\n  hostnames: [${host}]\n  rules:\n` +
        `    - matches: [{ path: { type: PathPrefix, value: /api/v${i % 7} } }]\n      backendRefs: [{ name: origin }]\n` +
        `    - matches: [{ path: { type: PathPrefix, value: / } }]\n      backendRefs: [{ name: origin }]\n`,
    );
  }
  writeFileSync(join(dir, 'config.yaml'), docs.join('---\n'));
  return dir;
}

/** One running `portico serve` over a config of `routes` Routes. */
interface Instance {
  readonly routes: number;
  readonly port: number;
  readonly child: ChildProcess;
  readonly worker: number | undefined;
  /** The worker's first table, compiled at start-up by code V8 has not optimised yet. */
  readonly coldCompileMs: number;
  /** Median of re-compiles after edits: what a swap costs in a running worker. */
  readonly compileMs: number;
  readonly idleRssMb: number;
}

const TOKEN = 'bench-token';

interface Status {
  workers: Record<string, { compileMs: number }>;
}

async function status(admin: number): Promise<Status> {
  return JSON.parse((await get(`http://127.0.0.1:${admin}/api/v1/status`)).body.toString()) as Status;
}

/** Edits one Route through the admin API `times` times; each edit is one swap in the worker. */
async function warmCompiles(admin: number, times: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const doc = `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: edited }\nspec:\n  hostnames: [edited${i}.example.com]\n  rules: [{ backendRefs: [{ name: origin }] }]\n`;
    const res = await get(`http://127.0.0.1:${admin}/api/v1/routeset`, {
      method: 'PATCH',
      body: doc,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    if (res.status !== 200) throw new Error(`edit failed: ${res.status} ${res.body.toString()}`);
    ms.push((await status(admin)).workers['1']!.compileMs);
  }
  return median(ms);
}

async function start(dir: string, routes: number, port: number): Promise<Instance> {
  const admin = port + 1000;
  const child: ChildProcess = spawn(
    'taskset',
    ['-c', '0', process.execPath, CLI, ...serveArgs(dir, port, admin, 1), '--admin-token', TOKEN],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForPort(port, 60_000);
  for (let i = 0; i < 600 && (await get(`http://127.0.0.1:${admin}/readyz`)).status !== 200; i++)
    await new Promise((r) => setTimeout(r, 100));
  const coldCompileMs = (await status(admin)).workers['1']!.compileMs;
  const worker = childPids(child.pid!)[0];
  const idleRssMb = worker === undefined ? NaN : rssMb(worker);
  const compileMs = await warmCompiles(admin, 7);
  return { routes, port, child, worker, coldCompileMs, compileMs, idleRssMb };
}

function rssAfter(instance: Instance): number {
  return instance.worker === undefined ? NaN : rssMb(instance.worker);
}

/** Loads all instances at once for `seconds`; their results in the same order. */
async function load(all: Instance[], seconds: number): Promise<WrkResult[]> {
  const results = await wrkConcurrently(
    all.map((instance) => ({ port: instance.port, headers: ['Host: target.example.com'] })),
    seconds,
  );
  for (const [i, r] of results.entries())
    if (r.errors > 0) throw new Error(`${r.errors} errors with ${all[i]!.routes} routes`);
  return results;
}

requireTool('nginx');
requireTool('wrk');
const origin = startOrigin();
let instances: Instance[] = [];
const dirs = { small: config(10), large: config(ROUTES) };
try {
  await waitForPort(ORIGIN_PORT);
  const ratios: number[] = [];
  const rps = { small: [] as number[], large: [] as number[] };
  const p99 = { small: [] as number[], large: [] as number[] };
  const compileMs: number[] = [];
  const coldCompileMs: number[] = [];
  const rss = {
    smallIdle: [] as number[],
    largeIdle: [] as number[],
    small: [] as number[],
    large: [] as number[],
  };
  for (let pair = 1; pair <= PAIRS; pair++) {
    instances = [await start(dirs.small, 10, 18_300), await start(dirs.large, ROUTES, 18_301)];
    const [small, large] = instances as [Instance, Instance];
    compileMs.push(large.compileMs);
    coldCompileMs.push(large.coldCompileMs);
    rss.smallIdle.push(small.idleRssMb);
    rss.largeIdle.push(large.idleRssMb);
    await load(instances, 2);
    for (let round = 1; round <= ROUNDS; round++) {
      const [a, b] = (await load(instances, DURATION)) as [WrkResult, WrkResult];
      rps.small.push(a.rps);
      rps.large.push(b.rps);
      p99.small.push(a.p99Ms);
      p99.large.push(b.p99Ms);
      ratios.push(b.rps / a.rps);
      console.error(
        `pair ${pair} round ${round}: ${Math.round(a.rps)} req/s with 10 routes, ${Math.round(b.rps)} with ${ROUTES} = ${((100 * b.rps) / a.rps).toFixed(1)} %`,
      );
    }
    rss.small.push(rssAfter(small));
    rss.large.push(rssAfter(large));
    for (const instance of instances) await stop(instance.child);
    instances = [];
  }
  console.log(
    `\nrouting at scale, ${PAIRS} pairs of fresh processes x ${ROUNDS} rounds of ${DURATION}s, both instances of a pair loaded at once on core 0 (medians)`,
  );
  console.log(
    `  compile + swap in a running worker, ${ROUTES} routes: ${median(compileMs).toFixed(1)} ms (first, cold: ${median(coldCompileMs).toFixed(1)} ms)`,
  );
  console.log(
    `  throughput, ${ROUTES} routes vs 10: median of paired ratios ${(100 * median(ratios)).toFixed(1)} % (range ${(100 * Math.min(...ratios)).toFixed(1)}-${(100 * Math.max(...ratios)).toFixed(1)} %; ${Math.round(median(rps.large))} / ${Math.round(median(rps.small))} req/s; p99 ${median(p99.large)} / ${median(p99.small)} ms)`,
  );
  console.log(
    `  worker RSS with ${ROUTES} routes: idle ${median(rss.largeIdle).toFixed(1)} MB, after load ${median(rss.large).toFixed(1)} MB   (10 routes: ${median(rss.smallIdle).toFixed(1)} / ${median(rss.small).toFixed(1)} MB)`,
  );
} finally {
  for (const instance of instances) await stop(instance.child);
  await stop(origin);
}
