import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DnsDiscovery, isDnsName, type DnsAnswer } from '../../../src/lb/dns.ts';
import { startDns } from '../../helpers/dns-server.ts';
import { eventually } from '../../helpers/process.ts';

test('isDnsName: names yes, IPv4 and IPv6 literals no', () => {
  assert.equal(isDnsName('api.internal'), true);
  assert.equal(isDnsName('10.0.0.1'), false);
  assert.equal(isDnsName('::1'), false);
});

test('resolves every address, re-resolves when the TTL runs out, reports changes only', async () => {
  const dns = await startDns({ 'api.test': ['10.0.0.2', '10.0.0.1'] }, 1);
  const changes: Array<[string, DnsAnswer]> = [];
  const discovery = new DnsDiscovery({
    servers: [dns.server],
    minTtlMs: 200,
    onChange: (name, answer) => changes.push([name, answer]),
  });
  try {
    await discovery.track(['api.test']);
    assert.deepEqual(
      discovery.answer('api.test')?.addresses,
      ['10.0.0.1', '10.0.0.2'],
      'sorted, all of them',
    );
    assert.equal(changes.length, 1);
    // TTL 1 s: the next lookup comes about a second later; same answer, no change reported.
    await eventually(() => assert.ok((dns.queries.get('api.test') ?? 0) >= 4), 3_000); // A + AAAA, twice
    assert.equal(changes.length, 1);
    dns.records.set('api.test', ['10.0.0.3']);
    await eventually(() => assert.deepEqual(discovery.answer('api.test')?.addresses, ['10.0.0.3']), 3_000);
    assert.equal(changes.length, 2);
  } finally {
    discovery.close();
    await dns.close();
  }
});

test('a TTL of 0 is raised to the minimum: no query storm', async () => {
  const dns = await startDns({ 'zero.test': ['10.0.0.1'] }, 0);
  const discovery = new DnsDiscovery({ servers: [dns.server], minTtlMs: 500 });
  try {
    await discovery.track(['zero.test']);
    await new Promise((r) => setTimeout(r, 1_200));
    const queries = dns.queries.get('zero.test') ?? 0;
    assert.ok(queries <= 6, `${queries} queries in 1.2 s with a 500 ms floor (A + AAAA per lookup)`);
  } finally {
    discovery.close();
    await dns.close();
  }
});

test('a failing resolver keeps the last good answer; an unknown name has none', async () => {
  const dns = await startDns({ 'api.test': ['10.0.0.1'] }, 1);
  const errors: string[] = [];
  const discovery = new DnsDiscovery({
    servers: [dns.server],
    minTtlMs: 100,
    retryMs: 100,
    timeoutMs: 200,
    onError: (name) => errors.push(name),
  });
  try {
    await discovery.track(['api.test', 'missing.test']);
    assert.equal(discovery.answer('missing.test'), undefined);
    assert.ok(errors.includes('missing.test'));
    dns.silent = true;
    await eventually(() => assert.ok(errors.filter((n) => n === 'api.test').length >= 1), 5_000);
    assert.deepEqual(discovery.answer('api.test')?.addresses, ['10.0.0.1'], 'kept through the outage');
    await discovery.track(['missing.test']);
    assert.equal(discovery.answer('api.test'), undefined, 'forgotten once no longer tracked');
  } finally {
    discovery.close();
    await dns.close();
  }
});
