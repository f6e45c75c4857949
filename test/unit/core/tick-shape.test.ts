// process.nextTick's queue entries keep one set of hidden classes when full GCs run while no tick is
// queued — the pattern of a worker swapping big routing tables while idle. Each case runs in a fresh
// Node with V8's natives syntax, and reads the feedback of nextTick's object literal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const TICK_SHAPE = new URL('../../../src/server/tick-shape.ts', import.meta.url).href;

/** The states of the computed-key stores in nextTick's literal after eight idle full GCs. */
function literalStoreStates(keepShape: boolean): string[] {
  const script = `
    import { keepTickObjectShape } from ${JSON.stringify(TICK_SHAPE)};
    if (${keepShape}) keepTickObjectShape();
    const noop = () => {};
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 100; i++) process.nextTick(noop);
      await new Promise((resolve) => process.nextTick(resolve));
      globalThis.gc();
    }
    new Function('f', '%DebugPrint(f)')(process.nextTick);
  `;
  const out = execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  return [...out.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
}

test('without a kept tick object, idle full GCs make the literal megamorphic (the problem exists)', () => {
  // If this starts failing, this V8 no longer frees the maps, and keepTickObjectShape can go.
  assert.ok(literalStoreStates(false).includes('MEGAMORPHIC'));
});

test('with keepTickObjectShape, every computed-key store of the literal stays monomorphic', () => {
  const states = literalStoreStates(true);
  assert.ok(states.length >= 3, `nextTick's literal has its computed-key stores (${states.join()})`);
  assert.deepEqual(new Set(states), new Set(['MONOMORPHIC']));
});
