// The controller's memory: what it lists is not kept for the life of the watch (issue #5), and a burst
// of allocation is given back to the system on request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Watch } from '@kubernetes/client-node';
import { MemoryRelease } from '../../../src/controller/memory.ts';
import { Reflector } from '../../../src/controller/reflector.ts';
import { createLogger } from '../../../src/observability/index.ts';

const logger = createLogger({ level: 'silent', sync: true });

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('the listed objects are not kept while the watch runs', async () => {
  let listed: WeakRef<object> | undefined;
  const watching = Promise.withResolvers<void>();
  // A stand-in for the API server's watch, which never sends an event: what is tested is whether the
  // reflector's own frames keep the list, and only the time between list and next relist matters.
  const watch = {
    watch: (): Promise<AbortController> => {
      watching.resolve();
      return Promise.resolve(new AbortController());
    },
  } as unknown as Watch;
  const reflector = new Reflector({
    name: 'routes',
    path: '/apis/portico.dev/v1alpha1/routes',
    list: () => {
      const list = { items: [{ metadata: { name: 'r0', namespace: 'default' } }] };
      listed = new WeakRef(list);
      return Promise.resolve(list);
    },
    watch,
    handler: { replace: () => undefined, upsert: () => undefined, remove: () => undefined },
    logger,
  });
  reflector.start();
  await watching.promise;
  // A WeakRef's target survives until the job that created it ends.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(listed?.deref(), undefined);
  await reflector.stop();
});

function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
}

test('a release after a burst shrinks the young generation, and only when the heap holds enough slack', async () => {
  let kept: object[] = [];
  for (let round = 0; round < 40; round++)
    kept = kept.concat(Array.from({ length: 20_000 }, (_, i) => ({ i })));
  kept = [];
  const grown = youngGenerationBytes();
  await new MemoryRelease(logger, { slackBytes: Number.MAX_SAFE_INTEGER }).now();
  assert.equal(youngGenerationBytes(), grown, 'left alone below the slack');
  await new MemoryRelease(logger, { slackBytes: 1 }).now();
  assert.ok(youngGenerationBytes() < grown, `young generation ${grown} → ${youngGenerationBytes()} bytes`);
});
