/**
 * Byte-bounded in-memory storage, after Pingora's memory cache: one LRU over all variants, charged
 * in bytes, plus two small indexes — primary key → its variants (for Vary and exact purge) and
 * host → primary keys (so a prefix purge scans one host's keys, not the whole cache).
 */
import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.ts';
import { variantKey } from './key.ts';
import type { HeaderMap } from './types.ts';

export interface MemoryStorageOptions {
  /** Upper bound of the bytes charged for all entries (see `entrySize`). */
  readonly maxBytes: number;
  /** Largest body kept; larger responses are streamed through and not stored. */
  readonly maxObjectBytes: number;
}

export type StorageLookup =
  | { readonly kind: 'found'; readonly entry: CacheEntry }
  | { readonly kind: 'uri-miss' }
  | { readonly kind: 'vary-miss' };

export interface StorageStats {
  /** Stored variants. */
  readonly entries: number;
  /** Bytes charged; never above `maxBytes`. */
  readonly bytes: number;
  readonly maxBytes: number;
  /** Entries dropped to make room (not purges or replacements). */
  readonly evictions: number;
}

interface PrimaryIndex {
  /** The Vary names all variants of this key were stored under. */
  readonly vary: readonly string[];
  readonly host: string;
  path: string;
  /** Storage keys (primary + variant) currently in the LRU. */
  readonly variants: Set<string>;
}

/** Joins primary and variant key; a character neither a URI nor a variant key contains. */
const VARIANT_SEPARATOR = '\u0002';

export class MemoryStorage {
  readonly maxBytes: number;
  readonly maxObjectBytes: number;
  readonly #lru: LRUCache<string, CacheEntry>;
  readonly #primaries = new Map<string, PrimaryIndex>();
  readonly #hosts = new Map<string, Set<string>>();
  #evictions = 0;

  constructor(options: MemoryStorageOptions) {
    this.maxBytes = options.maxBytes;
    this.maxObjectBytes = options.maxObjectBytes;
    this.#lru = new LRUCache<string, CacheEntry>({
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => entry.size,
      dispose: (entry, storageKey, reason) => this.#unindex(entry, storageKey, reason),
    });
  }

  /** Whether a body of this many bytes may be stored at all; when not, stream it without buffering. */
  admits(bodyBytes: number): boolean {
    return bodyBytes <= this.maxObjectBytes;
  }

  /** Finds the variant of `key` that a request with these headers selects. */
  get(key: string, headers: HeaderMap): StorageLookup {
    const index = this.#primaries.get(key);
    if (index === undefined) return { kind: 'uri-miss' };
    const entry = this.#lru.get(storageKey(key, variantKey(index.vary, headers)));
    return entry === undefined ? { kind: 'vary-miss' } : { kind: 'found', entry };
  }

  /**
   * Stores or replaces one variant. When the origin changed its Vary, the variants stored under
   * the old names can no longer be selected and are dropped. Returns false when the entry is too large.
   */
  put(entry: CacheEntry): boolean {
    if (entry.size > this.maxBytes || !this.admits(entry.response.body.length)) return false;
    const existing = this.#primaries.get(entry.key);
    if (existing !== undefined && !sameNames(existing.vary, entry.vary)) this.delete(entry.key);
    const key = storageKey(entry.key, entry.variant);
    this.#lru.set(key, entry);
    // Indexed after set: the set may evict this key's other variants and drop its index.
    this.#indexFor(entry).variants.add(key);
    return true;
  }

  /** Removes every variant of a primary key; returns how many were removed. */
  delete(key: string): number {
    const index = this.#primaries.get(key);
    if (index === undefined) return 0;
    const removed = index.variants.size;
    for (const variant of [...index.variants]) this.#lru.delete(variant);
    return removed;
  }

  /** Removes one variant, e.g. one that can no longer be served or revalidated. */
  deleteEntry(entry: CacheEntry): void {
    this.#lru.delete(storageKey(entry.key, entry.variant));
  }

  /** Removes every entry of `host` whose request path starts with `pathPrefix`; O(keys of that host). */
  deletePrefix(host: string, pathPrefix: string): number {
    const keys = this.#hosts.get(host);
    if (keys === undefined) return 0;
    let removed = 0;
    for (const key of [...keys]) {
      if (this.#primaries.get(key)?.path.startsWith(pathPrefix) === true) removed += this.delete(key);
    }
    return removed;
  }

  stats(): StorageStats {
    return {
      entries: this.#lru.size,
      bytes: this.#lru.calculatedSize,
      maxBytes: this.maxBytes,
      evictions: this.#evictions,
    };
  }

  /** Primary keys currently indexed; equals the distinct keys of `entries` (a leak check for tests). */
  get primaryKeys(): number {
    return this.#primaries.size;
  }

  #indexFor(entry: CacheEntry): PrimaryIndex {
    const existing = this.#primaries.get(entry.key);
    if (existing !== undefined) {
      existing.path = entry.path;
      return existing;
    }
    const created: PrimaryIndex = {
      vary: entry.vary,
      host: entry.host,
      path: entry.path,
      variants: new Set(),
    };
    this.#primaries.set(entry.key, created);
    let hostKeys = this.#hosts.get(entry.host);
    if (hostKeys === undefined) this.#hosts.set(entry.host, (hostKeys = new Set()));
    hostKeys.add(entry.key);
    return created;
  }

  #unindex(entry: CacheEntry, key: string, reason: LRUCache.DisposeReason): void {
    // 'set' replaces the value under the same key: the key stays, and so does its index slot.
    if (reason === 'set') return;
    if (reason === 'evict') this.#evictions++;
    const index = this.#primaries.get(entry.key);
    if (index === undefined) return;
    index.variants.delete(key);
    if (index.variants.size > 0) return;
    this.#primaries.delete(entry.key);
    const hostKeys = this.#hosts.get(index.host);
    hostKeys?.delete(entry.key);
    if (hostKeys?.size === 0) this.#hosts.delete(index.host);
  }
}

function storageKey(key: string, variant: string): string {
  return `${key}${VARIANT_SEPARATOR}${variant}`;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
