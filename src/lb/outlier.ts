/**
 * Passive health (outlier ejection, after Envoy's outlier detection): every worker records the
 * outcome of its own upstream attempts, and an endpoint that fails several times in a row is
 * ejected for a while without waiting for the next active check. Ejection is time-based and lazy:
 * no timers; an endpoint is back as soon as `now()` passes its ejection end.
 *
 * Two consecutive-failure counters, both reset by a success:
 * - `consecutive5xx` (default 5) counts 5xx responses and connect failures alike;
 * - `consecutiveConnectFailures` (default 3) counts connect failures only: an endpoint that cannot
 *   even be reached is ejected sooner than one that answers with errors, which may be the
 *   request's fault rather than the endpoint's.
 *
 * The k-th ejection lasts `baseEjectionTimeMs × k`, capped at `maxEjectionTimeMs`; k decays by one
 * for every `baseEjectionTimeMs` the endpoint spends back in service, so a long-healthy endpoint
 * starts from the base again. At most `maxEjectionPercent` of the endpoints are ejected at once,
 * and never all of them: with everything failing, spreading the load beats refusing it.
 */
import { InvalidArgumentError } from '../errors.ts';
import type { Endpoint } from './endpoint.ts';

/** What an upstream attempt came to, as far as the endpoint's health is concerned. */
export type AttemptResult = 'success' | 'connect-failure' | '5xx';

/** What recording a result did; a named outcome for logs and `portico explain`. */
export type RecordOutcome =
  | 'counted'
  | 'ejected'
  | 'ejection-refused-max-percent'
  /** Results of requests still finishing on an ejected endpoint do not count towards its return. */
  | 'ignored-while-ejected'
  | 'unknown-endpoint';

export interface OutlierOptions {
  /** Consecutive 5xx or connect failures that eject; default 5. */
  readonly consecutive5xx?: number;
  /** Consecutive connect failures that eject; default 3. */
  readonly consecutiveConnectFailures?: number;
  /** Length of a first ejection; default 30 000 ms. */
  readonly baseEjectionTimeMs?: number;
  /** Longest ejection; default 300 000 ms. */
  readonly maxEjectionTimeMs?: number;
  /** Most endpoints ejected at once, as a percentage; default 50. */
  readonly maxEjectionPercent?: number;
  /** Clock in milliseconds; default `Date.now`, injected by tests. */
  readonly now?: () => number;
}

interface OutlierState {
  failures: number;
  connectFailures: number;
  /** Ejections counted towards the next duration (decays while in service). */
  ejections: number;
  ejectedUntil: number;
}

type Resolved = Required<OutlierOptions>;

/** Tracks consecutive failures per endpoint id and ejects outliers; see the module comment. */
export class OutlierDetector {
  #options: Resolved;
  #states = new Map<string, OutlierState>();

  /** Throws `InvalidArgumentError` naming the first bad option. */
  constructor(endpoints: readonly Endpoint[], options: OutlierOptions = {}) {
    this.#options = resolveOptions(options);
    this.setEndpoints(endpoints);
  }

  /**
   * Applies new settings; endpoints keep their counters and ejections, which the new thresholds
   * judge from the next result on. Throws `InvalidArgumentError` naming the first bad option.
   */
  configure(options: OutlierOptions): void {
    this.#options = resolveOptions(options);
  }

  /** Replaces the endpoint set; endpoints that stay keep their counters and ejection. */
  setEndpoints(endpoints: readonly Endpoint[]): void {
    const previous = this.#states;
    this.#states = new Map(
      endpoints.map((e) => [
        e.id,
        previous.get(e.id) ?? { failures: 0, connectFailures: 0, ejections: 0, ejectedUntil: 0 },
      ]),
    );
  }

  /** Records one attempt's result against endpoint `id`. */
  record(id: string, result: AttemptResult): RecordOutcome {
    const state = this.#states.get(id);
    if (state === undefined) return 'unknown-endpoint';
    const now = this.#options.now();
    if (state.ejectedUntil > now) return 'ignored-while-ejected';
    if (result === 'success') {
      state.failures = 0;
      state.connectFailures = 0;
      return 'counted';
    }
    state.failures++;
    state.connectFailures = result === 'connect-failure' ? state.connectFailures + 1 : 0;
    if (!this.#tripped(state)) return 'counted';
    if (!this.#mayEjectAnother(now)) return 'ejection-refused-max-percent';
    this.#eject(state, now);
    return 'ejected';
  }

  /** Whether `id` is ejected now; cheap enough for `isUsable` on the hot path. */
  isEjected(id: string): boolean {
    const state = this.#states.get(id);
    return state !== undefined && state.ejectedUntil > this.#options.now();
  }

  /** Ids ejected now, for metrics and `portico explain`. */
  ejectedIds(): string[] {
    const now = this.#options.now();
    return [...this.#states].filter(([, s]) => s.ejectedUntil > now).map(([id]) => id);
  }

  #tripped(state: OutlierState): boolean {
    return (
      state.failures >= this.#options.consecutive5xx ||
      state.connectFailures >= this.#options.consecutiveConnectFailures
    );
  }

  #mayEjectAnother(now: number): boolean {
    let ejected = 1;
    for (const s of this.#states.values()) if (s.ejectedUntil > now) ejected++;
    const total = this.#states.size;
    return ejected < total && ejected * 100 <= total * this.#options.maxEjectionPercent;
  }

  #eject(state: OutlierState, now: number): void {
    const { baseEjectionTimeMs, maxEjectionTimeMs } = this.#options;
    if (state.ejectedUntil > 0) {
      const decayed = Math.floor((now - state.ejectedUntil) / baseEjectionTimeMs);
      state.ejections = Math.max(0, state.ejections - decayed);
    }
    state.ejections++;
    state.ejectedUntil = now + Math.min(baseEjectionTimeMs * state.ejections, maxEjectionTimeMs);
    state.failures = 0;
    state.connectFailures = 0;
  }
}

function resolveOptions(options: OutlierOptions): Resolved {
  const resolved: Resolved = {
    consecutive5xx: options.consecutive5xx ?? 5,
    consecutiveConnectFailures: options.consecutiveConnectFailures ?? 3,
    baseEjectionTimeMs: options.baseEjectionTimeMs ?? 30_000,
    maxEjectionTimeMs: options.maxEjectionTimeMs ?? 300_000,
    maxEjectionPercent: options.maxEjectionPercent ?? 50,
    now: options.now ?? Date.now,
  };
  for (const key of ['consecutive5xx', 'consecutiveConnectFailures', 'baseEjectionTimeMs'] as const) {
    if (!Number.isInteger(resolved[key]) || resolved[key] <= 0) {
      throw new InvalidArgumentError(key, 'must be a positive integer');
    }
  }
  if (
    !Number.isInteger(resolved.maxEjectionTimeMs) ||
    resolved.maxEjectionTimeMs < resolved.baseEjectionTimeMs
  ) {
    throw new InvalidArgumentError('maxEjectionTimeMs', 'must be an integer ≥ baseEjectionTimeMs');
  }
  const percent = resolved.maxEjectionPercent;
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new InvalidArgumentError('maxEjectionPercent', 'must be between 0 and 100');
  }
  return resolved;
}
