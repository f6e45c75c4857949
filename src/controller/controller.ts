/**
 * The Kubernetes source, read top to bottom:
 *
 *   reflectors (Route, Backend, EndpointSlice, referenced Secrets)
 *     → ControllerCache (insert says "affects routing?")
 *     → Debouncer (hold-off 50 ms, max 500 ms)
 *     → ConfigStore.replaceSnapshot (validate, publish one RouteSet version to every worker)
 *     → once every worker serves it: desired conditions → StatusWriter (leader only)
 *
 * It runs in the primary process; workers receive RouteSets exactly as with files. Losing the API
 * server changes nothing on the data plane: the last published table keeps serving and the
 * reflectors retry with back-off, relist, and the next rebuild converges.
 */
import type { ApplyReport, ConfigStore } from '../gateway/index.ts';
import type { Endpoint } from '../lb/index.ts';
import type { Logger } from '../observability/index.ts';
import type { BackgroundService } from '../server/index.ts';
import { ControllerCache, type CachedKind } from './cache.ts';
import { desiredStatuses } from './conditions.ts';
import { Debouncer } from './debounce.ts';
import { EventRecorder } from './events.ts';
import type { KubeClients, KubeObject } from './kube.ts';
import { LeaderElector } from './leader.ts';
import { MemoryRelease } from './memory.ts';
import { Reflector, type ListResult, type ReflectorHandler } from './reflector.ts';
import { StatusWriter } from './status-writer.ts';

/** What the controller needs from a ConfigStore (the gateway's store, or anything with the same shape). */
export type SnapshotStore = Pick<ConfigStore, 'programmed' | 'isProgrammed'> & {
  replaceSnapshot(snapshot: {
    docs: readonly unknown[];
    discovered: Record<string, readonly Endpoint[]>;
    secrets: Record<string, Record<string, string>>;
  }): Promise<ApplyReport>;
};

export interface ControllerOptions {
  clients: KubeClients;
  store: SnapshotStore;
  logger: Logger;
  /** Watch one namespace; empty or undefined watches all. */
  namespace?: string;
  /** Identity in the leader lease and on Events (the pod name). */
  identity: string;
  nodeName?: string;
  lease: {
    namespace: string;
    name: string;
    durationMs?: number;
    renewIntervalMs?: number;
    retryIntervalMs?: number;
  };
  holdOffMs?: number;
  maxHoldMs?: number;
  resyncMs?: number;
  maxBackoffMs?: number;
}

const GROUP = 'portico.dev';
const VERSION = 'v1alpha1';

export class KubernetesController implements BackgroundService {
  readonly kind = 'background';
  readonly name = 'kubernetes-controller';
  readonly runsIn = 'primary';
  readonly cache = new ControllerCache();
  readonly #o: ControllerOptions;
  readonly #debouncer: Debouncer;
  readonly #status: StatusWriter;
  readonly #leader: LeaderElector;
  readonly #reflectors: Reflector[] = [];
  readonly #secretReflectors = new Map<string, Reflector>();
  readonly #memory: MemoryRelease;
  /**
   * The newest served report and the generation of every object in it: what the leader writes, and what
   * a replica that becomes leader writes. Kept as is, not as 10,000 desired statuses a follower never needs.
   */
  #served: { report: ApplyReport; generations: ReadonlyMap<string, number> } | undefined;
  #lastReport: ApplyReport | undefined;
  #ready = false;
  #stopped = false;
  /** A rebuild waits until every reflector has listed; the one that completes the set triggers it. */
  #deferred = true;

  constructor(options: ControllerOptions) {
    this.#o = options;
    const { clients, logger } = options;
    this.#memory = new MemoryRelease(logger);
    this.#debouncer = new Debouncer(
      () => this.#rebuild(),
      logger,
      options.holdOffMs ?? 50,
      options.maxHoldMs ?? 500,
    );
    const events = new EventRecorder(clients, logger, options.identity, options.nodeName);
    this.#status = new StatusWriter(clients, this.cache, events, logger);
    this.#leader = new LeaderElector({
      api: clients.coordination,
      namespace: options.lease.namespace,
      name: options.lease.name,
      identity: options.identity,
      logger,
      leaseDurationMs: options.lease.durationMs,
      renewIntervalMs: options.lease.renewIntervalMs,
      retryIntervalMs: options.lease.retryIntervalMs,
      onChange: (leader) => {
        this.#status.setLeader(leader);
        this.#writeStatuses();
      },
    });
  }

  /** First full sync done and the resulting configuration served by every worker. */
  get ready(): boolean {
    return this.#ready;
  }

  get isLeader(): boolean {
    return this.#leader.isLeader;
  }

  /** Rebuilds finished so far; `waitForRebuild(n)` resolves once the n-th has. */
  get sequence(): number {
    return this.#debouncer.sequence;
  }

  waitForRebuild(sequence: number): Promise<void> {
    return this.#debouncer.waitFor(sequence);
  }

  get lastReport(): ApplyReport | undefined {
    return this.#lastReport;
  }

  /** Status patches this replica has sent. */
  get statusWrites(): number {
    return this.#status.writes;
  }

  /** Resolves when no status write is queued or in flight. */
  statusIdle(): Promise<void> {
    return this.#status.idle();
  }

  /** Starts watching and electing; returns at once (readiness tells when the first sync is served). */
  start(): Promise<void> {
    const ns = this.#o.namespace;
    const custom = (plural: string): (() => Promise<ListResult>) =>
      ns
        ? () =>
            this.#o.clients.custom.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace: ns,
              plural,
            })
        : () => this.#o.clients.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
    const scope = ns ? `/namespaces/${ns}` : '';
    this.#reflectors.push(
      this.#reflector(
        'routes',
        `/apis/${GROUP}/${VERSION}${scope}/routes`,
        custom('routes'),
        this.#objects('Route'),
      ),
      this.#reflector(
        'backends',
        `/apis/${GROUP}/${VERSION}${scope}/backends`,
        custom('backends'),
        this.#objects('Backend'),
      ),
      this.#reflector(
        'endpointslices',
        `/apis/discovery.k8s.io/v1${scope}/endpointslices`,
        async () =>
          (ns
            ? await this.#o.clients.discovery.listNamespacedEndpointSlice({ namespace: ns })
            : await this.#o.clients.discovery.listEndpointSliceForAllNamespaces()) as unknown as ListResult,
        {
          replace: (items) => this.#changed(this.cache.replaceSlices(items)),
          upsert: (obj) => this.#changed(this.cache.upsertSlice(obj)),
          remove: (obj) => this.#changed(this.cache.removeSlice(obj)),
        },
      ),
    );
    for (const r of this.#reflectors) r.start();
    this.#leader.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#reflectors, ...this.#secretReflectors.values()].map((r) => r.stop()));
    await this.#debouncer.stop();
    await this.#leader.stop();
    this.#memory.stop();
  }

  #reflector(
    name: string,
    path: string,
    list: () => Promise<ListResult>,
    handler: ReflectorHandler,
    fieldSelector?: string,
  ): Reflector {
    return new Reflector({
      name,
      path,
      list,
      handler,
      fieldSelector,
      watch: this.#o.clients.watch,
      logger: this.#o.logger,
      resyncMs: this.#o.resyncMs,
      maxBackoffMs: this.#o.maxBackoffMs,
    });
  }

  #objects(kind: CachedKind): ReflectorHandler {
    return {
      replace: (items) => this.#changed(this.cache.replace(kind, items)),
      upsert: (obj) => this.#changed(this.cache.upsert(kind, obj)),
      remove: (obj) => this.#changed(this.cache.remove(kind, obj)),
    };
  }

  /** Every list and watch event ends up here, so it is also where a burst of work starts. */
  #changed(affectsRouting: boolean): void {
    this.#memory.soon();
    if (affectsRouting || (this.#deferred && this.#allSynced())) this.#debouncer.trigger();
  }

  /**
   * Every watch has listed once. A Secret watch that cannot even list (say, forbidden) counts once it
   * has tried, so one bad reference cannot hold back every other change; its Backend reports SecretNotFound.
   */
  #allSynced(): boolean {
    return (
      this.#reflectors.every((r) => r.synced) && [...this.#secretReflectors.values()].every((r) => r.settled)
    );
  }

  /** Watches exactly the Secrets Backends reference, each by name (field selector), and no others. */
  #syncSecretWatches(): void {
    const wanted = this.cache.referencedSecrets();
    for (const [name, reflector] of this.#secretReflectors) {
      if (wanted.has(name)) continue;
      this.#secretReflectors.delete(name);
      this.cache.dropSecret(name);
      void reflector.stop();
    }
    for (const name of wanted) {
      if (this.#secretReflectors.has(name) || this.#stopped) continue;
      const [namespace, secret] = name.split('/') as [string, string];
      const handler: ReflectorHandler = {
        replace: (items) => this.#changed(this.cache.setSecret(name, decode(items[0]))),
        upsert: (obj) => this.#changed(this.cache.setSecret(name, decode(obj))),
        remove: () => this.#changed(this.cache.setSecret(name, undefined)),
      };
      const selector = `metadata.name=${secret}`;
      const reflector = this.#reflector(
        `secret ${name}`,
        `/api/v1/namespaces/${namespace}/secrets`,
        () =>
          this.#o.clients.core.listNamespacedSecret({
            namespace,
            fieldSelector: selector,
          }) as unknown as Promise<ListResult>,
        handler,
        selector,
      );
      this.#secretReflectors.set(name, reflector);
      reflector.start();
    }
  }

  async #rebuild(): Promise<void> {
    this.#syncSecretWatches();
    if (!this.#allSynced()) {
      this.#deferred = true;
      return;
    }
    this.#deferred = false;
    const snapshot = this.cache.snapshot();
    const report = await this.#o.store.replaceSnapshot(snapshot);
    this.#lastReport = report;
    void this.#afterPublish(report, snapshot.generations);
  }

  async #afterPublish(report: ApplyReport, generations: Map<string, number>): Promise<void> {
    await this.#o.store.programmed(report.version);
    if (!this.#ready) {
      this.#ready = true;
      this.#o.logger.info(
        { version: report.version, objects: generations.size },
        'first Kubernetes sync served',
      );
      // The first sync is the largest burst there is: its memory goes back now, not after the delay.
      void this.#memory.now();
    }
    // Only the newest report's statuses are kept for a new leader to write.
    if (this.#lastReport !== undefined && this.#lastReport.version > report.version) return;
    this.#served = { report, generations };
    this.#writeStatuses();
  }

  /** Queues the served report's conditions, on the leader only. */
  #writeStatuses(): void {
    if (this.#served === undefined || !this.#leader.isLeader) return;
    this.#status.enqueue(desiredStatuses(this.#served.report, this.#served.generations, true));
  }
}

/** A Secret's `data` entries, base64-decoded to strings (PEM). */
function decode(obj: KubeObject | undefined): Record<string, string> | undefined {
  if (obj === undefined) return undefined;
  const data = (obj['data'] ?? {}) as Record<string, string>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}
