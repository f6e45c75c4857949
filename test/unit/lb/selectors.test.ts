import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.ts';
import {
  createSelector,
  LeastRequestSelector,
  RoundRobinSelector,
  type LoadBalancerPolicy,
} from '../../../src/lb/index.ts';
import { endpoint, endpoints, histogram, seededRandom } from './fixtures/endpoints.ts';

const POLICIES: LoadBalancerPolicy[] = ['RoundRobin', 'Random', 'LeastRequest', 'ConsistentHash'];
const PICKS = 100_000;

/** Asserts each endpoint's share is within `tolerance` (relative) of its weight's share. */
function assertWeighted(counts: readonly number[], weights: readonly number[], tolerance: number): void {
  const total = weights.reduce((a, b) => a + b, 0);
  const picks = counts.reduce((a, b) => a + b, 0);
  counts.forEach((count, i) => {
    const expected = (picks * weights[i]!) / total;
    assert.ok(
      Math.abs(count - expected) <= expected * tolerance,
      `endpoint ${i}: ${count} picks, expected ${expected.toFixed(0)} ± ${(tolerance * 100).toFixed(0)}%`,
    );
  });
}

describe('round robin', () => {
  const rr = (weights: number[]): RoundRobinSelector =>
    new RoundRobinSelector(
      weights.map((w, i) => endpoint(`10.0.0.${i + 1}:80`, w)),
      { random: () => 0 },
    );

  it('follows nginx smooth weighted order for weights {5, 1, 1}', () => {
    const selector = rr([5, 1, 1]);
    const sequence = Array.from({ length: 14 }, () => 'abc'[selector.pick()]).join('');
    assert.equal(sequence, 'aabacaa'.repeat(2));
  });

  it('follows nginx order for weights {4, 2, 1} reduced by their gcd from {8, 4, 2}', () => {
    const selector = rr([8, 4, 2]);
    const sequence = Array.from({ length: 7 }, () => 'abc'[selector.pick()]).join('');
    assert.equal(sequence, 'abacaba');
  });

  it('gives exact shares per period on the heap-built path used for large periods', () => {
    const weights = Array.from({ length: 1000 }, (_, i) => 1 + (i % 97));
    const selector = new RoundRobinSelector(
      endpoints(1000, (i) => weights[i]!),
      { random: () => 0 },
    );
    const period = weights.reduce((a, b) => a + b, 0);
    assert.deepEqual(
      histogram(1000, period, () => selector.pick()),
      weights,
    );
  });

  it('skips an unusable endpoint to the next one in the schedule', () => {
    const selector = rr([5, 1, 1]);
    const sequence = Array.from({ length: 7 }, () => 'abc'[selector.pick(undefined, (i) => i !== 0)]).join(
      '',
    );
    // a's slots go to the next other endpoint in a a b a c a a.
    assert.equal(sequence, 'bbbccbb');
  });
});

describe('every policy', () => {
  for (const policy of POLICIES) {
    it(`${policy} honours weights 1:2:3:4 over ${PICKS} picks`, () => {
      const weights = [1, 2, 3, 4];
      const selector = createSelector(
        policy,
        endpoints(4, (i) => weights[i]!),
        { random: seededRandom(7) },
      );
      let n = 0;
      const counts = histogram(4, PICKS, () => selector.pick(`key-${n++}`));
      assertWeighted(counts, weights, policy === 'ConsistentHash' ? 0.1 : 0.03);
    });

    it(`${policy} never picks an unusable endpoint and finds the last usable one`, () => {
      const selector = createSelector(policy, endpoints(50), { random: seededRandom(3) });
      for (let n = 0; n < 1000; n++) {
        const index = selector.pick(`k${n}`, (i) => i === 37);
        assert.equal(index, 37);
      }
      assert.equal(
        selector.pick('k', () => false),
        -1,
      );
    });

    it(`${policy} never picks a weight-0 endpoint and returns -1 when none has weight`, () => {
      const selector = createSelector(
        policy,
        endpoints(3, (i) => (i === 1 ? 0 : 1)),
        { random: seededRandom(1) },
      );
      let n = 0;
      const counts = histogram(3, 10_000, () => selector.pick(`key-${n++}`));
      assert.equal(counts[1], 0);
      assert.equal(
        createSelector(
          policy,
          endpoints(2, () => 0),
        ).pick('x'),
        -1,
      );
      assert.equal(createSelector(policy, []).pick('x'), -1);
    });

    it(`${policy} rejects bad endpoints with an error naming the field`, () => {
      assert.throws(
        () => createSelector(policy, [endpoint('10.0.0.1:80', 1.5)]),
        (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith('endpoints[0].weight'),
      );
      assert.throws(
        () => createSelector(policy, [endpoint('10.0.0.1:80'), endpoint('10.0.0.1:80')]),
        (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith('endpoints[1].id'),
      );
    });
  }

  it('rejects an unknown policy', () => {
    assert.throws(() => createSelector('Fastest' as LoadBalancerPolicy, []), InvalidArgumentError);
  });
});

describe('least request', () => {
  it('steers away from the endpoint with requests in flight', () => {
    const selector = new LeastRequestSelector(endpoints(2), { random: seededRandom(11) });
    for (let n = 0; n < 10; n++) selector.onStart(0);
    const counts = histogram(2, 10_000, () => selector.pick());
    // Endpoint 0 wins only when both probes land on it (¼ of picks).
    assert.ok(counts[0]! < 3_000 && counts[1]! > 7_000, `counts ${counts.join(',')}`);
  });

  it('compares load per unit of weight', () => {
    const selector = new LeastRequestSelector(
      endpoints(2, (i) => (i === 0 ? 4 : 1)),
      { random: seededRandom(5) },
    );
    for (let n = 0; n < 3; n++) selector.onStart(0); // 3/4 per weight unit
    selector.onStart(1); // 1/1 per weight unit: busier
    const counts = histogram(2, 10_000, () => selector.pick());
    assert.ok(counts[0]! > 9_000, `counts ${counts.join(',')}`);
  });

  it('balances concurrent load when requests stay in flight', () => {
    const selector = new LeastRequestSelector(endpoints(4), { random: seededRandom(2) });
    for (let n = 0; n < 400; n++) selector.onStart(selector.pick());
    const inflight = [0, 1, 2, 3].map((i) => selector.inflight(i));
    assert.ok(Math.max(...inflight) - Math.min(...inflight) <= 2, `in flight ${inflight.join(',')}`);
    selector.onEnd(0);
    assert.equal(selector.inflight(0), inflight[0]! - 1);
  });
});
