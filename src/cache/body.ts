/**
 * Buffers a response body for the cache while the proxy streams it downstream, and gives up —
 * dropping what it held — as soon as the body is known to exceed `maxObjectBytes`, so a large
 * download never costs more than the limit in memory.
 */

/** `buffering` while the body may still be stored; `too-large` once it cannot be. */
export type CollectState = 'buffering' | 'too-large';

export class BodyCollector {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #state: CollectState = 'buffering';

  /** `declaredLength` (Content-Length) lets a too-large body be refused before its first byte. */
  constructor(limit: number, declaredLength?: number) {
    this.#limit = limit;
    if (declaredLength !== undefined && declaredLength > limit) this.#state = 'too-large';
  }

  get state(): CollectState {
    return this.#state;
  }

  /** Call once per chunk, in order. After `too-large` further chunks are ignored. */
  push(chunk: Buffer): CollectState {
    if (this.#state === 'too-large') return this.#state;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) {
      this.#state = 'too-large';
      this.#chunks = [];
    } else {
      this.#chunks.push(chunk);
    }
    return this.#state;
  }

  /**
   * The whole body, copied once into memory of its own; `undefined` when it grew too large to store.
   * Not `Buffer.concat`: a small body would be a slice of node's shared buffer pool (64 KiB slabs on
   * Node 24), and one stored slice keeps the whole slab alive — with small bodies, many times the
   * bytes the cache accounts for.
   */
  finish(): Buffer | undefined {
    if (this.#state === 'too-large') return undefined;
    const body = Buffer.allocUnsafeSlow(this.#bytes);
    let offset = 0;
    for (const chunk of this.#chunks) offset += chunk.copy(body, offset);
    this.#chunks = [];
    return body;
  }
}
