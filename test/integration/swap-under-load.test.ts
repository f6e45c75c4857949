import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSwapUnderLoad } from '../helpers/swap-load.ts';

// The 60-second version of this run is `node test/bench/swap-under-load.ts` (issue target: 100 swaps/s for 60 s).
test('100 table swaps per second under load: zero failed, zero misrouted, every response checked against its version', async () => {
  const result = await runSwapUnderLoad({ seconds: 5, swapsPerSecond: 100, concurrency: 16 });
  console.log(JSON.stringify(result));
  assert.equal(result.failed, 0, result.firstFailure);
  assert.equal(result.misrouted, 0, result.firstFailure);
  assert.ok(result.requests > 1_000, `only ${result.requests} requests`);
  assert.ok(result.swapsPerSecond >= 90, `only ${result.swapsPerSecond.toFixed(1)} swaps/s`);
});
