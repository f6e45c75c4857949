/**
 * Kubernetes Events (core/v1) for rejections, so `kubectl describe route x` shows why. A repeat of the
 * same reason and message for the same object bumps the existing Event's count (patch) instead of
 * creating another. Best effort: a failure is logged, never retried. Verbs used: events create, patch.
 */
import type { Logger } from '../observability/index.ts';
import { describeError, MERGE_PATCH, type KubeClients, type KubeObject } from './kube.ts';

export class EventRecorder {
  readonly #clients: KubeClients;
  readonly #logger: Logger;
  readonly #identity: string;
  readonly #host: string | undefined;
  readonly #sent = new Map<string, { name: string; count: number }>();

  constructor(clients: KubeClients, logger: Logger, identity: string, host: string | undefined) {
    this.#clients = clients;
    this.#logger = logger;
    this.#identity = identity;
    this.#host = host;
  }

  warn(obj: KubeObject, reason: string, message: string): void {
    void this.#record(obj, reason, message).catch((error: unknown) =>
      this.#logger.warn({ reason, err: describeError(error) }, 'could not record an Event'),
    );
  }

  async #record(obj: KubeObject, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata?.namespace ?? 'default';
    const key = `${obj.metadata?.uid ?? ''}/${reason}/${message}`;
    const now = new Date();
    const seen = this.#sent.get(key);
    if (seen !== undefined) {
      seen.count++;
      await this.#clients.core.patchNamespacedEvent(
        { name: seen.name, namespace, body: { count: seen.count, lastTimestamp: now } },
        MERGE_PATCH,
      );
      return;
    }
    const created = await this.#clients.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${obj.metadata?.name ?? 'object'}.`, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata?.name,
          namespace,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
        reason,
        message: message.slice(0, 1024),
        type: 'Warning',
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'portico-controller', host: this.#host },
        reportingComponent: 'portico.dev/controller',
        reportingInstance: this.#identity,
      },
    });
    if (this.#sent.size > 10_000) this.#sent.clear();
    this.#sent.set(key, { name: created.metadata?.name ?? '', count: 1 });
  }
}
