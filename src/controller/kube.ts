/**
 * The Kubernetes API clients the controller uses, made once from a kubeconfig (or the in-cluster
 * service account), plus the few helpers that turn client-node's errors into something to branch on.
 */
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { InvalidArgumentError } from '../errors.ts';

export interface KubeClients {
  readonly config: KubeConfig;
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly coordination: CoordinationV1Api;
  readonly watch: Watch;
}

/** Loads `kubeconfig` when given, else the in-cluster configuration (service account token and CA). */
export function kubeClients(kubeconfig: string | undefined): KubeClients {
  const config = new KubeConfig();
  try {
    if (kubeconfig !== undefined && kubeconfig !== '') config.loadFromFile(kubeconfig);
    else config.loadFromCluster();
  } catch (error) {
    throw new InvalidArgumentError('--kubeconfig', `cannot load: ${(error as Error).message}`);
  }
  if (config.getCurrentCluster() === null)
    throw new InvalidArgumentError('--kubeconfig', 'no current cluster in the configuration');
  return {
    config,
    custom: config.makeApiClient(CustomObjectsApi),
    core: config.makeApiClient(CoreV1Api),
    discovery: config.makeApiClient(DiscoveryV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    watch: new Watch(config),
  };
}

/** Request options that send a JSON merge patch (`application/merge-patch+json`). */
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call (client-node's ApiException `code`, a watch `statusCode`), if any. */
export function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** A short description of an API error for logs: the status code and the API server's message. */
export function describeError(error: unknown): string {
  const e = error as { code?: unknown; body?: unknown; message?: unknown } | null;
  const code = statusOf(error);
  let message = typeof e?.message === 'string' ? e.message.split('\n')[0] : String(error);
  if (typeof e?.body === 'string') {
    try {
      message = (JSON.parse(e.body) as { message?: string }).message ?? message;
    } catch {
      // not JSON: keep the exception's own message
    }
  }
  return code === undefined ? message! : `HTTP ${code}: ${message}`;
}

/** Minimal shape of any Kubernetes object as it comes off the wire. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    /** RFC 3339; custom objects arrive as plain JSON, so text, never a Date. */
    creationTimestamp?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: unknown;
  };
  [field: string]: unknown;
}

/** `namespace/name` of an object. */
export function nameOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? 'default'}/${obj.metadata?.name ?? ''}`;
}
