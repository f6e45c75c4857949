/**
 * The e2e suite on this machine, as part of `npm test`: a real kube-apiserver + etcd
 * (test/k8s/control-plane.sh), the CRDs applied with the real kubectl, a real `portico controller`
 * running as a child process (`node src/cli/main.ts controller`, one worker) as the data plane, and
 * echo origins on loopback behind Backends with static endpoints (PORTICO_E2E_ORIGIN=local).
 * The admin kubeconfig is used: no RBAC is granted or exercised here (kind.sh installs the chart's).
 * Everything is stopped after the suite, also when setup or a test fails.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WAIT_FOR_CRDS_ESTABLISHED } from '../helpers/kubectl.ts';
import { kubectlFor, until, type Kubectl } from './cluster.ts';
import { localOrigins } from './origins.ts';
import { e2eSuite } from './suite.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CONTROL_PLANE = join(ROOT, 'test/k8s/control-plane.sh');
const LOG_TAIL = 64 * 1024;

let stateDir: string | undefined;
let controller: ChildProcess | undefined;
let output = '';

/** `export K='V'` lines of the control plane's env file. */
function readEnv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z_0-9]+)='([^']*)'/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function applyCrds(kubectl: Kubectl): Promise<void> {
  await kubectl(['apply', '-f', join(ROOT, 'crds')]);
  await kubectl([...WAIT_FOR_CRDS_ESTABLISHED]);
}

function startController(kubeconfig: string, listen: number, admin: number): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'src/cli/main.ts'),
      'controller',
      '--kubeconfig',
      kubeconfig,
      '--listen',
      `127.0.0.1:${listen}`,
      '--admin',
      `127.0.0.1:${admin}`,
      '--workers',
      '1',
      '--lease-namespace',
      'default',
      '--identity',
      'e2e-local',
      '--node-name',
      'e2e-node',
      '--grace-period',
      '2s',
      '--log-level',
      process.env['PORTICO_TEST_LOG'] ?? 'info',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: kubeconfig } },
  );
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-LOG_TAIL);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return child;
}

async function waitReady(child: ChildProcess, admin: number): Promise<void> {
  await until(
    'portico controller /readyz',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`controller exited (${child.exitCode ?? child.signalCode}):\n${output}`);
      const res = await fetch(`http://127.0.0.1:${admin}/readyz`);
      if (res.status !== 200) throw new Error(`/readyz ${res.status}: ${await res.text()}`);
    },
    45_000,
    200,
  );
}

async function stopController(): Promise<void> {
  const child = controller;
  controller = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function stopControlPlane(): Promise<void> {
  const dir = stateDir;
  stateDir = undefined;
  if (dir === undefined) return;
  await promisify(execFile)(CONTROL_PLANE, ['stop', '--state-dir', dir]);
  rmSync(join(dir, '..'), { recursive: true, force: true });
}

// Last resort if the process dies without running the suite's `after` (e.g. an uncaught error).
process.once('exit', () => {
  controller?.kill('SIGKILL');
  if (stateDir !== undefined)
    try {
      execFileSync(CONTROL_PLANE, ['stop', '--state-dir', stateDir], { stdio: 'ignore' });
    } catch {
      // Nothing more to do on the way out.
    }
});

e2eSuite('portico e2e: local control plane, `portico controller` child process', {
  async setup() {
    stateDir = join(mkdtempSync(join(tmpdir(), 'portico-e2e-')), 'cp');
    await promisify(execFile)(CONTROL_PLANE, ['start', '--state-dir', stateDir]);
    const env = readEnv(join(stateDir, 'env'));
    const kubeconfig = env['KUBECONFIG']!;
    const kubectl = kubectlFor(kubeconfig, env['KUBECTL']);
    await applyCrds(kubectl);
    const [listen, admin] = [await freePort(), await freePort()];
    controller = startController(kubeconfig, listen, admin);
    await waitReady(controller, admin);
    return { kubectl, proxy: `http://127.0.0.1:${listen}`, origins: localOrigins() };
  },
  async teardown() {
    try {
      await stopController();
    } finally {
      await stopControlPlane();
    }
  },
  diagnostics: () => `portico controller output (tail):\n${output.split('\n').slice(-60).join('\n')}`,
});
