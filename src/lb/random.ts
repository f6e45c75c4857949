/**
 * Weighted random selection: a cumulative-weight table built once, then a binary search per pick,
 * so a pick is O(log n) whatever the weights.
 */
import type { Endpoint, IsUsable, Selector, SelectorOptions } from './endpoint.ts';
import { validateEndpoints } from './endpoint.ts';

/** How many fresh draws a pick tries before walking the list for a usable endpoint. */
const REDRAWS = 2;

/** Draws endpoint indices with probability proportional to weight; shared with least-request. */
export class WeightedDraw {
  readonly #cumulative: Float64Array;
  readonly #random: () => number;
  readonly total: number;

  constructor(endpoints: readonly Endpoint[], random: () => number) {
    this.#cumulative = new Float64Array(endpoints.length);
    let total = 0;
    endpoints.forEach((e, i) => {
      total += e.weight;
      this.#cumulative[i] = total;
    });
    this.total = total;
    this.#random = random;
  }

  /** A weighted random index; never an endpoint of weight 0. Requires `total > 0`. */
  draw(): number {
    const cumulative = this.#cumulative;
    const target = this.#random() * this.total;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cumulative[mid]! > target) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}

/** Weighted random; an unusable draw is redrawn, then the list is walked from it. */
export class RandomSelector implements Selector {
  readonly endpoints: readonly Endpoint[];
  readonly #draw: WeightedDraw;

  constructor(endpoints: readonly Endpoint[], options: SelectorOptions = {}) {
    validateEndpoints(endpoints);
    this.endpoints = endpoints;
    this.#draw = new WeightedDraw(endpoints, options.random ?? Math.random);
  }

  pick(_key?: string | number, isUsable?: IsUsable): number {
    if (this.#draw.total === 0) return -1;
    let index = this.#draw.draw();
    if (isUsable === undefined || isUsable(index)) return index;
    for (let attempt = 0; attempt < REDRAWS; attempt++) {
      index = this.#draw.draw();
      if (isUsable(index)) return index;
    }
    return nextUsable(this.endpoints, index, isUsable);
  }

  /** Random selection keeps no per-request state. */
  onStart(_index: number): void {}

  /** Random selection keeps no per-request state. */
  onEnd(_index: number): void {}
}

/** The first usable endpoint of positive weight after `from`, wrapping; -1 if none. */
function nextUsable(endpoints: readonly Endpoint[], from: number, isUsable: IsUsable): number {
  for (let step = 1; step < endpoints.length; step++) {
    const index = (from + step) % endpoints.length;
    if (endpoints[index]!.weight > 0 && isUsable(index)) return index;
  }
  return -1;
}
