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

/** `/a/b?c=1` → [`/a/b`, `c=1`]; the query is empty when there is none. */
export function splitPathAndQuery(url: string): [path: string, query: string] {
  const q = url.indexOf('?');
  return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}
