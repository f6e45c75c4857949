/** HTTP facts more than one capability needs: the proxy, the cache, load balancing and the gateway. */

/** Methods RFC 9110 §9.2.2 calls idempotent: safe to send twice. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
]);

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1, RFC 9111 §3.1), lower case: they describe one connection, so a
 * proxy does not forward them and a cache does not store them. Fields a Connection header names are
 * hop-by-hop for that message too.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authentication-info',
  'proxy-authorization',
  'http2-settings',
]);

/**
 * A copy of `fields` without those `drop` picks. For removals off the common path: a `delete` would
 * leave V8 a slow dictionary object for every access that follows.
 */
export function withoutFields<V>(
  fields: Readonly<Record<string, V>>,
  drop: (name: string, value: V) => boolean,
): Record<string, V> {
  const kept: Record<string, V> = {};
  for (const name in fields) {
    const value = fields[name]!;
    if (!drop(name, value)) kept[name] = value;
  }
  return kept;
}

/** Field names a Connection header lists (lower case), which are hop-by-hop for this message only. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined;
  const tokens = new Set<string>();
  for (const token of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') tokens.add(t);
  }
  return tokens.size === 0 ? undefined : tokens;
}

/**
 * Removes hop-by-hop fields, and those Connection names, from response fields in place: for what
 * undici's pools and node:http's client (the upgrade path) hand over. Portico's own HTTP/1.1 parser
 * never stores such fields in the first place, because a `delete` turns V8's object into a slow
 * dictionary for every access that follows (measured: 6.9 % of proxy throughput).
 */
export function stripResponseHopByHop(headers: Record<string, string | string[]>): void {
  const listed = connectionTokens(headers.connection);
  // Walk the few headers present rather than deleting every hop-by-hop name: `delete` of an absent key
  // still costs, and this runs once per response.
  for (const name in headers) {
    if (HOP_BY_HOP_HEADERS.has(name) || listed?.has(name) === true) delete headers[name];
  }
}

/**
 * Fields that may not be forwarded in a trailer section besides the hop-by-hop ones: those RFC 9110
 * §6.5.1 forbids there for framing (Content-Length) and routing (Host). HTTP/2 makes connection-specific
 * fields in any field section malformed (RFC 9113 §8.2.2), and node's `sendTrailers` throws on them.
 */
const NOT_IN_TRAILERS: ReadonlySet<string> = new Set(['content-length', 'host']);

function droppedFromTrailers(name: string, listed: Set<string> | undefined): boolean {
  return (
    HOP_BY_HOP_HEADERS.has(name) ||
    NOT_IN_TRAILERS.has(name) ||
    name.charCodeAt(0) === 58 /* : pseudo-header */ ||
    listed?.has(name) === true
  );
}

/**
 * The trailer fields a proxy passes on: none that is hop-by-hop (or named by the section's own
 * Connection), a pseudo-header, or forbidden in trailers. The same object when all may go (gRPC's
 * `grpc-status` and the like, the common case); a copy otherwise.
 */
export function forwardableTrailers(
  trailers: Readonly<Record<string, string | string[]>>,
): Readonly<Record<string, string | string[]>> {
  const listed = connectionTokens(trailers.connection);
  for (const name in trailers) {
    if (droppedFromTrailers(name, listed))
      return withoutFields(trailers, (n) => droppedFromTrailers(n, listed));
  }
  return trailers;
}

/**
 * `host [":" port]` as Host and `:authority` carry it (RFC 9112 §3.2, RFC 3986 §3.2.2-3): an IP
 * literal in brackets, or a reg-name (an IPv4 address is one), then an optional port of digits. No
 * userinfo, path, query, fragment or white space: `bench.local:80@evil.example` is not a host.
 */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

export function isValidAuthority(value: string): boolean {
  return AUTHORITY.test(value);
}

/** An RFC 9110 token (§5.6.2): what methods, field names and cookie names (RFC 6265) are made of. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `/a/b?c=1` → [`/a/b`, `c=1`]; the query is empty when there is none. */
export function splitPathAndQuery(url: string): [path: string, query: string] {
  const q = url.indexOf('?');
  return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}

/** The request's authority: HTTP/1.1 `Host`, or HTTP/2 `:authority` when a client sent no `host` field. */
export function requestAuthority(req: { headers: Record<string, string | string[] | undefined> }): string {
  const headers = req.headers;
  return (headers.host as string | undefined) ?? (headers[':authority'] as string | undefined) ?? '';
}

/**
 * The host as routing and SNI key it: no port, lower case, no trailing dot. Returns the input itself when
 * it is already in that form, which is the common case.
 */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    end = close === -1 ? host.length : close + 1;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end -= 1;
  const bare = end === host.length ? host : host.slice(0, end);
  return hasUpperCase(bare) ? bare.toLowerCase() : bare;
}

function hasUpperCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
