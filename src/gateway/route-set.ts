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
 * A RouteSet as the primary broadcasts it: each Route as its JSON text, with a key. Deserialising
 * 10,000 strings costs a worker a fraction of 10,000 object graphs, and a key the worker has seen
 * names a Route it has already compiled (`WorkerTableCompiler`), so an edit recompiles one Route, not
 * all. Texts still travel in full, so any worker, even one just started, compiles from any message.
 */
export interface WireRouteSet extends RouteSetCore {
  /** One per Route: equal keys mean equal texts. */
  readonly routeKeys: readonly number[];
  readonly routeTexts: readonly string[];
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

export function toWire(set: RouteSet): WireRouteSet {
  const { routes, ...rest } = set;
  const entries = routes.map(serialise);
  return { ...rest, routeKeys: entries.map((e) => e.key), routeTexts: entries.map((e) => e.text) };
}
