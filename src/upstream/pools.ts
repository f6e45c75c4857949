import { createRequire } from 'node:module';
import type { TLSSocket } from 'node:tls';
import type { buildConnector as BuildConnector, Dispatcher, Pool as PoolType } from 'undici';
import { PorticoError } from '../errors.ts';
import { stripResponseHopByHop } from '../http.ts';
import { peerTlsOptions } from './connect.ts';
import { H1Pool, type H1DispatchOptions } from './h1-pool.ts';
import type { HttpPeer } from './peer.ts';

const require = createRequire(import.meta.url);

interface Undici {
  readonly Pool: typeof PoolType;
  readonly buildConnector: typeof BuildConnector;
}
let undici: Undici | undefined;

/**
 * undici's Pool and connector, loaded when the first HTTP/2 peer needs them: a worker with only
 * HTTP/1.1 peers never pays for them. Synchronous (undici is CommonJS), so a request never waits on a
 * module load. Not undici's root, which also loads fetch, WebSocket, caches and mocks; undici 8 has no
 * "exports" map, so these paths can be required, and the h2 tests fail at once if a release moves them.
 */
function loadUndici(): Undici {
  undici ??= {
    Pool: require('undici/lib/dispatcher/pool.js') as typeof PoolType,
    buildConnector: require('undici/lib/core/connect.js') as typeof BuildConnector,
  };
  return undici;
}

/**
 * What the engine dispatches through: Portico's HTTP/1.1 pool, or undici's Pool for HTTP/2 peers.
 * Either hands `onResponseStart` end-to-end fields only (no hop-by-hop ones, RFC 9110 §7.6.1).
 */
export interface UpstreamDispatcher {
  dispatch(options: H1DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
}

/** Counters a pool keeps for the reuse metric: reuse = 1 − connections / requests. */
export interface PoolCounters {
  requests: number;
  connections: number;
}

interface PoolEntry {
  readonly pool: UpstreamDispatcher;
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
 * One pool per peer identity: an {@link H1Pool} for HTTP/1.1 peers, an undici Pool for peers that may
 * speak HTTP/2 (`alpn` h2 or h2h1). Pools are created on first use and closed once unused for a sweep
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
  dispatcherFor(peer: HttpPeer): UpstreamDispatcher {
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
    const counters: PoolCounters = { requests: 0, connections: 0 };
    const connected = (): void => {
      counters.connections++;
      this.totals.connections++;
      this.#onConnect?.(peer);
    };
    let pool: UpstreamDispatcher;
    if (peer.alpn === 'h1') {
      pool = new H1Pool(peer, { onConnect: connected });
    } else {
      const undiciPool: PoolType = new (loadUndici().Pool)(peer.origin, poolOptions(peer));
      undiciPool.on('connect', connected);
      pool = {
        dispatch: (options, handler) => undiciPool.dispatch(options, new EndToEndFields(handler)),
        close: () => undiciPool.close(),
      };
    }
    const entry: PoolEntry = { pool, counters, requestsAtLastSweep: -1 };
    this.#entries.set(peer.identity, entry);
    return entry;
  }
}

/**
 * Passes undici's callbacks on, hop-by-hop fields stripped: an `auto` peer may answer in HTTP/1.1, and
 * undici reports every field it received.
 */
class EndToEndFields implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;

  constructor(handler: Dispatcher.DispatchHandler) {
    this.#handler = handler;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#handler.onRequestStart?.(controller, context);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[]>,
    statusMessage?: string,
  ): void {
    stripResponseHopByHop(headers);
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[]>,
  ): void {
    this.#handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.#handler.onResponseError?.(controller, error);
  }
}

function poolOptions(peer: HttpPeer): PoolType.Options & { useH2c: boolean } {
  const t = peer.timeouts;
  const h2 = peer.alpn !== 'h1';
  const connect: BuildConnector.BuildOptions = {
    timeout: t.connect,
    ...(peer.tls ? peerTlsOptions(peer) : undefined),
    allowH2: h2,
    // undici otherwise offers http/1.1 first, which a server honouring the client's order would pick.
    preferH2: h2,
  };
  if (peer.socketPath !== undefined) connect.socketPath = peer.socketPath;
  return {
    connections: peer.maxConnections,
    pipelining: 1,
    allowH2: h2,
    // The Pool reads h2c here, not in h2Options: it dials, and marks the plaintext socket as h2.
    useH2c: h2 && !peer.tls,
    h2Options: { maxConcurrentStreams: peer.maxConcurrentStreams },
    // Also the idle timeout of an HTTP/2 session: undici closes one with no open stream after it.
    keepAliveTimeout: t.idle,
    keepAliveMaxTimeout: t.idle,
    headersTimeout: t.read,
    bodyTimeout: t.read,
    connect: peer.tls && peer.alpn === 'h2' ? requireH2(loadUndici().buildConnector(connect), peer) : connect,
  };
}

/**
 * undici always offers http/1.1 by ALPN too; a peer that must speak HTTP/2 (`alpn: 'h2'`) refuses a
 * connection on which the upstream chose anything else, rather than quietly speaking HTTP/1.1 to it.
 */
function requireH2(connect: BuildConnector.connector, peer: HttpPeer): BuildConnector.connector {
  return (options, callback) =>
    connect(options, (...result) => {
      if (result[0] !== null) return callback(...result);
      const socket = result[1] as TLSSocket;
      if (socket.alpnProtocol === 'h2') return callback(null, socket);
      socket.destroy();
      const chosen = socket.alpnProtocol || 'no protocol';
      callback(
        new PorticoError('UPSTREAM_PROTOCOL', `${peer.toString()} chose ${chosen} by ALPN, not h2`, {
          source: 'upstream',
        }),
        null,
      );
    });
}
