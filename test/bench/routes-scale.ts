/**
 * Routing at scale (issue 3 targets), from the production build:
 *   - compile + swap of a 10,000-Route table in a worker (≤ 50 ms),
 *   - proxy throughput with 10,000 Routes vs 10 (≥ 95 %),
 *   - worker RSS with 10,000 Routes (≤ 150 MB).
 *   npm run bench:routes -- [--routes 10000] [--duration 5] [--rounds 6]
 * Same layout as run.ts: origin nginx + wrk on core 1, Portico (one worker) on core 0. Both
 * instances are loaded at the same time, each by its own wrk, and share core 0: the ratio of their
 * rates is the ratio of their costs per request, free of this machine's drift (taken one after the
 * other, rounds of one build swing by ±10 %; side by side, two instances of one build measure
 * 0.99-1.01 of each other). The figure is the median of the rounds' ratios.
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
    rounds: { type: 'string', default: '6' },
  },
});
const ROUTES = Number(values.routes);
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
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
const instances: Instance[] = [];
try {
  await waitForPort(ORIGIN_PORT);
  for (const [n, port] of [
    [10, 18_300],
    [ROUTES, 18_301],
  ] as const)
    instances.push(await start(config(n), n, port));
  const [small, large] = instances as [Instance, Instance];
  await load(instances, 2);
  const ratios: number[] = [];
  const rps = new Map<Instance, number[]>(instances.map((i) => [i, []]));
  const p99 = new Map<Instance, number[]>(instances.map((i) => [i, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const measured = await load(instances, DURATION);
    const results = new Map(instances.map((instance, i) => [instance, measured[i]!]));
    for (const [instance, r] of results) {
      rps.get(instance)!.push(r.rps);
      p99.get(instance)!.push(r.p99Ms);
    }
    const ratio = results.get(large)!.rps / results.get(small)!.rps;
    ratios.push(ratio);
    console.error(
      `round ${round + 1}: ${Math.round(results.get(small)!.rps)} req/s with 10 routes, ${Math.round(results.get(large)!.rps)} with ${ROUTES} = ${(100 * ratio).toFixed(1)} %`,
    );
  }
  const rssAfter = (i: Instance): number => (i.worker === undefined ? NaN : rssMb(i.worker));
  console.log(
    `\nrouting at scale, ${ROUNDS} rounds of ${DURATION}s, both instances loaded at once on core 0`,
  );
  console.log(
    `  compile + swap in a running worker, ${ROUTES} routes: ${large.compileMs.toFixed(1)} ms (first, cold: ${large.coldCompileMs.toFixed(1)} ms)   (10 routes: ${small.compileMs.toFixed(2)} ms)`,
  );
  console.log(
    `  throughput, ${ROUTES} routes vs 10: median of paired ratios ${(100 * median(ratios)).toFixed(1)} % (medians ${Math.round(median(rps.get(large)!))} / ${Math.round(median(rps.get(small)!))} req/s; p99 ${median(p99.get(large)!)} / ${median(p99.get(small)!)} ms)`,
  );
  console.log(
    `  worker RSS with ${ROUTES} routes: idle ${large.idleRssMb.toFixed(1)} MB, after load ${rssAfter(large).toFixed(1)} MB   (10 routes: ${small.idleRssMb.toFixed(1)} / ${rssAfter(small).toFixed(1)} MB)`,
  );
} finally {
  for (const instance of instances) await stop(instance.child);
  await stop(origin);
}
