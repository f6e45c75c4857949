/**
 * Benchmark (not a test): with 10,000 Routes in a real kube-apiserver,
 *  1. cold start: controller start → first full sync served (readiness gate true);
 *  2. `kubectl apply` of one Route → its host answers 200 through the data plane, p50/p99 over N applies.
 * Run: npx node test/k8s/bench-apply.ts [routes=10000] [applies=25]
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { closedPort, get, startOrigin } from '../helpers/servers.ts';
import { childPids, exitOf, spawnFixture, waitReady } from '../helpers/process.ts';
import { applyCrds, backendYaml, routeYaml, startControlPlane, startTestController } from './helpers.ts';

const ROUTES = Number(process.argv[2] ?? 10_000);
const APPLIES = Number(process.argv[3] ?? 25);

/**
 * The controller as deployed: `portico controller` from dist/ in its own process with one worker, over
 * the same 10,000 Routes. Its primary (informers, ConfigStore, status) and its worker (the data plane)
 * are measured apart, unlike the in-process figures above.
 */
async function childControllerRss(cp: Awaited<ReturnType<typeof startControlPlane>>): Promise<void> {
  const [port, admin] = [await closedPort(), await closedPort()];
  const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  const child = spawnFixture(cli, {}, [
    'controller',
    '--kubeconfig',
    cp.kubeconfig,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin',
    `127.0.0.1:${admin}`,
    '--workers',
    '1',
    '--lease-name',
    'rss-probe',
    '--access-log',
    'false',
  ]);
  try {
    const started = performance.now();
    await waitReady(admin, 120_000);
    const readyMs = performance.now() - started;
    const worker = childPids(child.pid!)[0];
    const metrics = (await get(`http://127.0.0.1:${admin}/metrics`)).body.toString();
    const gauge = (name: string): string =>
      (Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]) / 1048576).toFixed(0);
    const heap = `heap used ${gauge('portico_primary_nodejs_heap_size_used_bytes')} MB of ${gauge('portico_primary_nodejs_heap_size_total_bytes')} MB`;
    const rss = (pid: number): string =>
      (Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024).toFixed(0);
    console.log(
      `portico controller (dist, child process, 1 worker), ${ROUTES} Routes: ready in ${readyMs.toFixed(0)} ms; RSS primary (controller) ${rss(child.pid!)} MB (${heap}), worker ${worker === undefined ? '?' : rss(worker)} MB`,
    );
  } finally {
    child.kill('SIGTERM');
    await exitOf(child);
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const cp = await startControlPlane();
const origin = await startOrigin((_req, res) => res.end('ok'));
try {
  applyCrds(cp);
  cp.apply(backendYaml('app', { endpoints: [{ address: '127.0.0.1', port: origin.port }] }));
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const api = kc.makeApiClient(CustomObjectsApi);
  const seedStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < ROUTES) {
        const i = next++;
        await api.createNamespacedCustomObject({
          group: 'portico.dev',
          version: 'v1alpha1',
          namespace: 'default',
          plural: 'routes',
          body: {
            apiVersion: 'portico.dev/v1alpha1',
            kind: 'Route',
            metadata: { name: `r${i}` },
            spec: {
              hostnames: [`r${i}.bench.example.com`],
              rules: [
                {
                  matches: [{ path: { type: 'PathPrefix', value: `/p${i % 50}` } }],
                  backendRefs: [{ name: 'app' }],
                },
              ],
            },
          },
        });
      }
    }),
  );
  console.log(`seeded ${ROUTES} Routes in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const coldStart = performance.now();
  const ctl = await startTestController(cp, 'bench');
  while (!(ctl.controller!.ready && ctl.store!.isProgrammed())) await new Promise((r) => setImmediate(r));
  const coldMs = performance.now() - coldStart;
  console.log(`cold start with ${ROUTES} Routes → ready: ${coldMs.toFixed(0)} ms`);
  // Controller and data plane share this process here (workers: 0), so this RSS bounds the controller's.
  const rssMb = (): string => (process.memoryUsage.rss() / 1048576).toFixed(0);
  console.log(
    `process RSS (controller + in-process data plane + informer caches), ${ROUTES} Routes: ${rssMb()} MB`,
  );
  await ctl.controller!.statusIdle();
  console.log(
    `initial status writes: ${ctl.controller!.statusWrites} (done ${((performance.now() - coldStart) / 1000).toFixed(1)} s after start)`,
  );

  const samples: number[] = [];
  for (let i = 0; i < APPLIES; i++) {
    const host = `new${i}.bench.example.com`;
    const started = performance.now();
    execFileSync(cp.env['KUBECTL']!, ['apply', '-f', '-'], {
      input: routeYaml(`new${i}`, host, 'app'),
      env: { ...process.env, KUBECONFIG: cp.kubeconfig },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    for (;;) {
      if ((await ctl.request(host, '/')).status === 200) break;
    }
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const kubectlOnly: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    execFileSync(cp.env['KUBECTL']!, ['get', 'route', 'r1', '-o', 'name'], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfig },
    });
    kubectlOnly.push(performance.now() - started);
  }
  kubectlOnly.sort((a, b) => a - b);
  console.log(
    `kubectl apply → 200 with ${ROUTES} Routes, ${APPLIES} applies: p50 ${pct(samples, 50).toFixed(0)} ms, p99 ${pct(samples, 99).toFixed(0)} ms, min ${samples[0]!.toFixed(0)} ms, max ${samples.at(-1)!.toFixed(0)} ms`,
  );
  console.log(
    `(anchor: one kubectl invocation alone, \`kubectl get\`: p50 ${pct(kubectlOnly, 50).toFixed(0)} ms)`,
  );
  console.log(`process RSS after the applies: ${rssMb()} MB`);
  await ctl.stop();
  await childControllerRss(cp);
} finally {
  await origin.close();
  cp.stop();
}
