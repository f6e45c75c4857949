/**
 * The cache lock (request coalescing), after Pingora's: on a miss, the first request for a key
 * becomes the writer and fetches from upstream; concurrent requests become readers and wait for
 * its outcome instead of stampeding the origin.
 *
 * Every lock carries one unref'd timer started when the writer took it. When it fires, all
 * readers get `timeout` (they then go upstream on their own) and the lock ages out, so a writer
 * that never releases blocks nobody for longer than `timeoutMs` and the next request can become
 * a writer. A reader therefore waits at most `timeoutMs` from the writer's start, never longer.
 */
import { InvalidArgumentError } from '../errors.ts';

/** How the writer's fetch ended. */
export type LockOutcome =
  /** The response is stored: readers look the key up again and get a hit. */
  | 'ready'
  /** The response may not be stored: readers go upstream themselves. */
  | 'uncacheable'
  /** The fetch failed: readers go upstream themselves (and may fail the same way). */
  | 'failed';

/** What a reader learns: the writer's outcome, or `timeout` when the writer took too long. */
export type WaitResult = LockOutcome | 'timeout';

export interface WriterLock {
  readonly kind: 'writer';
  readonly key: string;
  /** Must be called exactly once when the fetch ends, on every path; later calls do nothing. */
  release(outcome: LockOutcome): void;
}

export interface ReaderLock {
  readonly kind: 'reader';
  readonly key: string;
  /** Resolves once, with the writer's outcome or `timeout`; never rejects. */
  wait(): Promise<WaitResult>;
}

export type LockHandle = WriterLock | ReaderLock;

/** Metric hooks; called synchronously, they must not throw. */
export interface CacheLockHooks {
  /** A request became a reader (it will wait rather than go upstream). */
  onWait?(key: string): void;
  /** A lock aged out; `waiters` readers were released with `timeout`. */
  onTimeout?(key: string, waiters: number): void;
}

export interface CacheLockOptions {
  /** Longest a lock is held before readers give up and a new writer may take over. Default 5 s. */
  readonly timeoutMs?: number;
  readonly hooks?: CacheLockHooks;
}

export interface CacheLockStats {
  /** Requests that waited on another request's fetch. */
  readonly waits: number;
  /** Readers released by the timeout rather than by the writer. */
  readonly timeouts: number;
  /** Locks currently held. */
  readonly held: number;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 5000;

interface LockState {
  readonly key: string;
  readonly resolve: (result: WaitResult) => void;
  readonly promise: Promise<WaitResult>;
  timer: NodeJS.Timeout | undefined;
  readers: number;
}

class Writer implements WriterLock {
  readonly kind = 'writer';
  readonly key: string;
  readonly #locks: Map<string, LockState>;
  readonly #state: LockState;

  constructor(locks: Map<string, LockState>, state: LockState) {
    this.#locks = locks;
    this.#state = state;
    this.key = state.key;
  }

  release(outcome: LockOutcome): void {
    const state = this.#state;
    // A lock that aged out may already belong to a new writer: leave that one alone.
    if (this.#locks.get(state.key) !== state) return;
    this.#locks.delete(state.key);
    clearTimeout(state.timer);
    state.resolve(outcome);
  }
}

class Reader implements ReaderLock {
  readonly kind = 'reader';
  readonly key: string;
  readonly #promise: Promise<WaitResult>;

  constructor(state: LockState) {
    this.key = state.key;
    this.#promise = state.promise;
  }

  wait(): Promise<WaitResult> {
    return this.#promise;
  }
}

export class CacheLock {
  readonly timeoutMs: number;
  readonly #hooks: CacheLockHooks;
  readonly #locks = new Map<string, LockState>();
  #waits = 0;
  #timeouts = 0;

  constructor(options: CacheLockOptions = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidArgumentError(
        'lockTimeoutMs',
        `must be a positive number of milliseconds, got ${timeoutMs}`,
      );
    }
    this.timeoutMs = timeoutMs;
    this.#hooks = options.hooks ?? {};
  }

  /** The first caller for a key becomes the writer; callers while it holds the lock become readers. */
  acquire(key: string): LockHandle {
    const held = this.#locks.get(key);
    if (held === undefined) return new Writer(this.#locks, this.#create(key));
    held.readers++;
    this.#waits++;
    this.#hooks.onWait?.(key);
    return new Reader(held);
  }

  /**
   * The writer lock when nobody holds the key, otherwise `undefined` — without becoming a reader or
   * counting a wait. For work that is skipped when someone else is already doing it (a background
   * revalidation).
   */
  tryAcquire(key: string): WriterLock | undefined {
    return this.#locks.has(key) ? undefined : new Writer(this.#locks, this.#create(key));
  }

  stats(): CacheLockStats {
    return { waits: this.#waits, timeouts: this.#timeouts, held: this.#locks.size };
  }

  #create(key: string): LockState {
    const { promise, resolve } = Promise.withResolvers<WaitResult>();
    const state: LockState = { key, promise, resolve, timer: undefined, readers: 0 };
    state.timer = setTimeout(this.#expire, this.timeoutMs, state);
    state.timer.unref();
    this.#locks.set(key, state);
    return state;
  }

  /** One handler for every lock's timer (an arrow so `this` survives `setTimeout`). */
  readonly #expire = (state: LockState): void => {
    if (this.#locks.get(state.key) !== state) return;
    this.#locks.delete(state.key);
    this.#timeouts += state.readers;
    this.#hooks.onTimeout?.(state.key, state.readers);
    state.resolve('timeout');
  };
}
