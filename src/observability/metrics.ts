import type { HttpCacheStats } from '../cache/index.ts';
import {
  MetricSet,
  type Counter,
  type Gauge,
  type Histogram,
  type Labelled,
  type MetricSnapshot,
} from './metric-set.ts';

/** Anything with cache statistics, e.g. an `HttpCache`. */
export interface CacheStatsSource {
  stats(): HttpCacheStats;
}

/** One backend's load-balancing figures in one worker (see `observeLoadBalancing`). */
export interface LoadBalancingStats {
  /** Backend id, `namespace/name`. */
  readonly backend: string;
  /** Endpoints the node's active health checks call unhealthy now (reported by one worker only). */
  readonly unhealthy: number;
  /** Endpoints this worker has ejected now. */
  readonly ejected: number;
  /** Ejections so far. */
  readonly ejections: number;
  /** Retries started so far. */
  readonly retries: number;
  /** Retries refused by the retry budget so far. */
  readonly budgetExhausted: number;
  /** Picks made with every endpoint unusable (panic mode) so far. */
  readonly panics: number;
}

/** Anything with load-balancing statistics, e.g. the gateway's `EndpointStates`. */
export interface LoadBalancingStatsSource {
  lbStats(): readonly LoadBalancingStats[];
}

/**
 * A MetricSet that refreshes pulled cells (the caches' counters) just before each snapshot, so the
 * request path only bumps plain numbers inside the cache and the scrape copies them once.
 */
class CollectingMetricSet extends MetricSet {
  readonly collectors: Array<() => void> = [];

  override snapshot(): MetricSnapshot {
    for (const collect of this.collectors) collect();
    return super.snapshot();
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The proxy's metrics in one process (Prometheus names and units). Every process builds the same set, so
 * the primary knows each metric's type and help when it renders the workers' sum.
 */
export class ProxyMetrics {
  readonly set: MetricSet = new CollectingMetricSet();
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
  /** Set by the primary's ConfigStore only, so the sum over processes is its value. */
  readonly certificateNotAfter: Labelled<Gauge> = this.set.labelledGauge(
    'portico_tls_certificate_not_after_seconds',
    "When each Route's serving certificate expires (notAfter, Unix seconds), by Route and the Secret or file it came from",
    'certificate',
  );
  readonly routingTableCompile: Histogram = this.set.histogram(
    'portico_routing_table_compile_seconds',
    'Time a worker took to compile and swap a routing table',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );
  readonly cacheHits: Counter = this.set.counter(
    'portico_cache_hits_total',
    'Requests answered from a fresh cache entry',
  );
  readonly cacheMisses: Counter = this.set.counter(
    'portico_cache_misses_total',
    'Cacheable requests that found nothing usable and went upstream',
  );
  readonly cacheStaleServed: Counter = this.set.counter(
    'portico_cache_stale_served_total',
    'Requests answered from a stale entry (stale-while-revalidate, max-stale, stale-if-error)',
  );
  readonly cacheRevalidations: Counter = this.set.counter(
    'portico_cache_revalidations_total',
    'Conditional revalidations sent upstream, foreground and background',
  );
  readonly cacheLockWaits: Counter = this.set.counter(
    'portico_cache_lock_waits_total',
    'Requests that waited on another request filling the same key',
  );
  readonly cacheLockTimeouts: Counter = this.set.counter(
    'portico_cache_lock_timeouts_total',
    'Waiting requests released by the lock timeout, which then went upstream themselves',
  );
  readonly cacheBytes: Gauge = this.set.gauge(
    'portico_cache_stored_bytes',
    'Bytes charged for stored cache entries (headers, bodies, keys, overhead)',
  );
  readonly cacheEntries: Gauge = this.set.gauge('portico_cache_entries', 'Stored cache entries (variants)');
  readonly cacheEvictions: Counter = this.set.counter(
    'portico_cache_evictions_total',
    'Entries dropped to make room under the byte bound',
  );
  readonly upstreamEndpointsUnhealthy: Labelled<Gauge> = this.set.labelledGauge(
    'portico_upstream_endpoints_unhealthy',
    'Endpoints that active health checks mark unhealthy, by backend',
    'backend',
  );
  readonly upstreamEndpointsEjected: Labelled<Gauge> = this.set.labelledGauge(
    'portico_upstream_endpoints_ejected',
    'Endpoints ejected by outlier detection, by backend, summed over workers (each worker ejects on its own)',
    'backend',
  );
  readonly upstreamEjections: Labelled<Counter> = this.set.labelledCounter(
    'portico_upstream_ejections_total',
    'Outlier ejections, by backend',
    'backend',
  );
  readonly upstreamBackendRetries: Labelled<Counter> = this.set.labelledCounter(
    'portico_upstream_backend_retries_total',
    'Retries onto another endpoint, by backend',
    'backend',
  );
  readonly upstreamRetryBudgetExhausted: Labelled<Counter> = this.set.labelledCounter(
    'portico_upstream_retry_budget_exhausted_total',
    'Retries refused because the retry budget was spent, by backend',
    'backend',
  );
  readonly upstreamPanicPicks: Labelled<Counter> = this.set.labelledCounter(
    'portico_upstream_panic_picks_total',
    'Requests sent to an unhealthy or ejected endpoint because no endpoint was usable, by backend',
    'backend',
  );
  readonly #byStatus = new Map<number, Counter>();
  readonly #caches: CacheStatsSource[] = [];
  readonly #lbSources: LoadBalancingStatsSource[] = [];

  /**
   * Reports a cache's statistics as the `portico_cache_*` metrics of this process; call once per cache
   * (e.g. from a service's `start(context)`). Several caches add up.
   */
  observeCache(cache: CacheStatsSource): void {
    if (this.#caches.includes(cache)) return;
    this.#caches.push(cache);
    if (this.#caches.length === 1)
      (this.set as CollectingMetricSet).collectors.push(() => this.#collectCaches());
  }

  /**
   * Reports load-balancing statistics (health, ejections, retries, budget refusals, panic picks) as
   * the `portico_upstream_*` per-backend metrics of this process; call once per source.
   */
  observeLoadBalancing(source: LoadBalancingStatsSource): void {
    if (this.#lbSources.includes(source)) return;
    this.#lbSources.push(source);
    if (this.#lbSources.length === 1)
      (this.set as CollectingMetricSet).collectors.push(() => this.#collectLoadBalancing());
  }

  #collectLoadBalancing(): void {
    // Backends that went away report 0 rather than their last value.
    for (const gauge of [this.upstreamEndpointsUnhealthy, this.upstreamEndpointsEjected])
      for (const cell of gauge.cells.values()) cell.set(0);
    for (const source of this.#lbSources) {
      for (const s of source.lbStats()) {
        this.upstreamEndpointsUnhealthy.labels(s.backend).value += s.unhealthy;
        this.upstreamEndpointsEjected.labels(s.backend).value += s.ejected;
        this.upstreamEjections.labels(s.backend).value = s.ejections;
        this.upstreamBackendRetries.labels(s.backend).value = s.retries;
        this.upstreamRetryBudgetExhausted.labels(s.backend).value = s.budgetExhausted;
        this.upstreamPanicPicks.labels(s.backend).value = s.panics;
      }
    }
  }

  #collectCaches(): void {
    let hits = 0,
      misses = 0,
      stale = 0,
      revalidations = 0,
      waits = 0,
      timeouts = 0;
    let bytes = 0,
      entries = 0,
      evictions = 0;
    for (const cache of this.#caches) {
      const s = cache.stats();
      hits += s.hits;
      misses += s.misses;
      stale += s.staleServed;
      revalidations += s.revalidations;
      waits += s.lockWaits;
      timeouts += s.lockTimeouts;
      bytes += s.bytes;
      entries += s.entries;
      evictions += s.evictions;
    }
    this.cacheHits.value = hits;
    this.cacheMisses.value = misses;
    this.cacheStaleServed.value = stale;
    this.cacheRevalidations.value = revalidations;
    this.cacheLockWaits.value = waits;
    this.cacheLockTimeouts.value = timeouts;
    this.cacheBytes.set(bytes);
    this.cacheEntries.set(entries);
    this.cacheEvictions.value = evictions;
  }

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
