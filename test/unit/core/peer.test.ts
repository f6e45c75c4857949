import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpPeer, InvalidArgumentError } from '../../../src/index.ts';

test('HttpPeer parses addresses and builds the undici origin', () => {
  assert.equal(new HttpPeer({ address: '127.0.0.1:8080' }).origin, 'http://127.0.0.1:8080');
  assert.equal(new HttpPeer({ address: '[::1]:443', tls: true }).origin, 'https://[::1]:443');
  const unix = new HttpPeer({ address: 'unix:/run/app.sock' });
  assert.equal(unix.socketPath, '/run/app.sock');
  assert.equal(unix.origin, 'http://localhost');
});

test('HttpPeer rejects bad options with an error naming the option', () => {
  const cases: Array<[object, string]> = [
    [{ address: '' }, 'address'],
    [{ address: 'no-port' }, 'address'],
    [{ address: 'h:99999' }, 'address'],
    [{ address: 'unix:' }, 'address'],
    [{ address: 'h:1', timeouts: { connect: -1 } }, 'timeouts.connect'],
    [{ address: 'h:1', timeouts: { idle: 0 } }, 'timeouts.idle'],
    [{ address: 'h:1', maxConnections: 0 }, 'maxConnections'],
    [{ address: 'h:1', sni: 'x' }, 'tls'],
    [{ address: 'h:1', alpn: 'h3' }, 'alpn'],
    [{ address: 'h:1', alpn: 'h2h1' }, 'alpn'],
    [{ address: 'h:1', alpn: 'h2', maxConcurrentStreams: 0 }, 'maxConcurrentStreams'],
  ];
  for (const [options, option] of cases) {
    assert.throws(
      () => new HttpPeer(options as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith(`${option}:`),
      JSON.stringify(options),
    );
  }
});

test('peers share a pool identity exactly when everything about the connection is equal', () => {
  const a = new HttpPeer({ address: '127.0.0.1:3128', tls: true, sni: 'secure.api.endpoint' });
  const same = new HttpPeer({ address: '127.0.0.1:3128', tls: true, sni: 'secure.api.endpoint' });
  const otherSni = new HttpPeer({ address: '127.0.0.1:3128', tls: true, sni: 'other' });
  const noVerify = new HttpPeer({
    address: '127.0.0.1:3128',
    tls: true,
    sni: 'secure.api.endpoint',
    verify: false,
  });
  const hostOnly = new HttpPeer({
    address: '127.0.0.1:3128',
    tls: true,
    sni: 'secure.api.endpoint',
    host: 'h',
  });
  assert.equal(a.identity, same.identity);
  assert.notEqual(a.identity, otherSni.identity);
  assert.notEqual(a.identity, noVerify.identity);
  assert.equal(a.identity, hostOnly.identity, 'the Host header does not change the connection');
  const h2 = new HttpPeer({ address: '127.0.0.1:3128', alpn: 'h2' });
  assert.equal(h2.maxConcurrentStreams, 100);
  assert.notEqual(
    h2.identity,
    new HttpPeer({ address: '127.0.0.1:3128', alpn: 'h2', maxConcurrentStreams: 2 }).identity,
  );
  assert.ok(Object.isFrozen(a));
});
