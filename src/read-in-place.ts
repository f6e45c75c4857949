/**
 * net's `onread` for a socket node created itself: an accepted one.
 *
 * `net.connect({ onread })` reads into memory the caller owns and calls back with the byte count;
 * node allocates nothing per read and no Readable, nextTick or 'data' event is involved. A `net.Server`
 * offers no such option for the sockets it accepts, which then cost, per read, a new ArrayBuffer (the
 * scavenger spends ~45 % of each young-generation GC sweeping those under the benchmark's load) and a
 * trip through the Readable. {@link readInPlace} gives an accepted socket what node's own constructor
 * gives a socket built with `onread`: the two slots its read callback consults, and the handle's
 * user buffer. The slots are found by building such a socket once and looking for the values given,
 * not by name, and when node does not have them (or is of a release line this was not verified on)
 * the socket stays a Readable: the caller falls back.
 */
import { Socket } from 'node:net';

/** What a read callback gets: how many bytes the read put at the start of `memory`. */
export type ReadCallback = (bytesRead: number, memory: Buffer) => boolean | void;

interface Slots {
  readonly memory: symbol;
  readonly callback: symbol;
}

/**
 * The node release line this was verified on (test/unit/core/read-in-place.test.ts). Slots found by
 * value could still change meaning in another line, so other lines read as Readables until verified.
 */
const VERIFIED_NODE_MAJOR = 24;

let slots: Slots | null | undefined;

function findSlots(): Slots | null {
  if (Number(process.versions.node.split('.')[0]) !== VERIFIED_NODE_MAJOR) return null;
  const memory = Buffer.alloc(1);
  const callback: ReadCallback = () => {};
  const probe = new Socket({ onread: { buffer: memory, callback } } as ConstructorParameters<
    typeof Socket
  >[0]);
  const record = probe as unknown as Record<symbol, unknown>;
  const symbols = Object.getOwnPropertySymbols(probe);
  const memorySlot = symbols.find((symbol) => record[symbol] === memory);
  const callbackSlot = symbols.find((symbol) => record[symbol] === callback);
  probe.destroy();
  return memorySlot !== undefined && callbackSlot !== undefined
    ? { memory: memorySlot, callback: callbackSlot }
    : null;
}

/**
 * From the next read on, `socket` reads into `memory` and calls `callback` instead of emitting
 * 'data'. The callback must be done with the bytes when it returns (the next read, on any socket given
 * the same memory, overwrites them); returning false stops reading until `resume()`. pause(), resume()
 * and 'end' work as with `net.connect({ onread })`. False, and nothing changed, for a TLS socket or
 * when this node does not support it.
 */
export function readInPlace(socket: Socket, memory: Buffer, callback: ReadCallback): boolean {
  if ('encrypted' in socket) return false;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (memory: Buffer) => void } })._handle;
  if (typeof handle?.useUserBuffer !== 'function') return false;
  slots ??= findSlots();
  if (slots === null) return false;
  const record = socket as unknown as Record<symbol, unknown>;
  record[slots.memory] = memory;
  record[slots.callback] = callback;
  handle.useUserBuffer(memory);
  return true;
}
