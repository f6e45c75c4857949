import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, get, closedPort } from '../helpers/servers.ts';
import { spawnFixture, waitReady, exitOf, eventually, childPids } from '../helpers/process.ts';

const FIXTURE = new URL('../fixtures/cluster-proxy.ts', import.meta.url).pathname;

/**
 * True until the process is reaped. Not "until it is a zombie": a multi-threaded process shows Z for
 * its main thread while other threads still hold its file table, listening socket included.
 */
function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** The fixture proxying to `upstream`, on fresh ports unless `ports` are given; `env` adds its settings. */
async function spawnProxy(
  upstream: string,
  env: Record<string, string>,
  ports?: { port: number; admin: number },
): Promise<{ proxy: ReturnType<typeof spawnFixture>; port: number; admin: number }> {
  const { port, admin } = ports ?? { port: await closedPort(), admin: await closedPort() };
  const proxy = spawnFixture(FIXTURE, {
    UPSTREAM: upstream,
    LISTEN: `127.0.0.1:${port}`,
    ADMIN: `127.0.0.1:${admin}`,
    ...env,
  });
  return { proxy, port, admin };
}

describe('Server with worker processes', () => {
  test('SIGTERM finishes an in-flight slow response, then exits 0', async () => {
    let requestArrived: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (requestArrived = resolve));
    const origin = await startOrigin((req, res) => {
      if (req.url === '/slow') {
        requestArrived();
        setTimeout(() => res.end('finished after drain'), 800);
      } else res.end('fast');
    });
    const { proxy, port, admin } = await spawnProxy(origin.address, { WORKERS: '2', GRACE_MS: '5000' });
    try {
      await waitReady(admin);
      const slow = get(`http://127.0.0.1:${port}/slow`);
      await arrived;
      proxy.kill('SIGTERM');
      const res = await slow;
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'finished after drain');
      const exit = await exitOf(proxy);
      assert.deepEqual(exit, { code: 0, signal: null }, proxy.output());
      await assert.rejects(get(`http://127.0.0.1:${port}/`), /ECONNREFUSED/);
    } finally {
      proxy.kill('SIGKILL');
      await origin.close();
    }
  });

  test('a killed worker is replaced while the other keeps answering', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    const { proxy, port, admin } = await spawnProxy(origin.address, { WORKERS: '2' });
    try {
      await waitReady(admin);
      const before = childPids(proxy.pid!);
      assert.equal(before.length, 2, proxy.output());
      process.kill(before[0]!, 'SIGKILL');
      // Wait until it is gone: connections the kernel queued on the dying worker's socket until its
      // last thread exits are reset (unless net.ipv4.tcp_migrate_req=1); after, only the survivor's
      // socket is left in the reuseport group.
      await eventually(() => {
        if (processAlive(before[0]!)) throw new Error('still running');
      });
      // The surviving worker serves every request while the replacement starts.
      let served = 0;
      for (let i = 0; i < 30; i++) {
        const res = await get(`http://127.0.0.1:${port}/`);
        assert.equal(res.status, 200);
        served++;
      }
      assert.equal(served, 30);
      const after = await eventually<number[]>(
        () => {
          const pids = childPids(proxy.pid!);
          if (pids.length !== 2 || pids.includes(before[0]!)) throw new Error(`workers ${pids.join(',')}`);
          return pids;
        },
        10_000,
        'worker replaced',
      );
      assert.ok(after.includes(before[1]!), 'the healthy worker was left alone');
      await waitReady(admin);
      proxy.kill('SIGTERM');
      assert.equal((await exitOf(proxy)).code, 0);
    } finally {
      proxy.kill('SIGKILL');
      await origin.close();
    }
  });

  test('the primary /metrics sums every worker', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    const { proxy, port, admin } = await spawnProxy(origin.address, { WORKERS: '2' });
    try {
      await waitReady(admin);
      // New connections each time: SO_REUSEPORT spreads them over both workers.
      for (let i = 0; i < 40; i++) assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200);
      const text = (await get(`http://127.0.0.1:${admin}/metrics`)).body.toString();
      assert.match(text, /^portico_http_requests_total\{code="200"\} 40$/m, text.slice(0, 2_000));
      assert.match(text, /^portico_upstream_requests_total 40$/m);
      proxy.kill('SIGTERM');
      await exitOf(proxy);
    } finally {
      proxy.kill('SIGKILL');
      await origin.close();
    }
  });

  test('SIGINT exits at once, even with a request in flight', async () => {
    const origin = await startOrigin((_req, res) => void setTimeout(() => res.end('late'), 5_000).unref());
    const { proxy, port, admin } = await spawnProxy(origin.address, { WORKERS: '1', GRACE_MS: '30000' });
    try {
      await waitReady(admin);
      const pending = get(`http://127.0.0.1:${port}/`).catch((e: Error) => e);
      await eventually(() => {
        if (origin.requests === 0) throw new Error('not yet');
      });
      const started = Date.now();
      proxy.kill('SIGINT');
      await exitOf(proxy);
      assert.ok(Date.now() - started < 3_000, 'fast exit');
      assert.ok((await pending) instanceof Error);
    } finally {
      proxy.kill('SIGKILL');
      await origin.close();
    }
  });

  test('with a handover wait, SIGTERM keeps serving until a successor binds the same ports, admin included', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    const dir = mkdtempSync(join(tmpdir(), 'portico-handover-'));
    const readiness = join(dir, 'ready');
    const {
      proxy: old,
      port,
      admin,
    } = await spawnProxy(origin.address, {
      WORKERS: '2',
      HANDOVER_MS: '20000',
      READINESS_FILE: readiness,
    });
    let successor: ReturnType<typeof spawnFixture> | undefined;
    try {
      await waitReady(admin);
      await eventually(() => assert.ok(existsSync(readiness), 'readiness file'));
      old.kill('SIGTERM');
      await eventually(() => assert.ok(!existsSync(readiness), 'readiness file removed on SIGTERM'));
      // No successor yet: the old process goes on serving (closing at once would refuse connections).
      for (let i = 0; i < 20; i++) assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200);
      assert.equal(old.exitCode, null, 'exited without a successor');
      // On the same ports, the admin listener's too: as two pods of a DaemonSet on hostNetwork.
      successor = (await spawnProxy(origin.address, { WORKERS: '1' }, { port, admin })).proxy;
      assert.deepEqual(await exitOf(old), { code: 0, signal: null }, old.output());
      assert.match(old.output(), /a successor listens on every port; draining/);
      assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200, successor.output());
    } finally {
      old.kill('SIGKILL');
      successor?.kill('SIGKILL');
      await origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with a handover wait and no successor, SIGTERM drains once the wait is over', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    const { proxy, admin } = await spawnProxy(origin.address, { WORKERS: '1', HANDOVER_MS: '1000' });
    try {
      await waitReady(admin);
      const started = Date.now();
      proxy.kill('SIGTERM');
      assert.deepEqual(await exitOf(proxy), { code: 0, signal: null });
      assert.ok(Date.now() - started >= 1_000, 'left before the wait was over');
      assert.match(proxy.output(), /no successor listens on the ports; draining without one/);
    } finally {
      proxy.kill('SIGKILL');
      await origin.close();
    }
  });
});
