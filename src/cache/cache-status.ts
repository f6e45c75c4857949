/**
 * The RFC 9211 `Cache-Status` field: one member per cache, telling clients and operators what
 * this cache did with the request (e.g. `Portico; hit; ttl=42`, `Portico; fwd=miss; stored`).
 */

/** RFC 9211 §2.2: why the request went upstream. */
export type ForwardReason =
  'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale' | 'partial';

export interface CacheStatusParams {
  /** Served from cache without going upstream (fresh, or stale when allowed). */
  readonly hit?: boolean;
  readonly fwd?: ForwardReason;
  /** Status the upstream answered with (e.g. 304 after a revalidation). */
  readonly fwdStatus?: number;
  /** Remaining freshness in seconds; negative when stale. */
  readonly ttl?: number;
  /** The response was stored. */
  readonly stored?: boolean;
  /** The request waited on another request's fetch (cache lock). */
  readonly collapsed?: boolean;
  readonly key?: string;
  /** Implementation detail, such as a not-storable reason. */
  readonly detail?: string;
}

/** RFC 8941 token: a name that needs no quoting. */
const SF_TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~:/0-9A-Za-z]*$/;

/** Formats one Cache-Status member. `cacheName` is emitted as a token when it is one. */
export function formatCacheStatus(cacheName: string, params: CacheStatusParams): string {
  // Once per response on a cache hit: the name is checked once, and the member built by concatenation.
  if (cacheName !== lastName) {
    lastItem = sfItem(cacheName);
    lastName = cacheName;
  }
  let member = lastItem;
  if (params.hit === true) member += '; hit';
  if (params.fwd !== undefined) member += `; fwd=${params.fwd}`;
  if (params.fwdStatus !== undefined) member += `; fwd-status=${Math.trunc(params.fwdStatus)}`;
  if (params.ttl !== undefined) member += `; ttl=${Math.trunc(params.ttl)}`;
  if (params.stored === true) member += '; stored';
  if (params.collapsed === true) member += '; collapsed';
  if (params.key !== undefined) member += `; key=${sfString(params.key)}`;
  if (params.detail !== undefined) member += `; detail=${sfItem(params.detail)}`;
  return member;
}

let lastName: string | undefined;
let lastItem = '';

function sfItem(value: string): string {
  return SF_TOKEN.test(value) ? value : sfString(value);
}

/** RFC 8941 §3.3.3 sf-string: printable ASCII, with `"` and `\` escaped; anything else dropped. */
function sfString(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '');
  return `"${printable.replace(/[\\"]/g, '\\$&')}"`;
}
