import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';
import { createLogger, ProxyMetrics, type Logger } from '../observability/index.ts';
import type { ClusterMetrics } from '../observability/cluster-metrics.ts';
import { AdminServer, sendJson } from './admin.ts';
import { availableCores } from './cores.ts';
import { awaitSuccessor, ownListeners, ReadinessFile } from './handover.ts';
import type { BackgroundService, ListeningService, Service, ServiceContext } from './service.ts';
import { keepTickObjectShape } from './tick-shape.ts';

export interface ServerOptions {
  /** Worker processes: a number, `'auto'` (one per available core, cgroup-aware), or 0 to serve in this process. Default 'auto'. */
  workers?: number | 'auto';
  /** How long SIGTERM lets in-flight requests finish before connections are closed. Default 30 000 ms. */
  gracePeriodMs?: number;
  /** Admin listener (`/healthz`, `/readyz`, `/metrics`), `host:port`; `false` for none. Default `127.0.0.1:9901`. */
  admin?: string | false;
  logger?: Logger;
  /**
   * Node flags for worker processes, added to the primary's own. Default {@link DEFAULT_WORKER_EXEC_ARGV}:
   * - `--max-semi-space-size=8`: a young generation well below V8's default (16-64 MB) keeps
   *   scavenges short and RSS under load low (default → 2 MB cut p99 from ~5.5 to ~3 ms and RSS under
   *   load from ~163 to ~114 MB), but 2 MB was too small once requests got cheaper: 83 scavenges a
   *   second of 0.39 ms, and in-flight objects lived through two of them and were promoted, so a full
   *   GC ran every second. With 8 MB: 20 a second of 0.87 ms, half the full GCs, GC time per request
   *   1.75 → 1.09 µs (10 Routes) and 2.72 → 1.0 µs (10,000 Routes, whose larger heap made every
   *   scavenge dearer).
   * - `--heap-growing-percent=30`: after each full GC the old generation may grow to 1.3× what survived,
   *   instead of up to 4× when V8 finds allocation fast. A worker's live heap is small and its garbage
   *   short-lived, so this costs no measurable throughput, and it keeps RSS near the live data: a cache
   *   flood's RSS growth went from ~290 to ~140 MB (64 MiB bound), the load alone from ~73 to ~39 MB,
   *   and a worker with 10,000 Routes after load from ~265 to ~160 MB. The price is paid in allocation
   *   bursts that build a large live structure (a whole 10,000-Route compile runs extra full GCs), so
   *   workers recompile only the Routes a swap changes. Pass your own flags to choose the other way.
   */
  workerExecArgv?: string[];
  /** Longest wait before restarting a crashed worker; the wait doubles from 100 ms per quick crash. Default 10 000. */
  maxRestartDelayMs?: number;
  /**
   * On SIGTERM, keep accepting for up to this long until a successor listens on every port of the
   * listening services (more sockets on the port than ours, in this network namespace), then drain.
   * For a process that is always replaced on the same ports, e.g. a DaemonSet pod on hostNetwork:
   * the replacement of a deleted pod starts only once the old one is terminating, and closing at
   * once would refuse connections until it listens. Default 0: drain at once.
   */
  handoverWaitMs?: number;
  /**
   * A file the primary keeps while `/readyz` would answer 200, and removes otherwise (also on
   * SIGTERM): an exec readiness probe that answers for this process alone (see {@link ReadinessFile}).
   */
  readinessFile?: string;
}

/** The Node flags workers get unless `ServerOptions.workerExecArgv` says otherwise (see there). */
export const DEFAULT_WORKER_EXEC_ARGV: readonly string[] = Object.freeze([
  '--max-semi-space-size=8',
  '--heap-growing-percent=30',
]);

/** Messages between primary and workers; namespaced so they never collide with prom-client's. */
type ControlMessage =
  | { portico: 'ready' }
  | { portico: 'shutdown'; graceMs: number }
  | { portico: 'user'; topic: string; body: unknown };

/** How often the readiness file is brought in line with `/readyz`. */
const READINESS_FILE_INTERVAL_MS = 500;

/** A worker that lived at least this long is considered healthy, and its crash counter resets. */
const STABLE_AFTER_MS = 30_000;

/**
 * Supervises Services, after Pingora's `Server`. In the primary it forks one worker per core and restarts
 * those that die (with back-off), runs background services once per node, and serves the admin endpoints;
 * each worker runs the listening services on its own `reusePort` socket. SIGTERM drains gracefully and
 * exits 0; SIGINT exits fast. The same program runs in primary and workers: construct the Server the same
 * way in both and call `run()`.
 */
export class Server {
  readonly logger: Logger;
  readonly workers: number;
  readonly gracePeriodMs: number;
  readonly admin: AdminServer | undefined;
  readonly #adminAddress: string | false;
  readonly #maxRestartDelayMs: number;
  readonly #workerExecArgv: readonly string[];
  readonly #handoverWaitMs: number;
  readonly #readinessFile: ReadinessFile | undefined;
  readonly #services: Service[] = [];
  readonly #readinessGates = new Map<string, () => boolean>();
  readonly #messageHandlers = new Map<string, Array<(body: unknown, workerId: number) => void>>();
  readonly #ready = new Set<number>();
  readonly #crashes = new Map<number, number>();
  #metrics: ProxyMetrics | undefined;
  #adminPort = 0;
  #stopping = false;
  /** SIGTERM arrived: not ready any more, though still serving until a successor listens. */
  #leaving = false;
  /** The readiness file's last write failed (logged once, until one succeeds again). */
  #readinessFileFailing = false;
  #started = false;

  constructor(options: ServerOptions = {}) {
    const workers = options.workers ?? 'auto';
    this.workers = workers === 'auto' ? availableCores() : workers;
    if (!Number.isInteger(this.workers) || this.workers < 0) {
      throw new InvalidArgumentError(
        'workers',
        `must be 'auto' or a whole number ≥ 0, got ${String(workers)}`,
      );
    }
    this.gracePeriodMs = options.gracePeriodMs ?? 30_000;
    if (!(this.gracePeriodMs >= 0)) throw new InvalidArgumentError('gracePeriodMs', 'must be ≥ 0');
    this.#maxRestartDelayMs = options.maxRestartDelayMs ?? 10_000;
    this.#workerExecArgv = options.workerExecArgv ?? DEFAULT_WORKER_EXEC_ARGV;
    this.#handoverWaitMs = options.handoverWaitMs ?? 0;
    if (!(this.#handoverWaitMs >= 0)) throw new InvalidArgumentError('handoverWaitMs', 'must be ≥ 0');
    if (options.readinessFile !== undefined && options.readinessFile === '')
      throw new InvalidArgumentError('readinessFile', 'must be a path');
    this.#readinessFile =
      options.readinessFile === undefined ? undefined : new ReadinessFile(options.readinessFile);
    this.logger = options.logger ?? createLogger();
    this.#adminAddress = options.admin ?? '127.0.0.1:9901';
    this.admin = this.#adminAddress === false || !this.isPrimaryProcess ? undefined : new AdminServer();
  }

  /** True in the primary, or in single-process mode. */
  get isPrimaryProcess(): boolean {
    return this.workers === 0 || cluster.isPrimary;
  }

  /** 0 in the primary or single-process mode, 1..N in workers. */
  get workerId(): number {
    return cluster.isWorker ? Number(process.env.PORTICO_WORKER_ID ?? cluster.worker?.id ?? 1) : 0;
  }

  /** The admin listener's port once running (useful with port 0). */
  get adminPort(): number {
    return this.#adminPort;
  }

  addService(service: Service): this {
    if (this.#started) throw new InvalidArgumentError('service', 'add services before run()');
    this.#services.push(service);
    return this;
  }

  /** `/readyz` answers 200 only when every gate (and every worker) is ready. */
  addReadinessGate(name: string, isReady: () => boolean): void {
    this.#readinessGates.set(name, isReady);
  }

  /** Sends a message to every worker (primary) — or, in single-process mode, to this process's handlers. */
  broadcast(topic: string, body: unknown): void {
    const message: ControlMessage = { portico: 'user', topic, body };
    if (this.workers === 0) this.#deliver(topic, body, 0);
    else for (const worker of Object.values(cluster.workers ?? {})) worker?.send(message);
  }

  /** Sends a message from a worker to the primary (or to this process in single-process mode). */
  sendToPrimary(topic: string, body: unknown): void {
    if (this.workers === 0) this.#deliver(topic, body, 0);
    else process.send?.({ portico: 'user', topic, body } satisfies ControlMessage);
  }

  /** Handles messages of one topic, in whichever process this runs. */
  onMessage(topic: string, handler: (body: unknown, workerId: number) => void): void {
    const handlers = this.#messageHandlers.get(topic) ?? [];
    handlers.push(handler);
    this.#messageHandlers.set(topic, handlers);
  }

  /** Starts everything and installs signal handlers. Resolves once serving. */
  async run(): Promise<void> {
    await this.start();
    this.#installSignals();
  }

  /** Starts without touching signal handlers (embedding and tests). */
  async start(): Promise<void> {
    this.#started = true;
    if (this.workers === 0 || cluster.isWorker) keepTickObjectShape();
    if (this.workers === 0) return this.#startSingleProcess();
    if (cluster.isPrimary) return this.#startPrimary();
    return this.#startWorker();
  }

  /** Graceful stop: stop accepting, finish in flight for up to the grace period, stop background services. */
  async stop(graceMs = this.gracePeriodMs): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#publishReadiness();
    if (this.workers > 0 && cluster.isPrimary) {
      await this.#stopWorkers(graceMs);
      await this.#stopBackground('primary');
    } else {
      await Promise.allSettled(this.#listening().map((s) => s.stop(graceMs)));
      await this.#stopBackground(this.workers === 0 ? 'any' : 'worker');
    }
    await this.admin?.close();
    this.logger.flush();
  }

  #context(): ServiceContext {
    this.#metrics ??= new ProxyMetrics();
    return { logger: this.logger, workerId: this.workerId, metrics: this.#metrics };
  }

  #listening(): ListeningService[] {
    return this.#services.filter((s): s is ListeningService => s.kind === 'listening');
  }

  #background(where: 'primary' | 'worker' | 'any'): BackgroundService[] {
    return this.#services.filter(
      (s): s is BackgroundService =>
        s.kind === 'background' && (where === 'any' || (s.runsIn ?? 'primary') === where),
    );
  }

  async #stopBackground(where: 'primary' | 'worker' | 'any'): Promise<void> {
    const results = await Promise.allSettled(this.#background(where).map((s) => s.stop()));
    for (const r of results)
      if (r.status === 'rejected') this.logger.error({ err: r.reason }, 'background service failed to stop');
  }

  /** Sums this process's metrics with every worker's (there are none in single-process mode). */
  async #clusterMetrics(context: ServiceContext): Promise<ClusterMetrics> {
    const { ClusterMetrics } = await import('../observability/cluster-metrics.ts');
    return new ClusterMetrics({
      definitions: context.metrics.set.definitions,
      channel: this,
      liveWorkers: () =>
        this.workers === 0 ? 0 : Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected()).length,
      local: () => context.metrics.set.snapshot(),
    });
  }

  async #startSingleProcess(): Promise<void> {
    const context = this.#context();
    await Promise.all(this.#background('any').map((s) => s.start(context)));
    await Promise.all(this.#listening().map((s) => s.start(context)));
    this.#ready.add(0);
    const metrics = await this.#clusterMetrics(context);
    await this.#startAdmin(() => metrics.render());
    this.#watchReadiness();
    this.logger.info(
      { admin: this.#adminAddress, services: this.#services.map((s) => s.name) },
      'portico serving in one process',
    );
  }

  async #startPrimary(): Promise<void> {
    const context = this.#context();
    const metrics = await this.#clusterMetrics(context);
    await this.#startAdmin(() => metrics.render());
    this.#watchReadiness();
    await Promise.all(this.#background('primary').map((s) => s.start(context)));
    cluster.on('message', (worker: Worker, message: ControlMessage) =>
      this.#onWorkerMessage(worker, message),
    );
    cluster.on('exit', (worker, code, signal) => this.#onWorkerExit(worker, code, signal));
    cluster.setupPrimary({ execArgv: [...process.execArgv, ...this.#workerExecArgv] });
    for (let slot = 1; slot <= this.workers; slot++) this.#fork(slot);
    this.#warnIfHandoverUnsafe();
    this.logger.info({ workers: this.workers, admin: this.#adminAddress }, 'portico primary started');
  }

  /**
   * With SO_REUSEPORT, closing a listener resets connections still queued on it unless
   * net.ipv4.tcp_migrate_req=1 hands them to the other listeners; say so once, at start-up.
   */
  #warnIfHandoverUnsafe(): void {
    try {
      if (readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '0') {
        this.logger.info(
          'net.ipv4.tcp_migrate_req is 0: during a rolling upgrade a few queued connections may be reset; set it to 1 for lossless handover',
        );
      }
    } catch {
      // Not Linux, or /proc not mounted: nothing to advise.
    }
  }

  #fork(slot: number): void {
    const worker = cluster.fork({ PORTICO_WORKER_ID: String(slot) });
    (worker as Worker & { slot?: number }).slot = slot;
    (worker as Worker & { startedAt?: number }).startedAt = Date.now();
  }

  #onWorkerMessage(worker: Worker, message: ControlMessage): void {
    const slot = (worker as Worker & { slot?: number }).slot ?? 0;
    if (message?.portico === 'ready') {
      this.#ready.add(slot);
      this.logger.info({ worker: slot, pid: worker.process.pid }, 'worker ready');
    } else if (message?.portico === 'user') {
      this.#deliver(message.topic, message.body, slot);
    }
  }

  #onWorkerExit(worker: Worker, code: number | null, signal: string | null): void {
    const { slot = 0, startedAt = 0 } = worker as Worker & { slot?: number; startedAt?: number };
    this.#ready.delete(slot);
    if (this.#stopping) return;
    const crashes = Date.now() - startedAt > STABLE_AFTER_MS ? 1 : (this.#crashes.get(slot) ?? 0) + 1;
    this.#crashes.set(slot, crashes);
    const delay = Math.min(this.#maxRestartDelayMs, 100 * 2 ** (crashes - 1));
    this.logger.error(
      { worker: slot, pid: worker.process.pid, code, signal, restartInMs: delay },
      'worker exited; restarting',
    );
    setTimeout(() => {
      if (!this.#stopping) this.#fork(slot);
    }, delay).unref();
  }

  async #stopWorkers(graceMs: number): Promise<void> {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = workers.map((w) => once(w, 'exit').catch(() => undefined));
    for (const w of workers) w.send({ portico: 'shutdown', graceMs } satisfies ControlMessage);
    const deadline = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, graceMs + 5_000);
    await Promise.all(exits);
    clearTimeout(deadline);
  }

  async #startWorker(): Promise<void> {
    const context = this.#context();
    this.onMessage('metrics-request', (body) =>
      this.sendToPrimary('metrics-snapshot', {
        id: (body as { id: number }).id,
        snapshot: context.metrics.set.snapshot(),
      }),
    );
    process.on('message', (message: ControlMessage) => {
      if (message?.portico === 'shutdown') void this.#exitAfter(this.stop(message.graceMs));
      else if (message?.portico === 'user') this.#deliver(message.topic, message.body, 0);
    });
    // The primary is gone (killed, crashed): drain and go rather than serve unsupervised.
    process.on('disconnect', () => void this.#exitAfter(this.stop()));
    await Promise.all(this.#background('worker').map((s) => s.start(context)));
    await Promise.all(this.#listening().map((s) => s.start(context)));
    process.send?.({ portico: 'ready' } satisfies ControlMessage);
  }

  /** The wait of {@link ServerOptions.handoverWaitMs}: until a successor listens, then drain. */
  async #awaitSuccessor(): Promise<void> {
    this.#leaving = true;
    await this.#publishReadiness();
    if (this.#handoverWaitMs === 0) return;
    const addresses = this.#listening().flatMap((s) => s.listenAddresses ?? []);
    if (addresses.length === 0) return;
    const started = Date.now();
    const result = await awaitSuccessor(
      ownListeners(addresses, Math.max(1, this.workers)),
      this.#handoverWaitMs,
    );
    const waitedMs = Date.now() - started;
    if (result === 'successor') this.logger.info({ waitedMs }, 'a successor listens on every port; draining');
    else if (result === 'timeout')
      this.logger.warn({ waitedMs }, 'no successor listens on the ports; draining without one');
    else
      this.logger.warn('socket tables unreadable (/proc/net/tcp): draining without waiting for a successor');
  }

  /** Keeps the readiness file in line with `/readyz`, checked twice a second. */
  #watchReadiness(): void {
    if (this.#readinessFile === undefined) return;
    void this.#publishReadiness();
    setInterval(() => void this.#publishReadiness(), READINESS_FILE_INTERVAL_MS).unref();
  }

  /** Brings the readiness file in line with `/readyz`. */
  async #publishReadiness(): Promise<void> {
    if (this.#readinessFile === undefined) return;
    try {
      await this.#readinessFile.update(this.#notReady().length === 0, { ready: true });
      if (this.#readinessFileFailing) this.logger.info('readiness file written again');
      this.#readinessFileFailing = false;
    } catch (error) {
      if (!this.#readinessFileFailing) this.logger.error({ err: error }, 'readiness file cannot be written');
      this.#readinessFileFailing = true;
    }
  }

  async #exitAfter(stopping: Promise<void>): Promise<void> {
    await stopping.catch((error: unknown) => this.logger.error({ err: error }, 'shutdown failed'));
    process.exit(0);
  }

  #deliver(topic: string, body: unknown, workerId: number): void {
    for (const handler of this.#messageHandlers.get(topic) ?? []) {
      try {
        handler(body, workerId);
      } catch (error) {
        this.logger.error({ err: error, topic }, 'message handler failed');
      }
    }
  }

  async #startAdmin(metrics: () => Promise<string>): Promise<void> {
    if (this.admin === undefined || this.#adminAddress === false) return;
    this.admin.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    this.admin.route('GET', '/readyz', (_req, res) => {
      const notReady = this.#notReady();
      sendJson(res, notReady.length === 0 ? 200 : 503, {
        ready: notReady.length === 0,
        waitingFor: notReady,
      });
    });
    this.admin.route('GET', '/metrics', async (_req, res) => {
      const text = await metrics();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    });
    this.#adminPort = await this.admin.listen(this.#adminAddress);
  }

  #notReady(): string[] {
    const waiting: string[] = [];
    if (this.#stopping || this.#leaving) waiting.push('shutting down');
    const expected = this.workers === 0 ? [0] : Array.from({ length: this.workers }, (_, i) => i + 1);
    for (const slot of expected)
      if (!this.#ready.has(slot)) waiting.push(slot === 0 ? 'listeners' : `worker ${slot}`);
    for (const [name, isReady] of this.#readinessGates) if (!isReady()) waiting.push(name);
    return waiting;
  }

  #installSignals(): void {
    if (cluster.isWorker && this.workers > 0) {
      // A terminal's Ctrl-C reaches the whole process group; the primary decides, workers just go.
      process.on('SIGINT', () => process.exit(0));
      process.on('SIGTERM', () => void this.#exitAfter(this.stop()));
      return;
    }
    process.once('SIGTERM', () => {
      this.logger.info(
        { graceMs: this.gracePeriodMs, handoverWaitMs: this.#handoverWaitMs },
        'SIGTERM: draining',
      );
      void this.#exitAfter(this.#awaitSuccessor().then(() => this.stop()));
    });
    process.once('SIGINT', () => {
      this.logger.info('SIGINT: exiting now');
      void this.#exitAfter(this.stop(0));
    });
  }
}
