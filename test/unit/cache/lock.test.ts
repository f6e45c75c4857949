import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import {
  CacheLock,
  HttpCache,
  type LockHandle,
  type ReaderLock,
  type WriterLock,
} from '../../../src/cache/index.ts';

// Mocked timers make the lock timeout observable without waiting for it in real time.
beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

function writer(handle: LockHandle): WriterLock {
  assert.equal(handle.kind, 'writer');
  return handle;
}

function reader(handle: LockHandle): ReaderLock {
  assert.equal(handle.kind, 'reader');
  return handle;
}

void describe('CacheLock', () => {
  void test('1000 concurrent acquires: exactly one writer, and every reader learns its outcome', async () => {
    const lock = new CacheLock();
    const handles = Array.from({ length: 1000 }, () => lock.acquire('k'));
    const writers = handles.filter((h) => h.kind === 'writer');
    assert.equal(writers.length, 1);
    const waits = handles.filter((h) => h.kind === 'reader').map((h) => h.wait());
    writer(writers[0]!).release('ready');
    const results = await Promise.all(waits);
    assert.equal(results.length, 999);
    assert.ok(results.every((r) => r === 'ready'));
    assert.deepEqual(lock.stats(), { waits: 999, timeouts: 0, held: 0 });
  });

  void test('keys are independent', () => {
    const lock = new CacheLock();
    assert.equal(lock.acquire('a').kind, 'writer');
    assert.equal(lock.acquire('b').kind, 'writer');
    assert.equal(lock.acquire('a').kind, 'reader');
  });

  for (const outcome of ['uncacheable', 'failed'] as const) {
    void test(`release('${outcome}') frees all waiters at once and the next request writes`, async () => {
      const lock = new CacheLock();
      const w = writer(lock.acquire('k'));
      const waits = [reader(lock.acquire('k')).wait(), reader(lock.acquire('k')).wait()];
      w.release(outcome);
      assert.deepEqual(await Promise.all(waits), [outcome, outcome]);
      assert.equal(lock.acquire('k').kind, 'writer');
    });
  }

  void test('a writer that never releases: waiters time out at lockTimeoutMs and the lock ages out', async () => {
    const timeouts: Array<[string, number]> = [];
    const lock = new CacheLock({ timeoutMs: 50, hooks: { onTimeout: (key, n) => timeouts.push([key, n]) } });
    const stuck = writer(lock.acquire('k'));
    const wait = reader(lock.acquire('k')).wait();
    mock.timers.tick(49);
    assert.equal(lock.acquire('k').kind, 'reader');
    mock.timers.tick(1);
    assert.equal(await wait, 'timeout');
    assert.deepEqual(timeouts, [['k', 2]]);

    const next = writer(lock.acquire('k'));
    const nextWait = reader(lock.acquire('k')).wait();
    stuck.release('ready'); // late release of the aged-out lock must not touch the new one
    assert.equal(lock.stats().held, 1);
    next.release('ready');
    assert.equal(await nextWait, 'ready');
    assert.deepEqual(lock.stats(), { waits: 3, timeouts: 2, held: 0 });
  });

  void test('the default timeout is 5 s', async () => {
    const lock = new CacheLock();
    writer(lock.acquire('k'));
    const wait = reader(lock.acquire('k')).wait();
    mock.timers.tick(4999);
    assert.equal(lock.stats().held, 1);
    mock.timers.tick(1);
    assert.equal(await wait, 'timeout');
  });

  void test('release is idempotent and a released lock fires no timeout', () => {
    const lock = new CacheLock({ timeoutMs: 10 });
    const w = writer(lock.acquire('k'));
    w.release('ready');
    w.release('failed');
    mock.timers.tick(10);
    assert.deepEqual(lock.stats(), { waits: 0, timeouts: 0, held: 0 });
  });

  void test('wait hooks count readers; HttpCache exposes the counters', async () => {
    const waited: string[] = [];
    const cache = new HttpCache({ lockTimeoutMs: 20, lockHooks: { onWait: (key) => waited.push(key) } });
    writer(cache.lock.acquire('k'));
    const wait = reader(cache.lock.acquire('k')).wait();
    mock.timers.tick(20);
    assert.equal(await wait, 'timeout');
    assert.deepEqual(waited, ['k']);
    assert.equal(cache.stats().lockWaits, 1);
    assert.equal(cache.stats().lockTimeouts, 1);
  });
});
