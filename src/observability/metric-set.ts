/**
 * Worker-side metrics: plain numbers and typed arrays, no registry, no label hashing. A request's metrics
 * cost a few increments. Workers never load prom-client (it adds ~20 MB per process); the primary asks
 * each worker for a snapshot when scraped and renders the sum with prom-client (see cluster-metrics.ts).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** One label for counters and gauges that are split (e.g. `code`); none otherwise. */
  readonly label?: string;
  /** Upper bounds in seconds, for histograms. */
  readonly buckets?: readonly number[];
}

/** Plain data a worker sends to the primary; all values add up across workers. */
export interface MetricSnapshot {
  readonly values: Record<string, Record<string, number>>;
  readonly histograms: Record<string, { buckets: number[]; sum: number; count: number }>;
}

export class Counter {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class Gauge {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(): void {
    this.value++;
  }
  dec(): void {
    this.value--;
  }
}

/** A counter or gauge split by one label; each label value gets its own cell on first use. */
export class Labelled<T extends Counter | Gauge> {
  readonly #make: () => T;
  readonly cells = new Map<string, T>();

  constructor(make: () => T) {
    this.#make = make;
  }

  labels(value: string): T {
    let cell = this.cells.get(value);
    if (cell === undefined) {
      cell = this.#make();
      this.cells.set(value, cell);
    }
    return cell;
  }
}

export class Histogram {
  readonly bounds: readonly number[];
  /** Per-bucket counts, not cumulative; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

type Cell = Counter | Gauge | Labelled<Counter> | Labelled<Gauge> | Histogram;

/** The metrics of one process, keyed by definition name. */
export class MetricSet {
  readonly definitions: MetricDefinition[] = [];
  readonly #cells = new Map<string, Cell>();

  counter(name: string, help: string): Counter {
    return this.#add({ name, help, type: 'counter' }, new Counter());
  }

  gauge(name: string, help: string): Gauge {
    return this.#add({ name, help, type: 'gauge' }, new Gauge());
  }

  labelledCounter(name: string, help: string, label: string): Labelled<Counter> {
    return this.#add({ name, help, type: 'counter', label }, new Labelled(() => new Counter()));
  }

  labelledGauge(name: string, help: string, label: string): Labelled<Gauge> {
    return this.#add({ name, help, type: 'gauge', label }, new Labelled(() => new Gauge()));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#add({ name, help, type: 'histogram', buckets }, new Histogram(buckets));
  }

  snapshot(): MetricSnapshot {
    const values: MetricSnapshot['values'] = {};
    const histograms: MetricSnapshot['histograms'] = {};
    for (const [name, cell] of this.#cells) {
      if (cell instanceof Histogram)
        histograms[name] = { buckets: [...cell.counts], sum: cell.sum, count: cell.count };
      else if (cell instanceof Labelled)
        values[name] = Object.fromEntries([...cell.cells].map(([k, c]) => [k, c.value]));
      else values[name] = { '': cell.value };
    }
    return { values, histograms };
  }

  #add<T extends Cell>(definition: MetricDefinition, cell: T): T {
    this.definitions.push(definition);
    this.#cells.set(definition.name, cell);
    return cell;
  }
}

/** Adds snapshots together: counters, gauges and histogram buckets all sum across workers. */
export function sumSnapshots(snapshots: readonly MetricSnapshot[]): MetricSnapshot {
  const values: MetricSnapshot['values'] = {};
  const histograms: MetricSnapshot['histograms'] = {};
  for (const s of snapshots) {
    for (const [name, cells] of Object.entries(s.values)) {
      const into = (values[name] ??= {});
      for (const [label, v] of Object.entries(cells)) into[label] = (into[label] ?? 0) + v;
    }
    for (const [name, h] of Object.entries(s.histograms)) {
      const into = (histograms[name] ??= {
        buckets: new Array<number>(h.buckets.length).fill(0),
        sum: 0,
        count: 0,
      });
      h.buckets.forEach((c, i) => (into.buckets[i] = (into.buckets[i] ?? 0) + c));
      into.sum += h.sum;
      into.count += h.count;
    }
  }
  return { values, histograms };
}
