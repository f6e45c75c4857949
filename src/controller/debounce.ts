/**
 * Coalesces bursts of changes into one rebuild, after Contour's event handler: a rebuild runs once
 * `holdOffMs` pass without a new trigger, but never later than `maxMs` after the first trigger of a
 * burst. Rebuilds never overlap; a trigger during one schedules exactly one more. `sequence` counts
 * finished rebuilds, so tests wait on it instead of sleeping.
 */
import type { Logger } from '../observability/index.ts';

export class Debouncer {
  readonly #run: () => Promise<void>;
  readonly #holdOffMs: number;
  readonly #maxMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #firstAt = 0;
  #running: Promise<void> | undefined;
  #again = false;
  #sequence = 0;
  #stopped = false;
  readonly #waiters: Array<{ sequence: number; resolve: () => void }> = [];

  constructor(run: () => Promise<void>, logger: Logger, holdOffMs = 50, maxMs = 500) {
    this.#run = run;
    this.#logger = logger;
    this.#holdOffMs = holdOffMs;
    this.#maxMs = maxMs;
  }

  /** Finished rebuilds so far. */
  get sequence(): number {
    return this.#sequence;
  }

  /** Asks for a rebuild. */
  trigger(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    const now = Date.now();
    if (this.#timer === undefined) this.#firstAt = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#holdOffMs, this.#firstAt + this.#maxMs - now));
    this.#timer = setTimeout(() => void this.#fire(), wait);
  }

  /** Resolves once a rebuild numbered `sequence` or later has finished. */
  waitFor(sequence: number): Promise<void> {
    if (this.#sequence >= sequence) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ sequence, resolve }));
  }

  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    return this.#running ?? Promise.resolve();
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    this.#again = false;
    this.#running = this.#run().catch((error: unknown) =>
      this.#logger.error({ err: error }, 'rebuild failed; keeping the last published configuration'),
    );
    await this.#running;
    this.#running = undefined;
    this.#sequence++;
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]!.sequence <= this.#sequence) this.#waiters.splice(i, 1)[0]!.resolve();
    }
    if (this.#again) this.trigger();
  }
}
