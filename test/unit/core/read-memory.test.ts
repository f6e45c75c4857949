/**
 * ReadMemory, the region a plaintext upstream socket reads into: what a body slice handed downstream
 * may keep, and when the next read needs new memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadMemory } from '../../../src/upstream/h1-pool.ts';

/** One read of `text` into the memory, as net's onread does it. */
function read(memory: ReadMemory, region: Buffer, text: string): Buffer {
  region.write(text, 'latin1');
  return memory.read(text.length);
}

test('a small body slice is handed out as a copy, and the same region takes the next read', () => {
  const memory = new ReadMemory();
  const region = memory.next()!;
  const out = memory.handOut(read(memory, region, 'hello from the origin\n'));
  assert.notEqual(out.buffer, region.buffer, 'a view would keep the region from being read into again');
  // Read into again, from its start: the handed-out bytes stay as they were.
  assert.equal(memory.next(), undefined);
  read(memory, region, 'the next response, read over the last');
  assert.equal(out.toString('latin1'), 'hello from the origin\n');
});

test('a large body slice is handed out as it is, and the next read goes past it', () => {
  const memory = new ReadMemory();
  const region = memory.next()!;
  const body = 'x'.repeat(5_000);
  const out = memory.handOut(read(memory, region, body));
  assert.equal(out.buffer, region.buffer);
  const next = memory.next();
  assert.ok(next !== undefined && next.byteOffset >= out.byteOffset + out.length, 'reads after the slice');
  next.write('y'.repeat(100), 'latin1');
  assert.equal(out.toString('latin1'), body);
});
