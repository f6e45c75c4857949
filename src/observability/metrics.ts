import { MetricSet, type Counter, type Gauge, type Histogram, type Labelled } from './metric-set.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The proxy's metrics in one process (Prometheus names and units). Every process builds the same set, so
 * the primary knows each metric's type and help when it renders the workers' sum.
 */
export class ProxyMetrics {
  readonly set = new MetricSet();
  readonly requests: Labelled<Counter> = this.set.labelledCounter(
    'portico_http_requests_total',
    'Downstream requests by status code',
    'code',
  );
  readonly requestDuration: Histogram = this.set.histogram(
    'portico_http_request_duration_seconds',
    'Time from request arrival to the end of the response',
    LATENCY_BUCKETS,
  );
  readonly upstreamHeaderTime: Histogram = this.set.histogram(
    'portico_upstream_header_time_seconds',
    'Time from request arrival to upstream response headers',
    LATENCY_BUCKETS,
  );
  readonly upstreamConnections: Counter = this.set.counter(
    'portico_upstream_connections_total',
    'Upstream connections opened',
  );
  readonly upstreamRequests: Counter = this.set.counter(
    'portico_upstream_requests_total',
    'Requests dispatched upstream; 1 - connections/requests is the connection reuse ratio',
  );
  readonly upstreamRetries: Counter = this.set.counter(
    'portico_upstream_retries_total',
    'Upstream attempts after the first',
  );
  readonly downstreamConnections: Gauge = this.set.gauge(
    'portico_downstream_connections_active',
    'Open client connections',
  );
  readonly bytesSent: Counter = this.set.counter(
    'portico_http_response_bytes_total',
    'Response body bytes sent downstream',
  );
  readonly routingTableVersion: Labelled<Gauge> = this.set.labelledGauge(
    'portico_routing_table_version',
    'Routing table version each worker serves',
    'worker',
  );
  readonly routingTableCompile: Histogram = this.set.histogram(
    'portico_routing_table_compile_seconds',
    'Time a worker took to compile and swap a routing table',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );
  readonly #byStatus = new Map<number, Counter>();

  /** Counts one request by status; the cell is cached per status so the hot path does one map lookup. */
  countRequest(status: number): void {
    let cell = this.#byStatus.get(status);
    if (cell === undefined) {
      cell = this.requests.labels(String(status));
      this.#byStatus.set(status, cell);
    }
    cell.inc();
  }
}
