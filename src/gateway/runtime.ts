import { ConfigError, type FieldError } from '../errors.ts';
import { SessionAffinity, createSelector, isDnsName, type Endpoint, type Selector } from '../lb/index.ts';
import { parseDuration } from '../routing/duration.ts';
import type { Backend } from '../routing/schema.ts';
import { compileRouteTable, type RouteTable } from '../routing/table.ts';
import { HttpPeer, clientCertificateFromPem, type HttpPeerOptions } from '../upstream/index.ts';
import type { CertificateStore } from '../tls/index.ts';
import { EndpointGate, type EndpointStateOptions } from './endpoint-state.ts';
import { secretFileKey, type RouteSet, type RouteSetCore } from './route-set.ts';

type HashOn = NonNullable<Backend['spec']['loadBalancer']['hashOn']>;

/** A Backend ready for requests: one HttpPeer per endpoint and a load-balancing selector over them. */
export interface BackendRuntime {
  readonly id: string;
  readonly peers: readonly HttpPeer[];
  readonly selector: Selector;
  readonly hashOn: HashOn | undefined;
  /** Cookie session persistence, when the Backend asks for it. */
  readonly affinity: SessionAffinity | undefined;
  /** Endpoint health and ejection flags for this table, filled in from the worker's kept state. */
  readonly gate: EndpointGate;
  /** The Backend's own outlier-detection and retry-budget settings, over the worker's defaults. */
  readonly lb: EndpointStateOptions;
}

/** Everything a request needs, built together from one RouteSet so a request never mixes generations. */
export interface GatewayTable {
  readonly version: number;
  readonly routes: RouteTable;
  readonly backends: ReadonlyMap<string, BackendRuntime>;
  /** Backends that could not be built (bad PEM, a file or Secret missing); their requests answer 502. */
  readonly broken: ReadonlyMap<string, FieldError>;
  /** The Routes' certificates by SNI; undefined when compiled without a certificate cache (explain). */
  readonly certificates: CertificateStore | undefined;
}

/**
 * Compiles a RouteSet whole, without certificates: for the primary's `explain` and the CLI. Workers
 * compile from the wire form with a {@link WorkerTableCompiler}, which keeps what did not change.
 */
export function compileGatewayTable(set: RouteSet): GatewayTable {
  return assembleGatewayTable(set, compileRouteTable(set.routes, set.backends, set.version), undefined);
}

/** The Backends' runtimes built around a compiled route index. Synchronous, no I/O: the primary read every file. */
export function assembleGatewayTable(
  set: RouteSetCore,
  routes: RouteTable,
  certificates: CertificateStore | undefined,
): GatewayTable {
  const backends = new Map<string, BackendRuntime>();
  const broken = new Map<string, FieldError>();
  for (const backend of set.backends) {
    const id = backendIdOf(backend);
    try {
      backends.set(id, buildBackend(id, backend, set));
    } catch (error) {
      const first = error instanceof ConfigError ? error.errors[0] : undefined;
      broken.set(
        id,
        first ?? {
          object: `Backend ${id}`,
          path: 'spec',
          message: (error as Error).message,
          reason: 'InvalidBackend',
        },
      );
    }
  }
  return Object.freeze({ version: set.version, routes, backends, broken, certificates });
}

/** A Backend's id, `namespace/name`, the key of its runtime, health and metrics. */
export function backendIdOf(backend: Backend): string {
  return `${backend.metadata.namespace ?? 'default'}/${backend.metadata.name}`;
}

/** An endpoint as the gateway dials it; `name` is the DNS name its address was resolved from. */
export interface GatewayEndpoint extends Endpoint {
  readonly name?: string;
}

/**
 * A Backend's endpoints: its static list — a DNS name there stands for every address it resolved
 * to, each with the endpoint's weight — else what discovery found for it (maybe none).
 */
export function backendEndpoints(
  id: string,
  backend: Backend,
  set: RouteSetCore,
): readonly GatewayEndpoint[] {
  const endpoints = backend.spec.endpoints;
  if (endpoints === undefined) return set.discovered[id] ?? [];
  return endpoints.flatMap(({ address, port, weight }) => {
    const addresses = set.resolved[address];
    if (addresses === undefined) return [{ id: `${address}:${port}`, address, port, weight }];
    return addresses.map((ip) => ({ id: `${ip}:${port}`, address: ip, port, weight, name: address }));
  });
}

/** Backends' static endpoints named by DNS name rather than IP: what the primary keeps resolved. */
export function dnsNamesOf(backends: readonly Backend[]): Set<string> {
  const names = new Set<string>();
  for (const backend of backends)
    for (const e of backend.spec.endpoints ?? []) if (isDnsName(e.address)) names.add(e.address);
  return names;
}

function buildBackend(id: string, backend: Backend, set: RouteSetCore): BackendRuntime {
  const spec = backend.spec;
  const endpoints = backendEndpoints(id, backend, set);
  const base = peerOptions(id, backend, set);
  const peers = endpoints.map(
    (e) =>
      new HttpPeer({
        ...base,
        // A resolved address still presents (and verifies) the name it was resolved from.
        sni: base.tls === true ? (base.sni ?? e.name) : undefined,
        address: e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`,
      }),
  );
  const selector = createSelector(spec.loadBalancer.policy, endpoints);
  const gate = new EndpointGate(endpoints);
  const affinity = sessionAffinity(id, endpoints, spec.loadBalancer.sessionPersistence);
  const lb = lbSettings(spec);
  return Object.freeze({ id, peers, selector, hashOn: spec.loadBalancer.hashOn, affinity, gate, lb });
}

/** `spec.outlierDetection` and `spec.retryBudget` in the lb library's terms; absent ones stay absent. */
function lbSettings({
  outlierDetection: outlier,
  retryBudget: budget,
}: Backend['spec']): EndpointStateOptions {
  return {
    outlier: outlier && {
      consecutive5xx: outlier.consecutive5xx,
      consecutiveConnectFailures: outlier.consecutiveConnectFailures,
      baseEjectionTimeMs: parseDuration(outlier.baseEjectionTime),
      maxEjectionTimeMs: parseDuration(outlier.maxEjectionTime),
      maxEjectionPercent: outlier.maxEjectionPercent,
    },
    budget: budget && { budgetPercent: budget.percent, minRetryConcurrency: budget.minRetryConcurrency },
  };
}

function sessionAffinity(
  id: string,
  endpoints: readonly Endpoint[],
  persistence: Backend['spec']['loadBalancer']['sessionPersistence'],
): SessionAffinity | undefined {
  if (persistence === undefined) return undefined;
  const timeout = persistence.absoluteTimeout;
  return new SessionAffinity(id, endpoints, {
    name: persistence.sessionName,
    maxAgeSeconds: timeout === undefined ? undefined : Math.ceil(parseDuration(timeout)! / 1000),
  });
}

function peerOptions(id: string, backend: Backend, set: RouteSetCore): Omit<HttpPeerOptions, 'address'> {
  const { protocol } = backend.spec;
  if (protocol === 'HTTP') return {};
  // HTTP/2 with prior knowledge: nothing to negotiate without TLS.
  if (protocol === 'H2C') return { alpn: 'h2' };
  const { sni, verify, ca, cert, key } = backendTls(id, backend, set);
  return {
    tls: true,
    sni,
    verify,
    ca,
    clientCertificate:
      cert !== undefined && key !== undefined
        ? clientCertificateFromPem(cert, key, `Backend ${id} spec.tls`)
        : undefined,
    alpn: protocol === 'H2' ? 'h2' : 'h1',
  };
}

/** What a Backend's `spec.tls` says, with its PEM files and Secret entries read from the RouteSet. */
export interface BackendTls {
  readonly sni: string | undefined;
  readonly verify: boolean;
  readonly ca: string | undefined;
  /** The client certificate and its key (mTLS), both or neither. */
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/**
 * A Backend's TLS settings as its peers and its health checks both use them; throws a ConfigError
 * naming the field whose file or Secret entry is missing.
 */
export function backendTls(id: string, backend: Backend, set: RouteSetCore): BackendTls {
  const tls = backend.spec.tls;
  const object = `Backend ${id}`;
  const file = (path: string | undefined, field: string): string | undefined => {
    if (path === undefined) return undefined;
    const pem = set.files[path];
    if (pem === undefined)
      throw new ConfigError([
        { object, path: `spec.tls.${field}`, message: `file ${path} was not loaded`, reason: 'FileNotFound' },
      ]);
    return pem;
  };
  const namespace = backend.metadata.namespace ?? 'default';
  const secret = (ref: { name: string } | undefined, entry: string, field: string): string | undefined => {
    if (ref === undefined) return undefined;
    const pem = set.files[secretFileKey(namespace, ref.name, entry)];
    if (pem === undefined)
      throw new ConfigError([
        {
          object,
          path: `spec.tls.${field}.name`,
          message: `Secret ${namespace}/${ref.name} (entry ${entry}) is not available`,
          reason: 'SecretNotFound',
        },
      ]);
    return pem;
  };
  const certRef = tls?.clientCertSecretRef;
  return {
    sni: tls?.sni,
    verify: tls?.verify ?? true,
    ca:
      tls?.caSecretRef !== undefined
        ? secret(tls.caSecretRef, 'ca.crt', 'caSecretRef')
        : file(tls?.caFile, 'caFile'),
    cert:
      certRef !== undefined
        ? secret(certRef, 'tls.crt', 'clientCertSecretRef')
        : file(tls?.clientCertFile, 'clientCertFile'),
    key:
      certRef !== undefined
        ? secret(certRef, 'tls.key', 'clientCertSecretRef')
        : file(tls?.keyFile, 'keyFile'),
  };
}
