/**
 * Portico's HTTP/1.1 client for one peer: a bounded set of keep-alive connections and a queue, speaking
 * the same dispatch contract as undici's dispatchers (`dispatch(options, handler)` with a controller
 * for pause, resume and abort), so the engine drives either without knowing which. Responses reach
 * the handler with their end-to-end fields only, as HTTP/2 has them.
 *
 * Why not undici's Pool for HTTP/1.1: on the benchmark a node:http server in front of undici's Pool
 * does ~14k req/s where the same server in front of a plain socket writer does ~22k; the per-request
 * work of a general client (request object, option checks, wasm parser calls per field, timers per
 * request) is most of a proxy's cost. This client does one write per request head, parses the
 * response with a small incremental parser (`h1-response.ts`) that hands out views of the socket's
 * chunks (a plaintext socket reads into memory it reuses, {@link ReadMemory}, and small body slices
 * leave it as copies), and uses the socket's own inactivity timer (armed once) for the read timeout
 * and a timestamp for the idle one. HTTP/2 peers stay on undici.
 *
 * Contract, as for undici: `onRequestStart` once the request has a connection (then it is written);
 * `onResponseStart` per head (1xx included), `onResponseData` per body slice, then exactly one of
 * `onResponseEnd` or `onResponseError`. A request that never got a connection (refused, connect
 * timeout, pool closed) gets only `onResponseError`.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { PorticoError } from '../errors.ts';
import { HTTP_TOKEN } from '../http.ts';
import { connectPeer } from './connect.ts';
import { ResponseParser, type ResponseSink } from './h1-response.ts';
import {
  equalsIgnoreCase,
  fieldIndex,
  isWellFormedHead,
  piecesBuffer,
  requestFieldProblem,
} from '../http1.ts';
import type { HttpPeer } from './peer.ts';

/** The dispatch options the engine sends, as both this client and undici's Pool read them. */
export interface H1DispatchOptions {
  readonly method: string;
  readonly path: string;
  /** Flat `[name, value, ...]`, as the engine's HeaderList keeps them. */
  readonly headers: string[];
  /** Every field was checked already (a HeaderList still `checked`): the head is not checked again. */
  readonly headersChecked?: boolean;
  /** A request body stream (the downstream request), or null. */
  readonly body?: Readable | null;
  /** For undici's Pool; this client never pipelines, so never needs them. */
  readonly idempotent?: boolean;
  readonly blocking?: boolean;
}

export interface H1PoolOptions {
  /** Called for every new connection (for the reuse metric); must not throw. */
  onConnect?: () => void;
}

/** Keep an upstream's advertised keep-alive timeout this much shorter, so we close first. */
const KEEP_ALIVE_MARGIN_MS = 1000;
/** A request target: visible characters and obs-text, no space, no control character. */
const REQUEST_TARGET = /^[\x21-\x7e\x80-\xff]+$/;

export class H1Pool {
  readonly peer: HttpPeer;
  readonly #onConnect: (() => void) | undefined;
  /** Connected and waiting for a request; the most recently used last (reused first). */
  readonly #idle: H1Connection[] = [];
  /** Requests waiting for a connection, oldest first. */
  readonly #queue: Exchange[] = [];
  #queueHead = 0;
  /** Connections open or opening. */
  readonly #connections = new Set<H1Connection>();
  #readSweep: NodeJS.Timeout | undefined;
  #closed = false;
  #drained: (() => void) | undefined;
  /** The last TLS session, offered on the next handshake so it can resume. */
  tlsSession: Buffer | undefined;

  constructor(peer: HttpPeer, options: H1PoolOptions = {}) {
    this.peer = peer;
    this.#onConnect = options.onConnect;
  }

  dispatch(options: H1DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const exchange = new Exchange(options, handler);
    if (this.#closed) {
      exchange.fail(
        new PorticoError('CONNECTION_RESET', `${this.peer.toString()}: the pool is closed`, {
          source: 'upstream',
          retryable: true,
        }),
      );
      return false;
    }
    let idle = this.#idle.pop();
    // Idle past its timeout: the upstream may be closing it; its close is on the way or not needed.
    while (idle?.stale(performance.now()) === true) {
      idle.destroy();
      idle = this.#idle.pop();
    }
    if (idle !== undefined) idle.send(exchange);
    else if (this.#connections.size < this.peer.maxConnections) this.#connect(exchange);
    else this.#queue.push(exchange);
    return true;
  }

  /** Stops taking requests, closes idle connections and resolves once in-flight requests finished. */
  close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.destroy();
    const error = new PorticoError('CONNECTION_RESET', `${this.peer.toString()}: the pool closed`, {
      source: 'upstream',
      retryable: true,
    });
    for (let exchange = this.#next(); exchange !== undefined; exchange = this.#next()) exchange.fail(error);
    if (this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }

  /** A connection finished its request and may take another. */
  released(connection: H1Connection): void {
    const next = this.#closed ? undefined : this.#next();
    if (next !== undefined) return connection.send(next);
    if (this.#closed) return connection.destroy();
    connection.idle();
    // A pool stays watched while it holds idle connections, so joining is needed only from none.
    if (this.#idle.push(connection) === 1) watchIdle(this);
  }

  /** A connection closed (whatever its state). */
  gone(connection: H1Connection): void {
    this.#connections.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    if (this.#connections.size === 0) {
      clearInterval(this.#readSweep);
      this.#readSweep = undefined;
      this.#drained?.();
    }
    // Room for another connection: a queued request should not wait for a busy one.
    const next = this.#closed ? undefined : this.#next();
    if (next !== undefined) this.#connect(next);
  }

  connected(): void {
    this.#onConnect?.();
  }

  /** Closes connections idle past their timeout (the oldest are first); true while some stay idle. */
  closeStale(now: number): boolean {
    const idle = this.#idle;
    while (idle.length > 0 && idle[0]!.stale(now)) idle.shift()!.destroy();
    return idle.length > 0;
  }

  #connect(first: Exchange): void {
    this.#connections.add(new H1Connection(this, first));
    const readMs = this.peer.timeouts.read;
    if (this.#readSweep === undefined && readMs > 0) {
      this.#readSweep = setInterval(() => this.#checkReads(readMs), readSweepMs(readMs)).unref();
    }
  }

  #checkReads(readMs: number): void {
    const now = performance.now();
    for (const connection of this.#connections) connection.checkRead(now, readMs);
  }

  /** The oldest queued request still wanted (one aborted while it waited is dropped). */
  #next(): Exchange | undefined {
    while (this.#queueHead < this.#queue.length) {
      const exchange = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined as unknown as Exchange;
      if (this.#queueHead === this.#queue.length) {
        this.#queue.length = 0;
        this.#queueHead = 0;
      }
      if (!exchange.done) return exchange;
    }
    return undefined;
  }
}

/** One request: the handler, and the controller the handler steers it with. */
class Exchange implements Dispatcher.DispatchController {
  readonly options: H1DispatchOptions;
  readonly handler: Dispatcher.DispatchHandler;
  connection: H1Connection | undefined;
  #done = false;
  #aborted = false;
  #paused = false;
  reason: Error | null = null;

  constructor(options: H1DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.options = options;
    this.handler = handler;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get done(): boolean {
    return this.#done;
  }

  abort(reason: Error): void {
    if (this.#done) return;
    this.#aborted = true;
    this.reason = reason;
    const connection = this.connection;
    if (connection !== undefined) connection.abort(reason);
    else this.fail(reason);
  }

  pause(): void {
    this.#paused = true;
    this.connection?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.connection?.resume();
  }

  /** Ends the exchange with an error; once. */
  fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.handler.onResponseError?.(this, error);
  }

  end(trailers: Record<string, string | string[]>): void {
    if (this.#done) return;
    this.#done = true;
    this.handler.onResponseEnd?.(this, trailers);
  }
}

type ConnectionState = 'connecting' | 'busy' | 'idle' | 'closed';

const NO_TRAILERS: Record<string, string | string[]> = Object.freeze({});
/** undici passes a per-request context to `onRequestStart`; this client has none to give. */
const NO_CONTEXT = Object.freeze({});

class H1Connection implements ResponseSink {
  readonly #pool: H1Pool;
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  #state: ConnectionState = 'connecting';
  #exchange: Exchange | undefined;
  /** Set by the parser's `onEnd`; the exchange is completed once `execute` has returned. */
  #trailers: Record<string, string | string[]> | undefined;
  /** Stops sending the request body; set while it is being sent. */
  #stopBody: (() => void) | undefined;
  /** The first socket error; the 'close' that follows reports it. */
  #error: Error | undefined;
  #idleMs: number;
  /** `performance.now()` when it last became idle. */
  #idleSince = 0;
  /** What a plaintext socket reads into; TLS sockets read as Readables. */
  #readMemory: ReadMemory | undefined;
  /**
   * Reads, body writes and exchange starts so far: the read-timeout sweep watches it move instead of
   * a socket timer that node re-arms on every read and write (two re-arms per request, ~1 %).
   */
  #activity = 0;
  /** `#activity` when the sweep last saw it change, and the sweep's time then. */
  #activitySeen = 0;
  #quietSince = 0;

  constructor(pool: H1Pool, first: Exchange) {
    this.#pool = pool;
    this.#parser = new ResponseParser(this);
    const peer = pool.peer;
    this.#idleMs = peer.timeouts.idle;
    this.#exchange = first;
    let socket: Socket;
    if (peer.tls) {
      socket = connectPeer(peer, pool.tlsSession);
      (socket as TLSSocket).on('session', (session: Buffer) => (pool.tlsSession = session));
      socket.on('data', (chunk: Buffer) => this.#data(chunk));
    } else {
      const memory = new ReadMemory();
      this.#readMemory = memory;
      socket = connectPeer(peer, undefined, {
        buffer: () => memory.next(),
        callback: (bytesRead) => this.#data(memory.read(bytesRead)),
      });
    }
    this.#socket = socket;
    socket.once(peer.tls ? 'secureConnect' : 'connect', () => this.#connected());
    socket.on('end', () => this.#eof());
    socket.on('error', (error: Error) => (this.#error ??= error));
    socket.on('close', () => this.#closed());
  }

  send(exchange: Exchange): void {
    this.#state = 'busy';
    this.#exchange = exchange;
    exchange.connection = this;
    const options = exchange.options;
    this.#parser.reset(options.method === 'HEAD');
    this.#activity++;
    exchange.handler.onRequestStart?.(exchange, NO_CONTEXT);
    if (exchange.done || this.#exchange !== exchange) return;
    const body = options.body ?? null;
    const chunked = body !== null && fieldIndex(options.headers, 'content-length') === -1;
    let head: Buffer;
    try {
      head = requestHead(options, chunked, this.#pool.peer);
    } catch (error) {
      // Nothing was written: the connection stays usable.
      this.#exchange = undefined;
      exchange.connection = undefined;
      exchange.fail(error as Error);
      this.#pool.released(this);
      return;
    }
    if (body === null) this.#socket.write(head);
    else this.#sendBody(head, body, chunked);
  }

  /**
   * Waiting for the next request. The idle timeout is a timestamp, checked when the connection is
   * taken again and by the idle sweep, not a timer re-armed twice per request.
   */
  idle(): void {
    this.#state = 'idle';
    this.#idleSince = performance.now();
  }

  stale(now: number): boolean {
    return now - this.#idleSince >= this.#idleMs;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    // The wait for the client was not the upstream's silence: the read timeout starts again.
    this.#activity++;
    this.#socket.resume();
  }

  /**
   * For the pool's sweep: times out the exchange when nothing moved for `readMs` — no byte read, no
   * body chunk written. A paused download waits for the client, not for the upstream, and is skipped.
   */
  checkRead(now: number, readMs: number): void {
    const exchange = this.#exchange;
    if (this.#state !== 'busy' || exchange === undefined || exchange.paused) return;
    if (this.#activity !== this.#activitySeen) {
      this.#activitySeen = this.#activity;
      this.#quietSince = now;
    } else if (now - this.#quietSince >= readMs) {
      this.#timeout();
    }
  }

  /** Ends the current exchange with `reason` and closes the connection: its state is unknown now. */
  abort(reason: Error): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    this.#parser.halt();
    this.destroy();
    exchange?.fail(reason);
  }

  destroy(): void {
    this.#state = 'closed';
    this.#socket.destroy();
  }

  onHead(status: number, headers: Record<string, string | string[]>): void {
    const exchange = this.#exchange!;
    exchange.handler.onResponseStart?.(exchange, status, headers, '');
    if (this.#exchange !== exchange) this.#parser.halt();
  }

  onBody(chunk: Buffer): void {
    const exchange = this.#exchange!;
    if (chunk.length > 0) {
      // The slice goes downstream and may be queued there: the bytes under it must not be read over.
      const memory = this.#readMemory;
      exchange.handler.onResponseData?.(exchange, memory === undefined ? chunk : memory.handOut(chunk));
    }
    if (this.#exchange !== exchange) this.#parser.halt();
  }

  onEnd(trailers: Record<string, string | string[]>): void {
    this.#trailers = trailers;
  }

  /** The response ended: hands it to the handler, then reuses or closes the connection. */
  #complete(mustClose: boolean): void {
    const exchange = this.#exchange!;
    const trailers = this.#trailers ?? NO_TRAILERS;
    this.#trailers = undefined;
    this.#exchange = undefined;
    exchange.connection = undefined;
    const parser = this.#parser;
    const hint = parser.keepAliveMs;
    if (hint !== undefined)
      this.#idleMs = Math.min(this.#pool.peer.timeouts.idle, hint - KEEP_ALIVE_MARGIN_MS);
    const reusable = !mustClose && !parser.mustClose && this.#stopBody === undefined && this.#idleMs > 0;
    if (!reusable) this.destroy();
    else if (exchange.paused) this.#socket.resume();
    exchange.end(trailers);
    if (reusable && this.#state === 'busy') this.#pool.released(this);
  }

  #connected(): void {
    this.#pool.connected();
    const first = this.#exchange;
    this.#exchange = undefined;
    if (first === undefined || first.done) return this.#pool.released(this);
    this.send(first);
  }

  /**
   * Sends the head with the body's first chunk, not before: a body the downstream parser then finds
   * malformed (a bad chunk size) fails the request before the upstream has seen any of it.
   */
  #sendBody(head: Buffer, body: Readable, chunked: boolean): void {
    const socket = this.#socket;
    let pendingHead: Buffer | undefined = head;
    const resume = (): void => void body.resume();
    const onData = (data: Buffer | string): void => {
      if (data.length === 0) return;
      this.#activity++;
      socket.cork();
      if (pendingHead !== undefined) socket.write(pendingHead);
      pendingHead = undefined;
      if (chunked) socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
      const ok = socket.write(data);
      if (chunked) socket.write('\r\n', 'latin1');
      socket.uncork();
      if (!ok) {
        body.pause();
        socket.once('drain', resume);
      }
    };
    const onEnd = (): void => {
      stop();
      socket.cork();
      if (pendingHead !== undefined) socket.write(pendingHead);
      if (chunked) socket.write(LAST_CHUNK);
      socket.uncork();
    };
    const onError = (error: Error): void => {
      stop();
      this.abort(error);
    };
    const stop = (): void => {
      this.#stopBody = undefined;
      body.removeListener('data', onData);
      body.removeListener('end', onEnd);
      body.removeListener('error', onError);
      socket.removeListener('drain', resume);
    };
    this.#stopBody = stop;
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.resume();
  }

  #data(chunk: Buffer): void {
    this.#activity++;
    if (this.#exchange === undefined) {
      // Bytes nobody asked for (the upstream answered twice, or talks while idle): never reuse it.
      this.destroy();
      return;
    }
    let extra: number;
    try {
      extra = this.#parser.execute(chunk);
    } catch (error) {
      return this.abort(error as Error);
    }
    if (this.#trailers !== undefined && this.#exchange !== undefined) this.#complete(extra !== -1);
  }

  /** The upstream closed its side: the end of a close-delimited body, or a failure. */
  #eof(): void {
    if (this.#exchange !== undefined && this.#parser.readsUntilClose) {
      this.#parser.finish();
      return this.#complete(true);
    }
    this.destroy();
  }

  #timeout(): void {
    const peer = this.#pool.peer;
    this.abort(
      new PorticoError(
        'UPSTREAM_TIMEOUT',
        `upstream ${peer.toString()} sent nothing for ${peer.timeouts.read} ms`,
        {
          source: 'upstream',
        },
      ),
    );
  }

  /** The socket closed, for whatever reason: fails a request still in flight, then leaves the pool. */
  #closed(): void {
    this.#state = 'closed';
    this.#stopBody?.();
    const exchange = this.#exchange;
    this.#exchange = undefined;
    if (exchange !== undefined && !exchange.done) {
      const beforeResponse = !this.#parser.started;
      exchange.fail(
        this.#error ??
          new PorticoError(
            'CONNECTION_RESET',
            `upstream ${this.#pool.peer.toString()} closed the connection ${beforeResponse ? 'before answering' : 'mid-response'}`,
            { source: 'upstream', retryable: beforeResponse },
          ),
      );
    }
    this.#pool.gone(this);
  }
}

/** Bytes a read goes into while nothing points into them; the least an upstream connection holds. */
const READ_BYTES = 16 * 1024;
/** After a read filled its memory, a body is streaming: read in larger pieces, as node does. */
const BULK_READ_BYTES = 64 * 1024;
/** Read into what is left after a retained slice only while this much is left. */
const MIN_READ_BYTES = 4 * 1024;
/**
 * Body slices smaller than this are handed out as copies (into node's buffer pool, whose slabs the
 * proxy's own small writes use up within milliseconds under load); the region stays in use.
 */
const COPY_OUT_BYTES = MIN_READ_BYTES;

/**
 * The memory a plaintext upstream socket reads into (net's `onread`). Node would allocate a buffer
 * per read and push it through a Readable, a nextTick and a 'data' event; this reads into one region
 * again and again, as long as nothing points into it. A large body slice handed downstream does (it
 * may be queued there), so after one the next read goes after it: a new region once this one is used
 * up. A small one is copied out instead: a region that small bodies retained bit by bit lived through
 * dozens of responses, long enough to be promoted, and an ArrayBuffer in the old generation is freed
 * only by a full GC. Under the benchmark's load such regions grew the backing stores by ~13 MB/s and
 * V8 answered with a mark-compact every ~0.6 s, each pausing 3-6 ms to sweep them: the p99.
 */
export class ReadMemory {
  #region = Buffer.allocUnsafeSlow(READ_BYTES);
  #given = false;
  #lastRead = 0;
  #retained = false;

  /** The bytes a read just put in the region. */
  read(bytesRead: number): Buffer {
    this.#lastRead = bytesRead;
    return this.#region.subarray(0, bytesRead);
  }

  /** `slice` (of the last read) for a consumer that may keep it: a copy if small, else the view itself. */
  handOut(slice: Buffer): Buffer {
    if (slice.length < COPY_OUT_BYTES) return Buffer.from(slice);
    this.#retained = true;
    return slice;
  }

  /** The region for the next read, or undefined to read into the same one again. */
  next(): Buffer | undefined {
    if (this.#given && !this.#retained) return undefined;
    this.#given = true;
    if (this.#retained) {
      this.#retained = false;
      const filled = this.#lastRead === this.#region.length;
      const rest = this.#region.subarray(this.#lastRead);
      this.#region = filled
        ? Buffer.allocUnsafeSlow(BULK_READ_BYTES)
        : rest.length >= MIN_READ_BYTES
          ? rest
          : Buffer.allocUnsafeSlow(READ_BYTES);
    }
    return this.#region;
  }
}

const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * The request line and fields, with Host and body framing (`chunked`: a body without Content-Length)
 * added where missing; checked for injection unless `headersChecked`.
 */
function requestHead(options: H1DispatchOptions, chunked: boolean, peer: HttpPeer): Buffer {
  const { method, path, headers } = options;
  if (!HTTP_TOKEN.test(method)) throw invalid(`method ${JSON.stringify(method)} is not a token`);
  if (!REQUEST_TARGET.test(path)) throw invalid(`request target ${JSON.stringify(path)} is invalid`);
  const parts = [method, ' ', path, ' HTTP/1.1\r\n'];
  let host = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    // Only names of the two lengths are compared: most fields are neither.
    if (name.length === 4) host ||= equalsIgnoreCase(name, 'host');
    else if (name.length === 17 && equalsIgnoreCase(name, 'transfer-encoding'))
      // The body's framing is this client's: a field of the caller's would contradict what it sends.
      throw invalid('Transfer-Encoding is hop-by-hop: the proxy frames the body itself');
    parts.push(name, ': ', headers[i + 1]!, '\r\n');
  }
  let lineBreaks = headers.length / 2 + 2;
  if (!host) {
    parts.push('host: ', peer.origin.slice(peer.origin.indexOf('//') + 2), '\r\n');
    lineBreaks++;
  }
  if (chunked) {
    parts.push('transfer-encoding: chunked\r\n');
    lineBreaks++;
  }
  parts.push('\r\n');
  if (options.headersChecked === true) return piecesBuffer(parts);
  const head = parts.join('');
  if (!isWellFormedHead(head, lineBreaks)) throw invalidField(headers);
  return Buffer.from(head, 'latin1');
}

/** Names the field that made a request head fail its check. */
function invalidField(headers: readonly string[]): PorticoError {
  for (let i = 0; i < headers.length; i += 2) {
    const problem = requestFieldProblem(headers[i]!, headers[i + 1]!);
    if (problem !== undefined) return invalid(problem);
  }
  return invalid('a header holds a line break');
}

function invalid(message: string): PorticoError {
  return new PorticoError('INVALID_ARGUMENT', `upstream request: ${message}`, { source: 'internal' });
}

/**
 * How often a pool looks for exchanges past the read timeout: an eighth of it, within 10 ms and 1 s,
 * so a timeout fires at most a quarter (or 2 s) late — the first sweep after the exchange starts
 * begins its count, and the sweep after the timeout ends it.
 */
function readSweepMs(readMs: number): number {
  return Math.min(1_000, Math.max(10, Math.ceil(readMs / 8)));
}

/** Pools holding idle connections; one sweep closes those idle past their timeout, for all pools. */
const poolsWithIdle = new Set<H1Pool>();
let idleSweep: NodeJS.Timeout | undefined;
/** How often idle connections are checked; taking one checks it exactly. */
const IDLE_SWEEP_MS = 500;

function watchIdle(pool: H1Pool): void {
  poolsWithIdle.add(pool);
  idleSweep ??= setInterval(sweepIdle, IDLE_SWEEP_MS).unref();
}

function sweepIdle(): void {
  const now = performance.now();
  for (const pool of poolsWithIdle) if (!pool.closeStale(now)) poolsWithIdle.delete(pool);
  if (poolsWithIdle.size === 0) {
    clearInterval(idleSweep);
    idleSweep = undefined;
  }
}
