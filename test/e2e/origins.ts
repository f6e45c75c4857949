/**
 * "Where do my origins live": the one part of the e2e suite that depends on the cluster.
 *
 * - `local` (default): echo servers on loopback in this process; Backends list them as static
 *   `endpoints`. Works wherever the proxy runs on this machine (the local control plane, `npm test`).
 * - `kind`: a Deployment + Service per origin (test/e2e/manifests/echo.yaml, running echo-server.ts from
 *   a ConfigMap); Backends name the Service, so Portico follows its EndpointSlices. Needs a cluster
 *   with a kube-controller-manager and a kubelet (kind, or any real cluster).
 *
 * Choose with PORTICO_E2E_ORIGIN. Every origin answers JSON (see echo-server.ts) naming itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, type Kubectl } from './cluster.ts';
import { startEcho, type EchoServer } from './echo-server.ts';

const HERE = new URL('.', import.meta.url).pathname;

export interface Origins {
  readonly mode: string;
  /** Starts (or deploys into `namespace`) one origin per name; resolves once each can answer. */
  start(kubectl: Kubectl, namespace: string, names: readonly string[]): Promise<void>;
  /** The Backend `spec` that reaches origin `name`. */
  backendSpec(name: string): Record<string, unknown>;
  /** Stops what `start` started (namespace-scoped objects go with the namespace). */
  stop(): Promise<void>;
}

/** Loopback echo servers; Backends with static endpoints. */
export function localOrigins(address = '127.0.0.1'): Origins {
  const servers = new Map<string, EchoServer>();
  return {
    mode: 'local',
    async start(_kubectl, _namespace, names) {
      for (const name of names) servers.set(name, await startEcho(name, address));
    },
    backendSpec(name) {
      const server = servers.get(name);
      if (server === undefined) throw new Error(`origin ${name} was not started`);
      return { endpoints: [{ address, port: server.port }], protocol: 'HTTP' };
    },
    async stop() {
      await Promise.all([...servers.values()].map((s) => s.close()));
      servers.clear();
    },
  };
}

const ECHO_PORT = 8080;

/** An echo Deployment + Service per origin in the test namespace; Backends with `service:`. */
export function serviceOrigins(image = process.env['PORTICO_E2E_ECHO_IMAGE'] ?? 'portico:e2e'): Origins {
  return {
    mode: 'kind',
    async start(kubectl, namespace, names) {
      const script = readFileSync(join(HERE, 'echo-server.ts'), 'utf8');
      await apply(kubectl, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'e2e-echo', namespace },
        data: { 'echo-server.ts': script },
      });
      const template = readFileSync(join(HERE, 'manifests/echo.yaml'), 'utf8');
      for (const name of names) {
        const manifest = template
          .replaceAll('ECHO_NAME_VALUE', name)
          .replaceAll('ECHO_IMAGE', image)
          .replaceAll('ECHO_PORT', String(ECHO_PORT));
        await kubectl(['apply', '-n', namespace, '-f', '-'], manifest);
      }
      for (const name of names)
        await kubectl(['rollout', 'status', '-n', namespace, `deployment/echo-${name}`, '--timeout=180s']);
    },
    backendSpec(name) {
      return { service: { name: `echo-${name}`, port: ECHO_PORT }, protocol: 'HTTP' };
    },
    async stop() {
      // Deployments, Services and the ConfigMap are deleted with the namespace.
    },
  };
}

/** The origins PORTICO_E2E_ORIGIN asks for. */
export function originsFromEnv(mode = process.env['PORTICO_E2E_ORIGIN'] ?? 'local'): Origins {
  if (mode === 'local') return localOrigins();
  if (mode === 'kind' || mode === 'service') return serviceOrigins();
  throw new Error(`PORTICO_E2E_ORIGIN=${mode}: expected "local" or "kind"`);
}
