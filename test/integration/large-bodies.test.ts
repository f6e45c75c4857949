import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { HttpPeer } from '../../src/index.ts';
import { startOrigin, startProxy } from '../helpers/servers.ts';

const GiB = 1024 ** 3;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** A readable of `total` bytes made of one reused chunk, so the test itself holds no body in memory. */
function generator(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

/** Samples RSS every 50 ms while `work` runs; returns the growth over the starting RSS. */
async function rssGrowthDuring(work: () => Promise<void>): Promise<number> {
  globalThis.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak - start;
}

test('1 GiB download and 1 GiB upload pass through with flat memory', async () => {
  const origin = await startOrigin((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-length': String(GiB) });
      generator(GiB).pipe(res);
      return;
    }
    let received = 0;
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => res.end(String(received)));
  });
  const proxy = await startProxy({ upstreamPeer: () => new HttpPeer({ address: origin.address }) });
  try {
    let downloaded = 0;
    const downloadGrowth = await rssGrowthDuring(
      () =>
        new Promise<void>((resolve, reject) => {
          httpRequest(`${proxy.url}/`, { agent: false }, (res) => {
            res.on('data', (c: Buffer) => (downloaded += c.length));
            res.on('end', resolve);
            res.on('error', reject);
          })
            .on('error', reject)
            .end();
        }),
    );
    assert.equal(downloaded, GiB);

    let uploadedReply = '';
    const uploadGrowth = await rssGrowthDuring(
      () =>
        new Promise<void>((resolve, reject) => {
          const req = httpRequest(
            `${proxy.url}/`,
            { method: 'POST', agent: false, headers: { 'content-length': String(GiB) } },
            (res) => {
              res.on('data', (c: Buffer) => (uploadedReply += c.toString()));
              res.on('end', resolve);
            },
          );
          req.on('error', reject);
          generator(GiB).pipe(req);
        }),
    );
    assert.equal(uploadedReply, String(GiB));
    // Buffering would grow RSS by the body size (1 GiB). What remains is garbage the GC has not collected
    // yet, shared by origin, proxy and client in this one process: ~100 MiB whether the body is 256 MiB or 2 GiB.
    const limit = 192 * 1024 ** 2;
    assert.ok(downloadGrowth < limit, `download grew RSS by ${(downloadGrowth / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(uploadGrowth < limit, `upload grew RSS by ${(uploadGrowth / 2 ** 20).toFixed(1)} MiB`);
    console.log(
      `RSS growth: download ${(downloadGrowth / 2 ** 20).toFixed(1)} MiB, upload ${(uploadGrowth / 2 ** 20).toFixed(1)} MiB (origin, proxy and client share this process)`,
    );
  } finally {
    await proxy.stop();
    await origin.close();
  }
});
