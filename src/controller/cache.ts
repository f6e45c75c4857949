/**
 * The controller's view of the cluster, after Contour's `cache.go`: every insert and delete answers
 * "does this change routing?", so status-only updates, resyncs that bring nothing new and slices of
 * Services no Backend names never cause a rebuild. It keeps only what routing needs: Routes and
 * Backends as received (their status too, to skip unchanged status writes), EndpointSlices reduced to
 * ready addresses, and the data of Secrets that Routes and Backends reference.
 */
import type { Endpoint } from '../lb/index.ts';
import { API_VERSION } from '../routing/index.ts';
import { nameOf, type KubeObject } from './kube.ts';

export type CachedKind = 'Route' | 'Backend';

/** One EndpointSlice, reduced: which Service, and its ready endpoints per port. */
interface SlimSlice {
  service: string;
  ports: ReadonlyArray<{ name: string; port: number }>;
  addresses: readonly string[];
  fingerprint: string;
}

/** What one rebuild hands to the ConfigStore, plus the generation of every object in it. */
export interface CacheSnapshot {
  docs: unknown[];
  discovered: Record<string, readonly Endpoint[]>;
  secrets: Record<string, Record<string, string>>;
  generations: Map<string, number>;
}

interface SpecOf {
  spec?: unknown;
  metadata?: { generation?: number };
}

function sameSpec(a: SpecOf | undefined, b: SpecOf): boolean {
  if (a === undefined) return false;
  if (a.metadata?.generation !== undefined && a.metadata.generation !== b.metadata?.generation) return false;
  return JSON.stringify(a.spec) === JSON.stringify(b.spec);
}

/** A cached object (as received, minus bookkeeping) and the slim document validation and workers see. */
interface CachedObject {
  readonly obj: KubeObject;
  readonly doc: unknown;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what the controller never reads and what can double an object's size: managedFields and
 * kubectl's last-applied annotation (a second copy of the whole object).
 */
function withoutBookkeeping(obj: KubeObject): KubeObject {
  const meta = obj.metadata;
  if (meta === undefined) return obj;
  const {
    managedFields: _managed,
    annotations,
    ...rest
  } = meta as typeof meta & { managedFields?: unknown; annotations?: Record<string, string> };
  let kept = annotations;
  if (annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _lastApplied, ...others } = annotations;
    kept = others;
  }
  return {
    ...obj,
    metadata: (kept === undefined ? rest : { ...rest, annotations: kept }) as KubeObject['metadata'],
  };
}

/**
 * Only what validation and the data plane read: no managedFields, annotations or status over IPC.
 * `creationTimestamp` is kept: it decides ties between Routes of different namespaces (the oldest
 * wins, Gateway API), for matches and certificates alike.
 */
function documentOf(kind: CachedKind, obj: KubeObject): unknown {
  const meta = obj.metadata ?? {};
  return {
    apiVersion: obj.apiVersion ?? API_VERSION,
    kind,
    metadata: {
      name: meta.name,
      namespace: meta.namespace ?? 'default',
      generation: meta.generation ?? 0,
      ...(meta.creationTimestamp === undefined ? {} : { creationTimestamp: meta.creationTimestamp }),
    },
    spec: obj['spec'],
  };
}

export class ControllerCache {
  readonly #objects: Record<CachedKind, Map<string, CachedObject>> = { Route: new Map(), Backend: new Map() };
  readonly #slices = new Map<string, SlimSlice>();
  readonly #secrets = new Map<string, Record<string, string>>();

  /** The object as last received (with its status), by `Kind ns/name`. */
  get(key: string): KubeObject | undefined {
    const space = key.indexOf(' ');
    const kind = key.slice(0, space) as CachedKind;
    return this.#objects[kind]?.get(key.slice(space + 1))?.obj;
  }

  /** Every cached Route and Backend key (`Kind ns/name`). */
  *keys(): IterableIterator<string> {
    for (const kind of ['Route', 'Backend'] as const)
      for (const name of this.#objects[kind].keys()) yield `${kind} ${name}`;
  }

  upsert(kind: CachedKind, obj: KubeObject): boolean {
    const map = this.#objects[kind];
    const name = nameOf(obj);
    const before = map.get(name);
    const trimmed = withoutBookkeeping(obj);
    const unchanged = sameSpec(before?.obj, trimmed);
    // The same document object while the spec is unchanged (status writes, resyncs), so validation,
    // which is remembered per document, runs again only for objects that really changed.
    map.set(name, { obj: trimmed, doc: unchanged ? before!.doc : documentOf(kind, trimmed) });
    return !unchanged;
  }

  remove(kind: CachedKind, obj: KubeObject): boolean {
    return this.#objects[kind].delete(nameOf(obj));
  }

  replace(kind: CachedKind, items: KubeObject[]): boolean {
    const map = this.#objects[kind];
    const fresh = new Set(items.map(nameOf));
    let changed = false;
    for (const name of map.keys()) {
      if (!fresh.has(name)) changed = map.delete(name) || changed;
    }
    for (const obj of items) changed = this.upsert(kind, obj) || changed;
    return changed;
  }

  /** Services (`ns/name`) that some Backend discovers through EndpointSlices. */
  referencedServices(): Set<string> {
    const out = new Set<string>();
    for (const [name, { obj: b }] of this.#objects.Backend) {
      const service = (b as { spec?: { service?: { name?: string } } }).spec?.service?.name;
      if (typeof service === 'string') out.add(`${name.slice(0, name.indexOf('/'))}/${service}`);
    }
    return out;
  }

  /**
   * Secrets (`ns/name`) that objects reference: a Backend's `tls.caSecretRef` / `clientCertSecretRef`, a
   * Route's `tls.certificateRefs` and `tls.clientValidation.caSecretRef`.
   */
  referencedSecrets(): Set<string> {
    const out = new Set<string>();
    const add = (name: string, ref: unknown): void => {
      const secret = (ref as { name?: unknown } | undefined)?.name;
      if (typeof secret === 'string') out.add(`${name.slice(0, name.indexOf('/'))}/${secret}`);
    };
    for (const [name, { obj: b }] of this.#objects.Backend) {
      const tls = (b as { spec?: { tls?: Record<string, unknown> } }).spec?.tls;
      add(name, tls?.caSecretRef);
      add(name, tls?.clientCertSecretRef);
    }
    for (const [name, { obj: r }] of this.#objects.Route) {
      const tls = (
        r as { spec?: { tls?: { certificateRefs?: unknown; clientValidation?: { caSecretRef?: unknown } } } }
      ).spec?.tls;
      if (Array.isArray(tls?.certificateRefs)) for (const ref of tls.certificateRefs) add(name, ref);
      add(name, tls?.clientValidation?.caSecretRef);
    }
    return out;
  }

  upsertSlice(obj: KubeObject): boolean {
    const slim = slimSlice(obj);
    const key = nameOf(obj);
    const before = this.#slices.get(key);
    if (slim === undefined) return this.removeSlice(obj);
    this.#slices.set(key, slim);
    if (before?.fingerprint === slim.fingerprint) return false;
    const services = this.referencedServices();
    return services.has(slim.service) || (before !== undefined && services.has(before.service));
  }

  removeSlice(obj: KubeObject): boolean {
    const key = nameOf(obj);
    const before = this.#slices.get(key);
    this.#slices.delete(key);
    return before !== undefined && this.referencedServices().has(before.service);
  }

  replaceSlices(items: KubeObject[]): boolean {
    const fresh = new Set(items.map(nameOf));
    let changed = false;
    for (const key of this.#slices.keys()) {
      if (!fresh.has(key)) changed = this.removeSlice({ metadata: splitName(key) }) || changed;
    }
    for (const obj of items) changed = this.upsertSlice(obj) || changed;
    return changed;
  }

  /** Stores a referenced Secret's entries (decoded); true when they changed. */
  setSecret(name: string, data: Record<string, string> | undefined): boolean {
    const before = this.#secrets.get(name);
    if (data === undefined) return this.#secrets.delete(name);
    this.#secrets.set(name, data);
    return before === undefined || JSON.stringify(before) !== JSON.stringify(data);
  }

  /** Forgets a Secret that no object references any more. */
  dropSecret(name: string): void {
    this.#secrets.delete(name);
  }

  /** The documents, endpoints and Secrets to publish, with the generation of every object. */
  snapshot(): CacheSnapshot {
    const docs: unknown[] = [];
    const generations = new Map<string, number>();
    for (const kind of ['Backend', 'Route'] as const) {
      for (const [name, { obj, doc }] of this.#objects[kind]) {
        generations.set(`${kind} ${name}`, obj.metadata?.generation ?? 0);
        docs.push(doc);
      }
    }
    return { docs, discovered: this.#discovered(), secrets: Object.fromEntries(this.#secrets), generations };
  }

  #discovered(): Record<string, readonly Endpoint[]> {
    const byService = new Map<string, SlimSlice[]>();
    for (const slice of this.#slices.values()) {
      const list = byService.get(slice.service) ?? [];
      list.push(slice);
      byService.set(slice.service, list);
    }
    const out: Record<string, readonly Endpoint[]> = {};
    for (const [name, { obj: b }] of this.#objects.Backend) {
      const service = (b as { spec?: { service?: { name?: string; port?: number } } }).spec?.service;
      if (typeof service?.name !== 'string') continue;
      const ns = name.slice(0, name.indexOf('/'));
      out[name] = endpointsFor(byService.get(`${ns}/${service.name}`) ?? [], service.port);
    }
    return out;
  }
}

function splitName(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * The port a Backend's `service.port` selects in a slice. Without read access to Services the
 * controller cannot map a Service port to its target port, so it takes the slice port with that
 * number, else the slice's only port.
 */
function pickPort(slice: SlimSlice, port: number | undefined): number | undefined {
  const exact = slice.ports.find((p) => p.port === port);
  if (exact !== undefined) return exact.port;
  return slice.ports.length === 1 ? slice.ports[0]!.port : undefined;
}

function endpointsFor(slices: readonly SlimSlice[], port: number | undefined): Endpoint[] {
  const out = new Map<string, Endpoint>();
  for (const slice of slices) {
    const target = pickPort(slice, port);
    if (target === undefined) continue;
    for (const address of slice.addresses) {
      const id = `${address}:${target}`;
      out.set(id, { id, address, port: target, weight: 1 });
    }
  }
  return [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

interface RawSlice {
  addressType?: string;
  metadata?: { namespace?: string; labels?: Record<string, string> };
  ports?: Array<{ name?: string; port?: number }> | null;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean | null; terminating?: boolean | null };
  }> | null;
}

/** Ready, non-terminating addresses only: terminating endpoints drain and get no new requests. */
function slimSlice(obj: KubeObject): SlimSlice | undefined {
  const raw = obj as RawSlice;
  const service = raw.metadata?.labels?.['kubernetes.io/service-name'];
  if (service === undefined || raw.addressType === 'FQDN') return undefined;
  const ports = (raw.ports ?? [])
    .filter((p): p is { name?: string; port: number } => typeof p.port === 'number')
    .map((p) => ({ name: p.name ?? '', port: p.port }));
  const addresses: string[] = [];
  for (const e of raw.endpoints ?? []) {
    if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
    addresses.push(...(e.addresses ?? []).slice(0, 1));
  }
  addresses.sort();
  const full = `${raw.metadata?.namespace ?? 'default'}/${service}`;
  return { service: full, ports, addresses, fingerprint: JSON.stringify([full, ports, addresses]) };
}
