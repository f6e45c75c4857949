/**
 * The project's throughput benchmark: Portico against nginx and Node peers, one run, same load generator.
 *
 *   npm run bench -- [--duration 10] [--rounds 2] [--connections 50] [--json out.json]
 *
 * Layout on a 2-core machine: the origin (nginx, one worker) and wrk share core 1; each proxy under test
 * gets core 0 to itself, one at a time. Rounds interleave the candidates so drift hits all of them alike.
 * `node-hello` is no proxy: Node's HTTP server answering by itself, the floor under any Node proxy.
 * Two pairs measure what users deploy: `portico-ingress` is `portico serve` from dist/ with one Route
 * (the gateway's routing, its access log off) and `nginx` beside it; `portico-ingress-log` and
 * `nginx-log` both write their access logs to a file (Portico's JSON lines, nginx's `combined`, as
 * distributions ship it). The deployed pair, both with logs, is the headline; the framework's fixed
 * peer (`portico`) is the lab figure.
 * Needs nginx and wrk (Debian: `apt-get install nginx-light wrk`).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, writeFileSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { get } from '../helpers/servers.ts';
import { childPids } from '../helpers/process.ts';

const { values: args } = parseArgs({
  // Other benchmarks import this module and have their own flags.
  strict: false,
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    json: { type: 'string' },
    only: { type: 'string' },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
export const ORIGIN_PORT = 18_180;
const work = mkdtempSync(join(tmpdir(), 'portico-bench-'));
const node = process.execPath;
const here = new URL('.', import.meta.url).pathname;

interface Running {
  process: ChildProcess;
  port: number;
  adminPort?: number;
}

interface Candidate {
  name: string;
  start(port: number): Running;
}

export function requireTool(tool: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
  } catch {
    console.error(`bench: ${tool} is not installed (Debian: apt-get install -y nginx-light wrk)`);
    process.exit(2);
  }
}

export function nginxConfig(name: string, port: number, body: string): string {
  const file = join(work, `${name}.conf`);
  writeFileSync(
    file,
    `worker_processes 1; daemon off; pid ${work}/${name}.pid; error_log ${work}/${name}.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  client_body_temp_path ${work}/${name}-body; proxy_temp_path ${work}/${name}-proxy;
  fastcgi_temp_path ${work}/f; uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s;
  ${body.replace('PORT', String(port))} }
`,
  );
  return file;
}

/** `command` on `core`; its stdout goes to `stdoutFile` when given (an access log), else nowhere. */
export function pinned(
  core: number,
  command: string,
  argv: string[],
  env: Record<string, string> = {},
  stdoutFile?: string,
): ChildProcess {
  return spawn('taskset', ['-c', String(core), command, ...argv], {
    env: { ...process.env, ...env },
    stdio: ['ignore', stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'a'), 'inherit'],
  });
}

/** nginx as the proxy, one worker, keep-alive to the origin; `log` writes the combined access log to a file. */
function nginxProxy(name: string, log: boolean): Candidate {
  const accessLog = log ? `access_log ${join(work, `${name}-access.log`)} combined;` : '';
  return {
    name,
    start: (port) => ({
      port,
      process: pinned(0, 'nginx', [
        '-c',
        nginxConfig(
          name,
          port,
          `upstream origin { server 127.0.0.1:${ORIGIN_PORT}; keepalive 64; }
           server { listen 127.0.0.1:PORT; ${accessLog} location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
        ),
      ]),
    }),
  };
}

/** `portico serve` of one Backend and one Route to the origin (what the file source builds from YAML). */
const INGRESS_CONFIG = `apiVersion: portico.dev/v1alpha1
kind: Backend
metadata: { name: origin }
spec:
  endpoints: [{ address: 127.0.0.1, port: ${ORIGIN_PORT} }]
---
apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: all }
spec:
  rules:
    - backendRefs: [{ name: origin }]
`;

/** The ingress path as users run it: `portico serve` from dist/, one worker; `log`: its access log to a file. */
function porticoIngress(name: string, log: boolean): Candidate {
  return {
    name,
    start: (port) => {
      const dir = join(work, 'ingress-config');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'route.yaml'), INGRESS_CONFIG);
      const argv = [
        join(here, '../../dist/cli/main.js'),
        'serve',
        '-f',
        dir,
        '--listen',
        `127.0.0.1:${port}`,
      ];
      argv.push('--admin', `127.0.0.1:${port + 1000}`, '--workers', '1', '--access-log', String(log));
      return {
        port,
        adminPort: port + 1000,
        process: pinned(0, node, argv, {}, join(work, `${name}-stdout.log`)),
      };
    },
  };
}

/** Node's server answering by itself (no upstream): not a peer, the floor under any Node proxy. */
const NODE_FLOOR = 'node-hello';
/** Candidates that are not other Node proxies: the anchors, Portico itself, the floor. */
const NOT_NODE_PEERS: ReadonlySet<string> = new Set([
  'nginx',
  'nginx-log',
  'portico',
  'portico-ingress',
  'portico-ingress-log',
  NODE_FLOOR,
]);

/** One of node-peers.ts's servers, on core 0 like every candidate. */
function nodePeer(name: string): Candidate {
  return {
    name,
    start: (port) => ({
      port,
      process: pinned(0, node, [
        join(here, 'node-peers.ts'),
        name,
        `127.0.0.1:${port}`,
        `127.0.0.1:${ORIGIN_PORT}`,
      ]),
    }),
  };
}

const candidates: Candidate[] = [
  nginxProxy('nginx', false),
  nginxProxy('nginx-log', true),
  porticoIngress('portico-ingress', false),
  porticoIngress('portico-ingress-log', true),
  {
    name: 'portico',
    start: (port) => ({
      port,
      adminPort: port + 1000,
      process: pinned(0, node, [join(here, 'portico-fixed.mjs')], {
        UPSTREAM: `127.0.0.1:${ORIGIN_PORT}`,
        LISTEN: `127.0.0.1:${port}`,
        ADMIN: `127.0.0.1:${port + 1000}`,
        WORKERS: '1',
      }),
    }),
  },
  nodePeer('http-proxy'),
  nodePeer(NODE_FLOOR),
  nodePeer('fastify-http-proxy'),
];

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
}

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function toMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (!match) return NaN;
  const n = Number(match[1]);
  return match[2] === 'us' ? n / 1000 : match[2] === 's' ? n * 1000 : n;
}

export function wrk(
  port: number,
  seconds: number,
  headers: string[] = [],
  connections = CONNECTIONS,
  scheme: 'http' | 'https' = 'http',
): WrkResult {
  return parseWrk(
    execFileSync('taskset', wrkArgs(port, seconds, headers, connections, scheme), { encoding: 'utf8' }),
  );
}

/**
 * Loads several proxies at once, one wrk each (all on core 1), for comparing two builds or
 * configurations on the same core at the same moment: the ratio of their rates is then free of
 * this machine's drift (two instances of one build measure 0.99-1.01 of each other, where rounds
 * taken one after the other swing by ±10 %).
 */
export function wrkConcurrently(
  targets: { port: number; headers?: string[] }[],
  seconds: number,
): Promise<WrkResult[]> {
  return Promise.all(
    targets.map(
      ({ port, headers = [] }) =>
        new Promise<WrkResult>((resolve, reject) => {
          const child = spawn('taskset', wrkArgs(port, seconds, headers, CONNECTIONS, 'http'), {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.on('error', reject);
          child.on('exit', (code) =>
            code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited with ${code}`)),
          );
        }),
    ),
  );
}

/**
 * Warms a server up for a measurement: three 1-second wrk runs, not one long one. Each run ends by
 * closing its connections with requests in flight, and a JIT only reaches its steady state once it
 * has seen that too: after a single warm-up run, the first connection closes and the first aborted
 * requests deoptimised the hot request path (the parser, the dispatch, the response writer, node's
 * stream and timer internals — 18 deopts), and the measured run began with ~300 ms of interpreted,
 * recompiling code whose 3-8 ms loop gaps set a 5 s run's p99 (2.8-3.6 ms, where the same run after
 * two more cycles gives 1.2-1.3 ms). After the second cycle no deopt follows. nginx gets the same.
 */
export function warmUp(port: number, connections = CONNECTIONS, scheme: 'http' | 'https' = 'http'): void {
  for (let run = 0; run < 3; run++) wrk(port, 1, [], connections, scheme);
}

function wrkArgs(
  port: number,
  seconds: number,
  headers: string[],
  connections: number,
  scheme: 'http' | 'https',
): string[] {
  return [
    '-c',
    '1',
    'wrk',
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    ...headers.flatMap((h) => ['-H', h]),
    `${scheme}://127.0.0.1:${port}/`,
  ];
}

function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = /\s50%\s+(\S+)/.exec(out)?.[1] ?? '';
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? '';
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrorCount = socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { rps, p50Ms: toMs(p50), p99Ms: toMs(p99), errors: Number(errors) + socketErrorCount };
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

export { childPids };

async function metric(adminPort: number, name: string): Promise<number> {
  // A fresh connection per scrape: a pooled one may have been idle-closed by the admin server meanwhile.
  const text = (await get(`http://127.0.0.1:${adminPort}/metrics`)).body.toString();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

interface Sample extends WrkResult {
  round: number;
  reuse?: number;
  idleRssMb?: number;
}

async function measure(candidate: Candidate, round: number, port: number): Promise<Sample> {
  const running = candidate.start(port);
  try {
    await waitForPort(port);
    let idleRssMb: number | undefined;
    // taskset execs in place, so the spawned pid is Portico's primary; its child is the serving worker.
    if (candidate.name === 'portico') {
      await new Promise((r) => setTimeout(r, 1_000));
      const worker = childPids(running.process.pid!)[0];
      if (worker !== undefined) idleRssMb = rssMb(worker);
    }
    warmUp(port);
    const before = running.adminPort
      ? [
          await metric(running.adminPort, 'portico_upstream_connections_total'),
          await metric(running.adminPort, 'portico_upstream_requests_total'),
        ]
      : undefined;
    const result = wrk(port, DURATION);
    let reuse: number | undefined;
    if (before && running.adminPort) {
      const connections =
        (await metric(running.adminPort, 'portico_upstream_connections_total')) - before[0]!;
      const requests = (await metric(running.adminPort, 'portico_upstream_requests_total')) - before[1]!;
      reuse = requests > 0 ? 1 - connections / requests : undefined;
    }
    return { ...result, round, reuse, idleRssMb };
  } finally {
    await stop(running.process);
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The median of per-round ratios `a[i] / b[i]`. Rounds run the two back to back, so drift in this
 * machine's speed (it can move a Node process's rate by half within a minute) hits both sides of a
 * pair alike; the ratio of two independent medians would carry it.
 */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((value, i) => value / b[i]!));
}

async function main(): Promise<void> {
  requireTool('nginx');
  requireTool('wrk');
  requireTool('taskset');
  const origin = startOrigin();
  const selected = candidates.filter(
    (c) => typeof args.only !== 'string' || args.only.split(',').includes(c.name),
  );
  const samples = new Map<string, Sample[]>(selected.map((c) => [c.name, []]));
  try {
    await waitForPort(ORIGIN_PORT);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, candidate] of selected.entries()) {
        const sample = await measure(candidate, round, 18_200 + i);
        samples.get(candidate.name)!.push(sample);
        console.error(
          `round ${round} ${candidate.name}: ${Math.round(sample.rps)} req/s p50 ${sample.p50Ms} ms p99 ${sample.p99Ms} ms`,
        );
      }
    }
  } finally {
    await stop(origin);
  }
  report(samples);
}

function report(samples: Map<string, Sample[]>): void {
  const summary = [...samples].map(([name, list]) => ({
    name,
    rps: median(list.map((s) => s.rps)),
    p50Ms: median(list.map((s) => s.p50Ms)),
    p99Ms: median(list.map((s) => s.p99Ms)),
    errors: list.reduce((a, s) => a + s.errors, 0),
    reuse: list.find((s) => s.reuse !== undefined)?.reuse,
    idleRssMb: list.find((s) => s.idleRssMb !== undefined)?.idleRssMb,
  }));
  const portico = summary.find((s) => s.name === 'portico');
  const peers = summary.filter((s) => !NOT_NODE_PEERS.has(s.name));
  const bestPeer = peers.sort((a, b) => b.rps - a.rps)[0];
  console.log(
    `\nsmall GET, ${CONNECTIONS} connections, ${DURATION}s x ${ROUNDS} rounds (medians; ×nginx is the median of per-round ratios), proxy on core 0, origin + wrk on core 1\n`,
  );
  console.log(
    'proxy'.padEnd(20) +
      'req/s'.padStart(10) +
      'p50 ms'.padStart(10) +
      'p99 ms'.padStart(10) +
      '  ×nginx'.padStart(9) +
      '  errors',
  );
  const nginxRps = samples.get('nginx')?.map((s) => s.rps);
  for (const s of summary) {
    const own = samples.get(s.name)!.map((sample) => sample.rps);
    const ratio = nginxRps ? pairedRatio(own, nginxRps).toFixed(2) : '-';
    console.log(
      s.name.padEnd(20) +
        String(Math.round(s.rps)).padStart(10) +
        s.p50Ms.toFixed(3).padStart(10) +
        s.p99Ms.toFixed(3).padStart(10) +
        ratio.padStart(9) +
        String(s.errors).padStart(8),
    );
  }
  const ratios: Record<string, number | undefined> = {};
  /** `name`'s throughput and p99 over `anchor`'s, each the median of per-round ratios. */
  const versus = (name: string, anchor: string): { throughput: number; p99: number } | undefined => {
    const own = samples.get(name);
    const other = samples.get(anchor);
    if (other === undefined || own === undefined) return undefined;
    return {
      throughput: pairedRatio(
        own.map((s) => s.rps),
        other.map((s) => s.rps),
      ),
      p99: pairedRatio(
        own.map((s) => s.p99Ms),
        other.map((s) => s.p99Ms),
      ),
    };
  };
  const versusNginx = (name: string): { throughput: number; p99: number } | undefined =>
    versus(name, 'nginx');
  const deployed = versus('portico-ingress-log', 'nginx-log');
  if (deployed !== undefined) {
    ratios.deployedThroughputVsNginx = deployed.throughput;
    ratios.deployedP99VsNginx = deployed.p99;
    console.log(
      `\ndeployed pair, both with access logs: portico serve (one Route) / nginx: throughput ${deployed.throughput.toFixed(2)}×, p99 ${deployed.p99.toFixed(2)}×`,
    );
  }
  const ingress = versus('portico-ingress', 'nginx');
  if (ingress !== undefined)
    console.log(
      `ingress path, no access logs: portico serve / nginx: throughput ${ingress.throughput.toFixed(2)}×, p99 ${ingress.p99.toFixed(2)}×`,
    );
  const porticoLog = versus('portico-ingress-log', 'portico-ingress');
  const nginxLog = versus('nginx-log', 'nginx');
  if (porticoLog !== undefined && nginxLog !== undefined)
    console.log(
      `what the access log leaves of the throughput: portico ${porticoLog.throughput.toFixed(2)}×, nginx ${nginxLog.throughput.toFixed(2)}×`,
    );
  const porticoVsNginx = versusNginx('portico');
  if (porticoVsNginx !== undefined) {
    ratios.throughputVsNginx = porticoVsNginx.throughput;
    ratios.p99VsNginx = porticoVsNginx.p99;
    console.log(
      `framework path (one fixed peer, no log), portico / nginx, median of per-round ratios: throughput ${porticoVsNginx.throughput.toFixed(2)}×, p99 ${porticoVsNginx.p99.toFixed(2)}×`,
    );
  }
  const floorVsNginx = versusNginx(NODE_FLOOR);
  if (floorVsNginx !== undefined) {
    ratios.nodeFloorThroughputVsNginx = floorVsNginx.throughput;
    ratios.nodeFloorP99VsNginx = floorVsNginx.p99;
    console.log(
      `node's own server, no upstream (the floor for a Node proxy) / nginx proxy: throughput ${floorVsNginx.throughput.toFixed(2)}×, p99 ${floorVsNginx.p99.toFixed(2)}×`,
    );
  }
  if (portico && bestPeer) {
    ratios.throughputVsBestPeer = pairedRatio(
      samples.get('portico')!.map((s) => s.rps),
      samples.get(bestPeer.name)!.map((s) => s.rps),
    );
    console.log(
      `portico / best Node peer (${bestPeer.name}): throughput ${ratios.throughputVsBestPeer.toFixed(2)}×`,
    );
  }
  if (portico?.reuse !== undefined)
    console.log(`portico upstream connection reuse: ${(portico.reuse * 100).toFixed(3)}%`);
  if (portico?.idleRssMb !== undefined)
    console.log(`portico idle worker RSS: ${portico.idleRssMb.toFixed(1)} MB`);
  if (typeof args.json === 'string')
    writeFileSync(
      args.json,
      JSON.stringify(
        {
          duration: DURATION,
          rounds: ROUNDS,
          connections: CONNECTIONS,
          summary,
          ratios,
          samples: Object.fromEntries(samples),
        },
        null,
        2,
      ),
    );
}

/** The origin every benchmark proxies to: nginx, one worker, on core 1. */
export function startOrigin(): ChildProcess {
  return pinned(1, 'nginx', [
    '-c',
    nginxConfig(
      'origin',
      ORIGIN_PORT,
      `server { listen 127.0.0.1:PORT; location / { return 200 "hello from the origin\\n"; } }`,
    ),
  ]);
}

if (import.meta.main) await main();
