/**
 * Gives the V8 heap's unused memory back after a burst of work: the first list of 10,000 objects, a
 * relist, a large rebuild. Such a burst grows the young generation to its maximum (semi-spaces of
 * 64 MB here) and leaves garbage in the old one. V8's memory reducer would shrink both once the
 * process idles, but on Node 24 (V8 13.6) it judges every idle process to be allocating fast: with no
 * cppgc allocation the embedder rate is exactly 0, which it takes for the maximum
 * (`--trace-memory-reducer --trace-mutator-utilization`: "Embedder mutator utilization = 0.000",
 * "high alloc" every 8 s). Only its 100-second watchdog runs it, and any full GC postpones that.
 * Measured on `portico controller` with 10,000 Routes: ~345 MB RSS when ready, unchanged until the
 * watchdog; ~185 MB right after {@link MemoryRelease.now}.
 *
 * The release is `Isolate::LowMemoryNotification` (a full, memory-reducing GC), which Node exposes only
 * through the inspector protocol's `HeapProfiler.collectGarbage`: an in-process session, no port
 * opened. It costs ~100 ms on a 70 MB heap, so it runs only when the heap holds at least `slackBytes`
 * it does not use, and the scheduled one at most once per `delayMs`.
 */
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../observability/index.ts';

export interface MemoryReleaseOptions {
  /** Committed heap beyond what is used that makes a release worth it. Default 32 MiB. */
  slackBytes?: number;
  /** How long after a burst begins {@link MemoryRelease.soon} releases. Default 30 s. */
  delayMs?: number;
}

type Collect = () => Promise<void>;

export class MemoryRelease {
  readonly #logger: Logger;
  readonly #slackBytes: number;
  readonly #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** The inspector call, once loaded; null when this Node has no inspector. */
  #collect: Collect | null | undefined;

  constructor(logger: Logger, options: MemoryReleaseOptions = {}) {
    this.#logger = logger;
    this.#slackBytes = options.slackBytes ?? 32 * 1024 * 1024;
    this.#delayMs = options.delayMs ?? 30_000;
  }

  /** Releases now, if the heap holds enough it does not use. Never throws. */
  async now(): Promise<void> {
    const before = getHeapStatistics();
    if (before.total_heap_size - before.used_heap_size < this.#slackBytes) return;
    const collect = (this.#collect ??= await loadCollect());
    if (collect === null) return;
    const started = performance.now();
    try {
      await collect();
    } catch (error) {
      this.#logger.debug({ err: error }, 'memory release failed');
      return;
    }
    const after = getHeapStatistics();
    this.#logger.debug(
      {
        heapBytes: [before.total_heap_size, after.total_heap_size],
        ms: Math.round(performance.now() - started),
      },
      'heap memory released',
    );
  }

  /** A burst is under way: releases `delayMs` from now, unless a release is already scheduled. */
  soon(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.now();
    }, this.#delayMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

async function loadCollect(): Promise<Collect | null> {
  try {
    const { Session } = await import('node:inspector/promises');
    return async () => {
      const session = new Session();
      session.connect();
      try {
        await session.post('HeapProfiler.collectGarbage');
      } finally {
        session.disconnect();
      }
    };
  } catch {
    // Node built without the inspector: memory comes back when V8's own reducer runs.
    return null;
  }
}
