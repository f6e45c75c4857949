import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics, sumSnapshots } from '../../../src/observability/index.ts';
import { ClusterMetrics } from '../../../src/observability/cluster-metrics.ts';

test('worker snapshots sum and render as Prometheus text, histograms cumulative', async () => {
  const a = new ProxyMetrics();
  const b = new ProxyMetrics();
  a.countRequest(200);
  a.countRequest(200);
  b.countRequest(200);
  b.countRequest(502);
  a.requestDuration.observe(0.0004);
  b.requestDuration.observe(0.003);
  b.requestDuration.observe(20);
  a.routingTableVersion.labels('1').set(7);
  b.routingTableVersion.labels('2').set(6);
  const summed = sumSnapshots([a.set.snapshot(), b.set.snapshot()]);
  assert.deepEqual(summed.values.portico_http_requests_total, { '200': 3, '502': 1 });

  const handlers: Array<(body: unknown, worker: number) => void> = [];
  const cluster = new ClusterMetrics({
    definitions: a.set.definitions,
    channel: {
      onMessage: (_topic, handler) => handlers.push(handler),
      // Two workers answer the broadcast request, as over IPC.
      broadcast: (_topic, body) => {
        const { id } = body as { id: number };
        for (const [i, m] of [a, b].entries())
          setImmediate(() => handlers.forEach((h) => h({ id, snapshot: m.set.snapshot() }, i + 1)));
      },
    },
    liveWorkers: () => 2,
  });
  const text = await cluster.render();
  assert.match(text, /^portico_http_requests_total\{code="200"\} 3$/m);
  assert.match(text, /^portico_http_requests_total\{code="502"\} 1$/m);
  assert.match(text, /^portico_http_request_duration_seconds_bucket\{le="0.0005"\} 1$/m);
  assert.match(text, /^portico_http_request_duration_seconds_bucket\{le="0.005"\} 2$/m);
  assert.match(text, /^portico_http_request_duration_seconds_bucket\{le="\+Inf"\} 3$/m);
  assert.match(text, /^portico_http_request_duration_seconds_count 3$/m);
  assert.match(text, /^portico_routing_table_version\{worker="1"\} 7$/m);
  assert.match(text, /^portico_routing_table_version\{worker="2"\} 6$/m);
  assert.match(text, /^# TYPE portico_http_requests_total counter$/m);
  assert.match(text, /^portico_primary_process_resident_memory_bytes /m);
});

test('a worker that does not answer is left out after the timeout, not waited for', async () => {
  const m = new ProxyMetrics();
  m.countRequest(200);
  const handlers: Array<(body: unknown, worker: number) => void> = [];
  const cluster = new ClusterMetrics({
    definitions: m.set.definitions,
    channel: {
      onMessage: (_t, h) => handlers.push(h),
      broadcast: (_t, body) =>
        setImmediate(() =>
          handlers.forEach((h) => h({ id: (body as { id: number }).id, snapshot: m.set.snapshot() }, 1)),
        ),
    },
    liveWorkers: () => 2,
    timeoutMs: 100,
  });
  const started = Date.now();
  const text = await cluster.render();
  assert.ok(Date.now() - started < 1_000);
  assert.match(text, /^portico_http_requests_total\{code="200"\} 1$/m);
});
