/**
 * What the e2e suite needs from "a cluster with Portico in it", and nothing more: a kubectl (with a
 * kubeconfig) and the proxy's address. Everything here talks to real processes: `kubectl` through
 * execFile, the proxy over plain HTTP.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

export interface Kubectl {
  /** Runs kubectl; rejects with its stderr when it exits non-zero. */
  (args: string[], input?: string): Promise<string>;
}

/** kubectl from `$KUBECTL` (else the one on PATH), with `kubeconfig` (else `$KUBECONFIG`). */
export function kubectlFor(kubeconfig = process.env['KUBECONFIG'], bin = process.env['KUBECTL']): Kubectl {
  const env = { ...process.env, ...(kubeconfig === undefined ? {} : { KUBECONFIG: kubeconfig }) };
  return (args, input) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        bin ?? 'kubectl',
        args,
        { env, maxBuffer: 16 << 20, timeout: 60_000 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || error.message}`));
          else resolve(stdout);
        },
      );
      child.stdin?.end(input);
    });
}

/**
 * `kubectl apply -f -` of Kubernetes objects given as plain objects, one YAML document each (JSON is
 * YAML). Not a `kind: List`: kubectl validates List items on the client against the published
 * OpenAPI, where fields the API server would default (Backend `loadBalancer`, endpoint `weight`)
 * count as missing.
 */
export async function apply(kubectl: Kubectl, ...objects: object[]): Promise<void> {
  await kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
}

export interface ProxyResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET `path` through the proxy at `proxy` (e.g. http://127.0.0.1:8080) for virtual host `host`. */
export function proxyGet(
  proxy: string,
  host: string,
  path = '/',
  headers: Record<string, string> = {},
): Promise<ProxyResponse> {
  const url = new URL(path, proxy);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'GET', headers: { ...headers, host }, agent: false, timeout: 5_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${host}${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The default deadline of one wait; raise it on slow clusters. */
export const TIMEOUT_MS = Number(process.env['PORTICO_E2E_TIMEOUT_MS'] ?? 30_000);

/**
 * Retries `check` every `intervalMs` until it passes or `timeoutMs` has passed, then fails with the
 * last error. Observes state; never sleeps for a guessed amount of time.
 */
export async function until<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = TIMEOUT_MS,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline)
        throw new Error(`${what}: not reached in ${timeoutMs} ms: ${(error as Error).message}`, {
          cause: error,
        });
    }
    await delay(intervalMs);
  }
}
