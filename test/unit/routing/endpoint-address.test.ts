// Issue #21: a Backend endpoint whose address cannot be dialled ("not an address!") was Accepted,
// ResolvedRefs and Programmed, and its traffic got a bare 502. Addresses are checked at the edge:
// an IPv4 or IPv6 address, or an RFC 1123 DNS name; the error names the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { validateObjects } from '../../../src/routing/index.ts';

function backend(addresses: string[]): Record<string, unknown> {
  return {
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { endpoints: addresses.map((address) => ({ address, port: 8080 })) },
  };
}

const GOOD = [
  '10.0.0.5',
  '127.0.0.1',
  '::1',
  'fd00::5',
  '2001:db8::8a2e:370:7334',
  'api.internal',
  'localhost',
  'web.shop.svc.cluster.local',
  'a-b.example',
  `${'a'.repeat(63)}.example`,
];

const BAD = [
  'not an address!',
  '',
  'Web.Example.com',
  'under_score.example',
  '-leading.example',
  'trailing-.example',
  'double..dot',
  '.example',
  'example.',
  '10.0.0.300',
  '10.0.0',
  '[::1]',
  '10.0.0.5:8080',
  'http://10.0.0.5',
  `${'a'.repeat(64)}.example`,
];

test('issue #21: endpoint addresses are IPv4, IPv6 or RFC 1123 DNS names', () => {
  for (const address of GOOD) {
    const result = validateObjects([backend([address])]);
    assert.deepEqual(result.rejected, [], address);
  }
  for (const address of BAD) {
    const result = validateObjects([backend(['10.0.0.1', address])]);
    const errors = result.rejected[0]?.errors ?? [];
    assert.equal(errors.length, 1, `${JSON.stringify(address)}: ${JSON.stringify(errors)}`);
    assert.equal(errors[0]!.object, 'Backend shop/web');
    assert.equal(errors[0]!.path, 'spec.endpoints[1].address', address);
    assert.equal(errors[0]!.reason, 'InvalidField', address);
    assert.match(errors[0]!.message, /IPv4 address, an IPv6 address or a lower-case DNS name/, address);
  }
  const tooLong = `${'a'.repeat(63)}.`.repeat(4) + 'example';
  const errors = validateObjects([backend([tooLong])]).rejected[0]?.errors ?? [];
  assert.deepEqual(
    errors.map((e) => e.path),
    ['spec.endpoints[0].address'],
    'a name over 253 characters',
  );
});

test('issue #21: `portico validate -f` names the bad address with its field path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-address-'));
  const file = join(dir, 'backend.yaml');
  writeFileSync(file, stringify(backend(['not an address!'])));
  const main = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
  const run = promisify(execFile)(process.execPath, [main, 'validate', '-f', file]);
  const failure = (await run.then(
    () => assert.fail('validate must fail'),
    (error: unknown) => error,
  )) as { code: number; stderr: string };
  assert.equal(failure.code, 1);
  assert.match(
    failure.stderr,
    /Backend shop\/web: spec\.endpoints\[0\]\.address: "not an address!" is not an IPv4 address/,
  );
});
