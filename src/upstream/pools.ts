import type { Dispatcher, Pool as PoolType } from 'undici';
import Pool from 'undici/lib/dispatcher/pool.js';
import { peerTlsOptions } from './connect.ts';
import type { HttpPeer } from './peer.ts';

/** Counters a pool keeps for the reuse metric: reuse = 1 − connections / requests. */
export interface PoolCounters {
  requests: number;
  connections: number;
}

interface PoolEntry {
  readonly pool: PoolType;
  readonly counters: PoolCounters;
  /** `counters.requests` at the previous sweep; unchanged across a sweep means the pool is idle. */
  requestsAtLastSweep: number;
}

export interface PeerPoolsOptions {
  /** How often pools unused since the last sweep are closed. Default 60 000 ms. */
  sweepIntervalMs?: number;
  /** Called for every new upstream connection (for metrics); must not throw. */
  onConnect?: (peer: HttpPeer) => void;
}

/**
 * One undici Pool per peer identity. Pools are created on first use and closed once unused for a sweep
 * interval, so peers that drop out of the routing table do not hold sockets forever.
 */
export class PeerPools {
  readonly #entries = new Map<string, PoolEntry>();
  readonly #onConnect: ((peer: HttpPeer) => void) | undefined;
  readonly #sweepTimer: NodeJS.Timeout;
  readonly totals: PoolCounters = { requests: 0, connections: 0 };

  constructor(options: PeerPoolsOptions = {}) {
    this.#onConnect = options.onConnect;
    this.#sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000).unref();
  }

  /** The dispatcher for a peer; counts one request against it. */
  dispatcherFor(peer: HttpPeer): Dispatcher {
    let entry = this.#entries.get(peer.identity);
    if (entry === undefined) entry = this.#create(peer);
    entry.counters.requests++;
    this.totals.requests++;
    return entry.pool;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Closes pools that served no request since the previous sweep; in-flight requests finish first. */
  sweep(): void {
    for (const [identity, entry] of this.#entries) {
      if (entry.counters.requests === entry.requestsAtLastSweep) {
        this.#entries.delete(identity);
        entry.pool.close().catch(() => undefined);
      } else {
        entry.requestsAtLastSweep = entry.counters.requests;
      }
    }
  }

  /** Closes every pool, letting in-flight requests finish. */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    const pools = [...this.#entries.values()].map((e) => e.pool.close());
    this.#entries.clear();
    await Promise.allSettled(pools);
  }

  #create(peer: HttpPeer): PoolEntry {
    const pool = new Pool(peer.origin, poolOptions(peer));
    const entry: PoolEntry = { pool, counters: { requests: 0, connections: 0 }, requestsAtLastSweep: -1 };
    pool.on('connect', () => {
      entry.counters.connections++;
      this.totals.connections++;
      this.#onConnect?.(peer);
    });
    this.#entries.set(peer.identity, entry);
    return entry;
  }
}

function poolOptions(peer: HttpPeer): PoolType.Options {
  const t = peer.timeouts;
  const connect: Record<string, unknown> = {
    timeout: t.connect,
    ...(peer.tls ? peerTlsOptions(peer) : undefined),
  };
  if (peer.socketPath !== undefined) connect.socketPath = peer.socketPath;
  return {
    connections: peer.maxConnections,
    pipelining: 1,
    allowH2: peer.alpn !== 'h1',
    keepAliveTimeout: t.idle,
    keepAliveMaxTimeout: t.idle,
    headersTimeout: t.read,
    bodyTimeout: t.read,
    connect,
  };
}
