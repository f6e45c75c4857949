/**
 * Lease-based leader election on `coordination.k8s.io/v1` Leases, like client-go's `leaderelection`:
 * get → create when absent → renew our own lease → take over one whose holder stopped renewing. Every
 * write is a `replace` carrying the `resourceVersion` that was read, so of two contenders exactly one
 * wins (the other gets 409 Conflict). Expiry is judged by when *this* process last saw the lease change,
 * not by the holder's clock. A leader that cannot renew for `renewDeadlineMs` steps down before its
 * lease can expire elsewhere. Verbs used: leases get, create, update.
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../observability/index.ts';
import { describeError, statusOf } from './kube.ts';

/**
 * A MicroTime for the API server (`2006-01-02T15:04:05.000000Z`). client-node 2.0.1 sends a `Date` as
 * `toISOString()` (milliseconds), which the API server rejects for Lease times; its serializer passes
 * values of the unknown `V1MicroTime` type through untouched, so a preformatted string goes as is.
 */
function microTime(date: Date): Date {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  /** How long a lease is valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** How often the leader renews. Default 5 s. */
  renewIntervalMs?: number;
  /** How often a follower checks the lease. Default 2 s. */
  retryIntervalMs?: number;
  /** A leader that has not renewed for this long steps down. Default 10 s (2/3 of the lease). */
  renewDeadlineMs?: number;
  onChange: (leader: boolean) => void;
}

export class LeaderElector {
  readonly #o: Required<LeaderElectionOptions>;
  #leader = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #lastRenew = 0;
  #observed: { record: string; at: number } | undefined;

  constructor(options: LeaderElectionOptions) {
    const lease = options.leaseDurationMs ?? 15_000;
    this.#o = {
      ...options,
      leaseDurationMs: lease,
      renewIntervalMs: options.renewIntervalMs ?? Math.round(lease / 3),
      retryIntervalMs: options.retryIntervalMs ?? Math.max(Math.round(lease / 7), 100),
      renewDeadlineMs: options.renewDeadlineMs ?? Math.round((lease * 2) / 3),
    };
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Stops; a leader releases its lease (holder cleared) so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    if (!this.#leader) return;
    this.#set(false);
    try {
      const lease = await this.#o.api.readNamespacedLease({
        name: this.#o.name,
        namespace: this.#o.namespace,
      });
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      lease.spec.holderIdentity = undefined;
      lease.spec.leaseDurationSeconds = 1;
      await this.#replace(lease);
    } catch (error) {
      this.#o.logger.warn({ err: describeError(error) }, 'could not release the leader lease');
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#attempt().finally(() => {
        this.#tick = undefined;
        this.#schedule(this.#leader ? this.#o.renewIntervalMs : this.#o.retryIntervalMs);
      });
    }, ms);
  }

  async #attempt(): Promise<void> {
    try {
      this.#set(await this.#tryAcquireOrRenew());
    } catch (error) {
      this.#o.logger.warn(
        { err: describeError(error), lease: this.#o.name },
        'leader election attempt failed',
      );
      if (this.#leader && Date.now() - this.#lastRenew > this.#o.renewDeadlineMs) this.#set(false);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { api, name, namespace, identity } = this.#o;
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      return this.#write(() =>
        api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: this.#spec(now, now, 0) },
        }),
      );
    }
    const spec = lease.spec ?? {};
    if (spec.holderIdentity === identity) {
      lease.spec = { ...spec, renewTime: microTime(now), leaseDurationSeconds: this.#seconds() };
      return this.#write(() => this.#replace(lease));
    }
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (this.#observed?.record !== record) this.#observed = { record, at: Date.now() };
    const validMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    const held = spec.holderIdentity !== undefined && spec.holderIdentity !== '';
    if (held && Date.now() < this.#observed.at + validMs) return false;
    lease.spec = this.#spec(now, now, (spec.leaseTransitions ?? 0) + 1);
    return this.#write(() => this.#replace(lease));
  }

  /** Runs a create/replace; 409 Conflict (someone else wrote first) means "not leader". */
  async #write(op: () => Promise<unknown>): Promise<boolean> {
    try {
      await op();
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
    this.#lastRenew = Date.now();
    return true;
  }

  #replace(lease: V1Lease): Promise<V1Lease> {
    return this.#o.api.replaceNamespacedLease({
      name: this.#o.name,
      namespace: this.#o.namespace,
      body: lease,
    });
  }

  #spec(acquire: Date, renew: Date, transitions: number): NonNullable<V1Lease['spec']> {
    return {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: this.#seconds(),
      acquireTime: microTime(acquire),
      renewTime: microTime(renew),
      leaseTransitions: transitions,
    };
  }

  #seconds(): number {
    return Math.max(1, Math.round(this.#o.leaseDurationMs / 1000));
  }

  #set(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#o.logger.info(
      { identity: this.#o.identity, lease: this.#o.name, leader },
      leader ? 'became leader' : 'stopped leading',
    );
    this.#o.onChange(leader);
  }
}
