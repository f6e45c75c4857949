/**
 * Portico's HTTP/1.1 server: a `net.Server` that parses requests with the framing shared with the
 * upstream client (`src/http1.ts`) and emits node:http's events — `request` (req, res), `upgrade`
 * (req, socket, head), `clientError` (error, socket) — so the service and the upgrade proxy serve it
 * as they served node's.
 *
 * Why not node:http: on the benchmark machine a node:http hello-world does ~42k req/s on one core and a
 * plain socket answering the same bytes ~85k; node's request and response objects (a Readable per
 * request whose end takes three ticks, header maps validated twice, per-request timers) are most of
 * what a cache hit costs, and half of a proxied request's own work. It listens on plaintext ports, and
 * TLS listeners (node's HTTP/2 server) hand it every connection that did not negotiate h2.
 *
 * One request at a time per connection: bytes of a pipelined request wait until the response before it
 * has ended, and a connection with a write backlog reads no further request until it drains (as node
 * does), so a client that never reads cannot make us queue responses. Strict parsing as node's: a
 * request with Content-Length and Transfer-Encoding, a Transfer-Encoding not ending in chunked, differing
 * Content-Lengths, no or several Host fields (HTTP/1.1), obs-fold, bare LF → 400; a head beyond
 * `maxHeaderBytes` → 431; a head slower than `headersTimeoutMs` or a request slower than
 * `requestTimeoutMs` → 408.
 */
import { Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable, Stream } from 'node:stream';
import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { PorticoError } from '../errors.ts';
import { readInPlace } from '../read-in-place.ts';
import { HTTP_TOKEN, isValidAuthority } from '../http.ts';
import { checkResponseField, invalidResponseFieldName, invalidResponseFieldValue } from './headers.ts';
import {
  CHUNKED,
  contentLength,
  copyPieces,
  EMPTY_FIELDS,
  FIELD_TEXT,
  fieldIndex,
  type Fields,
  type Framing,
  isWellFormedHead,
  lastCodingIsChunked,
  listHasToken,
  MessageParser,
  NO_BODY,
  piecesBuffer,
  piecesLength,
} from '../http1.ts';

const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface H1ServerOptions {
  /** Request line + fields, bytes; larger → 431. */
  maxHeaderBytes: number;
  /** Field lines of a head or trailer section; more → 431. */
  maxHeaderFields: number;
  /** From a request's first byte to the end of its head; slower → 408 and close. */
  headersTimeoutMs: number;
  /** From a request's first byte to the end of its body; slower → 408 (or a close once answering began). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection closes after this. */
  keepAliveTimeoutMs: number;
}

type RequestListener = (req: H1Request, res: H1Response) => void;
type Callback = () => void;

/** A parsed request line and its fields. */
interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly minor: number;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string[];
  readonly bodiless: boolean;
}

/** Enough of HTTP/2's connection preface (RFC 9113 §3.4) to tell it from an HTTP/1.1 request. */
const H2_PREFACE_START = Buffer.from('PRI ');

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/;
/** An absolute-form request-target (RFC 9112 §3.2.2): its authority, then path and query. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)$/i;
/** Repeats node drops (the first wins), as `IncomingMessage.headers` does. */
const SINGLE_VALUED = new Set([
  'content-length',
  'content-type',
  'user-agent',
  'referer',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);
const EMPTY = Buffer.alloc(0);
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** How long a closing connection may linger after its last response (nginx's lingering_timeout). */
const LINGER_MS = 5_000;
/**
 * A request body up to this size whose response went out first is read to its end and dropped, so
 * the connection carries on; a longer one closes it (nginx discards without a bound, Envoy closes).
 */
const DISCARD_MAX_BYTES = 1 << 20;
/**
 * What every plaintext connection of this process reads into. A read is parsed before the next one
 * happens, and what outlives it (a partial head, body chunks, a pipelined request, the bytes after an
 * upgrade's head, an h2c preface) is copied out, so one region serves them all: no buffer is
 * allocated for a read.
 */
const READ_MEMORY = Buffer.allocUnsafeSlow(64 * 1024);
/** Largest body sent in one buffer with its head; larger ones go as two writes of one writev. */
const COPY_WITH_HEAD_BYTES = 16 * 1024;

export class H1Server extends NetServer {
  readonly options: H1ServerOptions;
  /** Which upgrade requests become `upgrade` events (as `http.Server.shouldUpgradeCallback`). */
  shouldUpgradeCallback: (req: H1Request) => boolean = () => true;
  /**
   * Takes each connection whose first bytes are HTTP/2's connection preface (h2c with prior
   * knowledge), paused and with those bytes unread; unset, such a connection is a malformed HTTP/1.1
   * one. Until its first bytes arrive a connection is an idle HTTP/1.1 one, timeouts included.
   */
  priorKnowledge: ((socket: Socket) => void) | undefined;
  readonly #connections = new Set<H1Connection>();
  readonly #sweep: NodeJS.Timeout;

  constructor(options: H1ServerOptions, onRequest: RequestListener) {
    super({ noDelay: true });
    this.options = options;
    this.on('request', onRequest);
    this.on('connection', (socket: Socket) => this.#connections.add(new H1Connection(this, socket)));
    // Not on 'listening': an H1Server may only be handed connections (a TLS listener's HTTP/1.1 ones).
    const every = Math.min(1_000, options.headersTimeoutMs, options.keepAliveTimeoutMs);
    this.#sweep = setInterval(() => this.#checkTimeouts(), every).unref();
    this.on('close', () => clearInterval(this.#sweep));
  }

  /** Closes every connection not in the middle of a request. */
  closeIdleConnections(): void {
    for (const connection of this.#connections) if (connection.idle) connection.socket.destroy();
  }

  /** Closes every connection, mid-request or not. */
  closeAllConnections(): void {
    for (const connection of this.#connections) connection.socket.destroy();
  }

  /** A connection closed or was handed over (upgrade, HTTP/2). */
  forget(connection: H1Connection): void {
    this.#connections.delete(connection);
  }

  #checkTimeouts(): void {
    const now = performance.now();
    for (const connection of this.#connections) connection.checkTimeouts(now, this.options);
  }
}

/** The request parser of one connection. */
class RequestParser extends MessageParser {
  readonly #connection: H1Connection;

  constructor(connection: H1Connection, maxHeaderBytes: number, maxHeaderFields: number) {
    super(maxHeaderBytes, maxHeaderFields);
    this.#connection = connection;
  }

  protected onHead(text: string): void {
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    let start = 0;
    while (text.startsWith('\r\n', start)) start += 2;
    if (start === text.length) return;
    let lineEnd = text.indexOf('\r\n', start);
    if (lineEnd === -1) lineEnd = text.length;
    const line = REQUEST_LINE.exec(text.slice(start, lineEnd));
    if (line === null)
      throw this.error(
        `invalid request line ${JSON.stringify(text.slice(start, Math.min(lineEnd, start + 64)))}`,
      );
    const raw: string[] = [];
    const fields = lineEnd === text.length ? {} : this.parseFields(text.slice(lineEnd + 2), raw);
    const headers = nodeHeaders(fields, (message) => this.error(message));
    const minor = line[3] === '1' ? 1 : 0;
    if (minor === 1 && headers.host === undefined) throw this.error('no Host header');
    let url = line[2]!;
    // RFC 9112 §3.2.2: the absolute form's authority takes the place of Host.
    if (url.charCodeAt(0) !== 47 /* / */) url = this.#fromAbsoluteForm(url, headers, raw);
    if (headers.host !== undefined && !isValidAuthority(headers.host))
      throw this.error(`invalid Host ${JSON.stringify(headers.host.slice(0, 64))}`);
    const framing = this.#framing(headers);
    this.#connection.onRequestHead({
      method: line[1]!,
      url,
      minor,
      headers,
      raw,
      bodiless: framing === NO_BODY,
    });
    this.frame(framing);
  }

  protected onBody(chunk: Buffer): void {
    this.#connection.onRequestBody(chunk);
  }

  protected onEnd(trailers: Fields): void {
    this.#connection.onRequestEnd(trailers);
  }

  protected error(message: string, tooLarge = false): PorticoError {
    return tooLarge
      ? new PorticoError('REQUEST_TOO_LARGE', `request head larger than the limit`, { source: 'downstream' })
      : new PorticoError('DOWNSTREAM_PROTOCOL', `invalid request: ${message}`, { source: 'downstream' });
  }

  /**
   * An absolute-form target (`http://host:port/path?query`) as origin form, its authority written
   * into Host (in `headers` and the raw list both); any other target as it is.
   */
  #fromAbsoluteForm(url: string, headers: IncomingHttpHeaders, raw: string[]): string {
    const target = ABSOLUTE_FORM.exec(url);
    if (target === null) return url;
    const authority = target[1]!;
    headers.host = authority;
    const at = fieldIndex(raw, 'host');
    if (at === -1) raw.push('Host', authority);
    else raw[at + 1] = authority;
    const rest = target[2]!;
    return rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest;
  }

  /** RFC 9112 §6.3, for a request: chunked, a length, or no body at all. */
  #framing(headers: IncomingHttpHeaders): Framing {
    const te = headers['transfer-encoding'];
    if (te !== undefined) {
      if (headers['content-length'] !== undefined)
        throw this.error('both Transfer-Encoding and Content-Length');
      if (!lastCodingIsChunked(te)) throw this.error('Transfer-Encoding does not end in chunked');
      return CHUNKED;
    }
    const length = contentLength(headers['content-length'], (message) => this.error(message));
    return length === undefined || length === 0 ? NO_BODY : { kind: 'length', length };
  }
}

/**
 * Joins repeated fields as `IncomingMessage.headers` does: Set-Cookie stays a list, Cookie joins with
 * `; `, fields that cannot repeat keep their first value, others join with `, `. A repeated Host or
 * differing Content-Lengths are errors, not something to choose from.
 */
function nodeHeaders(fields: Fields, error: (message: string) => Error): IncomingHttpHeaders {
  for (const name in fields) {
    const value = fields[name]!;
    if (typeof value === 'string' || name === 'set-cookie') continue;
    if (name === 'host') throw error('more than one Host header');
    if (name === 'content-length') contentLength(value, error);
    fields[name] =
      name === 'cookie' ? value.join('; ') : SINGLE_VALUED.has(name) ? value[0]! : value.join(', ');
  }
  return fields;
}

/** One downstream connection: parses its requests one at a time and writes their responses in order. */
class H1Connection {
  readonly server: H1Server;
  readonly socket: Socket;
  readonly #parser: RequestParser;
  /** The request being received or answered. */
  #request: H1Request | undefined;
  #response: H1Response | undefined;
  /** A head just parsed, dispatched once the chunk that carried it is consumed. */
  #arrived: H1Request | undefined;
  /** Bytes received and not parsed yet: the next request's, while the current one is answered. */
  #backlog: Buffer | undefined;
  #pumping = false;
  /** The current request's response ended before its body did: the rest is read and dropped. */
  #discarding = false;
  /** Body bytes of the current request received so far: what the discard bound counts. */
  #bodyBytes = 0;
  /** `performance.now()` of the current request's first byte; of the last response's end while idle. */
  #since = performance.now();
  /** No byte has arrived yet, and the server takes HTTP/2 prior-knowledge connections. */
  #sniffing: boolean;
  /** Requests are no longer read: the socket was handed over, or is being closed. */
  #stopped = false;
  /** Handed over to an upgrade listener or HTTP/2: whoever has it reads it as a Readable. */
  #handedOver = false;

  constructor(server: H1Server, socket: Socket) {
    this.server = server;
    this.socket = socket;
    this.#sniffing = server.priorKnowledge !== undefined;
    this.#parser = new RequestParser(this, server.options.maxHeaderBytes, server.options.maxHeaderFields);
    // Plaintext sockets read into READ_MEMORY; TLS ones emit 'data'.
    if (!readInPlace(socket, READ_MEMORY, this.#onRead)) socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
  }

  /** No request being received or answered, and none begun. */
  get idle(): boolean {
    return this.#request === undefined && !this.#parser.started;
  }

  checkTimeouts(now: number, options: H1ServerOptions): void {
    const elapsed = now - this.#since;
    if (this.#request === undefined) {
      if (!this.#parser.started) {
        if (elapsed > options.keepAliveTimeoutMs) this.socket.destroy();
      } else if (elapsed > options.headersTimeoutMs) {
        this.#reject(timeoutError(`request headers not received within ${options.headersTimeoutMs} ms`));
      }
    } else if (!this.#request.complete && elapsed > options.requestTimeoutMs) {
      // Its response went out already; only the rest of a body that nobody reads is late.
      if (this.#discarding) this.socket.destroy();
      else this.#reject(timeoutError(`request not received within ${options.requestTimeoutMs} ms`));
    }
  }

  onRequestHead(head: RequestHead): void {
    const req = new H1Request(this.socket, head);
    this.#request = req;
    this.#arrived = req;
    this.#bodyBytes = 0;
  }

  onRequestBody(chunk: Buffer): void {
    this.#bodyBytes += chunk.length;
    if (this.#discarding) return; // #pump closes once the bound is passed
    if (!this.#request!.push(this.#kept(chunk))) this.socket.pause();
  }

  onRequestEnd(trailers: Fields): void {
    const req = this.#request!;
    if (req.bodiless) return;
    req.trailers = trailers;
    req.complete = true;
    if (this.#discarding) return; // #pump goes on to the next request
    req.push(null);
  }

  /** The current response ended: on to the next request, or close. */
  responseEnded(res: H1Response): void {
    if (res !== this.#response) return;
    const req = this.#request!;
    this.#response = undefined;
    this.#since = performance.now();
    if (!res.shouldKeepAlive) {
      this.#request = undefined;
      return this.#closeAfterResponse();
    }
    if (!req.complete) {
      // Answered before its body arrived (a 401, a 413, an upstream's early reply): as nginx does,
      // the rest is read and dropped so the connection can carry the next request — within a byte
      // bound and the request timeout, else it closes. `#request` stays until the body's end.
      this.#discarding = true;
      req.destroy();
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    this.#request = undefined;
    this.#continueAfter();
  }

  /** The exchange is over and the connection stays: on to a request already received, or wait. */
  #continueAfter(): void {
    this.#parser.restart();
    if (this.#backlog === undefined) {
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    if (this.socket.writableNeedDrain) return; // #onDrain resumes
    queueMicrotask(this.#pump);
  }

  #closeAfterResponse(): void {
    this.#stop();
    this.socket.end();
    // Lingering close, as nginx's: the client gets time to read the response and close first, but
    // one that neither closes nor stops sending cannot hold the socket open.
    setTimeout(destroySocket, LINGER_MS, this.socket).unref();
  }

  readonly #onRead = (bytesRead: number, memory: Buffer): boolean => {
    const chunk = memory.subarray(0, bytesRead);
    // An upgrade's tunnel reads the socket as a Readable (HTTP/2 takes the handle: no read comes here).
    if (this.#handedOver) return this.socket.push(Buffer.from(chunk));
    // Closing: what still arrives is dropped, and the read goes on to the client's end.
    if (this.#stopped) return true;
    try {
      this.#onData(chunk);
    } finally {
      if (this.#backlog !== undefined) this.#backlog = this.#kept(this.#backlog);
    }
    return true;
  };

  /** `chunk` itself, or a copy when it lies in READ_MEMORY and must outlive this read. */
  #kept(chunk: Buffer): Buffer {
    return chunk.buffer === READ_MEMORY.buffer ? Buffer.from(chunk) : chunk;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#backlog = this.#backlog === undefined ? chunk : Buffer.concat([this.#backlog, chunk]);
    if (this.#sniffing && this.#handedToHttp2()) return;
    if (this.#request === undefined || !this.#parser.done) return this.#pump();
    // Answering: a pipelined request waits, and a client sending far ahead is paused.
    if (this.#backlog.length > this.server.options.maxHeaderBytes) this.socket.pause();
  };

  readonly #pump = (): void => {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#backlog !== undefined && !this.socket.destroyed) {
        if (this.#request !== undefined && this.#parser.done) break;
        const data = this.#backlog;
        this.#backlog = undefined;
        if (!this.#parser.started) this.#since = performance.now();
        let rest: number;
        try {
          rest = this.#parser.execute(data);
        } catch (error) {
          // A body being dropped already had its response: a second one (the 400) would be unasked for.
          if (this.#discarding) this.socket.destroy();
          else this.#reject(error as PorticoError);
          return;
        }
        if (rest !== -1) this.#backlog = data.subarray(rest);
        if (this.#discarding) {
          if (this.#bodyBytes > DISCARD_MAX_BYTES) return this.#closeAfterResponse();
          if (!this.#request!.complete) continue;
          this.#discarding = false;
          this.#request = undefined;
          this.#since = performance.now();
          this.#parser.restart();
          continue;
        }
        const req = this.#arrived;
        if (req !== undefined) {
          this.#arrived = undefined;
          this.#dispatch(req);
        }
      }
      if (this.socket.isPaused() && this.#request === undefined) this.socket.resume();
    } finally {
      this.#pumping = false;
    }
  };

  #dispatch(req: H1Request): void {
    const headers = req.headers;
    const server = this.server;
    if (req.method === 'CONNECT') return this.#reject(protocolError('CONNECT is not supported'));
    if (
      headers.upgrade !== undefined &&
      listHasToken(headers.connection, 'upgrade') &&
      server.listenerCount('upgrade') > 0 &&
      server.shouldUpgradeCallback(req)
    ) {
      return this.#upgrade(req);
    }
    const res = new H1Response(this, req);
    this.#response = res;
    const expect = headers.expect;
    if (expect !== undefined) {
      if (req.httpVersionMinor === 1 && expect.toLowerCase() === '100-continue') this.socket.write(CONTINUE);
      else return void res.writeHead(417, { 'content-length': 0, connection: 'close' }).end();
    }
    server.emit('request', req, res);
  }

  /**
   * The connection's first bytes: HTTP/2's preface hands the socket to `priorKnowledge`, anything else
   * is HTTP/1.1 from here on. True when the connection went, or when too few bytes came to tell yet.
   */
  #handedToHttp2(): boolean {
    const data = this.#backlog!;
    const n = Math.min(data.length, H2_PREFACE_START.length);
    if (data.compare(H2_PREFACE_START, 0, n, 0, n) !== 0) {
      this.#sniffing = false;
      return false;
    }
    if (data.length < H2_PREFACE_START.length) return true;
    this.#sniffing = false;
    const socket = this.socket;
    this.#handedOver = true;
    this.#stop();
    socket.pause();
    socket.unshift(this.#kept(data));
    this.server.priorKnowledge!(socket);
    return true;
  }

  /** Hands the socket to the `upgrade` listener, with the bytes that followed the head. */
  #upgrade(req: H1Request): void {
    const head = this.#backlog === undefined ? EMPTY : this.#kept(this.#backlog);
    this.#backlog = undefined;
    this.#request = undefined;
    this.socket.pause();
    this.#handedOver = true;
    this.#stop();
    this.server.emit('upgrade', req, this.socket, head);
  }

  /** This connection stops reading requests; the socket stays open for what is being written. */
  #stop(): void {
    const socket = this.socket;
    this.#stopped = true;
    socket.removeListener('data', this.#onData);
    socket.removeListener('drain', this.#onDrain);
    socket.removeListener('close', this.#onClose);
    socket.removeListener('error', this.#onError);
    // Errors still close the socket; nobody needs to hear about them any more.
    socket.on('error', ignore);
    this.#backlog = undefined;
    this.server.forget(this);
  }

  /** A malformed or too slow request: answered by `clientError` (or closed), and the connection ends. */
  #reject(error: PorticoError): void {
    this.#stop();
    const answering = this.#abandonExchange(error);
    if (answering) this.socket.destroy();
    else if (this.server.listenerCount('clientError') > 0)
      this.server.emit('clientError', error, this.socket);
    else this.socket.destroy();
  }

  readonly #onDrain = (): void => {
    this.#response?.emit('drain');
    if (this.#response === undefined && this.#backlog !== undefined) this.#pump();
  };

  readonly #onError = (): void => {
    // 'close' follows; that is where an unfinished exchange is ended.
  };

  readonly #onClose = (): void => {
    this.server.forget(this);
    this.#abandonExchange(
      new PorticoError('DOWNSTREAM_CLOSED', 'client closed the connection', { source: 'downstream' }),
    );
  };

  /**
   * Ends the exchange in flight, if any: its response writes nothing more (its listeners hear 'close'),
   * and a body still arriving fails with `error`. Returns whether the response had begun.
   */
  #abandonExchange(error: PorticoError): boolean {
    const res = this.#response;
    const req = this.#request;
    // Forgotten first: whatever the aborts make the handler do with them is no longer ours to follow.
    this.#response = undefined;
    this.#request = undefined;
    const answering = res?.headersSent === true;
    res?.abandon();
    if (req !== undefined && !req.complete) req.abort(error);
    return answering;
  }
}

function ignore(): void {}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function timeoutError(message: string): PorticoError {
  return new PorticoError('DOWNSTREAM_TIMEOUT', message, { source: 'downstream' });
}

function protocolError(message: string): PorticoError {
  return new PorticoError('DOWNSTREAM_PROTOCOL', message, { source: 'downstream' });
}

/**
 * A downstream request, as node's `IncomingMessage` shows one to a proxy: method, url, headers (repeats
 * joined as node joins them), rawHeaders, httpVersion, socket, and the body as a Readable.
 */
export class H1Request extends Readable {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly socket: Socket;
  /** True once the whole body has arrived (at once for a request without one). */
  complete: boolean;
  /** Trailer fields of a chunked body, once it ended. */
  trailers: Fields = EMPTY_FIELDS;
  readonly bodiless: boolean;

  constructor(socket: Socket, head: RequestHead) {
    super();
    this.socket = socket;
    this.method = head.method;
    this.url = head.url;
    this.httpVersionMinor = head.minor;
    this.httpVersion = head.minor === 1 ? '1.1' : '1.0';
    this.headers = head.headers;
    this.rawHeaders = head.raw;
    this.bodiless = head.bodiless;
    this.complete = head.bodiless;
  }

  override _read(): void {
    if (this.bodiless) this.push(null);
    else this.socket.resume();
  }

  /** The body will not arrive: the client went away or sent it malformed. */
  abort(error: PorticoError): void {
    if (this.listenerCount('error') > 0) this.destroy(error);
    else this.destroy();
  }
}

/**
 * The response to an {@link H1Request}, with the part of node's `ServerResponse` a proxy uses: status,
 * header methods, `writeHead`, `write` (chunked unless a length is known), `end`, trailers, early hints,
 * `'drain'` and `'close'`. The head goes out with the first body bytes, in one write.
 */
export class H1Response extends Stream {
  statusCode = 200;
  statusMessage: string | undefined;
  /** False to close the connection after this response. */
  shouldKeepAlive: boolean;
  /** Add a Date field when the headers have none. */
  sendDate = true;
  readonly req: H1Request;
  readonly socket: Socket;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  readonly #connection: H1Connection;
  /** Fields set with `setHeader`, by lower-case name. */
  #fields: Map<string, [name: string, value: string | string[]]> | undefined;
  /** The serialised head as pieces (see `copyPieces`), until it is written. */
  #head: readonly string[] | undefined;
  #headersSent = false;
  #hasBody = true;
  #chunked = false;
  #trailers: OutgoingHttpHeaders | undefined;
  /** The connection closed or the request failed: nothing more is written. */
  #abandoned = false;

  constructor(connection: H1Connection, req: H1Request) {
    super();
    this.#connection = connection;
    this.req = req;
    this.socket = connection.socket;
    const connectionField = req.headers.connection;
    this.shouldKeepAlive =
      req.httpVersionMinor === 1
        ? !listHasToken(connectionField, 'close')
        : listHasToken(connectionField, 'keep-alive');
    if (req.method === 'HEAD') this.#hasBody = false;
  }

  get headersSent(): boolean {
    return this.#headersSent;
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    if (this.#headersSent) throw headersSentError(name);
    checkResponseField(name, value);
    (this.#fields ??= new Map()).set(name.toLowerCase(), [
      name,
      Array.isArray(value) ? [...(value as string[])] : String(value),
    ]);
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.#fields?.get(name.toLowerCase())?.[1];
  }

  hasHeader(name: string): boolean {
    return this.#fields?.has(name.toLowerCase()) ?? false;
  }

  removeHeader(name: string): void {
    if (this.#headersSent) throw headersSentError(name);
    this.#fields?.delete(name.toLowerCase());
  }

  getHeaders(): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [lower, [, value]] of this.#fields ?? []) headers[lower] = value;
    return headers;
  }

  getHeaderNames(): string[] {
    return [...(this.#fields?.keys() ?? [])];
  }

  /**
   * Fixes the status and fields (those given here over those set before); they are sent with the first
   * body bytes, or by `flushHeaders`.
   */
  writeHead(
    statusCode: number,
    reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (this.#headersSent) throw headersSentError('(status)');
    checkStatus(statusCode);
    if (typeof reasonOrHeaders === 'string') {
      if (!FIELD_TEXT.test(reasonOrHeaders))
        throw new PorticoError(
          'INVALID_ARGUMENT',
          `invalid reason phrase ${JSON.stringify(reasonOrHeaders)}`,
        );
      this.statusMessage = reasonOrHeaders;
    } else headers = reasonOrHeaders;
    this.statusCode = statusCode;
    this.#head = this.#serialise(headers, undefined, false);
    return this;
  }

  /**
   * `writeHead` for fields each checked already (a `ResponseHeader` still `checked`): the head is not
   * checked again as a whole, a regex pass over every byte of it that was ~1 % of a proxied request.
   */
  writeCheckedHead(statusCode: number, headers: Readonly<Record<string, string | string[]>>): this {
    if (this.#headersSent) throw headersSentError('(status)');
    checkStatus(statusCode);
    this.statusCode = statusCode;
    this.#head = this.#serialise(headers, undefined, true);
    return this;
  }

  /** `callback` runs once the chunk was handed to the socket, as with node's. */
  write(chunk: Buffer | string, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    if (this.writableEnded) throw new PorticoError('INTERNAL', 'write after end');
    const done = typeof encoding === 'function' ? encoding : callback;
    const data =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : chunk;
    if (!this.#headersSent) this.#head = this.#serialise(undefined, undefined, false);
    if (this.#abandoned) return false;
    let ok: boolean;
    if (!this.#hasBody || data.length === 0) {
      ok = this.#flushHead();
    } else {
      const head = this.#takeHead();
      ok = this.#chunked
        ? this.#send(head, `${data.length.toString(16)}\r\n`, data, '\r\n')
        : this.#send(head, undefined, data, undefined);
    }
    // An empty write queues behind the data, so its callback runs once that was written.
    if (done !== undefined) this.socket.write(EMPTY, done);
    return ok;
  }

  /** Sends what is left (the head if it was not, the last chunk) in one write; `callback` runs on 'finish'. */
  end(chunk?: Buffer | string | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    const done = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : callback;
    if (done !== undefined) this.once('finish', done);
    if (this.writableEnded) return this;
    const data =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : typeof chunk === 'function'
          ? undefined
          : chunk;
    if (!this.#headersSent) this.#head = this.#serialise(undefined, data?.length ?? 0, false);
    this.writableEnded = true;
    if (!this.#abandoned) {
      const head = this.#takeHead();
      const body = this.#hasBody && data !== undefined && data.length > 0 ? data : undefined;
      if (this.#chunked) {
        const last = this.#lastChunk();
        if (body === undefined) this.#send(head, undefined, EMPTY, last);
        else this.#send(head, `${body.length.toString(16)}\r\n`, body, `\r\n${last}`);
      } else if (body !== undefined || head !== undefined) {
        this.#send(head, undefined, body ?? EMPTY, undefined);
      }
    }
    this.writableFinished = true;
    this.#connection.responseEnded(this);
    process.nextTick(emitFinish, this);
    return this;
  }

  /** Sends the head now, without waiting for body bytes. */
  flushHeaders(): void {
    if (!this.#headersSent) this.#head = this.#serialise(undefined, undefined, false);
    this.#flushHead();
  }

  addTrailers(headers: OutgoingHttpHeaders): void {
    this.#trailers = headers;
  }

  writeContinue(): void {
    if (!this.#abandoned) this.socket.write(CONTINUE);
  }

  /** A 103 Early Hints response ahead of this one (HTTP/1.1 clients only). */
  writeEarlyHints(hints: Record<string, string | string[]>): void {
    if (this.#abandoned || this.#headersSent || this.req.httpVersionMinor !== 1) return;
    const fields = new HeadFields('HTTP/1.1 103 Early Hints\r\n');
    for (const name of Object.keys(hints)) fields.add(name, hints[name]!);
    this.socket.write(fields.head(), 'latin1');
  }

  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.socket.destroy(error);
    return this;
  }

  /** The connection is gone or the request failed: nothing more goes out; listeners hear 'close'. */
  abandon(): void {
    if (this.#abandoned || this.writableFinished) return;
    this.#abandoned = true;
    this.emit('close');
  }

  #flushHead(): boolean {
    const head = this.#takeHead();
    return head === undefined ? true : this.socket.write(piecesBuffer(head));
  }

  #takeHead(): readonly string[] | undefined {
    const head = this.#head;
    this.#head = undefined;
    return head;
  }

  /**
   * Head, chunk-size line, body and tail (a chunk's CRLF, the last chunk) in one write, copied into
   * one buffer; a large body goes beside them in one writev. The pieces are copied in as they are,
   * never concatenated first: a concatenation would be copied once more when written.
   */
  #send(
    head: readonly string[] | undefined,
    size: string | undefined,
    body: Buffer,
    tail: string | undefined,
  ): boolean {
    const socket = this.socket;
    if (head === undefined && size === undefined && tail === undefined) return socket.write(body);
    if (body.length <= COPY_WITH_HEAD_BYTES) {
      const before = (head === undefined ? 0 : piecesLength(head)) + (size?.length ?? 0);
      const out = Buffer.allocUnsafe(before + body.length + (tail?.length ?? 0));
      const at = head === undefined ? 0 : copyPieces(head, out, 0);
      if (size !== undefined) out.write(size, at, 'latin1');
      body.copy(out, before);
      if (tail !== undefined) out.write(tail, before + body.length, 'latin1');
      return socket.write(out);
    }
    socket.cork();
    if (head !== undefined) socket.write(piecesBuffer(head));
    if (size !== undefined) socket.write(size, 'latin1');
    let ok = socket.write(body);
    if (tail !== undefined) ok = socket.write(tail, 'latin1');
    socket.uncork();
    return ok;
  }

  /** False when the head must say Connection: close: the handler's field, or a body too large to discard. */
  #mayKeepAlive(connection: string | undefined): boolean {
    if (connection !== undefined && listHasToken(connection, 'close')) return false;
    return this.req.complete || Number(this.req.headers['content-length'] ?? 0) <= DISCARD_MAX_BYTES;
  }

  /**
   * The status line and fields, framing decided: Content-Length as given (or `endLength`, the body
   * `end` was called with), otherwise chunked for HTTP/1.1 and close-delimited for HTTP/1.0. With
   * `givenChecked`, the given fields were checked one by one; those set by `setHeader` were checked
   * there, and the ones added here are ours, so only a reason phrase assigned directly is left.
   */
  #serialise(
    given: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined,
    endLength: number | undefined,
    givenChecked: boolean,
  ): readonly string[] {
    const status = this.statusCode;
    if (status < 200 || status === 204 || status === 304) this.#hasBody = false;
    const message = this.statusMessage;
    const checked =
      (givenChecked || given === undefined) && (message === undefined || FIELD_TEXT.test(message));
    const fields = new HeadFields(statusLine(status, message), checked);
    this.#addFields(fields, given);
    const connection = fields.connection;
    if (!this.#mayKeepAlive(connection)) this.shouldKeepAlive = false;
    if (this.sendDate && !fields.hasDate) fields.add('Date', httpDate());
    if (this.#hasBody && !fields.hasLength) this.#frame(fields, endLength);
    if (connection === undefined) {
      if (!this.shouldKeepAlive) fields.add('Connection', 'close');
      else if (this.req.httpVersionMinor === 0) fields.add('Connection', 'keep-alive');
    }
    const head = fields.pieces();
    // Only now: a head that failed its checks was not sent, and an error response can still be.
    this.#headersSent = true;
    return head;
  }

  /** The fields given to `writeHead` (a flat list replaces those set before), then those `setHeader` set. */
  #addFields(fields: HeadFields, given: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): void {
    const set = this.#fields;
    if (Array.isArray(given)) {
      const flat = given as string[];
      for (let i = 0; i + 1 < flat.length; i += 2) fields.add(flat[i]!, flat[i + 1]!);
    } else if (given !== undefined) {
      if (set !== undefined)
        for (const [lower, [name, value]] of set) if (given[lower] === undefined) fields.add(name, value);
      // for-in, not Object.keys: no key array per response. The record is a plain object.
      for (const name in given) {
        const value = given[name];
        if (value !== undefined) fields.add(name, value);
      }
    } else if (set !== undefined) {
      for (const [name, value] of set.values()) fields.add(name, value);
    }
  }

  /** For a body without Content-Length: the fields that frame it, if any. */
  #frame(fields: HeadFields, endLength: number | undefined): void {
    const transferEncoding = fields.transferEncoding;
    if (transferEncoding !== undefined) {
      this.#chunked = lastCodingIsChunked(transferEncoding);
      if (!this.#chunked) this.shouldKeepAlive = false;
    } else if (endLength !== undefined) {
      fields.add('Content-Length', endLength);
    } else if (this.req.httpVersionMinor === 1) {
      this.#chunked = true;
      fields.add('Transfer-Encoding', 'chunked');
    } else {
      this.shouldKeepAlive = false;
    }
  }

  /** The last chunk of a chunked body: a zero size, any trailers, the blank line. */
  #lastChunk(): string {
    const fields = new HeadFields('0\r\n');
    const trailers = this.#trailers ?? {};
    for (const name of Object.keys(trailers)) {
      const value = trailers[name];
      if (value !== undefined) fields.add(name, value);
    }
    return fields.head();
  }
}

/**
 * A response head (or a trailer section) being built: a start line, field lines, the blank line, and
 * what deciding the framing needs to know about the fields. Unless every field was checked already, the
 * result is checked as a whole (`head`): one regex pass instead of two per field, and a count of line
 * breaks, so a value smuggling in a CRLF and a field of its own cannot pass. A checked head is never
 * joined: its parts are copied into the buffer it goes out in (`pieces`, `copyPieces`). Concatenating
 * them instead saved no time (node flattens the rope when it writes it) and made ~500 B more garbage
 * per proxied request.
 */
class HeadFields {
  readonly #parts: string[];
  #lineBreaks = 2;
  hasLength = false;
  hasDate = false;
  connection: string | undefined;
  transferEncoding: string | undefined;

  /** Every field added was checked before: `head` need not check them again. */
  readonly #checked: boolean;

  /** `startLine` ends in CRLF: a status line, or a last chunk's `0` line. */
  constructor(startLine: string, checked = false) {
    this.#parts = [startLine];
    this.#checked = checked;
  }

  add(name: string, value: OutgoingHttpHeader): void {
    // The head check sees `name: value`; a colon inside the name would read as part of the value.
    if (name.includes(':')) throw invalidResponseFieldName(name);
    // Only names as long as the four looked for are lower-cased: most fields are none of them.
    const n = name.length;
    if (n === 4 || n === 10 || n === 14 || n === 17) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') this.hasLength = true;
      else if (lower === 'date') this.hasDate = true;
      else if (lower === 'connection') this.connection = String(value);
      else if (lower === 'transfer-encoding') this.transferEncoding = String(value);
    }
    // Values may be numbers (a Content-Length, a value given to setHeader): the pieces are strings.
    const parts = this.#parts;
    if (Array.isArray(value)) {
      for (const item of value) parts.push(name, ': ', String(item), '\r\n');
      this.#lineBreaks += value.length;
    } else {
      parts.push(name, ': ', String(value), '\r\n');
      this.#lineBreaks++;
    }
  }

  /**
   * Start line, fields and the blank line as pieces to copy into the buffer they go out in (see
   * `copyPieces`): the parts themselves when every field was checked, else the head checked whole.
   */
  pieces(): readonly string[] {
    if (!this.#checked) return [this.head()];
    this.#parts.push('\r\n');
    return this.#parts;
  }

  /** Start line, fields and the blank line as one string; throws naming the first bad field. */
  head(): string {
    this.#parts.push('\r\n');
    const head = this.#parts.join('');
    if (isWellFormedHead(head, this.#lineBreaks)) return head;
    const lines = head.split('\r\n').slice(1, -2);
    for (const line of lines) {
      const colon = line.indexOf(': ');
      if (colon === -1 || !HTTP_TOKEN.test(line.slice(0, colon))) throw invalidResponseFieldName(line);
      if (!FIELD_TEXT.test(line.slice(colon + 2))) throw invalidResponseFieldValue(line.slice(0, colon));
    }
    throw new PorticoError('INVALID_ARGUMENT', 'a response header value holds a line break');
  }
}

function emitFinish(res: H1Response): void {
  res.emit('finish');
  res.emit('close');
}

function checkStatus(statusCode: number): void {
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 999)
    throw new PorticoError('INVALID_ARGUMENT', `invalid status code ${statusCode}`);
}

function headersSentError(name: string): PorticoError {
  return new PorticoError('INTERNAL', `cannot set ${name}: the response head was already sent`);
}

/** Status lines with node's reason phrases, by status code, made once: most responses need one. */
const STATUS_LINES: string[] = [];
for (const [code, reason] of Object.entries(STATUS_CODES)) {
  STATUS_LINES[Number(code)] = `HTTP/1.1 ${code} ${reason}\r\n`;
}

function statusLine(status: number, message: string | undefined): string {
  return (
    (message === undefined ? STATUS_LINES[status] : undefined) ??
    `HTTP/1.1 ${status} ${message ?? 'Unknown'}\r\n`
  );
}

let cachedDate: string | undefined;

/** The IMF-fixdate of now, computed at most once a second. */
function httpDate(): string {
  if (cachedDate === undefined) {
    cachedDate = new Date().toUTCString();
    setTimeout(() => (cachedDate = undefined), 1000 - (Date.now() % 1000)).unref();
  }
  return cachedDate;
}
