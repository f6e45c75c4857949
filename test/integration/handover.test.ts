import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const SCENARIO = new URL('../fixtures/handover.ts', import.meta.url).pathname;

// Issue 6: a rolling upgrade on a hostNetwork node. The scenario runs in its own network namespace
// (unshare -n, root) so it can set net.ipv4.tcp_migrate_req without touching the machine's.
interface HandoverResult {
  requests: number;
  failed: number;
  errors: object;
  oldExit: number;
  failureTimes: string[];
  servedAloneAfterSigterm?: boolean;
}

function scenario(env: Record<string, string> = {}): HandoverResult {
  const out = execFileSync('unshare', ['-n', process.execPath, SCENARIO], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as HandoverResult;
  console.log(JSON.stringify(result));
  return result;
}

test('reuseport handover under steady load: a second Portico starts, the first drains on SIGTERM, zero requests fail', () => {
  const result = scenario();
  assert.equal(result.oldExit, 0, 'the old instance exits 0 after draining');
  assert.equal(
    result.failed,
    0,
    `failures: ${JSON.stringify(result.errors)} ${result.failureTimes.join('; ')}`,
  );
  assert.ok(result.requests > 5_000, `only ${result.requests} requests: not a steady load`);
});

// Issue 26: `kubectl delete pod` of a DaemonSet pod. Its replacement is created only once it is
// terminating; with --handover-wait it keeps accepting until the replacement listens.
test('SIGTERM before the successor exists: with --handover-wait the first serves alone, then hands over; zero requests fail', () => {
  const result = scenario({ REPLACEMENT: 'after-sigterm' });
  assert.equal(result.servedAloneAfterSigterm, true, 'it stopped before a successor listened');
  assert.equal(result.oldExit, 0);
  assert.equal(
    result.failed,
    0,
    `failures: ${JSON.stringify(result.errors)} ${result.failureTimes.join('; ')}`,
  );
  assert.ok(result.requests > 5_000, `only ${result.requests} requests: not a steady load`);
});
