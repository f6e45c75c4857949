import type { BackgroundService, MessageChannel } from '../server/service.ts';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import type { FieldError } from '../errors.ts';
import type { Logger } from '../observability/index.ts';
import type { Gauge, Labelled } from '../observability/metric-set.ts';
import {
  routeConflicts,
  validateObjects,
  type Backend,
  type PorticoObject,
  type Route,
} from '../routing/index.ts';
import { CertificateEntryCache, sharedTicketKeys } from '../tls/index.ts';
import { compileCertificates, routeTlsFileKeys, type CompiledCertificates } from './certificates.ts';
import { HealthMonitor } from './health-monitor.ts';
import { dnsNamesOf } from './runtime.ts';
import { DnsDiscovery, sameAddresses, type DnsDiscoveryOptions, type Endpoint } from '../lb/index.ts';
import type { RouteSet } from './route-set.ts';
import { EMPTY_ROUTE_SET, SECRET_KEY_PREFIX, secretFileKey, toWire } from './route-set.ts';

/** The string entries of Secrets (`data`, base64-decoded), by `namespace/name`. */
export type SecretData = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** Everything a watching source knows, applied as one change (one version). */
export interface SourceSnapshot {
  docs: readonly unknown[];
  discovered: Record<string, readonly Endpoint[]>;
  secrets: SecretData;
}

/** What one change did: the version it produced and every problem, per object. */
export interface ApplyReport {
  version: number;
  accepted: string[];
  rejected: Array<{ object: string; errors: readonly FieldError[]; servingPrevious: boolean }>;
  unresolvedRefs: readonly FieldError[];
  fileErrors: FieldError[];
  /**
   * Matches of accepted Routes that another Route's identical match shadows on a hostname
   * (`RuleMatchConflict`, naming the winner); the Routes stay accepted and serve everything else.
   */
  conflicts: readonly FieldError[];
}

export interface WorkerAck {
  version: number;
  compileMs: number;
}

export interface ConfigStoreOptions {
  /** DNS resolution of static endpoints named by DNS name (servers, TTL bounds); system resolver by default. */
  dns?: Omit<DnsDiscoveryOptions, 'onChange' | 'onError'>;
}

/** How the store reaches workers; `Server` provides it (broadcast over IPC, or locally with no workers). */
export type SnapshotChannel = Pick<MessageChannel, 'broadcast' | 'onMessage' | 'workers'>;

/** `Kind namespace/name` of a raw document, when it has enough shape to tell. */
export function objectKey(doc: unknown): string | undefined {
  const o = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  if (typeof o?.kind !== 'string' || typeof o.metadata?.name !== 'string') return undefined;
  const ns = typeof o.metadata.namespace === 'string' ? o.metadata.namespace : 'default';
  return `${o.kind} ${ns}/${o.metadata.name}`;
}

/**
 * The primary's desired configuration. Every change is validated; an object that fails keeps serving its
 * last valid version (reported as `servingPrevious`), so a bad edit never takes down a good route. Each
 * change is published as a new RouteSet version to every worker, which acknowledges what it serves.
 */
export class ConfigStore {
  readonly #channel: SnapshotChannel;
  readonly #logger: Logger;
  #docs = new Map<string, unknown>();
  #lastGood = new Map<string, PorticoObject>();
  #discovered: Record<string, readonly Endpoint[]> = {};
  #secrets: SecretData = {};
  #current: RouteSet = EMPTY_ROUTE_SET;
  /** Route keys of the last broadcast: what a delta may leave out. */
  #broadcastKeys: ReadonlySet<number> = new Set();
  #lastReport: ApplyReport | undefined;
  readonly #acks = new Map<number, WorkerAck>();
  readonly #waiters: Array<{ version: number; resolve: () => void }> = [];
  /** Publishes run one at a time, so versions are strictly increasing and never reused. */
  #queue: Promise<unknown> = Promise.resolve();
  /** The node's active health checks, one per Backend with `spec.healthCheck`, rebuilt with each version. */
  readonly health: HealthMonitor;
  /** Checked certificates, kept across versions so unchanged ones are not parsed again. */
  readonly #certificates = new CertificateEntryCache(sharedTicketKeys());
  #expiries: CompiledCertificates['expiries'] = [];
  #expiryGauge: Labelled<Gauge> | undefined;

  /** Keeps the DNS names of static endpoints resolved; see `dnsNamesOf`. */
  readonly #dns: DnsDiscovery;
  /** True once a data plane asked for tables: only then is anything probed or resolved. */
  #serving = false;

  constructor(channel: SnapshotChannel, logger: Logger, options: ConfigStoreOptions = {}) {
    this.#channel = channel;
    this.#logger = logger;
    this.health = new HealthMonitor(channel, logger.child({ component: 'health' }));
    this.#dns = new DnsDiscovery({
      ...options.dns,
      onChange: (name, answer) => {
        if (!sameAddresses(this.#current.resolved[name], answer.addresses)) void this.#publish();
      },
      onError: (name, error) =>
        logger.warn({ name, err: error.message }, 'DNS lookup failed; keeping the last addresses'),
    });
    channel.onMessage('routeset-request', (_body, workerId) => {
      this.#acks.delete(workerId);
      if (this.#current.version > 0) this.#broadcast('full');
      this.health.activate();
      this.health.rebroadcast();
      if (!this.#serving) {
        this.#serving = true;
        void this.#dns.track(dnsNamesOf(this.#current.backends));
      }
    });
    channel.onMessage('routeset-ack', (body, workerId) => this.#onAck(workerId, body as WorkerAck));
  }

  get current(): RouteSet {
    return this.#current;
  }

  get lastReport(): ApplyReport | undefined {
    return this.#lastReport;
  }

  /** The version each worker last acknowledged (worker 0 in single-process mode). */
  get acks(): ReadonlyMap<number, WorkerAck> {
    return this.#acks;
  }

  /** The raw documents as given (for `GET /api/v1/routeset`). */
  documents(): unknown[] {
    return [...this.#docs.values()];
  }

  /** Stops the health checks (their timers are unref'd, so this matters only to embedders and tests). */
  close(): void {
    this.health.stop();
    this.#dns.close();
  }

  /** True when every worker serves the current version. */
  isProgrammed(): boolean {
    if (this.#current.version === 0) return false;
    return this.#workerIds().every((id) => (this.#acks.get(id)?.version ?? 0) >= this.#current.version);
  }

  /** Resolves once every worker serves `version` (or a later one). */
  programmed(version: number): Promise<void> {
    if (this.#current.version >= version && this.isProgrammed()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ version, resolve }));
  }

  /** Replaces the whole configuration (a file reload, `PUT /api/v1/routeset`). */
  async replace(docs: readonly unknown[]): Promise<ApplyReport> {
    this.#docs = this.#keepUnchanged(keyed(docs));
    return this.#publish();
  }

  /** Creates or updates the given objects, leaving others alone (`PATCH /api/v1/routeset`). */
  async apply(docs: readonly unknown[]): Promise<ApplyReport> {
    for (const [key, doc] of this.#keepUnchanged(keyed(docs))) this.#docs.set(key, doc);
    return this.#publish();
  }

  /**
   * `next`, with every document equal to the one it replaces swapped for the old object. Validation
   * is memoised per object and workers keep compiled Routes per validated object, so a file reload
   * that edits one of 10,000 documents validates and compiles one.
   */
  #keepUnchanged(next: Map<string, unknown>): Map<string, unknown> {
    for (const [key, doc] of next) {
      const previous = this.#docs.get(key);
      if (previous !== undefined && previous !== doc && isDeepStrictEqual(previous, doc))
        next.set(key, previous);
    }
    return next;
  }

  /** Deletes objects by key (`Route ns/name`); returns those that existed. */
  async remove(keys: readonly string[]): Promise<{ removed: string[]; report: ApplyReport }> {
    const removed = keys.filter((k) => this.#docs.delete(k));
    for (const key of removed) this.#lastGood.delete(key);
    return { removed, report: await this.#publish() };
  }

  /** Endpoints found by service discovery; published with the next change. */
  async setDiscovered(discovered: Record<string, readonly Endpoint[]>): Promise<ApplyReport> {
    this.#discovered = discovered;
    return this.#publish();
  }

  /** Secrets that Backends may reference (`caSecretRef`, `clientCertSecretRef`); published with the next change. */
  async setSecrets(secrets: SecretData): Promise<ApplyReport> {
    this.#secrets = secrets;
    return this.#publish();
  }

  /** Replaces documents, discovered endpoints and Secrets together, as one version (the Kubernetes source). */
  async replaceSnapshot(snapshot: SourceSnapshot): Promise<ApplyReport> {
    this.#docs = this.#keepUnchanged(keyed(snapshot.docs));
    this.#discovered = snapshot.discovered;
    this.#secrets = snapshot.secrets;
    return this.#publish();
  }

  #publish(): Promise<ApplyReport> {
    const next = this.#queue.then(() => this.#build());
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #build(): Promise<ApplyReport> {
    const started = performance.now();
    const docs = [...this.#docs.values()];
    let result = validateObjects(docs);
    const servingPrevious = new Set<string>();
    for (const rejected of result.rejected) {
      const key = objectKey(rejected.object);
      if (key !== undefined && this.#lastGood.has(key)) servingPrevious.add(key);
    }
    if (servingPrevious.size > 0) {
      // Validate again with the last good version in place of each rejected one, so references resolve.
      const substituted = docs.map((d) => {
        const key = objectKey(d);
        return key !== undefined && servingPrevious.has(key) ? this.#lastGood.get(key) : d;
      });
      const rejected = result.rejected;
      result = { ...validateObjects(substituted), rejected };
    }
    for (const object of result.ok) this.#lastGood.set(objectKey(object)!, object);
    const { files, errors: fileErrors } = await loadReferencedFiles(result.routes, result.backends);
    addSecretFiles(result.routes, result.backends, this.#secrets, files, fileErrors);
    // The same check every worker makes, so a Route whose certificate cannot be served says why.
    const certificates = compileCertificates(result.routes, files, this.#certificates);
    fileErrors.push(...certificates.errors);
    this.#expiries = certificates.expiries;
    this.#showExpiries();
    const names = dnsNamesOf(result.backends);
    // New names are looked up before this version goes out, so it carries their addresses.
    if (this.#serving) await this.#dns.track(names);
    const resolved: Record<string, readonly string[]> = {};
    for (const name of names) {
      const answer = this.#dns.answer(name);
      if (answer !== undefined) resolved[name] = answer.addresses;
    }
    const version = this.#current.version + 1;
    this.#current = Object.freeze({
      version,
      routes: result.routes,
      backends: result.backends,
      files,
      discovered: this.#discovered,
      resolved,
    });
    const report: ApplyReport = {
      version,
      accepted: result.ok.map((o) => objectKey(o)!),
      rejected: result.rejected.map((r) => {
        const key = objectKey(r.object);
        return {
          object: r.errors[0]?.object ?? key ?? 'unknown object',
          errors: r.errors,
          servingPrevious: key !== undefined && servingPrevious.has(key),
        };
      }),
      unresolvedRefs: result.unresolvedRefs,
      fileErrors,
      conflicts: routeConflicts(result.routes),
    };
    this.#lastReport = report;
    this.#log(report, performance.now() - started);
    this.#broadcast('delta');
    this.health.update(this.#current);
    return report;
  }

  /**
   * A primary service that, once started, reports each Route certificate's expiry on the process's
   * `certificateNotAfter` gauge: one cell per Route and origin, replaced with every version.
   */
  certificateExpiryMetrics(): BackgroundService {
    return {
      kind: 'background',
      name: 'certificate-expiry-metrics',
      runsIn: 'primary',
      start: (context) => {
        this.#expiryGauge = context.metrics.certificateNotAfter;
        this.#showExpiries();
        return Promise.resolve();
      },
      stop: () => Promise.resolve(),
    };
  }

  #showExpiries(): void {
    const gauge = this.#expiryGauge;
    if (gauge === undefined) return;
    gauge.cells.clear();
    for (const { route, origin, notAfterMs } of this.#expiries)
      gauge.labels(`Route ${route}: ${origin}`).set(notAfterMs / 1000);
  }

  /**
   * Sends the current set to every worker. A delta carries texts only for Routes the previous
   * broadcast lacked — every live worker has the rest; a worker that started since asks for `full`.
   */
  #broadcast(form: 'full' | 'delta'): void {
    const wire = toWire(this.#current, form === 'full' ? undefined : this.#broadcastKeys);
    this.#broadcastKeys = new Set(wire.routeKeys);
    this.#channel.broadcast('routeset', wire);
  }

  #log(report: ApplyReport, ms: number): void {
    for (const r of report.rejected) {
      for (const e of r.errors) {
        this.#logger.warn(
          { object: e.object, field: e.path, reason: e.reason, servingPrevious: r.servingPrevious },
          e.message,
        );
      }
    }
    for (const e of [...report.unresolvedRefs, ...report.fileErrors, ...report.conflicts]) {
      this.#logger.warn({ object: e.object, field: e.path, reason: e.reason }, e.message);
    }
    this.#logger.info(
      {
        version: report.version,
        accepted: report.accepted.length,
        rejected: report.rejected.length,
        buildMs: Math.round(ms * 10) / 10,
      },
      'routing configuration published',
    );
  }

  #onAck(workerId: number, ack: WorkerAck): void {
    this.#acks.set(workerId, ack);
    if (!this.isProgrammed()) return;
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]!.version <= this.#current.version) this.#waiters.splice(i, 1)[0]!.resolve();
    }
  }

  #workerIds(): number[] {
    const n = this.#channel.workers;
    return n === 0 ? [0] : Array.from({ length: n }, (_, i) => i + 1);
  }
}

function keyed(docs: readonly unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  let anonymous = 0;
  // Documents without a usable key still go to validation, which explains what is missing.
  for (const doc of docs) map.set(objectKey(doc) ?? `?${anonymous++}`, doc);
  return map;
}

/** Reads the PEM files Backends and Routes reference, in parallel; a missing file becomes a field error. */
async function loadReferencedFiles(
  routes: readonly Route[],
  backends: readonly Backend[],
): Promise<{ files: Record<string, string>; errors: FieldError[] }> {
  const wanted = new Map<string, { object: string; path: string }>();
  for (const b of backends) {
    const object = `Backend ${b.metadata.namespace ?? 'default'}/${b.metadata.name}`;
    const tls = b.spec.tls;
    if (tls?.caFile) wanted.set(tls.caFile, { object, path: 'spec.tls.caFile' });
    if (tls?.clientCertFile) wanted.set(tls.clientCertFile, { object, path: 'spec.tls.clientCertFile' });
    if (tls?.keyFile) wanted.set(tls.keyFile, { object, path: 'spec.tls.keyFile' });
  }
  for (const r of routes) {
    const object = `Route ${r.metadata.namespace ?? 'default'}/${r.metadata.name}`;
    for (const { key, path } of routeTlsFileKeys(r))
      if (!key.startsWith(SECRET_KEY_PREFIX)) wanted.set(key, { object, path });
  }
  const files: Record<string, string> = {};
  const errors: FieldError[] = [];
  await Promise.all(
    [...wanted].map(async ([file, where]) => {
      try {
        files[file] = await readFile(file, 'utf8');
      } catch (error) {
        errors.push({
          ...where,
          message: `cannot read ${file}: ${(error as Error).message}`,
          reason: 'FileNotFound',
        });
      }
    }),
  );
  return { files, errors };
}

/**
 * Copies the Secret entries objects reference into `files` (keys from `secretFileKey`): for a Backend,
 * `ca.crt` (or `tls.crt`) for `caSecretRef`, `tls.crt` and `tls.key` for `clientCertSecretRef`; for a
 * Route, `tls.crt` and `tls.key` of each `certificateRefs` Secret and `ca.crt` (or `tls.crt`) for
 * `clientValidation.caSecretRef`. A missing Secret or entry becomes a field error (`SecretNotFound`):
 * the worker then answers that Backend's traffic with 502, or serves no certificate for that Route.
 */
function addSecretFiles(
  routes: readonly Route[],
  backends: readonly Backend[],
  secrets: SecretData,
  files: Record<string, string>,
  errors: FieldError[],
): void {
  const copy = (
    object: string,
    ns: string,
    ref: { name: string },
    field: string,
    keys: Array<[string, ...string[]]>,
  ): void => {
    const data = secrets[`${ns}/${ref.name}`];
    for (const [target, ...sources] of keys) {
      const value = data === undefined ? undefined : [target, ...sources].map((k) => data[k]).find(Boolean);
      if (value !== undefined) {
        files[secretFileKey(ns, ref.name, target)] = value;
        continue;
      }
      errors.push({
        object,
        path: `${field}.name`,
        message:
          data === undefined
            ? `Secret ${ns}/${ref.name} not found`
            : `Secret ${ns}/${ref.name} has no ${[target, ...sources].join(' or ')} entry`,
        reason: 'SecretNotFound',
      });
      return;
    }
  };
  for (const b of backends) {
    const tls = b.spec.tls;
    if (tls === undefined) continue;
    const ns = b.metadata.namespace ?? 'default';
    const object = `Backend ${ns}/${b.metadata.name}`;
    if (tls.caSecretRef !== undefined) copy(object, ns, tls.caSecretRef, 'spec.tls.caSecretRef', CA_ENTRIES);
    if (tls.clientCertSecretRef !== undefined)
      copy(object, ns, tls.clientCertSecretRef, 'spec.tls.clientCertSecretRef', KEY_PAIR_ENTRIES);
  }
  for (const r of routes) {
    const tls = r.spec.tls;
    if (tls === undefined) continue;
    const ns = r.metadata.namespace ?? 'default';
    const object = `Route ${ns}/${r.metadata.name}`;
    tls.certificateRefs?.forEach((ref, i) =>
      copy(object, ns, ref, `spec.tls.certificateRefs[${i}]`, KEY_PAIR_ENTRIES),
    );
    const ca = tls.clientValidation?.caSecretRef;
    if (ca !== undefined) copy(object, ns, ca, 'spec.tls.clientValidation.caSecretRef', CA_ENTRIES);
  }
}

/** A CA bundle: `ca.crt`, or `tls.crt` for Secrets that carry only a certificate. */
const CA_ENTRIES: Array<[string, ...string[]]> = [['ca.crt', 'tls.crt']];
/** A `kubernetes.io/tls` Secret's certificate and key. */
const KEY_PAIR_ENTRIES: Array<[string, ...string[]]> = [['tls.crt'], ['tls.key']];
