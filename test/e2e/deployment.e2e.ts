/**
 * What a platform team meets after `helm install`, checked on a real node where a kubelet runs the
 * image (test/k8s/cluster-e2e.sh here, test/e2e/kind.sh in users' CI):
 *
 * - the pod runs as the chart says: non-root, read-only root, only NET_BIND_SERVICE, seccomp
 *   RuntimeDefault; where the pod's processes are visible (PORTICO_E2E_NODE_LOCAL=1), the kernel's
 *   view of the running process is checked too, not only the spec;
 * - the ServiceAccount may do what the controller uses and nothing more (`kubectl auth can-i --list`);
 * - the worker count follows the container's CPU limit (PORTICO_E2E_ADMIN: the admin listener);
 * - `helm upgrade` with a changed pod template under load fails no request (maxSurge 1 on the same
 *   host ports, reusePort), and `kubectl delete pod` under load fails at most the requests in flight,
 *   while the replacement serves.
 *
 * Env: KUBECONFIG, KUBECTL, HELM (default helm), PORTICO_E2E_PROXY, PORTICO_E2E_RELEASE (portico),
 * PORTICO_E2E_NAMESPACE (portico-system), PORTICO_E2E_ADMIN, PORTICO_E2E_NODE_CPUS (cores of the node,
 * for the worker count without a limit), PORTICO_E2E_NODE_LOCAL, PORTICO_E2E_ECHO_IMAGE.
 * Figures are printed as `rollout: sent N, failed N` lines for the closing notes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { promisify } from 'node:util';
import { apply, kubectlFor, proxyGet, until } from './cluster.ts';
import { serviceOrigins } from './origins.ts';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`set ${name}`);
  return value;
};
const PROXY = env('PORTICO_E2E_PROXY');
const RELEASE = env('PORTICO_E2E_RELEASE', 'portico');
const NAMESPACE = env('PORTICO_E2E_NAMESPACE', 'portico-system');
const HELM = env('HELM', 'helm');
const CHART = new URL('../../charts/portico', import.meta.url).pathname;
const ADMIN = process.env['PORTICO_E2E_ADMIN'];
const NODE_LOCAL = process.env['PORTICO_E2E_NODE_LOCAL'] === '1';
const SELECTOR = `app.kubernetes.io/name=portico,app.kubernetes.io/instance=${RELEASE}`;

const kubectl = kubectlFor();
const ns = `portico-deploy-${randomBytes(3).toString('hex')}`;
const HOST = `load.${ns}.e2e.test`;

interface PodView {
  name: string;
  uid: string;
  ready: boolean;
  deleting: boolean;
}

async function podsOfRelease(): Promise<PodView[]> {
  const list = JSON.parse(await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', SELECTOR, '-o', 'json'])) as {
    items: Array<{
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      status: { conditions?: Array<{ type: string; status: string }> };
    }>;
  };
  return list.items.map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    deleting: p.metadata.deletionTimestamp !== undefined,
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** Waits until exactly one pod of the release is left, Ready, and it is not one of `old`. */
async function onlyNewPodReady(old: readonly string[], timeoutMs = 180_000): Promise<PodView> {
  return until(
    'one Ready pod of the release, not an old one',
    async () => {
      const pods = await podsOfRelease();
      assert.equal(pods.length, 1, JSON.stringify(pods));
      const [pod] = pods as [PodView];
      assert.ok(pod.ready && !pod.deleting && !old.includes(pod.uid), JSON.stringify(pod));
      return pod;
    },
    timeoutMs,
    250,
  );
}

async function workerCount(): Promise<number> {
  const res = await fetch(new URL('/api/v1/status', ADMIN));
  const body = (await res.json()) as { workers: Record<string, unknown> };
  return Object.keys(body.workers).length;
}

interface LoadResult {
  sent: number;
  failed: number;
  errors: Map<string, number>;
}

/**
 * Closed-loop load: `connections` clients send GETs back to back until `stop()` (or `limitMs`,
 * whatever comes first), half of them on keep-alive connections and half on a new connection per
 * request (so accept queues are exercised). Nothing is retried: every non-200 and every error counts.
 */
function startLoad(connections = 8, limitMs = 240_000): { stop(): Promise<LoadResult> } {
  const result: LoadResult = { sent: 0, failed: 0, errors: new Map() };
  const keepAlive = new Agent({ keepAlive: true, maxSockets: connections });
  const deadline = Date.now() + limitMs;
  let running = true;
  const fail = (why: string): void => {
    result.failed++;
    result.errors.set(why, (result.errors.get(why) ?? 0) + 1);
  };
  const once = (agent: Agent | false): Promise<void> =>
    new Promise((resolve) => {
      result.sent++;
      const req = request(
        new URL('/load', PROXY),
        { headers: { host: HOST }, agent, timeout: 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) fail(`status ${res.statusCode}`);
            resolve();
          });
          res.on('error', (error: NodeJS.ErrnoException) => {
            fail(error.code ?? error.message);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (error: NodeJS.ErrnoException) => {
        fail(error.code ?? error.message);
        resolve();
      });
      req.end();
    });
  const client = async (agent: Agent | false): Promise<void> => {
    while (running && Date.now() < deadline) await once(agent);
  };
  const clients = Array.from({ length: connections }, (_, i) => client(i % 2 === 0 ? keepAlive : false));
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
      keepAlive.destroy();
      return result;
    },
  };
}

const report = (what: string, r: LoadResult): string =>
  `${what}: sent ${r.sent}, failed ${r.failed}` +
  (r.errors.size > 0 ? ` (${[...r.errors].map(([k, n]) => `${k} ×${n}`).join(', ')})` : '');

/** The command lines and /proc views of the release's processes on this machine, by pod name. */
function nodeProcesses(podName: string): Array<{ pid: number; status: string; mounts: string }> {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (!environ.split('\0').includes(`PORTICO_POD_NAME=${podName}`)) continue;
      found.push({
        pid: Number(entry),
        status: readFileSync(`/proc/${entry}/status`, 'latin1'),
        mounts: readFileSync(`/proc/${entry}/mountinfo`, 'latin1'),
      });
    } catch {
      // The process ended, or is not ours to read.
    }
  }
  return found;
}

describe(`Portico as deployed by the chart (${RELEASE} in ${NAMESPACE})`, () => {
  before(async () => {
    await kubectl(['create', 'namespace', ns]);
    const origins = serviceOrigins();
    await origins.start(kubectl, ns, ['load']);
    await apply(
      kubectl,
      {
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Backend',
        metadata: { name: 'load', namespace: ns },
        spec: origins.backendSpec('load'),
      },
      {
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Route',
        metadata: { name: 'load', namespace: ns },
        spec: { hostnames: [HOST], rules: [{ backendRefs: [{ name: 'load' }] }] },
      },
    );
    await until('the load Route answers', async () => {
      assert.equal((await proxyGet(PROXY, HOST, '/load')).status, 200);
    });
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  });

  test('the pod runs non-root, read-only, with only NET_BIND_SERVICE and seccomp RuntimeDefault', async () => {
    const [pod] = await podsOfRelease();
    assert.ok(pod, 'no pod of the release');
    const spec = JSON.parse(await kubectl(['get', 'pod', pod.name, '-n', NAMESPACE, '-o', 'json'])) as {
      spec: {
        hostNetwork: boolean;
        securityContext: Record<string, unknown>;
        containers: Array<{ securityContext: Record<string, unknown> }>;
      };
    };
    assert.equal(spec.spec.hostNetwork, true);
    assert.deepEqual(spec.spec.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const container = spec.spec.containers[0]!.securityContext;
    assert.equal(container['readOnlyRootFilesystem'], true);
    assert.deepEqual(container['capabilities'], { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
    if (!NODE_LOCAL) return;
    // What the kernel says of the running processes (the primary and every worker).
    const processes = nodeProcesses(pod.name);
    assert.ok(processes.length >= 2, `expected the primary and its workers, found ${processes.length}`);
    const NET_BIND_SERVICE = 1n << 10n;
    for (const { pid, status, mounts } of processes) {
      const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
      assert.match(field('Uid'), /^65532\s+65532\s+65532\s+65532$/, `pid ${pid} Uid`);
      assert.equal(BigInt(`0x${field('CapEff')}`), NET_BIND_SERVICE, `pid ${pid} CapEff`);
      assert.equal(BigInt(`0x${field('CapBnd')}`), NET_BIND_SERVICE, `pid ${pid} CapBnd`);
      assert.equal(field('Seccomp'), '2', `pid ${pid} is not under a seccomp filter`);
      const root = mounts.split('\n').find((line) => line.split(' ')[4] === '/');
      assert.match(root ?? '', /^\S+ \S+ \S+ \S+ \/ (ro|ro,\S+) /, `pid ${pid} root mount: ${root}`);
    }
  });

  test('the ServiceAccount can do what the controller uses, and nothing more', async () => {
    const sa = `system:serviceaccount:${NAMESPACE}:${RELEASE}`;
    const rows = async (namespace: string): Promise<string[]> =>
      (await kubectl(['auth', 'can-i', '--list', `--as=${sa}`, '-n', namespace]))
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s{2,}|\t/))
        // Resource rules only; non-resource URLs (/api, /version, ...) are every account's discovery.
        .filter((cells) => !cells[0]!.startsWith('[') || cells[0] === '[]')
        .map((cells) => `${cells[0]} ${cells.at(-1)}`)
        .sort();
    const clusterWide = [
      'backends.portico.dev [get list watch]',
      'backends.portico.dev/status [get patch]',
      'endpointslices.discovery.k8s.io [get list watch]',
      'events [create patch]',
      'routes.portico.dev [get list watch]',
      'routes.portico.dev/status [get patch]',
      'secrets [get list watch]',
      // What every authenticated account may do: ask what it may do (system:basic-user), read
      // ClusterTrustBundles (system:cluster-trust-bundle-discovery).
      'clustertrustbundles.certificates.k8s.io [get list watch]',
      'selfsubjectreviews.authentication.k8s.io [create]',
      'selfsubjectaccessreviews.authorization.k8s.io [create]',
      'selfsubjectrulesreviews.authorization.k8s.io [create]',
    ].sort();
    assert.deepEqual(await rows(ns), clusterWide);
    assert.deepEqual(
      await rows(NAMESPACE),
      [...clusterWide, 'leases.coordination.k8s.io [get create update]'].sort(),
    );
  });

  test(
    'worker processes follow the CPU limit; helm upgrade under load fails no request',
    {
      skip: ADMIN === undefined ? 'PORTICO_E2E_ADMIN is not set: the admin listener is not reachable' : false,
    },
    async () => {
      const cpus = Number(env('PORTICO_E2E_NODE_CPUS'));
      await until('one worker per core without a CPU limit', async () =>
        assert.equal(await workerCount(), cpus),
      );
      const old = (await podsOfRelease()).map((p) => p.uid);
      const load = startLoad();
      try {
        // A changed pod template: a CPU limit of 1 (so one worker), rolled out with maxSurge 1.
        await promisify(execFile)(
          HELM,
          ['upgrade', RELEASE, CHART, '-n', NAMESPACE, '--reuse-values', '--set', 'resources.limits.cpu=1'],
          { env: process.env },
        );
        await onlyNewPodReady(old);
      } finally {
        const result = await load.stop();
        console.log(report('rollout (helm upgrade)', result));
        assert.ok(result.sent > 100, report('too few requests', result));
        assert.equal(result.failed, 0, report('rollout', result));
      }
      await until('one worker with a CPU limit of 1', async () => assert.equal(await workerCount(), 1));
    },
  );

  test('kubectl delete pod under load: only requests in flight may fail; the replacement serves', async () => {
    const [pod] = await podsOfRelease();
    assert.ok(pod);
    const connections = 8;
    const load = startLoad(connections);
    let result: LoadResult;
    try {
      await kubectl(['delete', 'pod', pod.name, '-n', NAMESPACE, '--wait=false']);
      await onlyNewPodReady([pod.uid]);
    } finally {
      result = await load.stop();
      console.log(report('kubectl delete pod', result));
    }
    assert.ok(result.sent > 100, report('too few requests', result));
    assert.ok(result.failed <= connections, report('more failures than requests in flight', result));
    assert.equal((await proxyGet(PROXY, HOST, '/load')).status, 200);
  });
});
