export { createLogger } from './logger.ts';
export type { Logger, LoggerOptions } from './logger.ts';
export { ProxyMetrics } from './metrics.ts';
export { MetricSet, sumSnapshots } from './metric-set.ts';
export type { MetricDefinition, MetricSnapshot } from './metric-set.ts';
// cluster-metrics.ts (prom-client) is imported by the primary only, on demand: workers never load it.
