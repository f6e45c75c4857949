import type { MessageChannel } from '../server/service.ts';
import { performance } from 'node:perf_hooks';
import type { BackgroundService, ServiceContext } from '../server/index.ts';
import type { WireRouteSet } from './route-set.ts';
import { WorkerTableCompiler } from './worker-compiler.ts';
import type { TableHolder } from './gateway-proxy.ts';
import type { WorkerAck } from './config-store.ts';
import { HEALTH_TOPIC, type HealthMessage } from './endpoint-state.ts';

export type WorkerChannel = Pick<MessageChannel, 'broadcast' | 'onMessage' | 'sendToPrimary' | 'workers'>;

/**
 * Runs in every worker: compiles each RouteSet the primary broadcasts, swaps it in with one assignment
 * and acknowledges the version. Its start waits (bounded) for the first table, so a worker begins
 * listening with routes rather than answering 503.
 */
export class TableService implements BackgroundService {
  readonly kind = 'background';
  readonly name = 'routing-table';
  readonly runsIn = 'worker';
  readonly #holder: TableHolder;
  readonly #channel: WorkerChannel;
  readonly #firstTableTimeoutMs: number;
  /** Keeps unchanged Routes compiled and unchanged certificates' contexts across versions. */
  readonly #compiler = new WorkerTableCompiler();

  constructor(holder: TableHolder, channel: WorkerChannel, firstTableTimeoutMs = 10_000) {
    this.#holder = holder;
    this.#channel = channel;
    this.#firstTableTimeoutMs = firstTableTimeoutMs;
  }

  async start(context: ServiceContext): Promise<void> {
    const { logger, metrics, workerId } = context;
    const versionGauge = metrics.routingTableVersion.labels(String(workerId));
    const lb = this.#holder.lb;
    // Active health is per node: one worker reports it, so the sum over workers is the node's count.
    lb.reportsHealth = workerId <= 1;
    metrics.observeLoadBalancing(lb);
    this.#channel.onMessage(HEALTH_TOPIC, (body) => lb.applyHealth(body as HealthMessage));
    let firstTable: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (firstTable = resolve));
    this.#channel.onMessage('routeset', (body) => {
      const set = body as WireRouteSet;
      if (set.version <= this.#holder.version) return;
      const started = performance.now();
      try {
        const table = this.#compiler.compile(set);
        if (table === undefined) {
          logger.debug(
            { version: set.version },
            'routing set names Routes this worker lacks; asking for all',
          );
          this.#channel.sendToPrimary('routeset-request', {});
          return;
        }
        lb.attach(table);
        this.#holder.current = table;
      } catch (error) {
        // The primary validated this set; a failure here is a bug, and the previous table keeps serving.
        logger.error(
          { err: error, version: set.version },
          'routing table failed to compile; keeping the previous one',
        );
        return;
      }
      const compileMs = performance.now() - started;
      versionGauge.set(set.version);
      metrics.routingTableCompile.observe(compileMs / 1000);
      this.#channel.sendToPrimary('routeset-ack', { version: set.version, compileMs } satisfies WorkerAck);
      logger.debug(
        { version: set.version, compileMs, routes: this.#compiler.lastStats },
        'routing table swapped',
      );
      firstTable();
    });
    this.#channel.sendToPrimary('routeset-request', {});
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.#firstTableTimeoutMs).unref());
    await Promise.race([arrived, timeout]);
    if (this.#holder.current === undefined)
      logger.warn('no routing table yet; answering 503 until one arrives');
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
