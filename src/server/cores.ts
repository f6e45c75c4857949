import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Cores this process may use: CPU affinity (what `availableParallelism` sees) capped by a cgroup CPU quota,
 * so a container limited to 2 CPUs on a 64-core node runs 2 workers, not 64. Read once at start-up.
 */
export function availableCores(cgroupRoot = '/sys/fs/cgroup'): number {
  const affinity = availableParallelism();
  const quota = cgroupV2Quota(cgroupRoot) ?? cgroupV1Quota(cgroupRoot);
  return quota === undefined ? affinity : Math.max(1, Math.min(affinity, Math.ceil(quota)));
}

/** `cpu.max` holds `"<quota> <period>"` or `"max <period>"`. */
function cgroupV2Quota(root: string): number | undefined {
  const text = readOptional(`${root}/cpu.max`);
  if (text === undefined) return undefined;
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || period === undefined) return undefined;
  const ratio = Number(quota) / Number(period);
  return Number.isFinite(ratio) && ratio > 0 ? ratio : undefined;
}

function cgroupV1Quota(root: string): number | undefined {
  const quota = Number(readOptional(`${root}/cpu/cpu.cfs_quota_us`));
  const period = Number(readOptional(`${root}/cpu/cpu.cfs_period_us`));
  return quota > 0 && period > 0 ? quota / period : undefined;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
