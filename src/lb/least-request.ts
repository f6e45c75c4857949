/**
 * Least request with the power of two choices (Mitzenmacher; Envoy's `LEAST_REQUEST`): draw two
 * endpoints by weight and send to the one with fewer in-flight requests per unit of weight. Two
 * random probes avoid the herd effect of a global minimum while still steering away from slow
 * endpoints, at O(log n) per pick.
 */
import type { Endpoint, IsUsable, Selector, SelectorOptions } from './endpoint.ts';
import { validateEndpoints } from './endpoint.ts';
import { WeightedDraw } from './random.ts';

/** Weighted least-request (P2C); in-flight counts live in this selector instance. */
export class LeastRequestSelector implements Selector {
  readonly endpoints: readonly Endpoint[];
  readonly #draw: WeightedDraw;
  readonly #inflight: Int32Array;
  readonly #weights: Float64Array;

  constructor(endpoints: readonly Endpoint[], options: SelectorOptions = {}) {
    validateEndpoints(endpoints);
    this.endpoints = endpoints;
    this.#draw = new WeightedDraw(endpoints, options.random ?? Math.random);
    this.#inflight = new Int32Array(endpoints.length);
    this.#weights = Float64Array.from(endpoints, (e) => e.weight);
  }

  pick(_key?: string | number, isUsable?: IsUsable): number {
    if (this.#draw.total === 0) return -1;
    const first = this.#draw.draw();
    const second = this.#draw.draw();
    if (isUsable === undefined) return this.#lighter(first, second);
    const firstUsable = isUsable(first);
    const secondUsable = second === first ? firstUsable : isUsable(second);
    if (firstUsable && secondUsable) return this.#lighter(first, second);
    if (firstUsable) return first;
    if (secondUsable) return second;
    return this.#leastLoaded(isUsable);
  }

  /** Counts a request in flight on `index`; pair every call with one {@link onEnd}. */
  onStart(index: number): void {
    this.#inflight[index]!++;
  }

  onEnd(index: number): void {
    if (this.#inflight[index]! > 0) this.#inflight[index]!--;
  }

  /** In-flight requests on `index`, for metrics and tests. */
  inflight(index: number): number {
    return this.#inflight[index]!;
  }

  /** a unless b carries strictly less load per unit of weight (compared without dividing). */
  #lighter(a: number, b: number): number {
    return this.#inflight[b]! * this.#weights[a]! < this.#inflight[a]! * this.#weights[b]! ? b : a;
  }

  /** Slow path when both probes are unusable: the least loaded usable endpoint, by full scan. */
  #leastLoaded(isUsable: IsUsable): number {
    let best = -1;
    for (let i = 0; i < this.endpoints.length; i++) {
      if (this.#weights[i] === 0 || !isUsable(i)) continue;
      if (best === -1 || this.#lighter(best, i) === i) best = i;
    }
    return best;
  }
}
