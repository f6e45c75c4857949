import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The proxy's metrics in one process. Each worker has its own; the primary's `/metrics` aggregates them
 * over IPC (prom-client's cluster aggregation), so nothing on the request path waits for the primary.
 */
export class ProxyMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'code'>;
  readonly requestDuration: Histogram;
  readonly upstreamHeaderTime: Histogram;
  readonly upstreamConnectTime: Histogram;
  readonly upstreamConnections: Counter;
  readonly upstreamConnectErrors: Counter;
  readonly upstreamRequests: Counter;
  readonly upstreamRetries: Counter;
  readonly downstreamConnections: Gauge;
  readonly bytesSent: Counter;
  readonly routingTableVersion: Gauge<'worker'>;
  readonly routingTableCompile: Histogram;
  readonly #byStatus = new Map<number, Counter.Internal>();

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.requests = new Counter({
      name: 'portico_http_requests_total',
      help: 'Downstream requests by status code',
      labelNames: ['code'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'portico_http_request_duration_seconds',
      help: 'Time from request arrival to the end of the response',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstreamHeaderTime = new Histogram({
      name: 'portico_upstream_header_time_seconds',
      help: 'Time from request arrival to upstream response headers',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstreamConnectTime = new Histogram({
      name: 'portico_upstream_connect_duration_seconds',
      help: 'Time to open (and TLS-handshake) a new upstream connection',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstreamConnections = new Counter({
      name: 'portico_upstream_connections_total',
      help: 'Upstream connections opened',
      registers,
    });
    this.upstreamConnectErrors = new Counter({
      name: 'portico_upstream_connect_errors_total',
      help: 'Upstream connection attempts that failed',
      registers,
    });
    this.upstreamRequests = new Counter({
      name: 'portico_upstream_requests_total',
      help: 'Requests dispatched upstream; 1 - connections/requests is the connection reuse ratio',
      registers,
    });
    this.upstreamRetries = new Counter({
      name: 'portico_upstream_retries_total',
      help: 'Upstream attempts after the first',
      registers,
    });
    this.downstreamConnections = new Gauge({
      name: 'portico_downstream_connections_active',
      help: 'Open client connections',
      registers,
    });
    this.routingTableVersion = new Gauge({
      name: 'portico_routing_table_version',
      help: 'Routing table version each worker serves',
      labelNames: ['worker'],
      registers,
    });
    this.routingTableCompile = new Histogram({
      name: 'portico_routing_table_compile_seconds',
      help: 'Time a worker took to compile and swap a routing table',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.bytesSent = new Counter({
      name: 'portico_http_response_bytes_total',
      help: 'Response body bytes sent downstream',
      registers,
    });
  }

  /** Counts one request by status; label children are cached so the hot path builds no label key. */
  countRequest(status: number): void {
    let child = this.#byStatus.get(status);
    if (child === undefined) {
      child = this.requests.labels(String(status));
      this.#byStatus.set(status, child);
    }
    child.inc();
  }
}
