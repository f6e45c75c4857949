import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { HttpPeer } from '../upstream/index.ts';
import type { PorticoError } from '../errors.ts';
import { requestAuthority } from '../http.ts';
import { clientCertificateOf, negotiatedEntry, type ClientCertificateInfo } from '../tls/index.ts';

/**
 * A downstream request: Portico's `H1Request` for HTTP/1.1 (plaintext and TLS), node's
 * `Http2ServerRequest` for HTTP/2. The body is the stream itself.
 */
export interface DownstreamRequest extends Readable {
  readonly method?: string | undefined;
  /** Path and query as received (the request target). */
  readonly url?: string | undefined;
  /** Lower-case names; repeats joined as node joins them (Set-Cookie stays a list). */
  readonly headers: IncomingHttpHeaders;
  /** `[name, value, ...]` as received, names in their case. */
  readonly rawHeaders: string[];
  readonly httpVersion: string;
  readonly socket: Socket;
  /** True once the whole body has arrived. */
  readonly complete: boolean;
}

/**
 * The response to a {@link DownstreamRequest}: the part of node's `ServerResponse` that `H1Response`,
 * `Http2ServerResponse` and the upgrade path's `UpgradeResponse` (a `ServerResponse`) share.
 */
export interface DownstreamResponse extends NodeJS.EventEmitter {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  /** HTTP/1.1: false closes the connection after this response. */
  shouldKeepAlive?: boolean;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  getHeader(name: string): number | string | string[] | undefined;
  hasHeader(name: string): boolean;
  removeHeader(name: string): void;
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  addTrailers(headers: OutgoingHttpHeaders): void;
  writeEarlyHints(hints: Record<string, string | string[]>): void;
  flushHeaders(): void;
  destroy(error?: Error): unknown;
}

/**
 * One downstream request and its response, as the ProxyHttp phases see it. The session also records what
 * happened (peer, attempts, status, byte counts, timings) for `logging`.
 *
 * The same shape serves HTTP/1.1 and HTTP/2 (`httpVersion` tells them apart): `request` and
 * `response` are the {@link DownstreamRequest} and {@link DownstreamResponse} of whichever server
 * took the request.
 */
export class Session {
  readonly request: DownstreamRequest;
  readonly response: DownstreamResponse;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** 1 for the first attempt; grows with each retry after `failToConnect`. */
  attempt = 1;
  /** Peers already tried and failed, oldest first; a retrying `upstreamPeer` should avoid them. */
  readonly triedPeers: HttpPeer[] = [];
  /** The peer of the current (or last) attempt. */
  peer: HttpPeer | undefined;
  /** Status of the response sent downstream, once sent. */
  status = 0;
  /** Response body bytes written downstream. */
  bytesSent = 0;
  /** `performance.now()` when upstream response headers arrived. */
  upstreamHeadersAt = 0;
  /** Deadline for the whole request, from its arrival (Gateway API `timeouts.request`); set by a filter. */
  requestTimeoutMs: number | undefined;
  /** Deadline for each upstream attempt (Gateway API `timeouts.backendRequest`); set by a filter. */
  backendRequestTimeoutMs: number | undefined;
  /** This proxy's RFC 9211 Cache-Status member, e.g. `Portico; hit; ttl=42`, when a cache was involved. */
  cacheStatus: string | undefined;
  /** Set when the request ended in error. */
  error: PorticoError | undefined;

  constructor(request: DownstreamRequest, response: DownstreamResponse, startedAt: number) {
    this.request = request;
    this.response = response;
    this.startedAt = startedAt;
  }

  get method(): string {
    return this.request.method!;
  }

  /** Path and query as received, e.g. `/a?b=1`. */
  get path(): string {
    return this.request.url!;
  }

  /** The Host header (or HTTP/2 `:authority`), port included when the client sent one. */
  get host(): string | undefined {
    return requestAuthority(this.request) || undefined;
  }

  /** `1.1`, or `2.0` for HTTP/2. */
  get httpVersion(): string {
    return this.request.httpVersion;
  }

  /** A request header's value; repeated headers are joined as node joins them. */
  header(name: string): string | undefined {
    const value = this.request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  get clientAddress(): string {
    return this.request.socket.remoteAddress ?? '';
  }

  /** True when the client connected over TLS. */
  get secure(): boolean {
    return (this.request.socket as TLSSocket).encrypted === true;
  }

  /** The SNI the client sent on a TLS connection, if any. */
  get servername(): string | undefined {
    const name = (this.request.socket as TLSSocket).servername;
    return typeof name === 'string' ? name : undefined;
  }

  /**
   * The client certificate of a TLS connection and whether it verified against the CA of the
   * certificate entry SNI selected; `status: 'none'` on plaintext or when none was presented.
   */
  get clientCertificate(): ClientCertificateInfo {
    return clientCertificateOf(this.request.socket as TLSSocket);
  }

  /** The key of the certificate entry the TLS connection negotiated (see `CertificateSpec.key`). */
  get tlsEntryKey(): string | undefined {
    return this.secure ? negotiatedEntry(this.request.socket as TLSSocket)?.key : undefined;
  }

  /** True once response headers went downstream: from then on a failure can only close the connection. */
  get responseStarted(): boolean {
    return this.response.headersSent;
  }

  /**
   * Writes a complete local response, e.g. from `requestFilter` (which then returns `'responded'`).
   * A string body is sent as UTF-8 with a text/plain type unless `headers` names one.
   */
  respond(status: number, body: string | Buffer = '', headers: Record<string, string | string[]> = {}): void {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const res = this.response;
    res.statusCode = status;
    for (const name of Object.keys(headers)) res.setHeader(name, headers[name]!);
    if (!res.hasHeader('content-type') && payload.length > 0)
      res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', payload.length);
    this.status = status;
    this.bytesSent += payload.length;
    // No data argument for an empty body: over HTTP/2 that ends the stream with the headers frame.
    res.end(this.method === 'HEAD' || payload.length === 0 ? undefined : payload);
  }
}
