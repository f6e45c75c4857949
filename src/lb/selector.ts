/** Builds the selector a Backend's `loadBalancer.policy` names. */
import { InvalidArgumentError } from '../errors.ts';
import type { Endpoint, Selector, SelectorOptions } from './endpoint.ts';
import { KetamaSelector } from './ketama.ts';
import { LeastRequestSelector } from './least-request.ts';
import { RandomSelector } from './random.ts';
import { RoundRobinSelector } from './round-robin.ts';

/** The policy names of the Backend resource's `spec.loadBalancer.policy`. */
export type LoadBalancerPolicy = 'RoundRobin' | 'Random' | 'LeastRequest' | 'ConsistentHash';

/**
 * Builds an immutable selector over `endpoints`. Call again when the endpoints change and swap the
 * result in; never mutate a selector a request may still hold. Throws `InvalidArgumentError` for an
 * unknown policy or a bad endpoint.
 */
export function createSelector(
  policy: LoadBalancerPolicy,
  endpoints: readonly Endpoint[],
  options: SelectorOptions = {},
): Selector {
  switch (policy) {
    case 'RoundRobin':
      return new RoundRobinSelector(endpoints, options);
    case 'Random':
      return new RandomSelector(endpoints, options);
    case 'LeastRequest':
      return new LeastRequestSelector(endpoints, options);
    case 'ConsistentHash':
      return new KetamaSelector(endpoints, options);
    default:
      throw new InvalidArgumentError('policy', `unknown load-balancing policy "${String(policy)}"`);
  }
}
