/**
 * The Helm chart, manifests/install.yaml and manifests/examples, checked with real binaries:
 * helm lint and template, the values schema, drift against crds/ and against a fresh render, and
 * `kubectl apply --dry-run=server` against a real kube-apiserver (test/k8s/control-plane.sh), so
 * Kubernetes itself validates every field. helm and kubectl come from the control plane's env file.
 *
 *   npx node --test 'test/chart/*.test.ts'
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { WAIT_FOR_CRDS_ESTABLISHED } from '../helpers/kubectl.ts';
import { renderConfigDoc } from './gen-config-doc.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'charts/portico');
const CONTROL_PLANE = join(ROOT, 'test/k8s/control-plane.sh');
const NAMESPACE = 'portico-system';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let work = '';
let stateDir = '';
let env: NodeJS.ProcessEnv = process.env;

/** Runs a command; never rejects, so a test can assert on the exit code and output. */
function run(file: string, args: readonly string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env, cwd: ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(file: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(file, args, input);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const helm = (...args: string[]): Promise<string> => ok(env.HELM!, args);
const kubectl = (...args: string[]): Promise<string> => ok(env.KUBECTL!, args);

/** `helm template` with the defaults, plus `--set` pairs; returns the parsed objects. */
async function render(...sets: string[]): Promise<K8sObject[]> {
  const args = ['template', 'portico', CHART, '--namespace', NAMESPACE];
  for (const s of sets) args.push('--set', s);
  return parseObjects(await helm(...args));
}

function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(found, `no ${kind}${name ? ` ${name}` : ''} in ${objects.map((o) => o.kind).join(', ')}`);
  return found;
}

interface Container {
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: unknown[];
  livenessProbe: { httpGet: { path: string; port: number; host?: string } };
  readinessProbe: { httpGet?: { path: string; port: number; host?: string }; exec?: { command: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
  resources?: { limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}

interface PodSpec {
  hostNetwork: boolean;
  dnsPolicy: string;
  terminationGracePeriodSeconds: number;
  priorityClassName?: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes?: Record<string, unknown>[];
}

function daemonSet(objects: K8sObject[]): { spec: Record<string, unknown>; pod: PodSpec; c: Container } {
  const ds = find(objects, 'DaemonSet') as unknown as {
    spec: { template: { spec: PodSpec } } & Record<string, unknown>;
  };
  const pod = ds.spec.template.spec;
  return { spec: ds.spec, pod, c: pod.containers[0]! };
}

function envOf(c: Container): Record<string, string> {
  return Object.fromEntries(
    c.env.map((e) => [e.name, e.value ?? `fieldRef:${e.valueFrom?.fieldRef?.fieldPath ?? '?'}`]),
  );
}

/** Parses the control plane's env file: lines of the form export K='V'. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replaceAll(`'\\''`, `'`);
  }
  return out;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'portico-chart-test-'));
  stateDir = join(work, 'control-plane');
  const started = await run(CONTROL_PLANE, ['start', '--state-dir', stateDir]);
  assert.equal(started.code, 0, `control plane did not start:\n${started.stderr}`);
  env = { ...process.env, ...parseEnvFile(await readFile(join(stateDir, 'env'), 'utf8')) };
  assert.ok(env.HELM && env.KUBECTL && env.KUBECONFIG, 'env file lacks HELM, KUBECTL or KUBECONFIG');
});

after(async () => {
  if (stateDir !== '') await run(CONTROL_PLANE, ['stop', '--state-dir', stateDir]);
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe('chart: helm', () => {
  test('helm lint --strict passes, with the defaults and with every option on', async () => {
    await helm('lint', '--strict', CHART);
    await helm(
      'lint',
      '--strict',
      CHART,
      '--set',
      'metrics.podMonitor.enabled=true,metrics.serviceMonitor.enabled=true,watchNamespace=apps,priorityClassName=x',
    );
  });

  test('the default render is exactly these objects', async () => {
    const kinds = (await render()).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      'ClusterRole/portico',
      'ClusterRoleBinding/portico',
      'DaemonSet/portico',
      'Role/portico-leader-election',
      'RoleBinding/portico-leader-election',
      'ServiceAccount/portico',
    ]);
  });

  test('RBAC grants exactly what the controller needs; Leases through a namespaced Role', async () => {
    const objects = await render();
    assert.deepEqual(find(objects, 'ClusterRole').rules, [
      { apiGroups: ['portico.dev'], resources: ['routes', 'backends'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: ['portico.dev'],
        resources: ['routes/status', 'backends/status'],
        verbs: ['get', 'patch'],
      },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const role = find(objects, 'Role');
    assert.equal(role.metadata.namespace, NAMESPACE);
    assert.deepEqual(role.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    ]);
    const subjects = find(objects, 'ClusterRoleBinding').subjects;
    assert.deepEqual(subjects, [{ kind: 'ServiceAccount', name: 'portico', namespace: NAMESPACE }]);
  });

  test('the DaemonSet: hostNetwork, surge upgrades, probes, grace period, downward API, hardening', async () => {
    const { spec, pod, c } = daemonSet(await render());
    assert.deepEqual(spec.updateStrategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    // Drain (30) + handover wait (15) + 5.
    assert.equal(pod.terminationGracePeriodSeconds, 50);
    // A declared port would become a hostPort and block the surge pod (kubernetes#106417).
    assert.equal(c.ports, undefined);
    assert.deepEqual(c.args, ['controller']);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 9901 });
    // The surge pod shares the admin address on hostNetwork: readiness is a file in the pod's own volume.
    assert.deepEqual(c.readinessProbe.exec, { command: ['test', '-f', '/run/portico/ready'] });
    assert.equal(c.readinessProbe.httpGet, undefined);
    assert.deepEqual(c.volumeMounts, [{ name: 'run', mountPath: '/run/portico' }]);
    assert.deepEqual(pod.volumes, [{ name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }]);
    assert.deepEqual(envOf(c), {
      NODE_NAME: 'fieldRef:spec.nodeName',
      PORTICO_POD_NAME: 'fieldRef:metadata.name',
      POD_NAMESPACE: 'fieldRef:metadata.namespace',
      POD_IP: 'fieldRef:status.podIP',
      PORTICO_LISTEN: '0.0.0.0:80',
      PORTICO_TLS_LISTEN: '0.0.0.0:443',
      PORTICO_ADMIN: '$(POD_IP):9901',
      PORTICO_WORKERS: 'auto',
      PORTICO_GRACE_PERIOD: '30s',
      PORTICO_HANDOVER_WAIT: '15s',
      PORTICO_READINESS_FILE: '/run/portico/ready',
      PORTICO_ACCESS_LOG: 'true',
      PORTICO_LOG_LEVEL: 'info',
      PORTICO_LEASE_NAMESPACE: NAMESPACE,
      PORTICO_LEASE_NAME: 'portico-leader',
    });
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // Port 80 as uid 65532 needs the image's file capability, which no_new_privs would void.
    assert.deepEqual(c.securityContext, {
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: true,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    });
  });

  test('options: grace period, unprivileged ports, admin address, namespace scope, CPU limit', async () => {
    const objects = await render(
      'gracePeriodSeconds=60',
      'listeners[0].name=http,listeners[0].address=0.0.0.0,listeners[0].port=8080',
      'listeners[1].name=alt,listeners[1].address=127.0.0.1,listeners[1].port=8081',
      'admin.address=127.0.0.1',
      'workers=3',
      'watchNamespace=apps',
      'leaderElection.namespace=kube-system',
      'priorityClassName=system-node-critical',
      'resources.limits.cpu=2',
    );
    const { pod, c } = daemonSet(objects);
    const e = envOf(c);
    assert.equal(pod.terminationGracePeriodSeconds, 80);
    assert.equal(e.PORTICO_GRACE_PERIOD, '60s');
    assert.equal(e.PORTICO_LISTEN, '0.0.0.0:8080,127.0.0.1:8081');
    assert.equal(e.PORTICO_ADMIN, '127.0.0.1:9901');
    assert.equal(e.PORTICO_WORKERS, '3');
    assert.equal(e.PORTICO_WATCH_NAMESPACE, 'apps');
    assert.equal(e.PORTICO_LEASE_NAMESPACE, 'kube-system');
    assert.equal(c.livenessProbe.httpGet.host, '127.0.0.1');
    assert.equal(c.securityContext.allowPrivilegeEscalation, false, 'no port below 1024: no escalation');
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.equal(String(c.resources?.limits?.cpu), '2');
    assert.equal(find(objects, 'RoleBinding', 'portico').metadata.namespace, 'apps');
    assert.ok(
      !objects.some((o) => o.kind === 'ClusterRoleBinding'),
      'namespace scope: no ClusterRoleBinding',
    );
    assert.equal(find(objects, 'Role').metadata.namespace, 'kube-system');
  });

  test('without hostNetwork: an HTTP readiness probe, no handover wait, no readiness file', async () => {
    const { pod, c } = daemonSet(await render('hostNetwork=false', 'handoverWaitSeconds=20'));
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 9901 });
    assert.equal(c.readinessProbe.exec, undefined);
    assert.equal(pod.terminationGracePeriodSeconds, 35);
    const e = envOf(c);
    assert.equal(e.PORTICO_HANDOVER_WAIT, undefined);
    assert.equal(e.PORTICO_READINESS_FILE, undefined);
    assert.equal(pod.volumes, undefined);
  });

  test('PodMonitor and ServiceMonitor are off by default and render when enabled', async () => {
    const objects = await render('metrics.podMonitor.enabled=true', 'metrics.serviceMonitor.enabled=true');
    assert.equal(find(objects, 'PodMonitor').apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(find(objects, 'ServiceMonitor').apiVersion, 'monitoring.coreos.com/v1');
    const svc = find(objects, 'Service', 'portico-metrics') as unknown as { spec: { clusterIP: string } };
    assert.equal(svc.spec.clusterIP, 'None');
  });

  for (const [set, path] of [
    ['workers=-1', '/workers'],
    ['workers=many', '/workers'],
    ['replicas=2', "'replicas' not allowed"],
    ['listeners[0].port=70000', '/listeners/0/port'],
    ['logLevel=loud', '/logLevel'],
    ['image.digest=latest', '/image/digest'],
  ] as const) {
    test(`values.schema.json rejects --set ${set}`, async () => {
      const r = await run(env.HELM!, ['template', 'portico', CHART, '--set', set]);
      assert.notEqual(r.code, 0, `helm template --set ${set} should fail`);
      assert.match(r.stderr, new RegExp(path.replace(/[[\]/.]/g, '\\$&')));
    });
  }
});

describe('chart: drift', () => {
  test('charts/portico/crds are identical copies of crds/', async () => {
    const want = (await readdir(join(ROOT, 'crds'))).filter((f) => f.endsWith('.yaml')).sort();
    const have = (await readdir(join(CHART, 'crds'))).sort();
    assert.deepEqual(have, want, 'the chart must carry exactly the CRDs in crds/');
    for (const f of want) {
      const [a, b] = await Promise.all([
        readFile(join(ROOT, 'crds', f), 'utf8'),
        readFile(join(CHART, 'crds', f), 'utf8'),
      ]);
      assert.ok(
        a === b,
        `charts/portico/crds/${f} differs from crds/${f}: run  cp crds/*.yaml charts/portico/crds/`,
      );
    }
  });

  test('manifests/install.yaml equals a fresh render of the chart', async () => {
    const fresh = await ok(join(ROOT, 'test/chart/render.sh'), ['--stdout']);
    const committed = await readFile(join(ROOT, 'manifests/install.yaml'), 'utf8');
    assert.ok(fresh === committed, 'manifests/install.yaml is stale: run  test/chart/render.sh');
  });

  test('docs/configuration.md equals a fresh render of crds/', async () => {
    const fresh = await renderConfigDoc(ROOT);
    const committed = await readFile(join(ROOT, 'docs/configuration.md'), 'utf8');
    assert.ok(
      fresh === committed,
      'docs/configuration.md is stale: run  npx node test/chart/gen-config-doc.ts',
    );
  });
});

describe('kube-apiserver validates the manifests (kubectl apply --dry-run=server)', () => {
  const installObjects = async (): Promise<K8sObject[]> =>
    parseObjects(await readFile(join(ROOT, 'manifests/install.yaml'), 'utf8'));

  test('the Namespace and the CRDs of install.yaml apply for real and become Established', async () => {
    const first = (await installObjects()).filter(
      (o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition',
    );
    assert.equal(first.length, 3);
    const file = join(work, 'namespace-and-crds.yaml');
    await writeFile(file, first.map((o) => JSON.stringify(o)).join('\n---\n'));
    await kubectl('apply', '--validate=strict', '-f', file);
    await kubectl(...WAIT_FOR_CRDS_ESTABLISHED);
  });

  test('every object of manifests/install.yaml passes server-side dry-run', async () => {
    const out = await kubectl(
      'apply',
      '--dry-run=server',
      '--validate=strict',
      '-f',
      join(ROOT, 'manifests/install.yaml'),
    );
    for (const o of await installObjects()) {
      assert.match(out, new RegExp(`${o.metadata.name} (created|unchanged|configured) \\(server dry run\\)`));
    }
  });

  test('a render with every option on (but the Prometheus Operator objects) passes dry-run', async () => {
    await kubectl('create', 'namespace', 'apps');
    const objects = (
      await render(
        'watchNamespace=apps',
        'priorityClassName=system-node-critical',
        'resources.limits.cpu=2,resources.limits.memory=1Gi',
        'listeners[0].name=http,listeners[0].address=0.0.0.0,listeners[0].port=8080',
        'admin.address=127.0.0.1',
        'metrics.serviceMonitor.enabled=true',
        'tolerations[0].operator=Exists',
        'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=edge',
        'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
        'image.digest=sha256:' + 'a'.repeat(64),
        'hostNetwork=false',
      )
    ).filter((o) => o.apiVersion !== 'monitoring.coreos.com/v1');
    const file = join(work, 'all-options.yaml');
    await writeFile(file, objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file);
  });

  test('manifests/examples pass server-side dry-run and `portico validate`', async () => {
    await kubectl('create', 'namespace', 'examples');
    const out = await kubectl(
      'apply',
      '--dry-run=server',
      '--validate=strict',
      '-n',
      'examples',
      '-f',
      join(ROOT, 'manifests/examples'),
    );
    assert.match(out, /route\.portico\.dev\/basic-app created \(server dry run\)/);
    assert.match(out, /backend\.portico\.dev\/billing created \(server dry run\)/);
    const validated = await ok(process.execPath, [
      join(ROOT, 'src/cli/main.ts'),
      'validate',
      '-f',
      join(ROOT, 'manifests/examples'),
    ]);
    assert.match(validated, /0 rejected; 0 unresolved/);
  });

  test('what `kubectl get -o yaml` prints of applied Routes and Backends passes `portico validate`', async () => {
    await kubectl('create', 'namespace', 'roundtrip');
    await kubectl('apply', '-n', 'roundtrip', '-f', join(ROOT, 'manifests/examples/basic.yaml'));
    // A v1 List with server fields (uid, resourceVersion, managedFields, status): a file users keep.
    const listed = await kubectl(
      'get',
      'routes.portico.dev,backends.portico.dev',
      '-n',
      'roundtrip',
      '-o',
      'yaml',
    );
    assert.match(listed, /^apiVersion: v1\nitems:/);
    const dir = await mkdtemp(join(tmpdir(), 'portico-roundtrip-'));
    try {
      await writeFile(join(dir, 'listed.yaml'), listed);
      const validated = await ok(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'validate', '-f', dir]);
      assert.match(
        validated,
        /[1-9]\d* Route\(s\) and [1-9]\d* Backend\(s\) valid; 0 rejected; 0 unresolved/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the first Route that NOTES.txt tells users to apply passes dry-run', async () => {
    const notes = await helm('install', 'portico', CHART, '--namespace', NAMESPACE, '--dry-run=client');
    const block = /Your first Route:[^\n]*\n[^\n]*\n\n((?: {2}.*\n|\n)+?)\nThen:/.exec(notes);
    assert.ok(block, `NOTES.txt has no first-Route example:\n${notes}`);
    const yaml = block[1]!.replace(/^ {2}/gm, '');
    const out = await ok(env.KUBECTL!, ['apply', '--dry-run=server', '--validate=strict', '-f', '-'], yaml);
    assert.match(out, /backend\.portico\.dev\/web created \(server dry run\)/);
    assert.match(out, /route\.portico\.dev\/web created \(server dry run\)/);
  });
});
