import type { Backend, Route } from '../routing/index.ts';
import type { Endpoint } from '../lb/index.ts';

/**
 * One versioned snapshot of the routing configuration, as the primary ships it to workers over IPC:
 * validated objects plus everything a worker would otherwise have to fetch (PEM files, discovered
 * endpoints), so that compiling it needs no I/O.
 */
export interface RouteSet {
  readonly version: number;
  readonly routes: readonly Route[];
  readonly backends: readonly Backend[];
  /**
   * Contents of the PEM files Backends reference (`caFile`, `clientCertFile`, `keyFile`), by path, and of
   * the Secrets they reference (`caSecretRef`, `clientCertSecretRef`), by {@link secretFileKey}.
   */
  readonly files: Readonly<Record<string, string>>;
  /** Endpoints discovered for Backends that name a Service, by `namespace/name`. */
  readonly discovered: Readonly<Record<string, readonly Endpoint[]>>;
  /** Addresses of the DNS names static endpoints use, by name; a name not here is dialled as is. */
  readonly resolved: Readonly<Record<string, readonly string[]>>;
}

export const EMPTY_ROUTE_SET: RouteSet = Object.freeze({
  version: 0,
  routes: [],
  backends: [],
  files: {},
  discovered: {},
  resolved: {},
});

/** How {@link secretFileKey}s start; file paths never do (they are absolute or relative paths). */
export const SECRET_KEY_PREFIX = 'secret:';

/** The `files` key under which one entry of a Secret travels in a RouteSet: `secret:ns/name/tls.crt`. */
export function secretFileKey(namespace: string, name: string, key: string): string {
  return `${SECRET_KEY_PREFIX}${namespace}/${name}/${key}`;
}
