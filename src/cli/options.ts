import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../errors.ts';
import { parseDuration } from '../routing/duration.ts';
import { parseListenAddress } from '../server/index.ts';

/** Settings of `portico serve`; each is a flag, an environment variable and a config-file key. */
export interface ServeSettings {
  files: string[];
  listen: string[];
  tlsListen: string[];
  h2c: boolean;
  admin: string | false;
  adminToken: string | undefined;
  workers: number | 'auto';
  gracePeriodMs: number;
  handoverWaitMs: number;
  readinessFile: string | undefined;
  accessLog: boolean;
  logLevel: string;
}

/** The data-plane flags of every serving command → environment variable. */
export const DATA_PLANE_SETTINGS = {
  listen: 'PORTICO_LISTEN',
  'tls-listen': 'PORTICO_TLS_LISTEN',
  h2c: 'PORTICO_H2C',
  admin: 'PORTICO_ADMIN',
  workers: 'PORTICO_WORKERS',
  'grace-period': 'PORTICO_GRACE_PERIOD',
  'handover-wait': 'PORTICO_HANDOVER_WAIT',
  'readiness-file': 'PORTICO_READINESS_FILE',
  'access-log': 'PORTICO_ACCESS_LOG',
  'log-level': 'PORTICO_LOG_LEVEL',
} as const;

/** `node:util` parseArgs options for {@link DATA_PLANE_SETTINGS}. */
export const DATA_PLANE_OPTIONS = {
  listen: { type: 'string', multiple: true },
  'tls-listen': { type: 'string', multiple: true },
  h2c: { type: 'string' },
  admin: { type: 'string' },
  workers: { type: 'string' },
  'grace-period': { type: 'string' },
  'handover-wait': { type: 'string' },
  'readiness-file': { type: 'string' },
  'access-log': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

/** Help lines for {@link DATA_PLANE_SETTINGS}, shared by every serving command. */
export const DATA_PLANE_HELP = `      --listen HOST:PORT     proxy listener, HTTP/1.1 (repeatable; default 0.0.0.0:8080)
                                                                                PORTICO_LISTEN
      --tls-listen HOST:PORT TLS listener, HTTP/1.1 and HTTP/2 by ALPN; certificates by SNI from the
                             Routes' tls (repeatable; default none)             PORTICO_TLS_LISTEN
      --h2c BOOL             also accept HTTP/2 prior knowledge on --listen (default false)
                                                                                PORTICO_H2C
      --admin HOST:PORT      admin listener: /healthz /readyz /metrics /api/v1 (default 127.0.0.1:9901;
                             "off")                                             PORTICO_ADMIN
      --workers N|auto       worker processes (default auto: one per core, cgroup-aware; 0 = in-process)
                                                                                PORTICO_WORKERS
      --grace-period DUR     SIGTERM drain time (default 30s)                   PORTICO_GRACE_PERIOD
      --handover-wait DUR    on SIGTERM, accept until a successor listens on the same ports, for at
                             most DUR, then drain (default 0s)                  PORTICO_HANDOVER_WAIT
      --readiness-file PATH  a file that exists while /readyz is 200 (default none)
                                                                                PORTICO_READINESS_FILE
      --access-log BOOL      one JSON line per request (default true)           PORTICO_ACCESS_LOG
      --log-level LEVEL      trace|debug|info|warn|error (default info)         PORTICO_LOG_LEVEL`;

/** Flag name → environment variable; the config file uses the flag name in camelCase. */
export const SETTINGS = {
  file: 'PORTICO_FILES',
  ...DATA_PLANE_SETTINGS,
  'admin-token': 'PORTICO_ADMIN_TOKEN',
} as const;

type RawValue = string | string[] | boolean | number;
type RawSettings = Partial<Record<keyof typeof SETTINGS, RawValue>>;
/** Raw settings of any command, keyed by flag name. */
export type RawFlags = Partial<Record<string, RawValue>>;
/** Flags that take a comma-separated list in the environment. */
const LIST_FLAGS = new Set(['file', 'listen', 'tls-listen']);

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Reads `--config FILE` (YAML or JSON, keys are camelCase flag names). Start-up only, so sync I/O is fine. */
function readConfigFile(path: string | undefined, table: Record<string, string> = SETTINGS): RawFlags {
  if (path === undefined) return {};
  let data: unknown;
  try {
    // Required here, not imported: every worker re-reads its settings, and most run without a file.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    data = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InvalidArgumentError('--config', `cannot read ${path}: ${(error as Error).message}`);
  }
  const raw: RawFlags = {};
  for (const flag of Object.keys(table)) {
    const value =
      (data as Record<string, unknown> | null)?.[camel(flag)] ??
      (data as Record<string, unknown> | null)?.[flag === 'file' ? 'files' : flag];
    if (value !== undefined) raw[flag] = value as string;
  }
  return raw;
}

function fromEnv(env: NodeJS.ProcessEnv, table: Record<string, string> = SETTINGS): RawFlags {
  const raw: RawFlags = {};
  for (const [flag, variable] of Object.entries(table)) {
    const value = env[variable];
    if (value !== undefined && value !== '') raw[flag] = LIST_FLAGS.has(flag) ? value.split(',') : value;
  }
  return raw;
}

/** Flags win over the environment (`table`: flag → variable), which wins over the config file. */
export function mergeSettings(
  flags: RawFlags,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv,
  table: Record<string, string>,
): RawFlags {
  return { ...readConfigFile(configFile, table), ...fromEnv(env, table), ...stripUndefined(flags) };
}

/** The data-plane settings every serving command shares. */
export type DataPlaneSettings = Omit<ServeSettings, 'files' | 'adminToken'>;

/** Validates the shared data-plane settings; each error names its flag. */
export function resolveDataPlane(merged: RawFlags): DataPlaneSettings {
  const listen = list(merged['listen']);
  if (listen.length === 0) listen.push('0.0.0.0:8080');
  for (const address of listen) parseListenAddress(address, '--listen');
  const tlsListen = list(merged['tls-listen']);
  for (const address of tlsListen) parseListenAddress(address, '--tls-listen');
  const admin = merged['admin'] === undefined ? '127.0.0.1:9901' : String(merged['admin']);
  if (admin !== 'off') parseListenAddress(admin, '--admin');
  const workersRaw = merged['workers'] === undefined ? 'auto' : String(merged['workers']);
  const workers = workersRaw === 'auto' ? 'auto' : Number(workersRaw);
  if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 0)) {
    throw new InvalidArgumentError('--workers', `must be "auto" or a whole number ≥ 0, got "${workersRaw}"`);
  }
  const grace = durationSetting(merged, 'grace-period', 30_000);
  const handoverWait = durationSetting(merged, 'handover-wait', 0);
  const readinessFile = merged['readiness-file'] === undefined ? undefined : String(merged['readiness-file']);
  if (readinessFile === '') throw new InvalidArgumentError('--readiness-file', 'must be a path');
  return {
    listen,
    tlsListen,
    h2c: bool(merged['h2c'], '--h2c', false),
    admin: admin === 'off' ? false : admin,
    workers,
    gracePeriodMs: grace,
    handoverWaitMs: handoverWait,
    readinessFile,
    accessLog: bool(merged['access-log'], '--access-log', true),
    logLevel: merged['log-level'] === undefined ? 'info' : String(merged['log-level']),
  };
}

function durationSetting(merged: RawFlags, flag: string, fallbackMs: number): number {
  const raw = merged[flag];
  if (raw === undefined) return fallbackMs;
  const ms = parseDuration(String(raw));
  if (ms === undefined)
    throw new InvalidArgumentError(`--${flag}`, `"${String(raw)}" is not a duration like 30s`);
  return ms;
}

function list(value: RawValue | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [String(value)])
    .flatMap((v) => String(v).split(','))
    .filter(Boolean);
}

function bool(value: RawValue | undefined, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  throw new InvalidArgumentError(option, `must be true or false, got "${String(value)}"`);
}

/** Flags win over the environment, which wins over the config file, which wins over defaults. */
export function resolveServeSettings(
  flags: RawSettings,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ServeSettings {
  const merged = mergeSettings(flags, configFile, env, SETTINGS);
  const files = list(merged['file']);
  if (files.length === 0)
    throw new InvalidArgumentError('--file', 'give at least one file or directory (-f PATH)');
  return {
    files,
    ...resolveDataPlane(merged),
    adminToken: merged['admin-token'] === undefined ? undefined : String(merged['admin-token']),
  };
}

function stripUndefined(raw: RawFlags): RawFlags {
  return Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
}
