/**
 * Writes conditions onto Routes and Backends (`/status` subresource, JSON merge patch), with the
 * one-string summaries the printer columns show (`statusSummary`), after Pepr's
 * per-key queue: one write in flight per object and only the newest desired status waiting behind it,
 * a few objects written in parallel. A write is skipped when the object already carries those
 * conditions, when the object is gone, or when it has moved to a newer generation than the status
 * describes (a newer rebuild is on its way). Failed writes retry with back-off. Only the leader
 * writes: `setLeader(false)` drops the queue. Rejections also become Kubernetes Events.
 * Verbs used: routes/status, backends/status patch; events create, patch.
 */
import type { Logger } from '../observability/index.ts';
import type { ControllerCache } from './cache.ts';
import { statusSummary, type DesiredCondition, type DesiredStatus } from './conditions.ts';
import type { EventRecorder } from './events.ts';
import { describeError, MERGE_PATCH, statusOf, type KubeClients, type KubeObject } from './kube.ts';

interface WrittenCondition extends DesiredCondition {
  lastTransitionTime: string;
}

const PLURAL = { Route: 'routes', Backend: 'backends' } as const;

export class StatusWriter {
  readonly #clients: KubeClients;
  readonly #cache: ControllerCache;
  readonly #events: EventRecorder;
  readonly #logger: Logger;
  readonly #concurrency: number;
  readonly #pending = new Map<string, DesiredStatus>();
  readonly #inFlight = new Set<string>();
  readonly #failures = new Map<string, number>();
  #leader = false;
  #writes = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(
    clients: KubeClients,
    cache: ControllerCache,
    events: EventRecorder,
    logger: Logger,
    concurrency = 8,
  ) {
    this.#clients = clients;
    this.#cache = cache;
    this.#events = events;
    this.#logger = logger;
    this.#concurrency = concurrency;
  }

  /** Status patches sent so far (tests compare it between replicas). */
  get writes(): number {
    return this.#writes;
  }

  setLeader(leader: boolean): void {
    this.#leader = leader;
    if (!leader) this.#pending.clear();
  }

  enqueue(statuses: readonly DesiredStatus[]): void {
    if (!this.#leader) return;
    for (const s of statuses) this.#pending.set(s.key, s);
    this.#pump();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.#pending.size === 0 && this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    for (const [key, desired] of this.#pending) {
      if (this.#inFlight.size >= this.#concurrency) return;
      if (this.#inFlight.has(key)) continue;
      this.#pending.delete(key);
      this.#inFlight.add(key);
      void this.#write(desired).finally(() => {
        this.#inFlight.delete(key);
        this.#pump();
        if (this.#pending.size === 0 && this.#inFlight.size === 0) {
          for (const resolve of this.#idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  async #write(desired: DesiredStatus): Promise<void> {
    const obj = this.#cache.get(desired.key);
    if (obj === undefined || !this.#leader) return;
    if ((obj.metadata?.generation ?? 0) > desired.generation) return;
    const current = currentConditions(obj);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const conditions: WrittenCondition[] = desired.conditions.map((c) => {
      const old = current.find((o) => o.type === c.type);
      return { ...c, lastTransitionTime: old?.status === c.status ? (old.lastTransitionTime ?? now) : now };
    });
    const kind = desired.key.slice(0, desired.key.indexOf(' ')) as keyof typeof PLURAL;
    const summary = statusSummary(kind, obj['spec']);
    if (sameConditions(current, conditions) && sameSummary(obj, summary)) return;
    try {
      await this.#clients.custom.patchNamespacedCustomObjectStatus(
        {
          group: 'portico.dev',
          version: 'v1alpha1',
          namespace: obj.metadata?.namespace ?? 'default',
          plural: PLURAL[kind],
          name: obj.metadata?.name ?? '',
          body: { status: { conditions, ...summary } },
        },
        MERGE_PATCH,
      );
    } catch (error) {
      if (statusOf(error) === 404) return;
      this.#retryLater(desired, error);
      return;
    }
    this.#writes++;
    this.#failures.delete(desired.key);
    // Remember what was written, so a rebuild before the watch echoes it does not write it again.
    obj['status'] = { ...(obj['status'] as object | undefined), conditions, ...summary };
    for (const c of conditions) {
      const old = current.find((o) => o.type === c.type);
      if (
        c.type !== 'Programmed' &&
        c.status === 'False' &&
        (old?.status !== 'False' || old.reason !== c.reason || old.message !== c.message)
      )
        this.#events.warn(obj, c.reason, `${c.type}: ${c.message}`);
    }
  }

  #retryLater(desired: DesiredStatus, error: unknown): void {
    const failures = (this.#failures.get(desired.key) ?? 0) + 1;
    this.#failures.set(desired.key, failures);
    const delay = Math.min(500 * 2 ** (failures - 1), 30_000);
    this.#logger.warn(
      { object: desired.key, retryInMs: delay, err: describeError(error) },
      'status write failed',
    );
    setTimeout(() => {
      if (!this.#pending.has(desired.key)) this.enqueue([desired]);
    }, delay).unref();
  }
}

function currentConditions(obj: KubeObject): Partial<WrittenCondition>[] {
  const status = obj['status'] as { conditions?: Partial<WrittenCondition>[] } | undefined;
  return Array.isArray(status?.conditions) ? status.conditions : [];
}

function sameConditions(a: Partial<WrittenCondition>[], b: WrittenCondition[]): boolean {
  return (
    a.length === b.length &&
    b.every((c) => {
      const o = a.find((x) => x.type === c.type);
      return (
        o !== undefined &&
        o.status === c.status &&
        o.reason === c.reason &&
        o.message === c.message &&
        o.observedGeneration === c.observedGeneration
      );
    })
  );
}

function sameSummary(obj: KubeObject, summary: object): boolean {
  const status = (obj['status'] ?? {}) as Record<string, unknown>;
  return Object.entries(summary).every(([field, value]) => status[field] === value);
}
