import { createHook } from 'node:async_hooks';

/**
 * One of `process.nextTick`'s queue entries, held for the life of the process.
 *
 * V8 holds the hidden classes ("maps") an object literal passes through only weakly, so a full GC at
 * a moment when no queued tick object is alive frees them, and the next `nextTick` builds new ones.
 * Each rebuild adds a map to the feedback of that literal's computed-key stores; after four they are
 * megamorphic for good and every tick object is assembled by the runtime, several times slower. A
 * worker hits this when it swaps large routing tables while idle (their garbage brings full GCs and
 * no traffic keeps tick objects alive): with 10,000 Routes it served 92-94 % of the 10-Route rate
 * instead of ~100 %, `nextTick` being ~6x its usual cost per request. One live tick object keeps
 * the whole chain of maps alive, and the feedback stays monomorphic.
 */
let keptTickObject: object | undefined;

/** Keeps one tick object alive (see {@link keptTickObject}); idempotent, call before serving. */
export function keepTickObjectShape(): void {
  if (keptTickObject !== undefined) return;
  // An init hook is the only public way to see the object nextTick queues; it is on for one call.
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') keptTickObject = resource;
    },
  }).enable();
  try {
    process.nextTick(() => undefined);
  } finally {
    hook.disable();
  }
}
