/**
 * Smooth weighted round robin (nginx's `ngx_http_upstream_get_peer`), precomputed: the selector
 * runs the algorithm once over a whole period (sum of weights ÷ their gcd) and stores the
 * resulting schedule, so a pick is one array read and a cursor step instead of an O(n) scan.
 */
import type { Endpoint, IsUsable, Selector, SelectorOptions } from './endpoint.ts';
import { VisitedSet, validateEndpoints, weightGcd } from './endpoint.ts';

/** Longest schedule stored; larger periods are approximated by scaling the weights down. */
export const MAX_SCHEDULE_LENGTH = 1 << 20;
/**
 * nginx's algorithm costs O(endpoints) per schedule slot. Past this many steps of build work the
 * schedule is built with an O(log n) earliest-deadline heap instead: same share per endpoint per
 * period, similar interleaving, but not nginx's exact order.
 */
const NGINX_BUILD_BUDGET = 1 << 22;

/** Weighted round robin whose order, for ordinary weight sets, is exactly nginx's. */
export class RoundRobinSelector implements Selector {
  readonly endpoints: readonly Endpoint[];
  readonly #schedule: Uint16Array;
  readonly #candidates: number;
  readonly #visited: VisitedSet;
  #cursor: number;

  constructor(endpoints: readonly Endpoint[], options: SelectorOptions = {}) {
    validateEndpoints(endpoints);
    this.endpoints = endpoints;
    const weights = periodWeights(endpoints);
    this.#schedule = buildSchedule(weights);
    this.#candidates = weights.filter((w) => w > 0).length;
    this.#visited = new VisitedSet(endpoints.length);
    this.#cursor = Math.floor((options.random ?? Math.random)() * this.#schedule.length);
  }

  pick(_key?: string | number, isUsable?: IsUsable): number {
    const length = this.#schedule.length;
    if (length === 0) return -1;
    const position = this.#cursor;
    this.#cursor = position + 1 === length ? 0 : position + 1;
    const index = this.#schedule[position]!;
    if (isUsable === undefined || isUsable(index)) return index;
    return this.#walk(position, isUsable);
  }

  /** Round robin keeps no per-request state. */
  onStart(_index: number): void {}

  /** Round robin keeps no per-request state. */
  onEnd(_index: number): void {}

  /** Next usable endpoint further along the schedule, each endpoint offered once. */
  #walk(position: number, isUsable: IsUsable): number {
    const schedule = this.#schedule;
    const visited = this.#visited;
    visited.reset();
    visited.visit(schedule[position]!);
    let offered = 1;
    for (let step = 1; step < schedule.length && offered < this.#candidates; step++) {
      const index = schedule[(position + step) % schedule.length]!;
      if (!visited.visit(index)) continue;
      if (isUsable(index)) return index;
      offered++;
    }
    return -1;
  }
}

/** Weights reduced by their gcd, and scaled down if the period would exceed the cap. */
function periodWeights(endpoints: readonly Endpoint[]): number[] {
  const gcd = weightGcd(endpoints);
  if (gcd === 0) return endpoints.map(() => 0);
  const weights = endpoints.map((e) => e.weight / gcd);
  const period = weights.reduce((sum, w) => sum + w, 0);
  if (period <= MAX_SCHEDULE_LENGTH) return weights;
  const scale = MAX_SCHEDULE_LENGTH / period;
  return weights.map((w) => (w === 0 ? 0 : Math.max(1, Math.floor(w * scale))));
}

function buildSchedule(weights: readonly number[]): Uint16Array {
  const period = weights.reduce((sum, w) => sum + w, 0);
  return period * weights.length <= NGINX_BUILD_BUDGET
    ? nginxSchedule(weights, period)
    : deadlineSchedule(weights, period);
}

/** One period of nginx's smooth weighted round robin; ties go to the lowest index, as in nginx. */
function nginxSchedule(weights: readonly number[], period: number): Uint16Array {
  const schedule = new Uint16Array(period);
  const current = new Float64Array(weights.length);
  for (let slot = 0; slot < period; slot++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] === 0) continue;
      current[i]! += weights[i]!;
      if (best === -1 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= period;
    schedule[slot] = best;
  }
  return schedule;
}

/**
 * One period of earliest-deadline-first scheduling: endpoint i's k-th slot is due at
 * (k + ½) / wᵢ of the period, so each endpoint gets exactly wᵢ slots, spread evenly.
 */
function deadlineSchedule(weights: readonly number[], period: number): Uint16Array {
  const schedule = new Uint16Array(period);
  const served = new Float64Array(weights.length);
  const heap = new DeadlineHeap(weights, served);
  for (let slot = 0; slot < period; slot++) {
    const index = heap.top();
    schedule[slot] = index;
    served[index]!++;
    heap.topChanged();
  }
  return schedule;
}

/** A binary min-heap of endpoint indices ordered by next deadline, then index. */
class DeadlineHeap {
  readonly #heap: number[];
  readonly #weights: readonly number[];
  readonly #served: Float64Array;

  constructor(weights: readonly number[], served: Float64Array) {
    this.#weights = weights;
    this.#served = served;
    this.#heap = [];
    weights.forEach((w, i) => {
      if (w > 0) this.#push(i);
    });
  }

  top(): number {
    return this.#heap[0]!;
  }

  /** Restores heap order after the top endpoint's deadline moved later. */
  topChanged(): void {
    const heap = this.#heap;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) return;
      const right = left + 1;
      const child = right < heap.length && this.#before(heap[right]!, heap[left]!) ? right : left;
      if (!this.#before(heap[child]!, heap[at]!)) return;
      [heap[at], heap[child]] = [heap[child]!, heap[at]!];
      at = child;
    }
  }

  #push(index: number): void {
    const heap = this.#heap;
    let at = heap.push(index) - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#before(heap[at]!, heap[parent]!)) return;
      [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
      at = parent;
    }
  }

  /** (2kᵢ + 1) / 2wᵢ < (2kⱼ + 1) / 2wⱼ, compared exactly by cross-multiplying. */
  #before(i: number, j: number): boolean {
    const di = (2 * this.#served[i]! + 1) * this.#weights[j]!;
    const dj = (2 * this.#served[j]! + 1) * this.#weights[i]!;
    return di < dj || (di === dj && i < j);
  }
}
