/**
 * Routing at scale (issue 3 targets), from the production build:
 *   - compile + swap of a 10,000-Route table in a worker (≤ 50 ms),
 *   - proxy throughput with 10,000 Routes vs 10 (≥ 95 %),
 *   - worker RSS with 10,000 Routes (≤ 150 MB).
 *   npm run bench:routes -- [--routes 10000] [--duration 10] [--rounds 2]
 * Same layout as run.ts: origin nginx + wrk on core 1, Portico (one worker) on core 0.
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
  wrk,
} from './run.ts';

const { values } = parseArgs({
  strict: false,
  options: {
    routes: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
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

interface Sample {
  routes: number;
  rps: number;
  p99Ms: number;
  /** The worker's first table, compiled at start-up by code V8 has not optimised yet. */
  coldCompileMs: number;
  /** Median of re-compiles after edits: what a swap costs in a running worker. */
  compileMs: number;
  idleRssMb: number;
  workerRssMb: number;
}

const TOKEN = 'bench-token';

/** Edits one Route through the admin API `times` times; each edit recompiles the whole table in the worker. */
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
    const status = JSON.parse((await get(`http://127.0.0.1:${admin}/api/v1/status`)).body.toString()) as {
      workers: Record<string, { compileMs: number }>;
    };
    ms.push(status.workers['1']!.compileMs);
  }
  return median(ms);
}

async function measure(dir: string, routes: number, port: number): Promise<Sample> {
  const admin = port + 1000;
  const child: ChildProcess = spawn(
    'taskset',
    ['-c', '0', process.execPath, CLI, ...serveArgs(dir, port, admin, 1), '--admin-token', TOKEN],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  try {
    await waitForPort(port, 60_000);
    for (let i = 0; i < 600 && (await get(`http://127.0.0.1:${admin}/readyz`)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
    const status = JSON.parse((await get(`http://127.0.0.1:${admin}/api/v1/status`)).body.toString()) as {
      workers: Record<string, { compileMs: number }>;
    };
    const worker = childPids(child.pid!)[0];
    const idleRssMb = worker === undefined ? NaN : rssMb(worker);
    const compileMs = await warmCompiles(admin, 7);
    wrk(port, 2, ['Host: target.example.com']);
    const result = wrk(port, DURATION, ['Host: target.example.com']);
    if (result.errors > 0) throw new Error(`${result.errors} errors with ${routes} routes`);
    return {
      routes,
      rps: result.rps,
      p99Ms: result.p99Ms,
      coldCompileMs: status.workers['1']!.compileMs,
      compileMs,
      idleRssMb,
      workerRssMb: worker === undefined ? NaN : rssMb(worker),
    };
  } finally {
    await stop(child);
  }
}

requireTool('nginx');
requireTool('wrk');
const origin = startOrigin();
try {
  await waitForPort(ORIGIN_PORT);
  const dirs = new Map([10, ROUTES].map((n) => [n, config(n)]));
  const samples: Sample[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [n, dir] of dirs) {
      const s = await measure(dir, n, 18_300 + round * 10 + (n === 10 ? 0 : 1));
      samples.push(s);
      console.error(
        `round ${round + 1}, ${n} routes: ${Math.round(s.rps)} req/s, p99 ${s.p99Ms} ms, compile+swap ${s.compileMs.toFixed(1)} ms (first, cold: ${s.coldCompileMs.toFixed(1)} ms), worker RSS idle ${s.idleRssMb.toFixed(1)} MB, after load ${s.workerRssMb.toFixed(1)} MB`,
      );
    }
  }
  const of = (n: number, key: keyof Sample): number =>
    median(samples.filter((s) => s.routes === n).map((s) => s[key]));
  console.log(`\nrouting at scale, median of ${ROUNDS} rounds (${DURATION}s each)`);
  console.log(
    `  compile + swap in a running worker, ${ROUTES} routes: ${of(ROUTES, 'compileMs').toFixed(1)} ms (first, cold: ${of(ROUTES, 'coldCompileMs').toFixed(1)} ms)   (10 routes: ${of(10, 'compileMs').toFixed(2)} ms)`,
  );
  console.log(
    `  throughput, ${ROUTES} routes vs 10: ${Math.round(of(ROUTES, 'rps'))} / ${Math.round(of(10, 'rps'))} req/s = ${((100 * of(ROUTES, 'rps')) / of(10, 'rps')).toFixed(1)} %`,
  );
  console.log(
    `  worker RSS with ${ROUTES} routes: idle ${of(ROUTES, 'idleRssMb').toFixed(1)} MB, after load ${of(ROUTES, 'workerRssMb').toFixed(1)} MB   (10 routes: ${of(10, 'idleRssMb').toFixed(1)} / ${of(10, 'workerRssMb').toFixed(1)} MB)`,
  );
} finally {
  await stop(origin);
}
