/**
 * Issue 22, points 3 and 5: what an HTTP/2 request's fields must be before Portico acts on them
 * (RFC 9113 §8.3.1: `:authority` and `host` that disagree make a request malformed). A real h2c client
 * against an in-process proxy; the origin records what reaches it.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { HttpPeer } from '../../src/index.ts';
import { startOrigin, startProxy, type Origin, type TestProxy } from '../helpers/servers.ts';

/** The response status, or 'reset' when the stream is refused before any response (a stream error). */
async function status(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<number | 'reset'> {
  const stream = session.request(headers);
  stream.resume();
  try {
    const [response] = (await once(stream, 'response')) as [Record<string, number>];
    await once(stream, 'close');
    return response[':status']!;
  } catch {
    return 'reset';
  }
}

describe('HTTP/2 request fields', () => {
  let origin: Origin;
  let proxy: TestProxy;
  let session: ClientHttp2Session;

  before(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    const peer = new HttpPeer({ address: origin.address });
    proxy = await startProxy({ upstreamPeer: () => peer }, { h2c: true });
    session = h2connect(proxy.url);
  });
  after(async () => {
    session.close();
    await proxy.stop();
    await origin.close();
  });

  test(':authority and host that name different hosts: 400, and nothing reaches the origin', async () => {
    const before = origin.requests;
    assert.equal(await status(session, { ':path': '/', ':authority': 'a.example', host: 'b.example' }), 400);
    assert.equal(origin.requests, before);
    assert.equal(await status(session, { ':path': '/', ':authority': 'a.example', host: 'A.example' }), 200);
    assert.equal(await status(session, { ':path': '/', ':authority': 'a.example' }), 200);
  });

  // RFC 9113 §8.2.3: HTTP/2 may split cookies over fields; HTTP/1.1 gets one, joined with "; ".
  test('cookie fields from HTTP/2 reach an HTTP/1.1 origin as one Cookie joined with "; "', async () => {
    const stream = session.request({ ':path': '/', cookie: ['a=1', 'b=2', 'c=3'] });
    stream.resume();
    await once(stream, 'close');
    const cookies = origin.lastRawHeaders.filter((_, i, all) => i % 2 === 1 && /^cookie$/i.test(all[i - 1]!));
    assert.deepEqual(cookies, ['a=1; b=2; c=3']);
  });

  // As HTTP/1.1's cap (256); node's own default would refuse more than 128.
  test('200 header fields are served, more than 256 refused', async () => {
    const fields = (n: number): OutgoingHttpHeaders =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v']));
    assert.equal(await status(session, { ':path': '/', ...fields(200) }), 200);
    assert.ok([431, 'reset'].includes(await status(session, { ':path': '/', ...fields(300) })));
  });

  // nghttp2 resets some such streams itself (a '@'); Portico answers the rest with a 400.
  test('an :authority that is not host[:port]: refused, and nothing reaches the origin', async () => {
    const before = origin.requests;
    for (const authority of ['a.example:80@evil.example', 'a.example:x', 'a.example/../b'])
      assert.ok(
        [400, 'reset'].includes(await status(session, { ':path': '/', ':authority': authority })),
        authority,
      );
    assert.equal(await status(session, { ':path': '/', ':authority': 'a.example:x' }), 400);
    assert.equal(origin.requests, before);
  });
});
