/**
 * A stored response together with everything the cache derived from it at store time, so a
 * lookup parses nothing from the stored header.
 */
import type { FreshnessSource, FreshnessState } from './policy.ts';
import type { HeaderMap, StoredResponse } from './types.ts';

/**
 * Fixed bytes charged per entry for the objects around the body (entry, headers object, keys, index
 * slots, LRU node). Measured: ~1.2 KB of JS heap per entry with a handful of response headers (a
 * flood of 1 KiB responses, heap after GC / entries), so a flood of small responses is charged about
 * what it costs.
 */
export const ENTRY_OVERHEAD_BYTES = 1024;

export interface CacheEntry extends FreshnessState {
  /** Primary key (see `CacheKeyFn`). */
  readonly key: string;
  /** Variant key computed from `vary` and the request that produced the response. */
  readonly variant: string;
  /** Lower-case names from the response's Vary. */
  readonly vary: readonly string[];
  /** Normalised authority and path of the request, for purging by prefix. */
  readonly host: string;
  readonly path: string;
  readonly response: StoredResponse;
  readonly freshnessSource: FreshnessSource;
  /** Bytes charged against the store's `maxBytes`. */
  readonly size: number;
}

/** Bytes of a header block as it would be written on the wire (`name: value\r\n` per line). */
export function headerBytes(headers: HeaderMap): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const line of Array.isArray(value) ? value : [value]) bytes += name.length + line.length + 4;
  }
  return bytes;
}

/** What an entry costs: header bytes + body bytes + keys + a fixed overhead. */
export function entrySize(key: string, variant: string, response: StoredResponse): number {
  return (
    ENTRY_OVERHEAD_BYTES + key.length + variant.length + headerBytes(response.headers) + response.body.length
  );
}
