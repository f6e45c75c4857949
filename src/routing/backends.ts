/**
 * Weighted choice among a rule's backendRefs. Cumulative weights are computed once per table, so a
 * pick is one random number and a short scan, with no allocation.
 *
 * Gateway API semantics: a ref with weight 0 is never picked; a ref naming a missing Backend keeps
 * its share of traffic and that share gets a 500 (ResolvedRefs=False), rather than silently moving to
 * the healthy refs; a rule whose weights are all 0, or that has no refs, answers 500.
 */
import type { Backend, BackendRef } from './schema.ts';

export interface ResolvedBackendRef {
  readonly status: 'resolved';
  /** `namespace/name` of the Backend, the key of `RouteTable.backends`. */
  readonly backendId: string;
  readonly weight: number;
  /** Overrides the Backend's own port(s) when set. */
  readonly port: number | undefined;
}

export interface UnresolvedBackendRef {
  readonly status: 'unresolved';
  readonly backendId: string;
  readonly weight: number;
  readonly reason: 'BackendNotFound';
}

/** No ref can take the request: none configured or all weights are 0. The gateway answers 500. */
export interface NoBackend {
  readonly status: 'none';
}

export type BackendPick = ResolvedBackendRef | UnresolvedBackendRef | NoBackend;

export const NO_BACKEND: NoBackend = Object.freeze({ status: 'none' });

export interface WeightedBackends {
  /** Refs with a weight above 0, in spec order. */
  readonly refs: readonly (ResolvedBackendRef | UnresolvedBackendRef)[];
  /** `cumulative[i]` is the sum of weights of `refs[0..i]`. */
  readonly cumulative: readonly number[];
  readonly total: number;
}

export function compileBackendRefs(
  refs: readonly BackendRef[],
  namespace: string,
  backends: ReadonlyMap<string, Backend>,
): WeightedBackends {
  const kept: (ResolvedBackendRef | UnresolvedBackendRef)[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const ref of refs) {
    if (ref.weight <= 0) continue;
    const backendId = `${namespace}/${ref.name}`;
    kept.push(
      Object.freeze(
        !backends.has(backendId)
          ? { status: 'unresolved', backendId, weight: ref.weight, reason: 'BackendNotFound' }
          : { status: 'resolved', backendId, weight: ref.weight, port: ref.port },
      ),
    );
    total += ref.weight;
    cumulative.push(total);
  }
  return Object.freeze({ refs: Object.freeze(kept), cumulative: Object.freeze(cumulative), total });
}

/** Picks a ref for `random` in [0, 1); pass a seeded value in tests. */
export function pickBackend(w: WeightedBackends, random: number = Math.random()): BackendPick {
  if (w.total === 0) return NO_BACKEND;
  const target = random * w.total;
  const { cumulative, refs } = w;
  for (let i = 0; i < cumulative.length; i++) {
    if (target < cumulative[i]!) return refs[i]!;
  }
  return refs[refs.length - 1]!;
}
