/**
 * Load balancing for any proxy built on Portico: immutable weighted selectors (swap, don't
 * mutate), active health checks, passive outlier ejection and retry policy.
 */
export type { Endpoint, IsUsable, Selector, SelectorOptions } from './endpoint.ts';
export { MAX_ENDPOINTS, MAX_WEIGHT } from './endpoint.ts';
export { createSelector, type LoadBalancerPolicy } from './selector.ts';
export { RoundRobinSelector } from './round-robin.ts';
export { RandomSelector } from './random.ts';
export { LeastRequestSelector } from './least-request.ts';
export { KetamaSelector, hashKey, POINTS_PER_WEIGHT } from './ketama.ts';
export { SessionAffinity, cookieValue, type SessionCookieOptions } from './affinity.ts';
export {
  HealthChecker,
  type HealthCheckOptions,
  type HealthCheckProtocol,
  type HealthCheckTls,
  type HealthListener,
  type HealthSnapshot,
} from './health.ts';
export { DnsDiscovery, isDnsName, sameAddresses, type DnsAnswer, type DnsDiscoveryOptions } from './dns.ts';
export { OutlierDetector, type AttemptResult, type OutlierOptions, type RecordOutcome } from './outlier.ts';
export {
  RetryBudget,
  RetryPolicy,
  classifyFailure,
  pickUntried,
  type FailedAttempt,
  type RetryBudgetOptions,
  type RetryDecision,
  type RetryOn,
  type RetryPolicyOptions,
} from './retry.ts';
