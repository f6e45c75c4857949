/**
 * Consistent hashing on a Ketama-style ring, point-for-point compatible with nginx's
 * `hash $key consistent` and Pingora's `pingora-ketama`, so a migration from either keeps every key
 * on the same endpoint:
 *
 * - each endpoint gets 160 points per unit of weight;
 * - point hashes are CRC-32: the first is CRC-32 of `"<address>\0<port>"` extended by the 4
 *   little-endian bytes of 0, each next one extends the same base by the previous point's hash;
 * - a key's hash is CRC-32 of its UTF-8 bytes, and it belongs to the first point at or after it,
 *   wrapping round the ring.
 *
 * (libketama, the memcached client, uses MD5 of `"host:port-N"` instead; we follow the proxies we
 * replace.) Removing one of n endpoints moves only the keys it owned, about 1/n of them.
 */
import { crc32 } from 'node:zlib';
import type { Endpoint, IsUsable, Selector, SelectorOptions } from './endpoint.ts';
import { VisitedSet, validateEndpoints } from './endpoint.ts';

/** Ring points per unit of weight, as in nginx and Pingora. */
export const POINTS_PER_WEIGHT = 160;
/**
 * Most points one ring holds (1.5 MB of typed arrays, ~50 ms to build). Heavier endpoint sets have their
 * weights scaled down to fit, which keeps shares but is no longer nginx-compatible.
 */
export const MAX_RING_POINTS = 1 << 18;

/** Hashes a request key (header, cookie, query parameter, client IP…) onto the ring. */
export function hashKey(key: string): number {
  return crc32(key);
}

/** Consistent-hash selector; an unusable owner hands the key to the next endpoint round the ring. */
export class KetamaSelector implements Selector {
  readonly endpoints: readonly Endpoint[];
  readonly #hashes: Uint32Array;
  readonly #owners: Uint16Array;
  readonly #candidates: number;
  readonly #visited: VisitedSet;
  readonly #random: () => number;

  constructor(endpoints: readonly Endpoint[], options: SelectorOptions = {}) {
    validateEndpoints(endpoints);
    this.endpoints = endpoints;
    const ring = buildRing(endpoints);
    this.#hashes = ring.hashes;
    this.#owners = ring.owners;
    this.#candidates = endpoints.filter((e) => e.weight > 0).length;
    this.#visited = new VisitedSet(endpoints.length);
    this.#random = options.random ?? Math.random;
  }

  /**
   * `key` is a string to hash or a hash from {@link hashKey}; with no key the request lands on a
   * random point, so keyless traffic is spread by weight.
   */
  pick(key?: string | number, isUsable?: IsUsable): number {
    if (this.#hashes.length === 0) return -1;
    const point = this.#pointFor(this.#hashOf(key));
    const index = this.#owners[point]!;
    if (isUsable === undefined || isUsable(index)) return index;
    return this.#walk(point, isUsable);
  }

  /** Consistent hashing keeps no per-request state. */
  onStart(_index: number): void {}

  /** Consistent hashing keeps no per-request state. */
  onEnd(_index: number): void {}

  #hashOf(key: string | number | undefined): number {
    if (typeof key === 'string') return crc32(key);
    if (typeof key === 'number') return key >>> 0;
    return Math.floor(this.#random() * 0x1_0000_0000);
  }

  /** The first point whose hash is ≥ `hash`, wrapping to 0 past the end. */
  #pointFor(hash: number): number {
    const hashes = this.#hashes;
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (hashes[mid]! < hash) low = mid + 1;
      else high = mid;
    }
    return low === hashes.length ? 0 : low;
  }

  /** Walks the ring clockwise from `point`, offering each endpoint to `isUsable` once. */
  #walk(point: number, isUsable: IsUsable): number {
    const owners = this.#owners;
    const visited = this.#visited;
    visited.reset();
    visited.visit(owners[point]!);
    let offered = 1;
    for (let step = 1; step < owners.length && offered < this.#candidates; step++) {
      const index = owners[(point + step) % owners.length]!;
      if (!visited.visit(index)) continue;
      if (isUsable(index)) return index;
      offered++;
    }
    return -1;
  }
}

interface Ring {
  hashes: Uint32Array;
  owners: Uint16Array;
}

/**
 * Generates every point, sorts them by (hash, endpoint index) packed into one float64 so the sort
 * is a native typed-array sort, and drops duplicate hashes keeping the first, as Pingora does.
 */
function buildRing(endpoints: readonly Endpoint[]): Ring {
  const counts = pointCounts(endpoints);
  const keys = new Float64Array(counts.reduce((sum, c) => sum + c, 0));
  let next = 0;
  endpoints.forEach((endpoint, index) => {
    let previous = 0;
    const base = crc32(`${endpoint.address}\0${endpoint.port}`);
    for (let n = 0; n < counts[index]!; n++) {
      previous = crc32Uint32LE(base, previous);
      keys[next++] = previous * 65_536 + index;
    }
  });
  keys.sort();
  return unpack(keys);
}

function pointCounts(endpoints: readonly Endpoint[]): number[] {
  const counts = endpoints.map((e) => e.weight * POINTS_PER_WEIGHT);
  const total = counts.reduce((sum, c) => sum + c, 0);
  if (total <= MAX_RING_POINTS) return counts;
  const scale = MAX_RING_POINTS / total;
  return counts.map((c) => (c === 0 ? 0 : Math.max(1, Math.floor(c * scale))));
}

function unpack(keys: Float64Array): Ring {
  const hashes = new Uint32Array(keys.length);
  const owners = new Uint16Array(keys.length);
  let length = 0;
  for (const key of keys) {
    const hash = Math.floor(key / 65_536);
    if (length > 0 && hashes[length - 1] === hash) continue;
    hashes[length] = hash;
    owners[length] = key % 65_536;
    length++;
  }
  return { hashes: hashes.slice(0, length), owners: owners.slice(0, length) };
}

const CRC_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * Continues CRC-32 `crc` over the 4 little-endian bytes of `value`. Pure JS because ring building
 * does this 160 times per weight unit, and crossing into zlib costs ten times the arithmetic.
 */
function crc32Uint32LE(crc: number, value: number): number {
  let c = ~crc;
  for (let shift = 0; shift < 32; shift += 8) {
    c = CRC_TABLE[(c ^ (value >>> shift)) & 0xff]! ^ (c >>> 8);
  }
  return ~c >>> 0;
}
