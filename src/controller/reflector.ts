/**
 * List-then-watch of one resource into handlers, resilient by construction. client-node's `ListWatch`
 * informer emits `error` and stops for good on any failure; it also reports an `error` for the abort
 * caused by its own `stop()`, and can leak a watch that was still connecting when stopped (the
 * `watch()` promise only yields its AbortController once response headers arrive). The pinned 2.0.1
 * `Watch` already carries the fix for client-node #3020/#3022 (an inactivity timeout instead of a
 * whole-request timeout), so it is used as is; this class replaces only the informer loop:
 *
 * - any failure → retry with exponential back-off (base → max), reset after a healthy watch;
 * - 410 Gone (as an HTTP status or an ERROR event) → relist at once;
 * - every `resyncMs` → relist, and the handler gets the full list (`replace`) so objects deleted
 *   while disconnected disappear too;
 * - `stop()` aborts whatever is in flight and no handler runs afterwards.
 */
import type { Watch } from '@kubernetes/client-node';
import { PorticoError } from '../errors.ts';
import type { Logger } from '../observability/index.ts';
import { describeError, statusOf, type KubeObject } from './kube.ts';

export interface ListResult {
  items: KubeObject[];
  metadata?: { resourceVersion?: string };
}

export interface ReflectorHandler {
  /** The complete current list (initial sync, relist, resync). */
  replace(items: KubeObject[]): void;
  upsert(obj: KubeObject): void;
  remove(obj: KubeObject): void;
}

export interface ReflectorOptions {
  /** For logs, e.g. `routes`. */
  name: string;
  /** Watch path, e.g. `/apis/portico.dev/v1alpha1/routes`. */
  path: string;
  list: () => Promise<ListResult>;
  watch: Watch;
  handler: ReflectorHandler;
  logger: Logger;
  fieldSelector?: string;
  /** Relist this often even when the watch is healthy. Default 10 minutes. */
  resyncMs?: number;
  /** Back-off after a failure: doubles from `minBackoffMs` up to `maxBackoffMs`. Defaults 250 ms and 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface WatchEnd {
  gone: boolean;
}

export class Reflector {
  readonly #o: Required<Omit<ReflectorOptions, 'fieldSelector'>> & { fieldSelector?: string };
  #stopped = false;
  #running: Promise<void> | undefined;
  #abort: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #resourceVersion = '';
  #synced = false;
  #failures = 0;
  #relists = 0;

  constructor(options: ReflectorOptions) {
    this.#o = {
      ...options,
      resyncMs: options.resyncMs ?? 600_000,
      minBackoffMs: options.minBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
    };
  }

  /** True once the first list has been delivered. */
  get synced(): boolean {
    return this.#synced;
  }

  /** True once the first list has been delivered or has failed at least once. */
  get settled(): boolean {
    return this.#synced || this.#failures > 0;
  }

  /** Lists done so far (initial, after 410, resync, after errors). */
  get relists(): number {
    return this.#relists;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.();
    this.#wake?.();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let needList = true;
    let listedAt = 0;
    while (!this.#stopped) {
      try {
        if (needList) {
          if (!(await this.#list())) return;
          listedAt = Date.now();
          needList = false;
        }
        const end = await this.#watchOnce(listedAt + this.#o.resyncMs - Date.now());
        needList = end.gone || Date.now() >= listedAt + this.#o.resyncMs;
      } catch (error) {
        if (this.#stopped) return;
        if (statusOf(error) === 410) {
          needList = true;
          continue;
        }
        this.#failures++;
        // After a failed list or watch the resourceVersion may be far behind; relist to be safe.
        needList = true;
        const delay = Math.min(this.#o.minBackoffMs * 2 ** (this.#failures - 1), this.#o.maxBackoffMs);
        this.#o.logger.warn(
          { resource: this.#o.name, failures: this.#failures, retryInMs: delay, err: describeError(error) },
          'watch failed; retrying',
        );
        await this.#sleep(delay);
      }
    }
  }

  /**
   * Lists and hands the items over; false when stopped meanwhile. A method of its own so that the list
   * goes with its frame: held in `#loop`'s, it stayed reachable for as long as the next watch ran (up to
   * the resync), every object as received with its managedFields: 24 MB with 10,000 Routes.
   */
  async #list(): Promise<boolean> {
    const list = await this.#o.list();
    if (this.#stopped) return false;
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    this.#synced = true; // before the handler runs: it may ask whether every reflector has synced
    this.#o.handler.replace(list.items);
    this.#relists++;
    this.#failures = 0;
    return true;
  }

  /** One watch connection; resolves when it ends normally (or for a resync), rejects on failure. */
  #watchOnce(resyncInMs: number): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let gone = false;
      let settled = false;
      let controller: AbortController | undefined;
      const finish = (error: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(resync);
        this.#abort = undefined;
        controller?.abort();
        const timedOut = (error as { name?: string } | null)?.name === 'TimeoutError';
        if (error !== null && error !== undefined && !timedOut && !this.#stopped)
          reject(error instanceof Error ? error : new PorticoError('UPSTREAM_ERROR', describeError(error)));
        else resolve({ gone });
      };
      const resync = setTimeout(() => finish(null), Math.max(resyncInMs, 0));
      resync.unref();
      this.#abort = () => finish(null);
      const query: Record<string, string | boolean> = {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
      };
      if (this.#o.fieldSelector !== undefined) query.fieldSelector = this.#o.fieldSelector;
      const onEvent = (type: string, obj: KubeObject): void => {
        if (settled) return;
        if (type === 'ERROR') {
          if ((obj as { code?: number }).code === 410) gone = true;
          return;
        }
        this.#failures = 0;
        const rv = obj.metadata?.resourceVersion;
        if (rv !== undefined) this.#resourceVersion = rv;
        if (type === 'ADDED' || type === 'MODIFIED') this.#o.handler.upsert(obj);
        else if (type === 'DELETED') this.#o.handler.remove(obj);
      };
      this.#o.watch.watch(this.#o.path, query, onEvent, finish).then(
        (c) => {
          controller = c;
          // Stopped (or ended) while connecting: abort the connection the promise just handed over.
          if (settled) c.abort();
        },
        (error: unknown) => finish(error),
      );
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
