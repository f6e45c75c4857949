/**
 * DNS discovery: endpoints named by a DNS name are resolved to every address the name has, and
 * resolved again when the answer's TTL runs out, so load balancing spreads over all of them and
 * follows changes (a blue/green flip, a scaled-out service) without a restart. A failed lookup keeps
 * the last good addresses and retries with back-off: a resolver outage never empties a backend.
 */
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';

/** One name's current answer. */
export interface DnsAnswer {
  readonly addresses: readonly string[];
  /** When the answer was last refreshed successfully, `Date.now()`. */
  readonly resolvedAt: number;
}

export interface DnsDiscoveryOptions {
  /** DNS servers (`host` or `host:port`); default: the system's (from /etc/resolv.conf). */
  servers?: string[];
  /** A TTL below this is raised to it, so a zero-TTL name cannot cause a query storm. Default 1 000 ms. */
  minTtlMs?: number;
  /** A TTL above this is lowered to it, so changes show within a bound. Default 300 000 ms. */
  maxTtlMs?: number;
  /** First retry delay after a failed lookup, doubled up to `maxTtlMs`. Default 1 000 ms. */
  retryMs?: number;
  /** Per-query timeout. Default 2 000 ms. */
  timeoutMs?: number;
  /** Called when a name's addresses change (not on refreshes that return the same set). */
  onChange?: (name: string, answer: DnsAnswer) => void;
  /** Called when a lookup fails; the previous answer stays. */
  onError?: (name: string, error: Error) => void;
}

interface Tracked {
  answer: DnsAnswer | undefined;
  timer: NodeJS.Timeout | undefined;
  failures: number;
  /** The first lookup, awaited by `track`. */
  first: Promise<void>;
}

/** True for a name that needs resolving (not an IPv4 or IPv6 literal). */
export function isDnsName(address: string): boolean {
  return isIP(address) === 0;
}

/**
 * Keeps the names it is told to track resolved (A and AAAA), each on the schedule its TTL sets. Run
 * it once per node (the gateway runs it in the primary) and hand the answers to the workers.
 */
export class DnsDiscovery {
  readonly #resolver: Resolver;
  readonly #minTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #retryMs: number;
  readonly #onChange: DnsDiscoveryOptions['onChange'];
  readonly #onError: DnsDiscoveryOptions['onError'];
  readonly #names = new Map<string, Tracked>();
  #closed = false;

  constructor(options: DnsDiscoveryOptions = {}) {
    this.#resolver = new Resolver({ timeout: options.timeoutMs ?? 2_000, tries: 2 });
    if (options.servers !== undefined) this.#resolver.setServers(options.servers);
    this.#minTtlMs = options.minTtlMs ?? 1_000;
    this.#maxTtlMs = options.maxTtlMs ?? 300_000;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#onChange = options.onChange;
    this.#onError = options.onError;
  }

  /** The current answer for a name, if a lookup ever succeeded. */
  answer(name: string): DnsAnswer | undefined {
    return this.#names.get(name)?.answer;
  }

  /**
   * Tracks exactly `names` from now on: new ones are looked up (the promise resolves once each has
   * been tried once), names no longer given are forgotten.
   */
  async track(names: Iterable<string>): Promise<void> {
    const wanted = new Set(names);
    for (const [name, tracked] of this.#names) {
      if (wanted.has(name)) continue;
      clearTimeout(tracked.timer);
      this.#names.delete(name);
    }
    const firsts: Array<Promise<void>> = [];
    for (const name of wanted) {
      let tracked = this.#names.get(name);
      if (tracked === undefined) {
        tracked = { answer: undefined, timer: undefined, failures: 0, first: Promise.resolve() };
        this.#names.set(name, tracked);
        tracked.first = this.#refresh(name, tracked);
      }
      firsts.push(tracked.first);
    }
    await Promise.all(firsts);
  }

  close(): void {
    this.#closed = true;
    for (const tracked of this.#names.values()) clearTimeout(tracked.timer);
    this.#names.clear();
  }

  async #refresh(name: string, tracked: Tracked): Promise<void> {
    let delay: number;
    try {
      const { addresses, ttlMs } = await this.#lookup(name);
      if (this.#names.get(name) !== tracked) return;
      tracked.failures = 0;
      const changed = !sameAddresses(tracked.answer?.addresses, addresses);
      tracked.answer = { addresses, resolvedAt: Date.now() };
      if (changed) this.#onChange?.(name, tracked.answer);
      delay = Math.min(this.#maxTtlMs, Math.max(this.#minTtlMs, ttlMs));
    } catch (error) {
      if (this.#names.get(name) !== tracked) return;
      tracked.failures++;
      this.#onError?.(name, error as Error);
      delay = Math.min(this.#maxTtlMs, this.#retryMs * 2 ** (tracked.failures - 1));
    }
    if (this.#closed) return;
    tracked.timer = setTimeout(() => void this.#refresh(name, tracked), delay).unref();
  }

  /** A and AAAA together; the TTL is the smallest of the records'. An empty answer is a failure. */
  async #lookup(name: string): Promise<{ addresses: string[]; ttlMs: number }> {
    const [v4, v6] = await Promise.allSettled([
      this.#resolver.resolve4(name, { ttl: true }),
      this.#resolver.resolve6(name, { ttl: true }),
    ]);
    const records = [
      ...(v4.status === 'fulfilled' ? v4.value : []),
      ...(v6.status === 'fulfilled' ? v6.value : []),
    ];
    if (records.length === 0) {
      const reason = v4.status === 'rejected' ? (v4.reason as Error) : undefined;
      throw reason ?? new Error(`${name} has no A or AAAA records`);
    }
    const addresses = [...new Set(records.map((r) => r.address))].sort();
    const ttlMs = Math.min(...records.map((r) => r.ttl)) * 1000;
    return { addresses, ttlMs };
  }
}

/** Equal sorted address lists; undefined (never resolved) equals nothing. */
export function sameAddresses(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
