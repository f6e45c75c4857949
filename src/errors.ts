/**
 * One error type for the whole library, after Pingora's `pingora-error`: every failure carries a
 * stable `code`, the side it came from (`source`), whether retrying could help (`retryable`) and the
 * underlying `cause`. The proxy maps `source` to a status: upstream → 502/504, downstream → 400,
 * internal → 500.
 */

/** Which side of the proxy a failure came from. */
export type ErrorSource = 'upstream' | 'downstream' | 'internal';

/** Stable error codes; tests and hooks branch on these, never on messages. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'CONNECT_REFUSED'
  | 'CONNECT_TIMEOUT'
  | 'CONNECTION_RESET'
  | 'TLS_FAILURE'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_PROTOCOL'
  | 'UPSTREAM_ERROR'
  | 'NO_UPSTREAM'
  | 'DOWNSTREAM_TIMEOUT'
  | 'DOWNSTREAM_PROTOCOL'
  | 'DOWNSTREAM_CLOSED'
  | 'REQUEST_TOO_LARGE'
  | 'NOT_FOUND'
  | 'HOOK_FAILED'
  | 'INTERNAL';

export interface PorticoErrorOptions {
  source?: ErrorSource;
  retryable?: boolean;
  cause?: unknown;
}

export class PorticoError extends Error {
  override readonly name: string = 'PorticoError';
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: PorticoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.source = options.source ?? 'internal';
    this.retryable = options.retryable ?? false;
  }
}

/** Thrown by constructors and loaders for a bad option; the message names the option. */
export class InvalidArgumentError extends PorticoError {
  override readonly name = 'InvalidArgumentError';
  constructor(option: string, problem: string) {
    super('INVALID_ARGUMENT', `${option}: ${problem}`);
  }
}

/** One problem in a configuration object, located by a JSON-pointer-like field path. */
export interface FieldError {
  /** e.g. `Route default/shop` */
  object: string;
  /** e.g. `spec.rules[0].matches[1].path.value` */
  path: string;
  message: string;
  /** PascalCase reason for a status condition, e.g. `InvalidRegex`. */
  reason: string;
}

/** A configuration that failed validation; carries every field error found, not just the first. */
export class ConfigError extends PorticoError {
  override readonly name = 'ConfigError';
  readonly errors: readonly FieldError[];
  constructor(errors: readonly FieldError[], cause?: unknown) {
    super('INVALID_CONFIG', errors.map((e) => `${e.object}: ${e.path}: ${e.message}`).join('\n'), { cause });
    this.errors = errors;
  }
}

/** Normalises anything thrown into a PorticoError without losing the original. */
export function toPorticoError(
  error: unknown,
  fallback: ErrorCode = 'INTERNAL',
  source: ErrorSource = 'internal',
): PorticoError {
  if (error instanceof PorticoError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PorticoError(fallback, message, { source, cause: error });
}
