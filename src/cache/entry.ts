/**
 * A stored response together with everything the cache derived from it at store time, so a
 * lookup parses nothing from the stored header.
 */
import type { FreshnessSource, FreshnessState } from './policy.ts';
import type { HeaderMap, StoredResponse } from './types.ts';

/**
 * Fixed bytes charged per entry beyond its key, header and body bytes: what an entry costs the
 * process, not only its live objects. Live, an entry with a handful of headers is ~1.2 KB of JS heap
 * (entry, headers object, strings, index slots, LRU node; heap after GC / entries); in RSS it is more,
 * since a worker's heap may run 30 % above its live size between full GCs (--heap-growing-percent=30)
 * and each body buffer carries a V8 backing store and malloc's own bookkeeping. Measured with
 * bench:cache's flood (1 KiB bodies, 64 MiB bound, RSS with the cache minus RSS storing nothing):
 * ~3.8 KB of RSS per entry against 2.2 KB charged at 1 KiB of overhead, i.e. 1.7× the bound. Charging
 * 2.5 KiB makes the bound hold for the process, at the price of fewer small entries per byte.
 */
export const ENTRY_OVERHEAD_BYTES = 2560;

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
