import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableCores } from '../../../src/index.ts';

function cgroup(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), content);
  }
  return root;
}

test('availableCores follows the cgroup quota, never above affinity, never below 1', () => {
  const cpus = availableParallelism();
  assert.equal(availableCores(cgroup({})), cpus, 'no cgroup files: affinity');
  assert.equal(availableCores(cgroup({ 'cpu.max': 'max 100000\n' })), cpus, 'v2 unlimited');
  assert.equal(availableCores(cgroup({ 'cpu.max': '50000 100000\n' })), 1, 'v2 half a core rounds up to 1');
  assert.equal(availableCores(cgroup({ 'cpu.max': '100000 100000\n' })), 1, 'v2 one core');
  assert.equal(
    availableCores(cgroup({ 'cpu.max': `${cpus * 400000} 100000\n` })),
    cpus,
    'v2 quota above affinity',
  );
  assert.equal(
    availableCores(cgroup({ 'cpu/cpu.cfs_quota_us': '100000', 'cpu/cpu.cfs_period_us': '100000' })),
    1,
    'v1 one core',
  );
  assert.equal(
    availableCores(cgroup({ 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' })),
    cpus,
    'v1 unlimited',
  );
});
