/**
 * Micro-benchmark: nanoseconds per pick for each policy at 1,000 endpoints, with and without an
 * `isUsable` filter (5% of endpoints unusable), plus selector build time. A script, not a test:
 * `npx node test/unit/lb/bench-select.ts`. Figures are process CPU time, best of `RUNS`, so a busy
 * shared machine inflates them less than wall time would.
 */
import { createSelector, hashKey, type LoadBalancerPolicy, type Selector } from '../../../src/lb/index.ts';
import { endpoints } from './fixtures/endpoints.ts';

const ENDPOINTS = 1_000;
const PICKS = 2_000_000;
const RUNS = 3;
const POLICIES: LoadBalancerPolicy[] = ['RoundRobin', 'Random', 'LeastRequest', 'ConsistentHash'];
const KEYS = Uint32Array.from({ length: 4096 }, (_, i) => hashKey(`session-${i}`));
const usable = (index: number): boolean => index % 20 !== 7;

/** CPU nanoseconds per call of `body`, best of `RUNS` runs of `PICKS` calls. */
function cpuNsPer(body: (n: number) => number): number {
  let best = Infinity;
  let checksum = 0;
  for (let run = 0; run < RUNS; run++) {
    const start = process.cpuUsage();
    for (let n = 0; n < PICKS; n++) checksum += body(n);
    const used = process.cpuUsage(start);
    best = Math.min(best, ((used.user + used.system) * 1000) / PICKS);
  }
  if (checksum === -1) console.log(checksum); // keeps the loop from being elided
  return best;
}

/** A pick with the in-flight bookkeeping a proxy does around it. */
function measure(selector: Selector, withFilter: boolean): number {
  const filter = withFilter ? usable : undefined;
  return cpuNsPer((n) => {
    const index = selector.pick(KEYS[n & 4095], filter);
    selector.onStart(index);
    selector.onEnd(index);
    return index;
  });
}

function timeBuild(policy: LoadBalancerPolicy, weightOf: (i: number) => number): [Selector, number] {
  const list = endpoints(ENDPOINTS, weightOf);
  const start = process.hrtime.bigint();
  const selector = createSelector(policy, list);
  return [selector, Number(process.hrtime.bigint() - start) / 1e6];
}

const weightSets: [string, (i: number) => number][] = [
  ['weights 1', () => 1],
  ['weights 1..100', (i) => 1 + ((i * 37) % 100)],
];

console.log(`${ENDPOINTS} endpoints, ${PICKS} picks per run (node ${process.version})`);
console.log('policy          weights         build ms   ns/pick   ns/pick (5% unusable)');
for (const [label, weightOf] of weightSets) {
  for (const policy of POLICIES) {
    const [selector, buildMs] = timeBuild(policy, weightOf);
    const plain = measure(selector, false);
    const filtered = measure(selector, true);
    console.log(
      `${policy.padEnd(16)}${label.padEnd(16)}${buildMs.toFixed(1).padStart(8)}${plain.toFixed(1).padStart(10)}${filtered.toFixed(1).padStart(12)}`,
    );
  }
}
console.log(`hashKey('session-N'): ${cpuNsPer((n) => hashKey(`session-${n & 4095}`)).toFixed(1)} ns`);
