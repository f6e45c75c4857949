/**
 * This build of Portico against the build of an earlier commit, for changes too small for
 * `npm run bench` to show (its rounds swing by ±7 % here, one after the other):
 *
 *   npm run bench:pair -- --base <git ref> [--rounds 5] [--duration 8]
 *
 * Both proxies run at once on core 0, each under its own wrk (50 connections) from core 1, with the
 * origin. The scheduler gives each half the core, so the ratio of their req/s is the inverse of the
 * ratio of their costs per request, and the machine's drift hits both alike: two builds of the same
 * commit read 1.000, 1.006, 0.994, 1.013. Latency means nothing here (the two share a core).
 * The base is built from `git archive <ref>` into .bench/pair-base with that commit's own build script.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  median,
  ORIGIN_PORT,
  pinned,
  requireTool,
  startOrigin,
  stop,
  waitForPort,
  wrkConcurrently,
} from './run.ts';

const { values: args } = parseArgs({
  strict: false,
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '8' },
  },
});
if (typeof args.base !== 'string') {
  console.error('bench:pair: --base <git ref> is required (the build to compare this one against)');
  process.exit(2);
}
const ROUNDS = Number(args.rounds);
const DURATION = Number(args.duration);
const BASE_PORT = 18_400;
const NEW_PORT = 18_401;
const root = new URL('../..', import.meta.url).pathname;
const here = new URL('.', import.meta.url).pathname;

/** Builds `ref` into .bench/pair-base/dist; its imports of dependencies resolve to this tree's. */
function buildBase(ref: string): string {
  const dir = join(root, '.bench', 'pair-base');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['-C', root, 'archive', ref, 'src', 'package.json']);
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  execFileSync('npm', ['run', '--silent', 'build', '--prefix', dir], { stdio: 'inherit' });
  return join(dir, 'dist');
}

function startProxy(port: number, dist: string | undefined): ChildProcess {
  return pinned(0, process.execPath, [join(here, 'portico-fixed.mjs')], {
    UPSTREAM: `127.0.0.1:${ORIGIN_PORT}`,
    LISTEN: `127.0.0.1:${port}`,
    ADMIN: `127.0.0.1:${port + 1000}`,
    WORKERS: '1',
    ...(dist === undefined ? {} : { PORTICO_DIST: dist }),
  });
}

async function main(): Promise<void> {
  for (const tool of ['nginx', 'wrk', 'taskset', 'git', 'tar']) requireTool(tool);
  const baseDist = buildBase(args.base as string);
  const origin = startOrigin();
  const proxies = [startProxy(BASE_PORT, baseDist), startProxy(NEW_PORT, undefined)];
  const targets = [{ port: BASE_PORT }, { port: NEW_PORT }];
  try {
    await Promise.all([waitForPort(ORIGIN_PORT), waitForPort(BASE_PORT), waitForPort(NEW_PORT)]);
    // The warm-up of `warmUp`, for both at once (see there for why three short runs).
    for (let run = 0; run < 3; run++) await wrkConcurrently(targets, 1);
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const [base, next] = await wrkConcurrently(targets, DURATION);
      const ratio = next!.rps / base!.rps;
      // A wrk output without a rate (NaN) would make the median meaningless: the round is left out.
      const readable = Number.isFinite(ratio) && ratio > 0;
      if (readable) ratios.push(ratio);
      console.log(
        `round ${round}: base ${Math.round(base!.rps)} req/s, new ${Math.round(next!.rps)} req/s, new/base ${ratio.toFixed(3)}` +
          (readable ? '' : ' (unreadable: left out of the median)'),
      );
    }
    const leftOut = ROUNDS - ratios.length;
    console.log(
      `\nthis build / ${String(args.base)}, sharing core 0, ${ROUNDS} × ${DURATION}s: median ${median(ratios).toFixed(3)} (rounds ${ratios.map((r) => r.toFixed(3)).join(', ')}${leftOut > 0 ? `; ${leftOut} unreadable, left out` : ''})`,
    );
  } finally {
    await Promise.all([...proxies, origin].map((child) => stop(child)));
  }
}

await main();
