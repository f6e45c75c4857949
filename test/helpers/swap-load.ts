import { Pool } from 'undici';
import { startOrigin } from './servers.ts';
import { startPortico, backendYaml } from './portico.ts';

export interface SwapLoadResult {
  seconds: number;
  swaps: number;
  swapsPerSecond: number;
  requests: number;
  failed: number;
  misrouted: number;
  firstFailure: string | undefined;
}

/** Version N of the Route stamps `x-table: N` and sends traffic to origin a (odd N) or b (even N). */
function routeVersion(n: number): string {
  return `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: swapped }
spec:
  rules:
    - filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: X-Table, value: "${n}" }] }
      backendRefs: [{ name: ${n % 2 === 1 ? 'a' : 'b'} }]
`;
}

/**
 * Swaps the routing table `swapsPerSecond` times a second through the admin API while `concurrency`
 * clients send requests, and checks every response against the table version it was served under:
 * the origin that answered must be the one that version routes to. A request that saw two tables (the
 * header from one, the backend from another) counts as misrouted; any non-200 as failed.
 */
export async function runSwapUnderLoad(options: {
  seconds: number;
  swapsPerSecond: number;
  concurrency: number;
  workers?: number;
}): Promise<SwapLoadResult> {
  const [a, b] = await Promise.all([startOrigin((_q, r) => r.end('a')), startOrigin((_q, r) => r.end('b'))]);
  const portico = await startPortico(
    { 'b.yaml': backendYaml('a', [a.address]) + backendYaml('b', [b.address]), 'r.yaml': routeVersion(1) },
    { workers: options.workers ?? 2 },
  );
  const client = new Pool(portico.url, { connections: options.concurrency });
  const result: SwapLoadResult = {
    seconds: options.seconds,
    swaps: 0,
    swapsPerSecond: 0,
    requests: 0,
    failed: 0,
    misrouted: 0,
    firstFailure: undefined,
  };
  const deadline = Date.now() + options.seconds * 1_000;
  const note = (what: string): void => void (result.firstFailure ??= what);
  const loader = async (): Promise<void> => {
    while (Date.now() < deadline) {
      try {
        const res = await client.request({ path: '/', method: 'GET' });
        const body = await res.body.text();
        result.requests++;
        const version = Number(res.headers['x-table']);
        if (res.statusCode !== 200) {
          result.failed++;
          note(`status ${res.statusCode}: ${body}`);
        } else if (body !== (version % 2 === 1 ? 'a' : 'b')) {
          result.misrouted++;
          note(`version ${version} answered by ${body}`);
        }
      } catch (error) {
        result.failed++;
        note(String(error));
      }
    }
  };
  const swapper = async (): Promise<void> => {
    const started = Date.now();
    const interval = 1_000 / options.swapsPerSecond;
    for (let n = 2; Date.now() < deadline; n++) {
      const res = await portico.adminCall('PATCH', '/api/v1/routeset', routeVersion(n));
      if (res.status !== 200) throw new Error(`swap ${n} failed: ${res.status} ${res.body.toString()}`);
      result.swaps++;
      const wait = started + (n - 1) * interval - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    result.swapsPerSecond = result.swaps / ((Date.now() - started) / 1_000);
  };
  try {
    await Promise.all([swapper(), ...Array.from({ length: options.concurrency }, loader)]);
  } finally {
    await client.close();
    await portico.stop();
    await Promise.all([a.close(), b.close()]);
  }
  return result;
}
