import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  awaitSuccessor,
  listeningSocketsOn,
  ownListeners,
  ReadinessFile,
} from '../../../src/server/handover.ts';

async function listen(port: number): Promise<Server> {
  const server = createServer().listen({ host: '127.0.0.1', port, reusePort: true, exclusive: true });
  await once(server, 'listening');
  return server;
}

describe('handover: successors seen in the socket tables', () => {
  test('counts the listening sockets on a port, from the kernel, whoever owns them', async () => {
    const first = await listen(0);
    const { port } = first.address() as AddressInfo;
    try {
      assert.equal(await listeningSocketsOn(port), 1);
      const second = await listen(port);
      assert.equal(await listeningSocketsOn(port), 2);
      await new Promise((resolve) => second.close(resolve));
      assert.equal(await listeningSocketsOn(port), 1);
    } finally {
      first.close();
    }
  });

  test('reads listening rows of both tables by port, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-tables-'));
    try {
      const header =
        '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
      writeFileSync(
        join(dir, 'tcp'),
        header +
          '   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65532 0 1 1\n' +
          '   1: 0200C80A:0050 0100C80A:D431 01 00000000:00000000 00:00000000 00000000 65532 0 2 1\n' +
          '   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 3 1\n',
      );
      writeFileSync(
        join(dir, 'tcp6'),
        header +
          '   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0 0 0 0 0 4 1\n',
      );
      const tables = [join(dir, 'tcp'), join(dir, 'tcp6')];
      assert.equal(
        await listeningSocketsOn(80, tables),
        2,
        'a listener each in tcp and tcp6; the established row is not one',
      );
      assert.equal(await listeningSocketsOn(8080, tables), 1);
      assert.equal(await listeningSocketsOn(443, tables), 0);
      assert.equal(await listeningSocketsOn(80, [join(dir, 'missing')]), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('our own sockets: one per address per worker, summed by port', () => {
    assert.deepEqual(
      [...ownListeners(['0.0.0.0:80', '0.0.0.0:443', '[::1]:80'], 2)],
      [
        [80, 4],
        [443, 2],
      ],
    );
  });

  test('awaitSuccessor: resolves when a second socket joins the port, times out without one', async () => {
    const ours = await listen(0);
    const { port } = ours.address() as AddressInfo;
    try {
      const own = new Map([[port, 1]]);
      assert.equal(await awaitSuccessor(own, 150, 20), 'timeout');
      const waiting = awaitSuccessor(own, 5_000, 20);
      const successor = await listen(port);
      assert.equal(await waiting, 'successor');
      successor.close();
      assert.equal(await awaitSuccessor(own, 1_000, 20, ['/nonexistent/tcp']), 'unsupported');
    } finally {
      ours.close();
    }
  });
});

describe('ReadinessFile', () => {
  test('exists exactly while ready, written whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-ready-'));
    const path = join(dir, 'ready');
    try {
      const file = new ReadinessFile(path);
      await file.update(false, {});
      assert.equal(existsSync(path), false);
      await file.update(true, { ready: true });
      assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { ready: true });
      await file.update(false, {});
      assert.equal(existsSync(path), false);
      assert.equal(existsSync(`${path}.tmp`), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a write that fails rejects, and is tried again on the next update', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-ready-'));
    const path = join(dir, 'missing-dir', 'ready');
    try {
      const file = new ReadinessFile(path);
      await assert.rejects(file.update(true, {}), /ENOENT/);
      await assert.rejects(
        file.update(true, {}),
        /ENOENT/,
        'the same state is written again after a failure',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
