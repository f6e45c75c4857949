/**
 * Active health checks, once per node: the primary runs one {@link HealthChecker} per Backend that
 * has `spec.healthCheck`, rebuilds the set whenever a RouteSet is published, and broadcasts the whole
 * health view ({@link HealthMessage}) to the workers after every change. Workers apply it to the
 * table they serve and to every later one (see endpoint-state.ts).
 */
import {
  HealthChecker,
  type HealthCheckOptions,
  type HealthCheckTls,
  type HealthSnapshot,
} from '../lb/index.ts';
import type { Logger } from '../observability/index.ts';
import { parseDuration, type Backend } from '../routing/index.ts';
import { HEALTH_TOPIC, type HealthMessage } from './endpoint-state.ts';
import type { RouteSet } from './route-set.ts';
import { backendEndpoints, backendIdOf, backendTls, type BackendTls } from './runtime.ts';

/** What the primary's health checks say about one endpoint. */
export type CheckedState = 'healthy' | 'unhealthy' | 'unchecked';

/** Read access to the node's health view, for `portico explain`. */
export interface EndpointHealthView {
  stateOf(backendId: string, endpointId: string): CheckedState;
}

interface Running {
  /** The checker's options as JSON: a checker is replaced only when they change. */
  readonly key: string;
  readonly checker: HealthChecker;
  readonly unsubscribe: () => void;
}

/** Runs the node's health checks in the primary; see the module comment. */
export class HealthMonitor implements EndpointHealthView {
  readonly #channel: { broadcast(topic: string, body: unknown): void };
  readonly #logger: Logger;
  #running = new Map<string, Running>();
  #version = 0;
  #scheduled = false;
  #active = false;
  #set: RouteSet | undefined;

  constructor(channel: { broadcast(topic: string, body: unknown): void }, logger: Logger) {
    this.#channel = channel;
    this.#logger = logger;
  }

  /**
   * Starts, keeps, re-targets or stops checkers to match `set`. A Backend whose check settings did
   * not change keeps its checker, and its endpoints that stay keep their state. Before
   * {@link activate} it only remembers `set`: a process without a data plane (`portico explain`)
   * never probes anything.
   */
  update(set: RouteSet): void {
    this.#set = set;
    if (!this.#active) return;
    const next = new Map<string, Running>();
    for (const backend of set.backends) {
      if (backend.spec.healthCheck === undefined) continue;
      const id = backendIdOf(backend);
      const endpoints = backendEndpoints(id, backend, set);
      let options: HealthCheckOptions;
      let checker: HealthChecker;
      try {
        options = checkOptions(backend, set);
        const kept = this.#running.get(id);
        const key = JSON.stringify(options);
        if (kept !== undefined && kept.key === key) {
          kept.checker.setEndpoints(endpoints);
          next.set(id, kept);
          this.#running.delete(id);
          continue;
        }
        checker = new HealthChecker(endpoints, options);
        next.set(id, { key, checker, unsubscribe: checker.onChange((s) => this.#changed(id, s)) });
      } catch (error) {
        this.#logger.warn(
          { backend: id, err: error },
          'health check settings rejected; the endpoints count as healthy',
        );
        continue;
      }
      checker.start();
    }
    this.stop();
    this.#running = next;
    this.#schedule();
  }

  /** Starts checking (the first worker asked for its table); idempotent. */
  activate(): void {
    if (this.#active) return;
    this.#active = true;
    if (this.#set !== undefined) this.update(this.#set);
  }

  /** Stops every checker (the primary is shutting down, or a test is done). */
  stop(): void {
    for (const running of this.#running.values()) {
      running.unsubscribe();
      running.checker.stop();
    }
    this.#running.clear();
  }

  stateOf(backendId: string, endpointId: string): CheckedState {
    const state = this.#running.get(backendId)?.checker.snapshot().states.get(endpointId);
    return state === undefined ? 'unchecked' : state ? 'healthy' : 'unhealthy';
  }

  /** The whole view as workers receive it. */
  message(): HealthMessage {
    const unhealthy: Record<string, string[]> = {};
    for (const [id, running] of this.#running) {
      const down = [...running.checker.snapshot().states].filter(([, ok]) => !ok).map(([e]) => e);
      if (down.length > 0) unhealthy[id] = down;
    }
    return { version: this.#version, unhealthy };
  }

  /** Sends the current view again (a worker just started). */
  rebroadcast(): void {
    this.#channel.broadcast(HEALTH_TOPIC, this.message());
  }

  #changed(id: string, snapshot: HealthSnapshot): void {
    this.#logger.debug({ backend: id, version: snapshot.version }, 'endpoint health changed');
    this.#schedule();
  }

  /** Coalesces the changes of one tick (a RouteSet touches many checkers) into one broadcast. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#version++;
      const message = this.message();
      this.#logger.info(
        { version: message.version, unhealthy: message.unhealthy },
        'endpoint health published',
      );
      this.#channel.broadcast(HEALTH_TOPIC, message);
    });
  }
}

/**
 * The lb library's options for a Backend's `spec.healthCheck`; an HTTPS check dials with the
 * Backend's own TLS settings (SNI, verification, CA and client certificate), as its requests do.
 */
export function checkOptions(backend: Backend, set: RouteSet): HealthCheckOptions {
  const check = backend.spec.healthCheck!;
  const secure = backend.spec.protocol === 'HTTPS' || backend.spec.protocol === 'H2';
  const protocol = check.type === 'TCP' ? 'tcp' : secure ? 'https' : 'http';
  return {
    protocol,
    path: check.path,
    expectedStatuses: check.expectedStatuses,
    intervalMs: parseDuration(check.interval),
    timeoutMs: parseDuration(check.timeout),
    healthyThreshold: check.healthyThreshold,
    unhealthyThreshold: check.unhealthyThreshold,
    tls: protocol === 'https' ? checkTls(backendTls(backendIdOf(backend), backend, set)) : undefined,
  };
}

function checkTls({ sni, verify, ca, cert, key }: BackendTls): HealthCheckTls {
  return { servername: sni, rejectUnauthorized: verify, ca, cert, key };
}
