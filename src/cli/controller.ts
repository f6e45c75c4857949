/**
 * `portico controller`: the gateway over Routes and Backends watched in Kubernetes. The same data plane
 * as `portico serve` (one worker per core, RouteSet snapshots over IPC); the primary process runs the
 * Kubernetes source, status writing (leader only) and leader election.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { ConfigStore } from '../gateway/index.ts';
import { gatewayServer } from './data-plane.ts';
// The Kubernetes client is loaded by the primary only (below): workers never pay for it.
import type { KubernetesController, ControllerOptions } from '../controller/index.ts';
import type { HttpProxyService } from '../proxy/index.ts';
import type { Server } from '../server/index.ts';
import {
  DATA_PLANE_HELP,
  DATA_PLANE_OPTIONS,
  DATA_PLANE_SETTINGS,
  mergeSettings,
  resolveDataPlane,
  type DataPlaneSettings,
  type RawFlags,
} from './options.ts';

export const CONTROLLER_HELP = `Usage: portico controller [options]

Watches Route and Backend resources (portico.dev/v1alpha1), EndpointSlices and referenced Secrets, and
serves them; the elected leader writes status conditions and Events.

${DATA_PLANE_HELP}
      --kubeconfig FILE      kubeconfig (default: in-cluster service account)   KUBECONFIG
      --namespace NS         watch one namespace (default: all)                 PORTICO_WATCH_NAMESPACE
      --lease-namespace NS   namespace of the leader Lease (default: the pod's, else "default")
                                                                                PORTICO_LEASE_NAMESPACE
      --lease-name NAME      leader Lease name (default portico-leader)         PORTICO_LEASE_NAME
      --identity ID          this replica's identity (default: pod name, else hostname)
                                                                                PORTICO_POD_NAME
      --node-name NAME       node name reported on Events                       NODE_NAME
      --config FILE          YAML with the same settings (camelCase keys); flags > env > file`;

/** Flag name → environment variable. */
const CONTROLLER_SETTINGS = {
  ...DATA_PLANE_SETTINGS,
  kubeconfig: 'KUBECONFIG',
  namespace: 'PORTICO_WATCH_NAMESPACE',
  'lease-namespace': 'PORTICO_LEASE_NAMESPACE',
  'lease-name': 'PORTICO_LEASE_NAME',
  identity: 'PORTICO_POD_NAME',
  'node-name': 'NODE_NAME',
} as const;

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface ControllerSettings extends DataPlaneSettings {
  kubeconfig: string | undefined;
  namespace: string | undefined;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  nodeName: string | undefined;
}

function podNamespace(): string {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

function text(value: RawFlags[string]): string | undefined {
  return value === undefined || value === '' ? undefined : String(value);
}

/** Flags win over the environment, which wins over the config file, which wins over defaults. */
export function resolveControllerSettings(
  flags: RawFlags,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ControllerSettings {
  const merged = mergeSettings(flags, configFile, env, CONTROLLER_SETTINGS);
  return {
    ...resolveDataPlane(merged),
    kubeconfig: text(merged['kubeconfig']),
    namespace: text(merged['namespace']),
    leaseNamespace: text(merged['lease-namespace']) ?? podNamespace(),
    leaseName: text(merged['lease-name']) ?? 'portico-leader',
    identity: text(merged['identity']) ?? hostname(),
    nodeName: text(merged['node-name']),
  };
}

export interface RunningController {
  server: Server;
  /** The Kubernetes source (primary process only). */
  controller: KubernetesController | undefined;
  store: ConfigStore | undefined;
  gateway: HttpProxyService<unknown>;
}

/** Starts the controller; `overrides` tunes timings (tests shorten the lease and back-off). */
export async function startController(
  settings: ControllerSettings,
  overrides: Partial<Omit<ControllerOptions, 'clients' | 'store' | 'logger'>> = {},
  options: { signals?: boolean } = {},
): Promise<RunningController> {
  const { server, logger, gateway } = gatewayServer(settings);
  let controller: KubernetesController | undefined;
  let store: ConfigStore | undefined;
  if (server.isPrimaryProcess) {
    // Primary only: workers load neither the Kubernetes client nor the store and its validation.
    const { KubernetesController, kubeClients } = await import('../controller/index.ts');
    const { ConfigStore, registerAdminApi } = await import('../gateway/index.ts');
    store = new ConfigStore(server, logger);
    const programmed = store;
    controller = new KubernetesController({
      clients: kubeClients(settings.kubeconfig),
      store,
      logger: logger.child({ component: 'controller' }),
      namespace: settings.namespace,
      identity: settings.identity,
      nodeName: settings.nodeName,
      lease: { namespace: settings.leaseNamespace, name: settings.leaseName },
      ...overrides,
    });
    server.addService(controller);
    server.addService(store.certificateExpiryMetrics());
    // Kubernetes is the source of truth here: the admin API reads, explains and purges, but never writes.
    if (server.admin !== undefined)
      registerAdminApi(server.admin, store, { token: undefined, cacheChannel: server });
    const source = controller;
    server.addReadinessGate(
      'first Kubernetes sync served by every worker',
      () => source.ready && programmed.isProgrammed(),
    );
  }
  if (options.signals === false) await server.start();
  else await server.run();
  return { server, controller, store, gateway };
}

/** `portico controller [options]` from the command line. */
export async function controllerCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      ...DATA_PLANE_OPTIONS,
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'node-name': { type: 'string' },
      config: { type: 'string' },
    },
  });
  if (values.help) return void console.log(CONTROLLER_HELP);
  const { config, help: _help, ...flags } = values;
  await startController(resolveControllerSettings(flags, config));
}
