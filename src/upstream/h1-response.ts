/**
 * An incremental parser for HTTP/1.1 responses (RFC 9112), as an upstream client reads them: fed the
 * socket's chunks in order, it reports the head, body slices (views of the chunks, never copies) and
 * the end, and says whether the connection may carry another request.
 *
 * Strict where leniency lets a response be read two ways (RFC 9112 §6.3, §11.2): a Content-Length that
 * is not a number or repeats with another value, obs-fold, a header name that is not a token, bare CR,
 * a chunk size that is not hex, a head or chunk line beyond its limit, Transfer-Encoding together
 * with Content-Length — each is a protocol error and the connection is closed.
 */
import { PorticoError } from '../errors.ts';
import { HTTP_TOKEN } from '../http.ts';

/** What the parser calls; the pool's connection implements it. */
export interface ResponseSink {
  /** A complete head. 1xx heads are reported too, each followed by the final response's head. */
  onHead(status: number, headers: Record<string, string | string[]>): void;
  /** A slice of body: a view of the chunk passed to `execute`, valid for the duration of the call only if copied. */
  onBody(chunk: Buffer): void;
  /** The response ended; `trailers` is empty unless a chunked body carried some. */
  onEnd(trailers: Record<string, string | string[]>): void;
}

/** Longest response head (status line and fields) or trailer section accepted. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size line (size and extensions) accepted. */
const MAX_CHUNK_LINE = 4096;

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const DIGITS = /^\d{1,15}$/;
const HEX = /^[0-9A-Fa-f]{1,12}$/;
const EMPTY: Record<string, string | string[]> = Object.freeze({});

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'eof' | 'done';

export class ResponseParser {
  #sink: ResponseSink;
  #state: State = 'head';
  /** Bytes of a head, chunk line or trailer section split across chunks. */
  #pending: Buffer | undefined;
  #remaining = 0;
  #noBody = false;
  /** Set by the head: the connection may not carry another request. */
  mustClose = false;
  /** `Keep-Alive: timeout=N` of the response, in ms; undefined when absent. */
  keepAliveMs: number | undefined;
  /** True once any byte of the response has arrived. */
  started = false;

  constructor(sink: ResponseSink) {
    this.#sink = sink;
  }

  /** Prepares for the response to a new request; `noBody` for HEAD. */
  reset(noBody: boolean): void {
    this.#state = 'head';
    this.#pending = undefined;
    this.#noBody = noBody;
    this.mustClose = false;
    this.keepAliveMs = undefined;
    this.started = false;
  }

  /** True once the response has ended (`onEnd` was called). */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** True while the body runs until the connection closes (neither length nor chunked). */
  get readsUntilClose(): boolean {
    return this.#state === 'eof';
  }

  /**
   * Consumes one chunk. Returns the offset of the first byte after the end of the response (data the
   * upstream should not have sent), or -1 when the whole chunk belonged to it. Throws
   * `UPSTREAM_PROTOCOL` on a malformed response.
   */
  execute(chunk: Buffer): number {
    if (chunk.length > 0) this.started = true;
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.#state) {
        case 'head':
        case 'trailers':
          offset = this.#section(chunk, offset);
          break;
        case 'length':
        case 'chunk-data': {
          const n = Math.min(this.#remaining, chunk.length - offset);
          this.#remaining -= n;
          this.#sink.onBody(chunk.subarray(offset, offset + n));
          offset += n;
          if (this.#remaining > 0) break;
          if (this.#state === 'length') {
            this.#end(EMPTY);
          } else {
            this.#state = 'chunk-crlf';
            this.#remaining = 2;
          }
          break;
        }
        case 'chunk-size':
          offset = this.#chunkSize(chunk, offset);
          break;
        case 'chunk-crlf':
          offset = this.#chunkCrlf(chunk, offset);
          break;
        case 'eof':
          this.#sink.onBody(offset === 0 ? chunk : chunk.subarray(offset));
          return -1;
        case 'done':
          return offset;
      }
    }
    return this.#state === 'done' && offset < chunk.length ? offset : -1;
  }

  /** Stops reporting anything for the current response (it was aborted). */
  halt(): void {
    this.#state = 'done';
    this.#pending = undefined;
  }

  /** The connection closed: ends a close-delimited body; anything else still open is an error. */
  finish(): boolean {
    if (this.#state !== 'eof') return this.#state === 'done';
    this.#end(EMPTY);
    return true;
  }

  /** Accumulates a head or trailer section up to its blank line; returns the offset after it. */
  #section(chunk: Buffer, offset: number): number {
    const data = this.#join(chunk, offset);
    const base = this.#pending === undefined ? offset : 0;
    // A trailer section may be empty: the last chunk's line is followed directly by CRLF.
    const empty =
      this.#state === 'trailers' && data.length - base >= 2 && data[base] === 13 && data[base + 1] === 10;
    const end = empty ? base : data.indexOf('\r\n\r\n', base, 'latin1');
    if (end === -1) {
      if (data.length - base > MAX_HEAD_BYTES) throw protocolError('the response head is too large');
      this.#pending = Buffer.from(data.subarray(base));
      return chunk.length;
    }
    const consumedOfData = empty ? 2 : end + 4 - base;
    const text = empty ? '' : data.toString('latin1', base, end);
    const consumed =
      this.#pending === undefined ? offset + consumedOfData : offset + consumedOfData - this.#pending.length;
    this.#pending = undefined;
    if (consumedOfData > MAX_HEAD_BYTES) throw protocolError('the response head is too large');
    if (this.#state === 'trailers') this.#end(text === '' ? EMPTY : parseFields(text));
    else this.#head(text);
    return consumed;
  }

  #head(text: string): void {
    const lineEnd = text.indexOf('\r\n');
    const statusLine = lineEnd === -1 ? text : text.slice(0, lineEnd);
    const status = STATUS_LINE.exec(statusLine);
    if (status === null)
      throw protocolError(`invalid status line ${JSON.stringify(statusLine.slice(0, 64))}`);
    const code = Number(status[2]);
    const headers = lineEnd === -1 ? {} : parseFields(text.slice(lineEnd + 2));
    if (code < 200) {
      if (code === 101) throw protocolError('101 Switching Protocols to a request that asked for no upgrade');
      this.#sink.onHead(code, headers);
      this.#state = 'head';
      return;
    }
    const http10 = status[1] === '0';
    const connection = headerText(headers.connection)?.toLowerCase();
    this.mustClose = http10 ? !/(?:^|,)\s*keep-alive\s*(?:,|$)/.test(connection ?? '') : hasClose(connection);
    this.keepAliveMs = keepAliveTimeout(headers['keep-alive']);
    const framing = bodyFraming(code, this.#noBody, headers);
    this.#sink.onHead(code, headers);
    switch (framing.kind) {
      case 'none':
        return this.#end(EMPTY);
      case 'length':
        if (framing.length === 0) return this.#end(EMPTY);
        this.#remaining = framing.length;
        this.#state = 'length';
        return;
      case 'chunked':
        this.#state = 'chunk-size';
        return;
      case 'eof':
        this.mustClose = true;
        this.#state = 'eof';
    }
  }

  #chunkSize(chunk: Buffer, offset: number): number {
    const data = this.#join(chunk, offset);
    const base = this.#pending === undefined ? offset : 0;
    const lf = data.indexOf(10, base);
    if (lf === -1) {
      if (data.length - base > MAX_CHUNK_LINE) throw protocolError('a chunk-size line is too long');
      this.#pending = Buffer.from(data.subarray(base));
      return chunk.length;
    }
    if (lf === base || data[lf - 1] !== 13) throw protocolError('a chunk-size line does not end in CRLF');
    const line = data.toString('latin1', base, lf - 1);
    const semicolon = line.indexOf(';');
    const size = (semicolon === -1 ? line : line.slice(0, semicolon)).trimEnd();
    if (!HEX.test(size)) throw protocolError(`invalid chunk size ${JSON.stringify(size.slice(0, 32))}`);
    const consumed = this.#pending === undefined ? lf + 1 : lf + 1 - this.#pending.length + offset;
    this.#pending = undefined;
    this.#remaining = parseInt(size, 16);
    this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
    return consumed;
  }

  #chunkCrlf(chunk: Buffer, offset: number): number {
    while (this.#remaining > 0 && offset < chunk.length) {
      const expected = this.#remaining === 2 ? 13 : 10;
      if (chunk[offset] !== expected) throw protocolError('chunk data is not followed by CRLF');
      this.#remaining--;
      offset++;
    }
    if (this.#remaining === 0) this.#state = 'chunk-size';
    return offset;
  }

  /** `chunk` from `offset`, after any bytes pending from earlier chunks. */
  #join(chunk: Buffer, offset: number): Buffer {
    const pending = this.#pending;
    if (pending === undefined) return chunk;
    return Buffer.concat([pending, chunk.subarray(offset)]);
  }

  #end(trailers: Record<string, string | string[]>): void {
    this.#state = 'done';
    this.#sink.onEnd(trailers);
  }
}

type Framing =
  { readonly kind: 'none' | 'chunked' | 'eof' } | { readonly kind: 'length'; readonly length: number };

/** RFC 9112 §6.3, for a response. */
function bodyFraming(status: number, noBody: boolean, headers: Record<string, string | string[]>): Framing {
  if (noBody || status === 204 || status === 304) return { kind: 'none' };
  const te = headerText(headers['transfer-encoding']);
  // RFC 9112 §6.3: Transfer-Encoding would override it, but both at once is the shape of a smuggling
  // attempt, and it "ought to be handled as an error" — as undici and node's own parser do.
  if (te !== undefined && headers['content-length'] !== undefined)
    throw protocolError('both Transfer-Encoding and Content-Length');
  if (te !== undefined) {
    const codings = te.toLowerCase().split(',');
    return codings[codings.length - 1]!.trim() === 'chunked' ? { kind: 'chunked' } : { kind: 'eof' };
  }
  const cl = headers['content-length'];
  if (cl === undefined) return { kind: 'eof' };
  const values = (Array.isArray(cl) ? cl.join(',') : cl).split(',').map((v) => v.trim());
  const first = values[0]!;
  if (!DIGITS.test(first) || values.some((v) => v !== first))
    throw protocolError(`invalid Content-Length ${JSON.stringify(String(cl).slice(0, 64))}`);
  return { kind: 'length', length: Number(first) };
}

/** Field lines (`name: value` CRLF ...) as lower-case names; a repeated name becomes an array. */
function parseFields(text: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\r\n', start);
    if (end === -1) end = text.length;
    const first = text.charCodeAt(start);
    if (first === 32 || first === 9)
      throw protocolError('the response uses obs-fold (a line starting with whitespace)');
    const colon = text.indexOf(':', start);
    if (colon === -1 || colon > end) throw protocolError('a header line has no colon');
    const name = text.slice(start, colon);
    if (!HTTP_TOKEN.test(name))
      throw protocolError(`an invalid header name ${JSON.stringify(name.slice(0, 64))}`);
    const value = text.slice(colon + 1, end).trim();
    if (value.includes('\r') || value.includes('\n') || value.includes('\0'))
      throw protocolError(`header ${name} holds a bare CR, LF or NUL`);
    const lower = name.toLowerCase();
    const existing = fields[lower];
    if (existing === undefined) fields[lower] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else fields[lower] = [existing, value];
    start = end + 2;
  }
  return fields;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

function hasClose(connection: string | undefined): boolean {
  return connection !== undefined && /(?:^|,)\s*close\s*(?:,|$)/.test(connection);
}

/** `Keep-Alive: timeout=5, max=100` → 5000. */
function keepAliveTimeout(value: string | string[] | undefined): number | undefined {
  const text = headerText(value);
  if (text === undefined) return undefined;
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i.exec(text);
  return match === null ? undefined : Number(match[1]) * 1000;
}

function protocolError(message: string): PorticoError {
  return new PorticoError('UPSTREAM_PROTOCOL', `upstream sent an invalid response: ${message}`, {
    source: 'upstream',
  });
}
