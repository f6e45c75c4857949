import type { MessageChannel } from '../server/service.ts';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { sumSnapshots, type MetricDefinition, type MetricSnapshot } from './metric-set.ts';

/** How often the primary's event-loop delay is sampled, in ms. */
const PRIMARY_LOOP_SAMPLE_MS = 100;

/** How the primary reaches workers; the Server provides it. */
export type MetricsChannel = Pick<MessageChannel, 'broadcast' | 'onMessage'>;

interface PromValue {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
}

/**
 * The primary's `/metrics`: asks every worker for a snapshot (IPC, answered between requests, never on
 * their request path), sums them and renders them with prom-client beside the primary's own process
 * metrics. A worker that does not answer within `timeoutMs` is left out rather than blocking the scrape.
 */
export class ClusterMetrics {
  readonly registry = new Registry();
  readonly #definitions: readonly MetricDefinition[];
  readonly #channel: MetricsChannel;
  readonly #liveWorkers: () => number;
  readonly #local: (() => MetricSnapshot) | undefined;
  readonly #timeoutMs: number;
  #nextId = 1;
  readonly #pending = new Map<number, { snapshots: MetricSnapshot[]; expected: number; done: () => void }>();
  #current: MetricSnapshot = { values: {}, histograms: {} };

  constructor(options: {
    definitions: readonly MetricDefinition[];
    channel: MetricsChannel;
    liveWorkers: () => number;
    /** This process's own snapshot (the primary's background services, or everything with no workers). */
    local?: () => MetricSnapshot;
    timeoutMs?: number;
  }) {
    this.#definitions = options.definitions;
    this.#channel = options.channel;
    this.#liveWorkers = options.liveWorkers;
    this.#local = options.local;
    this.#timeoutMs = options.timeoutMs ?? 1_000;
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'portico_primary_',
      // prom-client's default (10 ms) wakes an idle primary 100 times a second, and each wake-up
      // preempts a worker on the same core; a tick every 100 ms still catches any stall worth an alert.
      eventLoopMonitoringPrecision: PRIMARY_LOOP_SAMPLE_MS,
    });
    for (const definition of this.#definitions)
      this.registry.registerMetric(this.#metric(definition) as never);
    this.#channel.onMessage('metrics-snapshot', (body) => {
      const { id, snapshot } = body as { id: number; snapshot: MetricSnapshot };
      const pending = this.#pending.get(id);
      if (pending === undefined) return;
      pending.snapshots.push(snapshot);
      if (pending.snapshots.length >= pending.expected) pending.done();
    });
  }

  /** The exposition text: workers' sum plus the primary's process metrics. */
  async render(): Promise<string> {
    const workers = await this.#collect();
    this.#current = this.#local ? sumSnapshots([this.#local(), workers]) : workers;
    return this.registry.metrics();
  }

  async #collect(): Promise<MetricSnapshot> {
    const expected = this.#liveWorkers();
    if (expected === 0) return sumSnapshots([]);
    const id = this.#nextId++;
    const snapshots: MetricSnapshot[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#timeoutMs);
      this.#pending.set(id, {
        snapshots,
        expected,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.#channel.broadcast('metrics-request', { id });
    });
    this.#pending.delete(id);
    return sumSnapshots(snapshots);
  }

  /** A duck-typed prom-client metric whose values come from the latest summed snapshot. */
  #metric(definition: MetricDefinition): object {
    const { name, help, type } = definition;
    return {
      name,
      help,
      type,
      get: (): { name: string; help: string; type: string; values: PromValue[]; aggregator: string } => ({
        name,
        help,
        type,
        aggregator: 'sum',
        values: type === 'histogram' ? this.#histogramValues(definition) : this.#plainValues(definition),
      }),
    };
  }

  #plainValues(definition: MetricDefinition): PromValue[] {
    const cells = this.#current.values[definition.name] ?? (definition.label === undefined ? { '': 0 } : {});
    return Object.entries(cells).map(([label, value]) =>
      definition.label === undefined ? { value } : { value, labels: { [definition.label]: label } },
    );
  }

  #histogramValues(definition: MetricDefinition): PromValue[] {
    const bounds = definition.buckets ?? [];
    const h = this.#current.histograms[definition.name] ?? {
      buckets: new Array<number>(bounds.length + 1).fill(0),
      sum: 0,
      count: 0,
    };
    const values: PromValue[] = [];
    let cumulative = 0;
    bounds.forEach((le, i) => {
      cumulative += h.buckets[i] ?? 0;
      values.push({ metricName: `${definition.name}_bucket`, labels: { le }, value: cumulative });
    });
    values.push({ metricName: `${definition.name}_bucket`, labels: { le: '+Inf' }, value: h.count });
    values.push({ metricName: `${definition.name}_sum`, value: h.sum });
    values.push({ metricName: `${definition.name}_count`, value: h.count });
    return values;
  }
}
