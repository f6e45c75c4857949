/**
 * Test support for the controller: a real control plane (etcd + kube-apiserver via control-plane.sh),
 * real kubectl, and a Portico controller with its data plane in this process (workers: 0).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startController, type RunningController } from '../../src/cli/controller.ts';
import type { ControllerOptions } from '../../src/controller/index.ts';
import { WAIT_FOR_CRDS_ESTABLISHED } from '../helpers/kubectl.ts';
import { eventually } from '../helpers/process.ts';
import { get, type SimpleResponse } from '../helpers/servers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'test/k8s/control-plane.sh');

export interface ControlPlane {
  dir: string;
  env: Record<string, string>;
  kubeconfig: string;
  kubectl(args: string[], input?: string): string;
  apply(yaml: string): void;
  /** Stops kube-apiserver (etcd keeps running) and returns a function that starts it again, same port. */
  stopApiServer(): Promise<() => Promise<void>>;
  stop(): void;
}

function readEnv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z_0-9]+)='([^']*)'/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Resolves when `port` on 127.0.0.1 can be bound (and releases it at once); rejects otherwise. */
function portBindable(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return / [ZX] /.test(stat.slice(stat.lastIndexOf(')')));
  } catch {
    return true;
  }
}

export function startControlPlane(): Promise<ControlPlane> {
  const dir = join(mkdtempSync(join(tmpdir(), 'portico-k8s-')), 'cp');
  execFileSync(SCRIPT, ['start', '--state-dir', dir], { stdio: 'pipe' });
  const env = readEnv(join(dir, 'env'));
  const kubectl = (args: string[], input?: string): string =>
    execFileSync(env['KUBECTL']!, args, {
      input,
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: env['KUBECONFIG'] },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  let apiserverPid = Number(env['PORTICO_K8S_APISERVER_PID']);
  const cp: ControlPlane = {
    dir,
    env,
    kubeconfig: env['KUBECONFIG']!,
    kubectl,
    apply: (yaml) => void kubectl(['apply', '-f', '-'], yaml),
    async stopApiServer() {
      const argv = readFileSync(`/proc/${apiserverPid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      process.kill(apiserverPid, 'SIGKILL');
      await eventually(() => exited(apiserverPid) || fail('still running'), 20_000, 'kube-apiserver exit');
      // A killed multi-threaded process reads as a zombie while its other threads still hold the
      // listening socket; the restart needs the port itself to be free.
      const port = Number(argv.find((a) => a.startsWith('--secure-port='))?.split('=')[1]);
      await eventually(() => portBindable(port), 20_000, `port ${port} free`);
      return async () => {
        const log = openSync(join(dir, 'kube-apiserver.log'), 'a');
        const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
        child.unref();
        apiserverPid = child.pid!;
        await eventually(() => void kubectl(['get', '--raw', '/readyz']), 30_000, 'kube-apiserver ready');
      };
    },
    stop: () => void execFileSync(SCRIPT, ['stop', '--state-dir', dir], { stdio: 'pipe' }),
  };
  return Promise.resolve(cp);
}

function fail(message: string): never {
  throw new Error(message);
}

/** Applies crds/*.yaml with kubectl (as generated: no field is completed here) and waits until they are established. */
export function applyCrds(cp: ControlPlane): void {
  const docs = readdirSync(join(ROOT, 'crds'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(join(ROOT, 'crds', f), 'utf8'));
  cp.apply(docs.join('---\n'));
  cp.kubectl([...WAIT_FOR_CRDS_ESTABLISHED]);
}

export interface TestController extends RunningController {
  port: number;
  tlsPort: number;
  request(host: string, path?: string): Promise<SimpleResponse>;
  stop(): Promise<void>;
}

/** A controller with its data plane in this process on 127.0.0.1:0; short timings for tests. */
export async function startTestController(
  cp: ControlPlane,
  identity: string,
  overrides: Partial<Omit<ControllerOptions, 'clients' | 'store' | 'logger'>> = {},
): Promise<TestController> {
  const running = await startController(
    {
      listen: ['127.0.0.1:0'],
      tlsListen: ['127.0.0.1:0'],
      h2c: false,
      admin: false,
      workers: 0,
      gracePeriodMs: 1_000,
      handoverWaitMs: 0,
      readinessFile: undefined,
      accessLog: false,
      logLevel: process.env['PORTICO_TEST_LOG'] ?? 'silent',
      kubeconfig: cp.kubeconfig,
      namespace: undefined,
      leaseNamespace: 'default',
      leaseName: 'portico-leader',
      identity,
      nodeName: 'test-node',
    },
    {
      lease: {
        namespace: 'default',
        name: 'portico-leader',
        durationMs: 6_000,
        renewIntervalMs: 500,
        retryIntervalMs: 250,
      },
      maxBackoffMs: 1_000,
      ...overrides,
    },
    { signals: false },
  );
  const port = running.gateway.ports[0]!;
  return {
    ...running,
    port,
    tlsPort: running.gateway.tlsPorts[0]!,
    request: (host, path = '/') => get(`http://127.0.0.1:${port}${path}`, { headers: { host } }),
    stop: () => running.server.stop(1_000),
  };
}

/** The conditions on an object, as kubectl shows them. */
export function conditions(
  cp: ControlPlane,
  kind: 'route' | 'backend',
  name: string,
  namespace = 'default',
): Record<string, { status: string; reason: string; message: string; observedGeneration?: number }> {
  const obj = JSON.parse(cp.kubectl(['get', kind, name, '-n', namespace, '-o', 'json'])) as {
    status?: {
      conditions?: Array<{
        type: string;
        status: string;
        reason: string;
        message: string;
        observedGeneration?: number;
      }>;
    };
  };
  return Object.fromEntries((obj.status?.conditions ?? []).map((c) => [c.type, c]));
}

export function backendYaml(name: string, spec: Record<string, unknown>, namespace = 'default'): string {
  return stringify({
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Backend',
    metadata: { name, namespace },
    spec,
  });
}

export function routeYaml(
  name: string,
  host: string,
  backend: string,
  extra: Record<string, unknown> = {},
  namespace = 'default',
): string {
  return stringify({
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Route',
    metadata: { name, namespace },
    spec: { hostnames: [host], rules: [{ ...extra, backendRefs: [{ name: backend }] }] },
  });
}

export { eventually };

/**
 * A non-loopback IPv4 address of this machine: EndpointSlices refuse 127.0.0.0/8, so origins that
 * stand behind a Service listen here (still local traffic; nothing leaves the host).
 */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return fail('no non-loopback IPv4 address for EndpointSlice origins');
}

/** A plain HTTP origin on `address`:0 answering `body`. */
export async function originOn(
  address: string,
  body: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createHttpServer((_req, res) => res.end(body));
  server.listen(0, address);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
