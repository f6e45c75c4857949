/**
 * Retry policy: which failures may be retried, for which methods, how many times, and a retry
 * budget (Envoy's `retry_budget`) so that retries cannot multiply load on a struggling backend:
 * retries in flight stay ≤ max(minRetryConcurrency, budgetPercent % of active requests).
 * Refusals come back as a named reason, for logs and `portico explain`.
 */
import { IDEMPOTENT_METHODS } from '../http.ts';
import { InvalidArgumentError, PorticoError } from '../errors.ts';
import type { IsUsable, Selector } from './endpoint.ts';

/** Failures a policy may retry. */
export type RetryOn = 'connect-failure' | 'reset' | '502' | '503' | '504';

/** `retry`, or why not. */
export type RetryDecision =
  'retry' | 'failure-not-retryable' | 'attempts-exhausted' | 'non-idempotent-method' | 'budget-exhausted';

export interface RetryPolicyOptions {
  /** Most attempts per request, the first included; default 3 (1 disables retries). */
  readonly attempts?: number;
  /** Failures to retry; default `['connect-failure', 'reset']`, like nginx's `proxy_next_upstream error`. */
  readonly retryOn?: readonly RetryOn[];
  /**
   * Retry non-idempotent methods (POST, PATCH…) after a failure the upstream may have acted on;
   * default false. A connect failure is retried for every method: the request was never sent.
   */
  readonly allowNonIdempotent?: boolean;
}

/** One failed attempt, described for {@link RetryPolicy.canRetry}. */
export interface FailedAttempt {
  /** Request method, upper case. */
  readonly method: string;
  /** From {@link classifyFailure}; undefined for failures no policy retries. */
  readonly failure: RetryOn | undefined;
  /** Attempts made so far, the failed one included. */
  readonly attempts: number;
}

const RETRY_ON: ReadonlySet<string> = new Set<RetryOn>(['connect-failure', 'reset', '502', '503', '504']);

/** Immutable retry rules, typically one per route; share a {@link RetryBudget} per backend. */
export class RetryPolicy {
  readonly attempts: number;
  readonly #retryOn: ReadonlySet<RetryOn>;
  readonly #allowNonIdempotent: boolean;

  /** Throws `InvalidArgumentError` naming the first bad option. */
  constructor(options: RetryPolicyOptions = {}) {
    const attempts = options.attempts ?? 3;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new InvalidArgumentError('attempts', 'must be an integer ≥ 1');
    }
    const retryOn = options.retryOn ?? ['connect-failure', 'reset'];
    retryOn.forEach((failure, i) => {
      if (!RETRY_ON.has(failure))
        throw new InvalidArgumentError(`retryOn[${i}]`, `unknown failure "${failure}"`);
    });
    this.attempts = attempts;
    this.#retryOn = new Set(retryOn);
    this.#allowNonIdempotent = options.allowNonIdempotent ?? false;
  }

  /**
   * Whether to retry after `attempt` failed. Checks, in order: the failure kind, the attempt
   * count, the method, then `budget` (if given). On `retry`, the caller starts the retry and
   * tells the budget with `retryStarted()`.
   */
  canRetry(attempt: FailedAttempt, budget?: RetryBudget): RetryDecision {
    const { failure } = attempt;
    if (failure === undefined || !this.#retryOn.has(failure)) return 'failure-not-retryable';
    if (attempt.attempts >= this.attempts) return 'attempts-exhausted';
    if (
      failure !== 'connect-failure' &&
      !this.#allowNonIdempotent &&
      !IDEMPOTENT_METHODS.has(attempt.method)
    ) {
      return 'non-idempotent-method';
    }
    if (budget !== undefined && !budget.allows()) return 'budget-exhausted';
    return 'retry';
  }
}

export interface RetryBudgetOptions {
  /** Retries in flight allowed per 100 active requests; default 20. */
  readonly budgetPercent?: number;
  /** Retries in flight always allowed, so a quiet backend can still retry; default 3. */
  readonly minRetryConcurrency?: number;
}

/**
 * Counts active requests and retries in flight for one backend (per worker). Every `…Started`
 * must be paired with its `…Finished`.
 */
export class RetryBudget {
  #percent = 0;
  #minConcurrency = 0;
  #active = 0;
  #retries = 0;

  /** Throws `InvalidArgumentError` naming the first bad option. */
  constructor(options: RetryBudgetOptions = {}) {
    this.configure(options);
  }

  /** Applies new settings; requests and retries in flight stay counted. Throws like the constructor. */
  configure(options: RetryBudgetOptions): void {
    const percent = options.budgetPercent ?? 20;
    const min = options.minRetryConcurrency ?? 3;
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new InvalidArgumentError('budgetPercent', 'must be between 0 and 100');
    }
    if (!Number.isInteger(min) || min < 0)
      throw new InvalidArgumentError('minRetryConcurrency', 'must be an integer ≥ 0');
    this.#percent = percent;
    this.#minConcurrency = min;
  }

  /** A downstream request started using this backend. */
  requestStarted(): void {
    this.#active++;
  }

  requestFinished(): void {
    if (this.#active > 0) this.#active--;
  }

  /** A retry attempt started (after `canRetry` said `retry`). */
  retryStarted(): void {
    this.#retries++;
  }

  retryFinished(): void {
    if (this.#retries > 0) this.#retries--;
  }

  /** Whether one more retry fits in the budget. */
  allows(): boolean {
    const limit = Math.max(this.#minConcurrency, Math.floor((this.#active * this.#percent) / 100));
    return this.#retries < limit;
  }
}

/**
 * Maps an upstream failure to the retry vocabulary: a `PorticoError` by code, or a response
 * status. Returns undefined for anything no policy retries.
 */
export function classifyFailure(failure: unknown): RetryOn | undefined {
  if (typeof failure === 'number') {
    return failure === 502 || failure === 503 || failure === 504 ? (String(failure) as RetryOn) : undefined;
  }
  if (!(failure instanceof PorticoError)) return undefined;
  if (failure.code === 'CONNECT_REFUSED' || failure.code === 'CONNECT_TIMEOUT') return 'connect-failure';
  return failure.code === 'CONNECTION_RESET' ? 'reset' : undefined;
}

/**
 * Picks an endpoint other than those in `tried`, for a retry; -1 when every usable endpoint has
 * been tried (the caller may then accept a repeat by picking without exclusion).
 */
export function pickUntried(
  selector: Selector,
  tried: readonly number[],
  key?: string | number,
  isUsable?: IsUsable,
): number {
  return selector.pick(key, (index) => !tried.includes(index) && (isUsable === undefined || isUsable(index)));
}
