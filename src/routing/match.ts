/**
 * Request-side matching primitives. Everything here runs per request, so nothing parses config,
 * compiles a regex or builds a collection: compiled conditions are plain frozen data and the
 * request is read through accessors, lazily, only as far as a condition needs.
 */

import { normalizeHost } from '../http.ts';

/** What the routing table needs to know about a request; the gateway adapts its Session to it. */
export interface RouteRequest {
  /** The Host header or :authority; port, letter case and a trailing dot are ignored. */
  readonly host: string;
  /** The path without the query, as received (percent-decoding and normalisation are the caller's). */
  readonly path: string;
  /** Upper-case method token. */
  readonly method: string;
  /** Header value by lower-case name; multiple values joined as the caller sees fit. */
  readonly headers: (name: string) => string | undefined;
  /** The raw query string, with or without the leading `?`; empty when there is none. */
  readonly query: string;
}

/** One header or query condition; exactly one of `exact` and `regex` is set. */
export interface ValueCondition {
  readonly name: string;
  readonly exact: string | undefined;
  readonly regex: RegExp | undefined;
}

/** The non-path conditions of one match; all must hold. */
export interface MatchConditions {
  readonly method: string | undefined;
  readonly headers: readonly ValueCondition[];
  readonly query: readonly ValueCondition[];
}

/**
 * Compiles a user pattern as a whole-string match, as Envoy-based Gateway API implementations do:
 * `/api/v[0-9]+` must not also match `/api/v1/admin`. Throws the engine's SyntaxError for a bad
 * pattern; `validate.ts` reports it as `InvalidRegex` before any table is compiled.
 */
export function compileFullMatch(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

function valueMatches(c: ValueCondition, value: string): boolean {
  return c.exact !== undefined ? c.exact === value : c.regex!.test(value);
}

/** True when the method, headers and query parameters of `req` satisfy `c`. */
export function conditionsMatch(c: MatchConditions, req: RouteRequest): boolean {
  if (c.method !== undefined && c.method !== req.method) return false;
  for (const h of c.headers) {
    const v = req.headers(h.name);
    if (v === undefined || !valueMatches(h, v)) return false;
  }
  for (const q of c.query) {
    const v = queryParam(req.query, q.name);
    if (v === undefined || !valueMatches(q, v)) return false;
  }
  return true;
}

function decodeComponent(raw: string): string | undefined {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * The first value of query parameter `name` (exact, case-sensitive, as Gateway API specifies),
 * found by scanning the raw query instead of parsing it into a map: most requests are checked
 * against one or two parameters, and a map per request would be garbage for the collector.
 */
export function queryParam(raw: string, name: string): string | undefined {
  let start = raw.startsWith('?') ? 1 : 0;
  while (start < raw.length) {
    let end = raw.indexOf('&', start);
    if (end === -1) end = raw.length;
    const eq = raw.indexOf('=', start);
    const keyEnd = eq !== -1 && eq < end ? eq : end;
    if (keyMatches(raw, start, keyEnd, name)) {
      return keyEnd === end ? '' : decodeComponent(raw.slice(keyEnd + 1, end));
    }
    start = end + 1;
  }
  return undefined;
}

function keyMatches(raw: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && raw.startsWith(name, start)) return true;
  // Only an encoded key can equal `name` at a different length; decode just those.
  const key = raw.slice(start, end);
  return (key.includes('%') || key.includes('+')) && decodeComponent(key) === name;
}

export { normalizeHost };
