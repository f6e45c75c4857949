/**
 * Plain shapes the cache works on. They deliberately do not mention node:http or undici, so the
 * cache can sit behind any transport and be tested without sockets.
 */

/** Header map with lower-case names; a repeated field is an array, an absent one `undefined`. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** What the cache needs to know about a downstream request. */
export interface RequestInfo {
  /** As received; methods are case-sensitive, so `get` is not `GET`. */
  readonly method: string;
  /** `http` or `https`. */
  readonly scheme: string;
  /** The authority (`host[:port]`); compared case-insensitively. */
  readonly host: string;
  /** The absolute path without the query. */
  readonly path: string;
  /** The query without `?`; empty when there is none. */
  readonly query: string;
  readonly headers: HeaderMap;
}

/** The status line and header of a response, without a body. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: HeaderMap;
}

/** A complete response as kept in the cache. Times are milliseconds on the cache's clock. */
export interface StoredResponse extends ResponseHead {
  readonly body: Buffer;
  /** When the request that produced this response was sent upstream. */
  readonly requestTime: number;
  /** When the response header arrived. */
  readonly responseTime: number;
}

/**
 * One field's value as a single string: repeated lines are joined with `, ` as RFC 9110 §5.3
 * allows for list-based fields (not valid for Set-Cookie, which the cache never parses).
 */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The first line of a field, for singleton fields where later duplicates are ignored. */
export function firstHeaderValue(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
