/**
 * Active health checks: a background service that probes every endpoint on an interval (TCP
 * connect, or an HTTP(S) GET with expected statuses) and flips an endpoint's state only after
 * `healthyThreshold` / `unhealthyThreshold` consecutive results, so one lost probe does not drain
 * an endpoint. Run one checker per node and broadcast its {@link HealthSnapshot}s to the workers:
 * the snapshot is immutable and versioned, so a worker can swap it in with one assignment and
 * ignore stale versions.
 */
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import net from 'node:net';
import { InvalidArgumentError } from '../errors.ts';
import type { Endpoint } from './endpoint.ts';

const http = process.getBuiltinModule('node:http');

export type HealthCheckProtocol = 'tcp' | 'http' | 'https';

/** How to verify an HTTPS backend's certificate during checks. */
export interface HealthCheckTls {
  /** SNI and the name verified; defaults to the `host` option when it is a name. */
  readonly servername?: string;
  /** Default true. */
  readonly rejectUnauthorized?: boolean;
  /** PEM CA bundle trusted instead of the system store. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /**
   * PEM client certificate (chain) and its key, for a backend that requires mutual TLS: without them
   * its handshake fails and every probe reads as down. Both or neither.
   */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

export interface HealthCheckOptions {
  /** `tcp` (default) succeeds when a connection opens; `http`/`https` need an expected status. */
  readonly protocol?: HealthCheckProtocol;
  /** Request path for HTTP checks; default `/`. */
  readonly path?: string;
  /** Host header for HTTP checks; default the endpoint's `address:port`. */
  readonly host?: string;
  /** Statuses counted as healthy, single codes or inclusive ranges; default `[[200, 399]]`. */
  readonly expectedStatuses?: readonly (number | readonly [number, number])[];
  /** Per-probe deadline, connect through response headers; default 1000 ms. */
  readonly timeoutMs?: number;
  /** Time between probe rounds; default 5000 ms. A probe still running skips its next round. */
  readonly intervalMs?: number;
  /** Consecutive successes that bring an unhealthy endpoint back; default 2. */
  readonly healthyThreshold?: number;
  /** Consecutive failures that mark a healthy endpoint unhealthy; default 3. */
  readonly unhealthyThreshold?: number;
  /**
   * State of an endpoint before its first verdict; default true, so a restart or a new endpoint
   * does not black-hole traffic for `healthyThreshold` rounds.
   */
  readonly initiallyHealthy?: boolean;
  /** Only with `protocol: 'https'`. */
  readonly tls?: HealthCheckTls;
}

/** An immutable view of every checked endpoint's state, numbered so stale copies can be dropped. */
export interface HealthSnapshot {
  /** Increases by one with every change of state or of the endpoint set. */
  readonly version: number;
  /** Endpoint id → healthy. */
  readonly states: ReadonlyMap<string, boolean>;
}

/** Receives each new snapshot; must not throw (a throw becomes a process warning). */
export type HealthListener = (snapshot: HealthSnapshot) => void;

interface ResolvedOptions {
  readonly protocol: HealthCheckProtocol;
  readonly path: string;
  readonly host: string | undefined;
  readonly accepts: (status: number) => boolean;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly initiallyHealthy: boolean;
  readonly tls: HealthCheckTls;
}

interface EndpointState {
  endpoint: Endpoint;
  healthy: boolean;
  /** Consecutive results against the current state: successes while unhealthy, failures while healthy. */
  streak: number;
  probing: boolean;
}

/** Probes endpoints in the background and publishes their health; see the module comment. */
export class HealthChecker {
  readonly #options: ResolvedOptions;
  readonly #listeners = new Set<HealthListener>();
  #states = new Map<string, EndpointState>();
  #snapshot: HealthSnapshot;
  #timer: NodeJS.Timeout | undefined;
  #stopping: AbortController | undefined;

  /** Throws `InvalidArgumentError` naming the first bad option. */
  constructor(endpoints: readonly Endpoint[], options: HealthCheckOptions = {}) {
    this.#options = resolveOptions(options);
    this.#snapshot = { version: 0, states: new Map() };
    this.setEndpoints(endpoints);
  }

  /**
   * Replaces the endpoint set. Endpoints that stay keep their state and streak; new ones start in
   * `initiallyHealthy` and, if the checker runs, are probed at once.
   */
  setEndpoints(endpoints: readonly Endpoint[]): void {
    const previous = this.#states;
    this.#states = new Map(
      endpoints.map((endpoint) => {
        const kept = previous.get(endpoint.id);
        if (kept !== undefined) kept.endpoint = endpoint;
        return [endpoint.id, kept ?? this.#freshState(endpoint)];
      }),
    );
    this.#publish();
    if (this.#stopping !== undefined) this.#probeAll(this.#stopping.signal);
  }

  /** Starts probing now and then every `intervalMs`; timers are unref'd. Idempotent. */
  start(): void {
    if (this.#stopping !== undefined) return;
    this.#stopping = new AbortController();
    this.#round(this.#stopping.signal);
  }

  /** Stops the timer and aborts probes in flight; their results are discarded. Idempotent. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopping?.abort();
    this.#stopping = undefined;
  }

  /** Health of endpoint `id`; an id this checker does not check counts as healthy. */
  isHealthy(id: string): boolean {
    return this.#snapshot.states.get(id) ?? true;
  }

  /** The current snapshot; a new object after every change, never mutated. */
  snapshot(): HealthSnapshot {
    return this.#snapshot;
  }

  /** Calls `listener` with every new snapshot; returns a function that unsubscribes it. */
  onChange(listener: HealthListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #freshState(endpoint: Endpoint): EndpointState {
    return { endpoint, healthy: this.#options.initiallyHealthy, streak: 0, probing: false };
  }

  #round(signal: AbortSignal): void {
    this.#probeAll(signal);
    this.#timer = setTimeout(() => this.#round(signal), this.#options.intervalMs).unref();
  }

  #probeAll(signal: AbortSignal): void {
    for (const state of this.#states.values()) {
      if (!state.probing) void this.#probe(state, signal);
    }
  }

  async #probe(state: EndpointState, stopSignal: AbortSignal): Promise<void> {
    state.probing = true;
    const signal = AbortSignal.any([stopSignal, AbortSignal.timeout(this.#options.timeoutMs)]);
    const ok = await runProbe(state.endpoint, this.#options, signal);
    state.probing = false;
    if (stopSignal.aborted || this.#states.get(state.endpoint.id) !== state) return;
    if (this.#record(state, ok)) this.#publish();
  }

  /** Applies one probe result; says whether the endpoint changed state. */
  #record(state: EndpointState, ok: boolean): boolean {
    if (ok === state.healthy) {
      state.streak = 0;
      return false;
    }
    state.streak++;
    const threshold = ok ? this.#options.healthyThreshold : this.#options.unhealthyThreshold;
    if (state.streak < threshold) return false;
    state.healthy = ok;
    state.streak = 0;
    return true;
  }

  #publish(): void {
    const states = new Map<string, boolean>();
    for (const [id, state] of this.#states) states.set(id, state.healthy);
    this.#snapshot = { version: this.#snapshot.version + 1, states };
    for (const listener of this.#listeners) {
      try {
        listener(this.#snapshot);
      } catch (error) {
        process.emitWarning(error instanceof Error ? error : String(error), 'HealthListenerWarning');
      }
    }
  }
}

function runProbe(endpoint: Endpoint, options: ResolvedOptions, signal: AbortSignal): Promise<boolean> {
  return options.protocol === 'tcp' ? probeTcp(endpoint, signal) : probeHttp(endpoint, options, signal);
}

/** Healthy when a TCP connection opens before the deadline; the socket is closed at once. */
function probeTcp(endpoint: Endpoint, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: endpoint.address, port: endpoint.port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Healthy when response headers with an expected status arrive before the deadline. Uses a fresh
 * connection per probe (`agent: false`), so a probe measures connect as well, and drops the body.
 */
function probeHttp(endpoint: Endpoint, options: ResolvedOptions, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    // node:https (and node:tls) loads with the first HTTPS check, not at import.
    const client = options.protocol === 'https' ? process.getBuiltinModule('node:https') : http;
    const request = client.request(
      {
        host: endpoint.address,
        port: endpoint.port,
        path: options.path,
        method: 'GET',
        headers: { host: options.host ?? `${endpoint.address}:${endpoint.port}` },
        agent: false,
        signal,
        ...tlsRequestOptions(options),
      },
      (response) => {
        resolve(options.accepts(response.statusCode ?? 0));
        response.destroy();
      },
    );
    request.on('error', () => resolve(false));
    request.end();
  });
}

function tlsRequestOptions(options: ResolvedOptions): HttpsRequestOptions {
  if (options.protocol !== 'https') return {};
  const { servername, rejectUnauthorized, ca, cert, key } = options.tls;
  const name =
    servername ?? (options.host !== undefined && net.isIP(options.host) === 0 ? options.host : undefined);
  return {
    ...(name === undefined ? {} : { servername: name }),
    rejectUnauthorized: rejectUnauthorized ?? true,
    ...(ca === undefined ? {} : { ca: ca as string | Buffer | (string | Buffer)[] }),
    ...(cert === undefined ? {} : { cert, key }),
  };
}

function resolveOptions(options: HealthCheckOptions): ResolvedOptions {
  const protocol = options.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'http' && protocol !== 'https') {
    throw new InvalidArgumentError('protocol', 'must be "tcp", "http" or "https"');
  }
  if (options.tls !== undefined && protocol !== 'https') {
    throw new InvalidArgumentError('tls', 'only applies to protocol "https"');
  }
  if ((options.tls?.cert === undefined) !== (options.tls?.key === undefined)) {
    throw new InvalidArgumentError(
      options.tls?.cert === undefined ? 'tls.cert' : 'tls.key',
      'a client certificate needs both cert and key',
    );
  }
  const path = options.path ?? '/';
  if (!path.startsWith('/')) throw new InvalidArgumentError('path', 'must start with "/"');
  return {
    protocol,
    path,
    host: options.host,
    accepts: statusMatcher(options.expectedStatuses ?? [[200, 399]]),
    timeoutMs: positiveInteger('timeoutMs', options.timeoutMs ?? 1000),
    intervalMs: positiveInteger('intervalMs', options.intervalMs ?? 5000),
    healthyThreshold: positiveInteger('healthyThreshold', options.healthyThreshold ?? 2),
    unhealthyThreshold: positiveInteger('unhealthyThreshold', options.unhealthyThreshold ?? 3),
    initiallyHealthy: options.initiallyHealthy ?? true,
    tls: options.tls ?? {},
  };
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new InvalidArgumentError(option, 'must be a positive integer');
  return value;
}

/** Compiles the expected statuses once into a lookup table indexed by status code. */
function statusMatcher(
  expected: readonly (number | readonly [number, number])[],
): (status: number) => boolean {
  const table = new Uint8Array(600);
  expected.forEach((entry, i) => {
    const [from, to] = typeof entry === 'number' ? [entry, entry] : entry;
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 100 || to > 599 || from > to) {
      throw new InvalidArgumentError(
        `expectedStatuses[${i}]`,
        'must be a status or [from, to] range in 100..599',
      );
    }
    table.fill(1, from, to + 1);
  });
  if (expected.length === 0) throw new InvalidArgumentError('expectedStatuses', 'must not be empty');
  return (status) => table[status] === 1;
}
