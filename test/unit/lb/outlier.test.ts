import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { OutlierDetector, type OutlierOptions } from '../../../src/lb/index.ts';
import { endpoints } from './fixtures/endpoints.ts';

/** A detector over `count` endpoints with a hand-driven clock. */
function fixture(count: number, options: OutlierOptions = {}) {
  const clock = { now: 1_000_000 };
  const list = endpoints(count);
  const detector = new OutlierDetector(list, {
    baseEjectionTimeMs: 10_000,
    maxEjectionTimeMs: 25_000,
    now: () => clock.now,
    ...options,
  });
  const ids = list.map((e) => e.id);
  return { clock, detector, ids };
}

describe('outlier detection', () => {
  it('ejects after 5 consecutive 5xx and brings the endpoint back after the base time', () => {
    const { clock, detector, ids } = fixture(4);
    for (let n = 0; n < 4; n++) assert.equal(detector.record(ids[0]!, '5xx'), 'counted');
    assert.equal(detector.isEjected(ids[0]!), false);
    assert.equal(detector.record(ids[0]!, '5xx'), 'ejected');
    assert.equal(detector.isEjected(ids[0]!), true);
    assert.deepEqual(detector.ejectedIds(), [ids[0]]);
    clock.now += 9_999;
    assert.equal(detector.isEjected(ids[0]!), true);
    clock.now += 1;
    assert.equal(detector.isEjected(ids[0]!), false);
  });

  it('ejects after 3 consecutive connect failures', () => {
    const { detector, ids } = fixture(4);
    detector.record(ids[1]!, 'connect-failure');
    detector.record(ids[1]!, 'connect-failure');
    assert.equal(detector.record(ids[1]!, 'connect-failure'), 'ejected');
  });

  it('resets the streak on success', () => {
    const { detector, ids } = fixture(4);
    for (let n = 0; n < 4; n++) detector.record(ids[0]!, '5xx');
    detector.record(ids[0]!, 'success');
    for (let n = 0; n < 4; n++) assert.equal(detector.record(ids[0]!, '5xx'), 'counted');
    detector.record(ids[0]!, 'connect-failure');
    assert.equal(detector.isEjected(ids[0]!), true, 'a connect failure also counts as a 5xx-class failure');
  });

  it('lengthens each ejection by the base time up to the maximum, and ignores results while ejected', () => {
    const { clock, detector, ids } = fixture(2, { consecutiveConnectFailures: 1 });
    const durations: number[] = [];
    for (let round = 0; round < 4; round++) {
      const start = clock.now;
      assert.equal(detector.record(ids[0]!, 'connect-failure'), 'ejected');
      assert.equal(detector.record(ids[0]!, 'connect-failure'), 'ignored-while-ejected');
      while (detector.isEjected(ids[0]!)) clock.now += 1_000;
      durations.push(clock.now - start);
    }
    assert.deepEqual(durations, [10_000, 20_000, 25_000, 25_000]);
  });

  it('forgets past ejections after time in service', () => {
    const { clock, detector, ids } = fixture(2, { consecutiveConnectFailures: 1 });
    detector.record(ids[0]!, 'connect-failure');
    clock.now += 10_000;
    detector.record(ids[0]!, 'connect-failure'); // second ejection: 20 s
    clock.now += 20_000 + 2 * 10_000; // back for two base periods: the count decays by two
    detector.record(ids[0]!, 'connect-failure');
    clock.now += 9_999;
    assert.equal(detector.isEjected(ids[0]!), true);
    clock.now += 1;
    assert.equal(detector.isEjected(ids[0]!), false);
  });

  it('never ejects more than maxEjectionPercent', () => {
    const { detector, ids } = fixture(10, { consecutiveConnectFailures: 1, maxEjectionPercent: 30 });
    const outcomes = ids.map((id) => detector.record(id, 'connect-failure'));
    assert.equal(outcomes.filter((o) => o === 'ejected').length, 3);
    assert.equal(outcomes[3], 'ejection-refused-max-percent');
    assert.equal(detector.ejectedIds().length, 3);
  });

  it('never ejects every endpoint, even at 100%', () => {
    const { detector, ids } = fixture(2, { consecutiveConnectFailures: 1, maxEjectionPercent: 100 });
    assert.equal(detector.record(ids[0]!, 'connect-failure'), 'ejected');
    assert.equal(detector.record(ids[1]!, 'connect-failure'), 'ejection-refused-max-percent');
  });

  it('keeps state across endpoint updates and ignores unknown ids', () => {
    const { detector, ids } = fixture(4, { consecutiveConnectFailures: 1 });
    detector.record(ids[0]!, 'connect-failure');
    detector.setEndpoints(endpoints(5));
    assert.equal(detector.isEjected(ids[0]!), true);
    assert.equal(detector.record('192.0.2.1:80', '5xx'), 'unknown-endpoint');
  });

  it('validates options', () => {
    assert.throws(() => fixture(1, { consecutive5xx: 0 }), InvalidArgumentError);
    assert.throws(() => fixture(1, { maxEjectionTimeMs: 5 }), /maxEjectionTimeMs/);
    assert.throws(() => fixture(1, { maxEjectionPercent: 101 }), /maxEjectionPercent/);
  });
});
