/**
 * readInPlace on this project's node: an accepted socket reads into the memory given, straight to the
 * callback, with pause/resume and 'end' working. Fails when a node upgrade changes what it relies on,
 * rather than letting every plaintext connection fall back to Readables unnoticed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readInPlace } from '../../../src/read-in-place.ts';
import { createPki } from '../../helpers/certs.ts';

async function acceptedPair(): Promise<{ accepted: Socket; client: Socket; close: () => void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [Socket];
  await once(client, 'connect');
  return { accepted, client, close: () => (client.destroy(), accepted.destroy(), server.close()) };
}

test('an accepted socket reads into the memory given, not as data events; pause, resume and end work', async () => {
  const { accepted, client, close } = await acceptedPair();
  try {
    const memory = Buffer.alloc(1024);
    const reads: string[] = [];
    let arrived: () => void = () => {};
    assert.equal(
      readInPlace(accepted, memory, (bytesRead, into) => {
        assert.equal(into.buffer, memory.buffer);
        reads.push(into.toString('latin1', 0, bytesRead));
        arrived();
      }),
      true,
    );
    accepted.on('data', () => assert.fail('a data event'));
    const next = (): Promise<void> => new Promise((resolve) => (arrived = resolve));

    let read = next();
    client.write('first');
    await read;
    assert.deepEqual(reads, ['first']);

    accepted.pause();
    client.write('second');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(reads, ['first'], 'nothing is read while paused');
    read = next();
    accepted.resume();
    await read;
    assert.deepEqual(reads, ['first', 'second']);

    const ended = once(accepted, 'end');
    client.end();
    await ended;
  } finally {
    close();
  }
});

test('a TLS socket is left as it is: node:tls reads it as a Readable', async () => {
  const { createServer: createTlsServer, connect: tlsConnect } = await import('node:tls');
  const leaf = createPki().issue('localhost', ['localhost']);
  const server = createTlsServer({ cert: leaf.cert, key: leaf.key });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = tlsConnect({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    rejectUnauthorized: false,
  });
  try {
    const [accepted] = (await once(server, 'secureConnection')) as [Socket];
    assert.equal(
      readInPlace(accepted, Buffer.alloc(64), () => assert.fail('a read in place')),
      false,
    );
    const data = once(accepted, 'data');
    client.write('over tls');
    assert.equal(String((await data)[0]), 'over tls');
  } finally {
    client.destroy();
    server.close();
  }
});
