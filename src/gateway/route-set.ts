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

/** A RouteSet but its Routes, which travel in two forms: objects in the primary, texts on the wire. */
export type RouteSetCore = Omit<RouteSet, 'routes'>;

/**
 * A RouteSet as the primary broadcasts it: every Route as a key, and the JSON text of the Routes a
 * worker may not have. A key the worker has seen names a Route it has already compiled
 * (`WorkerTableCompiler`), so an edit among 10,000 Routes sends, parses and compiles one Route.
 */
export interface WireRouteSet extends RouteSetCore {
  /** One per Route, in order: equal keys mean equal Routes. */
  readonly routeKeys: readonly number[];
  /** Texts by key: of every Route in a full set; in a delta, of the Routes the previous broadcast lacked. */
  readonly routeTexts: Readonly<Record<number, string>>;
}

// The primary reuses validated objects while they are unchanged, so each is serialised once and its
// key stays the same across versions; keys are never reused for another object.
const serialised = new WeakMap<Route, { readonly key: number; readonly text: string }>();
let nextKey = 1;

function serialise(route: Route): { readonly key: number; readonly text: string } {
  let entry = serialised.get(route);
  if (entry === undefined) {
    entry = { key: nextKey++, text: JSON.stringify(route) };
    serialised.set(route, entry);
  }
  return entry;
}

/** `set` for the wire: in full, or as a delta carrying only texts whose keys are not in `known`. */
export function toWire(set: RouteSet, known?: ReadonlySet<number>): WireRouteSet {
  const { routes, ...rest } = set;
  const routeKeys: number[] = [];
  const routeTexts: Record<number, string> = {};
  for (const route of routes) {
    const { key, text } = serialise(route);
    routeKeys.push(key);
    if (known?.has(key) !== true) routeTexts[key] = text;
  }
  return { ...rest, routeKeys, routeTexts };
}
