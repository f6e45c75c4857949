/**
 * Conditional revalidation (RFC 9111 §4.3): the validators to send, and how a 304 refreshes the
 * stored response without its body being sent again.
 */
import { connectionTokens, HOP_BY_HOP_HEADERS, withoutFields } from '../http.ts';
import { parseHttpDate } from './cache-control.ts';
import { firstHeaderValue, headerValue, type HeaderMap } from './types.ts';

/**
 * RFC 9111 §3.2: a 304 must not change how the stored body is framed or encoded, so these keep
 * their stored values. Content-Length is the one the RFC names; the others describe the same bytes.
 */
const NOT_UPDATED_BY_304: ReadonlySet<string> = new Set([
  'content-length',
  'content-encoding',
  'content-range',
]);

/** A copy of `headers` without hop-by-hop fields, including those listed in `Connection`. */
export function stripHopByHop(headers: HeaderMap): HeaderMap {
  const listed = connectionTokens(headers.connection);
  return withoutFields(
    headers,
    (name, value) => value === undefined || HOP_BY_HOP_HEADERS.has(name) || listed?.has(name) === true,
  );
}

/**
 * Validators for a conditional request built from a stored response. Empty when the response has
 * none, and then the "revalidation" is a plain fetch whose 200 replaces the entry.
 */
export function conditionalHeaders(stored: HeaderMap): Record<string, string> {
  const out: Record<string, string> = {};
  const etag = firstHeaderValue(stored, 'etag');
  const lastModified = firstHeaderValue(stored, 'last-modified');
  if (etag !== undefined) out['if-none-match'] = etag;
  if (lastModified !== undefined) out['if-modified-since'] = lastModified;
  return out;
}

/**
 * RFC 9111 §4.3.4: a 304 refreshes a stored response only when it is about the same
 * representation. A 304 carrying a different strong ETag is about some other representation; the
 * caller should then fetch unconditionally.
 */
export function notModifiedMatches(stored: HeaderMap, notModified: HeaderMap): boolean {
  const fresh = firstHeaderValue(notModified, 'etag');
  if (fresh === undefined || fresh.startsWith('W/')) return true;
  return firstHeaderValue(stored, 'etag') === fresh;
}

/** RFC 9111 §3.2: the stored header updated with every field of the 304, with the exceptions above. */
export function mergeNotModified(stored: HeaderMap, notModified: HeaderMap): HeaderMap {
  const merged: HeaderMap = { ...stored };
  for (const [name, value] of Object.entries(stripHopByHop(notModified))) {
    if (!NOT_UPDATED_BY_304.has(name)) merged[name] = value;
  }
  return merged;
}

/**
 * RFC 9110 §13.2.2 for a GET or HEAD answered from a stored 200: true when the client's own
 * validators still match, so a 304 is the answer. If-None-Match (weak comparison, `*` matches)
 * takes precedence; If-Modified-Since is evaluated only without it, against Last-Modified.
 */
export function clientConditionMatches(request: HeaderMap, stored: HeaderMap): boolean {
  const ifNoneMatch = headerValue(request, 'if-none-match');
  if (ifNoneMatch !== undefined) {
    const etag = firstHeaderValue(stored, 'etag');
    if (etag === undefined) return false;
    const mine = weak(etag);
    return ifNoneMatch.split(',').some((tag) => {
      const t = tag.trim();
      return t === '*' || weak(t) === mine;
    });
  }
  const since = parseHttpDate(firstHeaderValue(request, 'if-modified-since'));
  if (since === undefined) return false;
  const modified = parseHttpDate(firstHeaderValue(stored, 'last-modified'));
  return modified !== undefined && modified <= since;
}

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** RFC 9110 §15.4.5: the fields a 304 carries — those a 200 would have sent that describe caching. */
const NOT_MODIFIED_FIELDS = [
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'last-modified',
  'vary',
];

/** The header of a 304 built from a stored response, with `age` set. */
export function notModifiedHeaders(stored: HeaderMap, age: string): HeaderMap {
  const out: HeaderMap = { age };
  for (const name of NOT_MODIFIED_FIELDS) if (stored[name] !== undefined) out[name] = stored[name];
  return out;
}
