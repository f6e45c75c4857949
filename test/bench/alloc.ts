/**
 * Allocation per proxied request: the small GET of `npm run bench` through Portico (one process),
 * sampled by V8's heap profiler with collected objects included, so what it counts is the garbage a
 * request leaves for the GC. Unlike req/s on this machine, bytes per request barely move between
 * runs, which makes it the figure to watch while cutting per-request work.
 *
 *   npm run bench:alloc -- [--duration 6] [--top 15]
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ORIGIN_PORT, pinned, requireTool, startOrigin, stop, waitForPort, warmUp, wrk } from './run.ts';

const { values: args } = parseArgs({
  strict: false,
  options: { duration: { type: 'string', default: '6' }, top: { type: 'string', default: '15' } },
});
const DURATION = Number(args.duration);
const TOP = Number(args.top);
const PORT = 18_330;
const here = new URL('.', import.meta.url).pathname;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Bytes by allocating function (name, file and line of the bundle), and their total. */
function bytesByFunction(root: ProfileNode): { total: number; byFunction: Map<string, number> } {
  const byFunction = new Map<string, number>();
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = `${functionName || '(anonymous)'} ${url.split('/').pop() ?? ''}:${lineNumber + 1}`;
      byFunction.set(where, (byFunction.get(where) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    stack.push(...node.children);
  }
  return { total, byFunction };
}

async function main(): Promise<void> {
  requireTool('nginx');
  requireTool('wrk');
  const profilePath = join(mkdtempSync(join(tmpdir(), 'portico-alloc-')), 'heap.json');
  const origin = startOrigin();
  const proxy = pinned(
    0,
    process.execPath,
    ['--import', join(here, 'heap-sampling.mjs'), join(here, 'portico-fixed.mjs')],
    {
      UPSTREAM: `127.0.0.1:${ORIGIN_PORT}`,
      LISTEN: `127.0.0.1:${PORT}`,
      ADMIN: `127.0.0.1:${PORT + 1}`,
      WORKERS: '0',
      HEAP_PROFILE: profilePath,
    },
  );
  try {
    await waitForPort(ORIGIN_PORT);
    await waitForPort(PORT);
    warmUp(PORT);
    proxy.kill('SIGUSR2');
    const result = wrk(PORT, DURATION);
    proxy.kill('SIGUSR2');
    for (let waited = 0; !existsSync(profilePath) && waited < 10_000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as { head: ProfileNode };
    const requests = result.rps * DURATION;
    const { total, byFunction } = bytesByFunction(profile.head);
    console.log(
      `\nsmall GET through Portico (one process), ${DURATION}s, ${Math.round(requests)} requests: ` +
        `${Math.round(total / requests)} bytes allocated per request (sampled, garbage included)\n`,
    );
    for (const [where, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP))
      console.log(`${String(Math.round(bytes / requests)).padStart(7)} B  ${where}`);
  } finally {
    await stop(proxy);
    await stop(origin);
  }
}

await main();
