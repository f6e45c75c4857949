import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Pool } from 'undici';
import { closedPort, type SimpleResponse } from './servers.ts';
import { spawnFixture, waitReady, exitOf } from './process.ts';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** A real `portico serve` child process over a config directory it owns. */
export interface PorticoProcess {
  child: ChildProcess & { output: () => string };
  port: number;
  admin: number;
  dir: string;
  url: string;
  token: string;
  /** Writes (or replaces) a file in the config directory. */
  write(name: string, yaml: string): void;
  adminCall(method: string, path: string, body?: string, token?: string | null): Promise<SimpleResponse>;
  stop(): Promise<void>;
}

export async function startPortico(
  files: Record<string, string>,
  options: { workers?: number; extraArgs?: string[]; env?: Record<string, string> } = {},
): Promise<PorticoProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-config-'));
  for (const [name, yaml] of Object.entries(files)) writeFileSync(join(dir, name), yaml);
  const [port, admin] = [await closedPort(), await closedPort()];
  const token = 'test-token-0123456789';
  const child = spawnFixture(CLI, options.env ?? {}, [
    ...serveArgs(dir, port, admin, options.workers ?? 2),
    '--admin-token',
    token,
    ...(options.extraArgs ?? []),
  ]);
  await waitReady(admin).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`portico did not become ready: ${String(error)}\n${child.output()}`);
  });
  // Keep-alive: the swap test makes a hundred admin calls a second.
  const adminPool = new Pool(`http://127.0.0.1:${admin}`, { connections: 2 });
  return {
    child,
    port,
    admin,
    dir,
    token,
    url: `http://127.0.0.1:${port}`,
    write: (name, yaml) => writeFileSync(join(dir, name), yaml),
    adminCall: async (method, path, body, t = token) => {
      const res = await adminPool.request({
        method: method,
        path,
        body,
        headers: t === null ? {} : { authorization: `Bearer ${t}` },
      });
      return {
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.from(await res.body.arrayBuffer()),
      };
    },
    stop: async () => {
      await adminPool.close();
      child.kill('SIGTERM');
      await exitOf(child);
    },
  };
}

/** `portico serve` arguments for a loopback instance over a config directory, access log off. */
export function serveArgs(dir: string, port: number, admin: number, workers: number): string[] {
  return [
    'serve',
    '-f',
    dir,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin',
    `127.0.0.1:${admin}`,
    '--workers',
    String(workers),
    '--access-log',
    'false',
  ];
}

/** YAML for a Backend with static endpoints. */
export function backendYaml(name: string, addresses: string[], extra = ''): string {
  const endpoints = addresses.map((a) => {
    const [address, port] = a.split(':');
    return `    - { address: ${address}, port: ${port} }`;
  });
  return `apiVersion: portico.dev/v1alpha1\nkind: Backend\nmetadata: { name: ${name} }\nspec:\n  endpoints:\n${endpoints.join('\n')}\n${extra}---\n`;
}
