import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, PorticoError } from '../../../src/errors.ts';
import {
  classifyFailure,
  createSelector,
  pickUntried,
  RetryBudget,
  RetryPolicy,
  type RetryDecision,
} from '../../../src/lb/index.ts';
import { endpoints, seededRandom } from './fixtures/endpoints.ts';

describe('retry policy', () => {
  const policy = new RetryPolicy({ retryOn: ['connect-failure', 'reset', '503'] });

  const cases: [string, string, Parameters<typeof classifyFailure>[0], number, RetryDecision][] = [
    ['GET after a reset', 'GET', new PorticoError('CONNECTION_RESET', 'reset'), 1, 'retry'],
    ['GET after a 503', 'GET', 503, 2, 'retry'],
    ['GET after a 502 not in retryOn', 'GET', 502, 1, 'failure-not-retryable'],
    [
      'GET after a TLS failure',
      'GET',
      new PorticoError('TLS_FAILURE', 'bad cert'),
      1,
      'failure-not-retryable',
    ],
    ['GET once attempts are used up', 'GET', 503, 3, 'attempts-exhausted'],
    ['POST after a 503', 'POST', 503, 1, 'non-idempotent-method'],
    ['POST after a reset', 'POST', new PorticoError('CONNECTION_RESET', 'reset'), 1, 'non-idempotent-method'],
    [
      'POST after a connect failure (never sent)',
      'POST',
      new PorticoError('CONNECT_REFUSED', 'refused'),
      1,
      'retry',
    ],
  ];
  for (const [name, method, failure, attempts, expected] of cases) {
    it(`${name} → ${expected}`, () => {
      assert.equal(policy.canRetry({ method, failure: classifyFailure(failure), attempts }), expected);
    });
  }

  it('retries non-idempotent methods when allowed', () => {
    const lenient = new RetryPolicy({ retryOn: ['503'], allowNonIdempotent: true });
    assert.equal(lenient.canRetry({ method: 'POST', failure: '503', attempts: 1 }), 'retry');
  });

  it('retries nothing with the defaults but connect failures and resets', () => {
    const defaults = new RetryPolicy();
    assert.equal(defaults.canRetry({ method: 'GET', failure: '503', attempts: 1 }), 'failure-not-retryable');
    assert.equal(defaults.canRetry({ method: 'GET', failure: 'reset', attempts: 2 }), 'retry');
    assert.equal(defaults.canRetry({ method: 'GET', failure: 'reset', attempts: 3 }), 'attempts-exhausted');
  });

  it('validates options', () => {
    assert.throws(() => new RetryPolicy({ attempts: 0 }), InvalidArgumentError);
    assert.throws(() => new RetryPolicy({ retryOn: ['500' as '503'] }), /retryOn\[0\]/);
    assert.throws(() => new RetryBudget({ budgetPercent: 120 }), /budgetPercent/);
  });
});

describe('retry budget', () => {
  const get = { method: 'GET', failure: 'reset', attempts: 1 } as const;

  it('allows minRetryConcurrency retries in flight when traffic is low', () => {
    const policy = new RetryPolicy();
    const budget = new RetryBudget();
    budget.requestStarted();
    for (let n = 0; n < 3; n++) {
      assert.equal(policy.canRetry(get, budget), 'retry');
      budget.retryStarted();
    }
    assert.equal(policy.canRetry(get, budget), 'budget-exhausted');
    budget.retryFinished();
    assert.equal(policy.canRetry(get, budget), 'retry');
  });

  it('allows budgetPercent of active requests when traffic is high', () => {
    const policy = new RetryPolicy();
    const budget = new RetryBudget({ budgetPercent: 20, minRetryConcurrency: 3 });
    for (let n = 0; n < 100; n++) budget.requestStarted();
    for (let n = 0; n < 20; n++) budget.retryStarted();
    assert.equal(policy.canRetry(get, budget), 'budget-exhausted');
    for (let n = 0; n < 5; n++) budget.requestStarted();
    assert.equal(policy.canRetry(get, budget), 'retry');
  });
});

describe('pickUntried', () => {
  it('picks an endpoint not tried before, and -1 once all are tried', () => {
    const selector = createSelector('RoundRobin', endpoints(3), { random: seededRandom(1) });
    const tried = [selector.pick()];
    tried.push(pickUntried(selector, tried));
    tried.push(pickUntried(selector, tried, undefined, () => true));
    assert.deepEqual([...tried].sort(), [0, 1, 2]);
    assert.equal(pickUntried(selector, tried), -1);
  });

  it('keeps the caller’s usability filter', () => {
    const selector = createSelector('ConsistentHash', endpoints(3));
    assert.equal(
      pickUntried(selector, [0], 'k', (i) => i !== 1),
      2,
    );
  });
});
