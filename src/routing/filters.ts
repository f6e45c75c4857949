/**
 * Gateway API filters compiled to plain data plus pure functions. Compilation lowers header names,
 * resolves defaults and strips trailing slashes once, so applying a filter per request is a few
 * property writes and string concatenations.
 */
import type { HeaderModifier, PathModifier, RequestRedirect, URLRewrite } from './schema.ts';

/**
 * What a header modifier needs from a header collection; the proxy's request `HeaderList` and
 * `ResponseHeader` both provide it. Names are compared case-insensitively by the implementation.
 */
export interface HeaderTarget {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  remove(name: string): void;
}

export interface CompiledHeaderModifier {
  readonly set: readonly (readonly [name: string, value: string])[];
  readonly add: readonly (readonly [name: string, value: string])[];
  readonly remove: readonly string[];
}

export function compileHeaderModifier(m: HeaderModifier): CompiledHeaderModifier {
  const pairs = (list: HeaderModifier['set']): (readonly [string, string])[] =>
    (list ?? []).map((h) => Object.freeze([h.name.toLowerCase(), h.value] as const));
  return Object.freeze({
    set: Object.freeze(pairs(m.set)),
    add: Object.freeze(pairs(m.add)),
    remove: Object.freeze((m.remove ?? []).map((n) => n.toLowerCase())),
  });
}

/**
 * Applies set, then add, then remove (Envoy's order), in place. `add` appends to an existing value
 * with a comma as Gateway API's conformance suite expects, except `set-cookie`, whose values must
 * stay separate lines and so become an array.
 */
export function applyHeaderModifier(m: CompiledHeaderModifier, headers: HeaderTarget): void {
  for (const [name, value] of m.set) headers.set(name, value);
  for (const [name, value] of m.add) {
    const existing = headers.get(name);
    if (existing === undefined || name === 'set-cookie') headers.append(name, value);
    else headers.set(name, `${existing},${value}`);
  }
  for (const name of m.remove) headers.remove(name);
}

/** A path modifier with its replacement pre-trimmed of a trailing slash. */
export interface CompiledPathModifier {
  readonly type: PathModifier['type'];
  readonly value: string;
}

export function compilePathModifier(p: PathModifier): CompiledPathModifier {
  if (p.type === 'ReplaceFullPath') return Object.freeze({ type: p.type, value: p.replaceFullPath ?? '/' });
  return Object.freeze({ type: p.type, value: trimTrailingSlash(p.replacePrefixMatch ?? '/') });
}

function trimTrailingSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * The rewritten path. ReplacePrefixMatch follows Gateway API's table exactly: the matched prefix is
 * compared on segment boundaries with trailing slashes ignored on both sides, so prefix `/foo`
 * replaced by `/bar` turns `/foo/baz` into `/bar/baz`, and replaced by `/` turns it into `/baz`.
 * `matchedPrefix` is the PathPrefix value of the match that selected the rule.
 */
export function rewritePath(
  m: CompiledPathModifier,
  path: string,
  matchedPrefix: string | undefined,
): string {
  if (m.type === 'ReplaceFullPath') return m.value;
  const prefix = trimTrailingSlash(matchedPrefix ?? '/');
  const rewritten = m.value + path.slice(prefix.length);
  return rewritten === '' ? '/' : rewritten;
}

export interface CompiledRewrite {
  readonly hostname: string | undefined;
  readonly path: CompiledPathModifier | undefined;
}

export function compileRewrite(r: URLRewrite): CompiledRewrite {
  return Object.freeze({
    hostname: r.hostname,
    path: r.path === undefined ? undefined : compilePathModifier(r.path),
  });
}

export interface CompiledRedirect {
  readonly scheme: 'http' | 'https' | undefined;
  readonly hostname: string | undefined;
  readonly port: number | undefined;
  readonly path: CompiledPathModifier | undefined;
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
}

export function compileRedirect(r: RequestRedirect): CompiledRedirect {
  return Object.freeze({
    scheme: r.scheme,
    hostname: r.hostname,
    port: r.port,
    path: r.path === undefined ? undefined : compilePathModifier(r.path),
    statusCode: r.statusCode,
  });
}

/** The parts of a request a redirect is computed from. */
export interface RedirectRequest {
  readonly scheme: 'http' | 'https';
  /** Host header; its port, if any, is dropped. */
  readonly host: string;
  /** Port of the listener that accepted the request. */
  readonly listenerPort: number;
  readonly path: string;
  /** Raw query, with or without `?`; kept on the Location. */
  readonly query: string;
}

export interface RedirectResponse {
  readonly status: number;
  readonly location: string;
}

const WELL_KNOWN_PORT = { http: 80, https: 443 } as const;

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1) || host;
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * Status and Location for a RequestRedirect. The port follows Gateway API: the configured port; else
 * the well-known port of a configured scheme; else the listener's port; and it is left out of the
 * Location when it is the scheme's default.
 */
export function redirectResponse(
  r: CompiledRedirect,
  req: RedirectRequest,
  matchedPrefix: string | undefined,
): RedirectResponse {
  const scheme = r.scheme ?? req.scheme;
  const host = r.hostname ?? hostnameOf(req.host);
  const port = r.port ?? (r.scheme === undefined ? req.listenerPort : WELL_KNOWN_PORT[r.scheme]);
  const authority = port === WELL_KNOWN_PORT[scheme] ? host : `${host}:${port}`;
  const path = r.path === undefined ? req.path : rewritePath(r.path, req.path, matchedPrefix);
  const query = req.query.startsWith('?') ? req.query.slice(1) : req.query;
  return {
    status: r.statusCode,
    location: `${scheme}://${authority}${path}${query === '' ? '' : `?${query}`}`,
  };
}
