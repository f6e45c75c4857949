/**
 * Per-worker endpoint state that outlives routing tables. Tables are immutable and swapped whole;
 * health and ejections are not: they are kept here, keyed by backend id and endpoint id, and copied
 * into each new table's {@link EndpointGate} when it is attached, so a table swap resets nothing.
 *
 * - Active health comes from the primary (one {@link HealthChecker} per Backend per node) as a
 *   {@link HealthMessage} on {@link HEALTH_TOPIC}: the unhealthy endpoint ids of every checked backend.
 * - Passive health is this worker's own: an {@link OutlierDetector} per backend records each
 *   attempt's result and ejects endpoints that fail in a row.
 * - Retries draw on a {@link RetryBudget} per backend.
 *
 * The request path reads only a gate's `Uint8Array` of flags (and, for an ejected endpoint, asks the
 * detector whether the ejection has ended); it allocates nothing.
 */
import {
  OutlierDetector,
  RetryBudget,
  type AttemptResult,
  type Endpoint,
  type IsUsable,
  type OutlierOptions,
  type RetryBudgetOptions,
  type Selector,
} from '../lb/index.ts';
import type { LoadBalancingStats, LoadBalancingStatsSource } from '../observability/metrics.ts';
import type { GatewayTable } from './runtime.ts';

/** The topic on which the primary broadcasts {@link HealthMessage}s. */
export const HEALTH_TOPIC = 'backend-health';

/**
 * The active-health view of a node, as plain JSON (Maps do not survive IPC): for every Backend with
 * a health check, the ids of its endpoints that are unhealthy now. Sent whole after every change, so
 * a worker that missed one (or just started) needs only the latest.
 */
export interface HealthMessage {
  /** Increases with every change, for logs and tests. */
  readonly version: number;
  /** Backend id (`namespace/name`) → unhealthy endpoint ids (`address:port`). */
  readonly unhealthy: Readonly<Record<string, readonly string[]>>;
}

/** An endpoint's state as `portico explain` and tests show it. */
export type EndpointCondition = 'healthy' | 'unhealthy' | 'ejected';

const UNHEALTHY = 1;
/** Set when the detector ejected the endpoint; cleared lazily once the ejection has ended. */
const EJECTED = 2;

/**
 * One table's view of a backend's endpoints: a flag byte per endpoint index and the walk that picks
 * a usable one. Built with the table (all flags clear); {@link EndpointStates.attach} fills it in.
 */
export class EndpointGate {
  readonly endpoints: readonly Endpoint[];
  readonly #indexById: ReadonlyMap<string, number>;
  /** Per endpoint index: {@link UNHEALTHY} | {@link EJECTED}; 0 means usable. */
  readonly #flags: Uint8Array;
  /** How many flags are non-zero: 0 lets `pick` skip the `isUsable` walk entirely. */
  #down = 0;
  /** The worker state this gate belongs to; undefined until attached (explain, unit tests). */
  state: BackendLbState | undefined;
  /** Endpoints the current `pick` must avoid (this request's failed attempts); set only during a pick. */
  #excluded: readonly number[] | undefined;
  readonly #usable: IsUsable = (index) => this.#isUsable(index);
  readonly #untried: IsUsable = (index) => this.#excluded === undefined || !this.#excluded.includes(index);

  constructor(endpoints: readonly Endpoint[]) {
    this.endpoints = endpoints;
    this.#indexById = new Map(endpoints.map((e, i) => [e.id, i]));
    this.#flags = new Uint8Array(endpoints.length);
  }

  /**
   * Picks an endpoint that is healthy, not ejected and not in `excluded`. When none is (everything
   * down: Envoy's panic mode), picks among the endpoints not in `excluded` regardless of health,
   * because spreading load over a sick backend beats refusing every request. -1 when every endpoint
   * is excluded.
   */
  pick(
    selector: Selector,
    key: string | number | undefined,
    excluded: readonly number[] | undefined,
  ): number {
    if (this.#down === 0 && excluded === undefined) return selector.pick(key);
    this.#excluded = excluded;
    let index = selector.pick(key, this.#usable);
    if (index < 0) {
      index = selector.pick(key, this.#untried);
      if (index >= 0 && this.state !== undefined) this.state.panics++;
    }
    this.#excluded = undefined;
    return index;
  }

  /** Whether endpoint `index` may take a request now: healthy and not ejected. */
  usable(index: number): boolean {
    return this.#down === 0 || this.#isUsable(index);
  }

  /** The endpoint's state in this gate (for explain and tests). */
  condition(index: number): EndpointCondition {
    const flags = this.#flags[index] ?? 0;
    if ((flags & UNHEALTHY) !== 0) return 'unhealthy';
    if ((flags & EJECTED) !== 0 && this.#stillEjected(index)) return 'ejected';
    return 'healthy';
  }

  /** Sets or clears the unhealthy flag of every endpoint from the node's latest health view. */
  applyHealth(unhealthy: ReadonlySet<string> | undefined): void {
    this.endpoints.forEach((e, i) => this.#set(i, UNHEALTHY, unhealthy?.has(e.id) === true));
  }

  /** Marks endpoint `id` ejected (the detector holds the end time). */
  markEjected(id: string): void {
    const index = this.#indexById.get(id);
    if (index !== undefined) this.#set(index, EJECTED, true);
  }

  #isUsable(index: number): boolean {
    const flags = this.#flags[index]!;
    if (flags !== 0) {
      if ((flags & UNHEALTHY) !== 0 || this.#stillEjected(index)) return false;
    }
    const excluded = this.#excluded;
    return excluded === undefined || !excluded.includes(index);
  }

  /** Whether the ejection flagged at `index` still runs; clears the flag when it has ended. */
  #stillEjected(index: number): boolean {
    if (this.state?.outlier.isEjected(this.endpoints[index]!.id) === true) return true;
    this.#set(index, EJECTED, false);
    return false;
  }

  #set(index: number, bit: number, on: boolean): void {
    const before = this.#flags[index]!;
    const after = on ? before | bit : before & ~bit;
    if (before === after) return;
    this.#flags[index] = after;
    if (before === 0) this.#down++;
    else if (after === 0) this.#down--;
  }
}

/** A backend's state in one worker, kept across tables while the backend exists. */
export class BackendLbState {
  readonly id: string;
  readonly outlier: OutlierDetector;
  readonly budget: RetryBudget;
  /** The Backend settings the detector and the budget were last configured from. */
  #settings: EndpointStateOptions | undefined;
  /** The gate of the table this worker serves now (the one ejections are mirrored into). */
  gate: EndpointGate | undefined;
  ejections = 0;
  retries = 0;
  budgetExhausted = 0;
  panics = 0;

  constructor(id: string, options: EndpointStateOptions) {
    this.id = id;
    this.outlier = new OutlierDetector([], options.outlier);
    this.budget = new RetryBudget(options.budget);
  }

  /**
   * Applies a Backend's own settings over the worker's defaults when they are not the ones applied
   * last (an unchanged Backend keeps its runtime, and so the same settings object, across tables).
   * Counters, ejections and retries in flight carry over.
   */
  configure(defaults: EndpointStateOptions, settings: EndpointStateOptions): void {
    if (settings === this.#settings) return;
    this.#settings = settings;
    this.outlier.configure({ ...defaults.outlier, ...settings.outlier });
    this.budget.configure({ ...defaults.budget, ...settings.budget });
  }

  /** Records one attempt on endpoint `index` of `gate`; an ejection is mirrored into the current gate too. */
  record(gate: EndpointGate, index: number, result: AttemptResult): void {
    const id = gate.endpoints[index]!.id;
    if (this.outlier.record(id, result) !== 'ejected') return;
    this.ejections++;
    gate.markEjected(id);
    if (this.gate !== gate) this.gate?.markEjected(id);
  }
}

/** A worker's defaults for every Backend, or one Backend's own settings over them (runtime.ts). */
export interface EndpointStateOptions {
  /** Outlier detection; the library's defaults (5 × 5xx or 3 connect failures, 30 s, at most 50 %). */
  readonly outlier?: OutlierOptions | undefined;
  /** Retry budget; the library's defaults (20 % of active requests, at least 3). */
  readonly budget?: RetryBudgetOptions | undefined;
}

/** Every backend's worker-side state; one per worker, shared by the table service and the proxy. */
export class EndpointStates implements LoadBalancingStatsSource {
  readonly #options: EndpointStateOptions;
  readonly #backends = new Map<string, BackendLbState>();
  #unhealthy = new Map<string, ReadonlySet<string>>();
  #healthVersion = 0;
  /**
   * Whether this process reports the node's unhealthy-endpoint gauge. Active health is per node, so
   * only one worker reports it and the sum over workers stays the node's count.
   */
  reportsHealth = true;

  constructor(options: EndpointStateOptions = {}) {
    // Validate once, at construction, with the option named.
    void new BackendLbState('', options);
    this.#options = options;
  }

  /** The version of the last {@link HealthMessage} applied (0 before any). */
  get healthVersion(): number {
    return this.#healthVersion;
  }

  /** Connects a freshly compiled table to the kept state; call before publishing the table. */
  attach(table: GatewayTable): void {
    for (const [id, runtime] of table.backends) {
      let state = this.#backends.get(id);
      if (state === undefined) {
        state = new BackendLbState(id, this.#options);
        this.#backends.set(id, state);
      }
      state.configure(this.#options, runtime.lb);
      const gate = runtime.gate;
      state.outlier.setEndpoints(gate.endpoints);
      gate.state = state;
      gate.applyHealth(this.#unhealthy.get(id));
      for (const ejected of state.outlier.ejectedIds()) gate.markEjected(ejected);
      state.gate = gate;
    }
    for (const id of this.#backends.keys()) if (!table.backends.has(id)) this.#backends.delete(id);
  }

  /** Applies the primary's latest health view to the current tables and remembers it for later ones. */
  applyHealth(message: HealthMessage): void {
    this.#healthVersion = message.version;
    this.#unhealthy = new Map(Object.entries(message.unhealthy).map(([id, ids]) => [id, new Set(ids)]));
    for (const [id, state] of this.#backends) state.gate?.applyHealth(this.#unhealthy.get(id));
  }

  /** The kept state of backend `id`, if the current table has it. */
  backend(id: string): BackendLbState | undefined {
    return this.#backends.get(id);
  }

  lbStats(): LoadBalancingStats[] {
    return [...this.#backends.values()].map((state) => {
      const unhealthy = this.#unhealthy.get(state.id);
      return {
        backend: state.id,
        unhealthy:
          this.reportsHealth && unhealthy !== undefined && state.gate !== undefined
            ? state.gate.endpoints.filter((e) => unhealthy.has(e.id)).length
            : 0,
        ejected: state.outlier.ejectedIds().length,
        ejections: state.ejections,
        retries: state.retries,
        budgetExhausted: state.budgetExhausted,
        panics: state.panics,
      };
    });
  }
}
