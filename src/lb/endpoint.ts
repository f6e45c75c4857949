/**
 * The data every selector is built from, the selector contract, and the checks shared by all
 * algorithms. A selector is built once from an endpoint list and never changes its endpoints
 * ("swap, don't mutate"): when the list changes, the caller builds a new selector and swaps it in,
 * and a request keeps the selector it started with.
 */
import { InvalidArgumentError } from '../errors.ts';

/** One upstream endpoint, as plain data; the proxy maps it to an `HttpPeer`. */
export interface Endpoint {
  /** Stable identity, e.g. `10.0.0.5:8080`; health and outlier state are keyed by it. */
  readonly id: string;
  /** IP address or host name, without brackets for IPv6. */
  readonly address: string;
  readonly port: number;
  /** Relative share of traffic, an integer in 0..{@link MAX_WEIGHT}; 0 drains the endpoint. */
  readonly weight: number;
}

/**
 * Says whether the endpoint at `index` may take the request (healthy, not ejected, not already
 * tried). Called on the hot path: it must be cheap and must not throw.
 */
export type IsUsable = (index: number) => boolean;

/** The contract every load-balancing algorithm implements. */
export interface Selector {
  /** The endpoints this selector was built from; `pick` returns indices into this array. */
  readonly endpoints: readonly Endpoint[];
  /**
   * Chooses an endpoint. `key` only matters to consistent hashing (a string is hashed with
   * `hashKey`, a number is taken as an already computed 32-bit hash). When `isUsable` refuses the
   * first candidate, the algorithm walks to its next candidate, checking each endpoint at most
   * once. Returns -1 when no endpoint is usable.
   */
  pick(key?: string | number, isUsable?: IsUsable): number;
  /**
   * Tells the selector a request started / ended on `index`. Load-aware selectors
   * (least-request) count in-flight requests with these; the others ignore them, so a caller can
   * always call them without knowing the algorithm. Call both on the same selector instance.
   */
  onStart(index: number): void;
  onEnd(index: number): void;
}

/** Options shared by selector constructors. */
export interface SelectorOptions {
  /**
   * Uniform random source in [0, 1); defaults to `Math.random`. Injected so tests can make the
   * randomised algorithms (and the round-robin start offset) deterministic.
   */
  readonly random?: () => number;
}

/** Largest accepted weight; keeps schedules and hash rings within a bounded size. */
export const MAX_WEIGHT = 1_000_000;
/** Largest endpoint list one selector accepts. */
export const MAX_ENDPOINTS = 65_536;

/**
 * Checks an endpoint list once, at construction, so the pick path never meets a bad weight.
 * Throws `InvalidArgumentError` naming the offending field.
 */
export function validateEndpoints(endpoints: readonly Endpoint[]): void {
  if (endpoints.length > MAX_ENDPOINTS) {
    throw new InvalidArgumentError('endpoints', `at most ${MAX_ENDPOINTS} endpoints are supported`);
  }
  const seen = new Set<string>();
  endpoints.forEach((endpoint, i) => {
    const { weight, id } = endpoint;
    if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
      throw new InvalidArgumentError(`endpoints[${i}].weight`, `must be an integer in 0..${MAX_WEIGHT}`);
    }
    if (seen.has(id)) throw new InvalidArgumentError(`endpoints[${i}].id`, `duplicate id "${id}"`);
    seen.add(id);
  });
}

/** Greatest common divisor of all positive weights (0 when there are none). */
export function weightGcd(endpoints: readonly Endpoint[]): number {
  let g = 0;
  for (const { weight } of endpoints) {
    let a = weight;
    let b = g;
    while (b !== 0) [a, b] = [b, a % b];
    g = a;
  }
  return g;
}

/**
 * Remembers which endpoints a fallback walk has already offered to `isUsable`, so a walk checks
 * each endpoint once. Reused across picks (an epoch stamp instead of clearing), so the slow path
 * allocates nothing either.
 */
export class VisitedSet {
  readonly #stamps: Uint32Array;
  #epoch = 0;

  constructor(size: number) {
    this.#stamps = new Uint32Array(size);
  }

  /** Forgets every mark; call at the start of each walk. */
  reset(): void {
    this.#epoch++;
    if (this.#epoch === 0xffffffff) {
      this.#stamps.fill(0);
      this.#epoch = 1;
    }
  }

  /** Marks `index` and says whether it was new in this walk. */
  visit(index: number): boolean {
    if (this.#stamps[index] === this.#epoch) return false;
    this.#stamps[index] = this.#epoch;
    return true;
  }
}
