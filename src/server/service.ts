import type { Logger } from '../observability/index.ts';
import type { ProxyMetrics } from '../observability/index.ts';

/** What a service is handed when it starts, in whichever process it runs. */
export interface ServiceContext {
  logger: Logger;
  /** 0 in the primary (or single-process mode); 1..N in workers. */
  workerId: number;
  /** This process's metrics (each worker has its own; the primary aggregates them). */
  metrics: ProxyMetrics;
}

/**
 * A service that owns sockets and serves requests. It runs in every worker (or in the single process when
 * `workers: 0`); each worker binds its own listening socket with `reusePort`, so the kernel spreads
 * connections and no process hands work to another.
 */
export interface ListeningService {
  readonly kind: 'listening';
  readonly name: string;
  /**
   * The `host:port`s every worker binds. A Server with `handoverWaitMs` waits on SIGTERM until a
   * successor listens on these ports too; a service without them is not waited for.
   */
  readonly listenAddresses?: readonly string[];
  /** Binds and starts serving; resolves once listening. */
  start(context: ServiceContext): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish for at most `graceMs`, then closes what is left.
   * Resolves when every connection is closed.
   */
  stop(graceMs: number): Promise<void>;
}

/**
 * Work that is not request serving: health checks, a Kubernetes controller, a metrics pusher. Runs in the
 * primary (once per node) by default, or in every worker.
 */
export interface BackgroundService {
  readonly kind: 'background';
  readonly name: string;
  readonly runsIn?: 'primary' | 'worker';
  start(context: ServiceContext): Promise<void>;
  stop(): Promise<void>;
}

export type Service = ListeningService | BackgroundService;

/**
 * Messages between the primary and its workers, as `Server` provides them (IPC with workers, or local
 * delivery with `workers: 0`). Components take the part they use, e.g. `Pick<MessageChannel, 'broadcast'>`.
 */
export interface MessageChannel {
  /** Primary → every worker. */
  broadcast(topic: string, body: unknown): void;
  /** Worker → primary. */
  sendToPrimary(topic: string, body: unknown): void;
  /** Handles a topic in this process; `workerId` is the sender (0 for the primary). */
  onMessage(topic: string, handler: (body: unknown, workerId: number) => void): void;
  /** Worker processes; 0 when everything runs in this process. */
  readonly workers: number;
}
