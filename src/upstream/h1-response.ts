/**
 * The parser for HTTP/1.1 responses (RFC 9112) as an upstream client reads them, on the framing shared
 * with the server's request parser (`src/http1.ts`). Besides that framing's strictness, a status code
 * outside 100–599 (RFC 9110 §15), a Content-Length that is not a number or repeats with another value,
 * and Transfer-Encoding together with Content-Length, are protocol errors (502) and the connection is
 * closed. A Content-Length of one value repeated goes on as that value, and none on a 1xx or 204
 * (RFC 9110 §8.6).
 */
import { PorticoError } from '../errors.ts';
import { connectionTokens, withoutFields } from '../http.ts';
import {
  CHUNKED,
  contentLength,
  fieldText,
  type Fields,
  type Framing,
  lastCodingIsChunked,
  listHasToken,
  MessageParser,
  NO_BODY,
  UNTIL_CLOSE,
} from '../http1.ts';

/** What the parser calls; the pool's connection implements it. */
export interface ResponseSink {
  /**
   * A complete head, its end-to-end fields only: hop-by-hop ones (RFC 9110 §7.6.1) and those
   * Connection names are kept out. 1xx heads are reported too, each followed by the final one.
   */
  onHead(status: number, headers: Fields): void;
  /** A slice of body: a view of the chunk passed to `execute`, valid for the duration of the call only if copied. */
  onBody(chunk: Buffer): void;
  /** The response ended; `trailers` is empty unless a chunked body carried some. */
  onEnd(trailers: Fields): void;
}

/** Longest response head (status line and fields) or trailer section accepted. */
export const MAX_HEAD_BYTES = 64 * 1024;

export class ResponseParser extends MessageParser {
  readonly #sink: ResponseSink;
  #noBody = false;
  /** Set by the head: the connection may not carry another request. */
  mustClose = false;
  /** `Keep-Alive: timeout=N` of the response, in ms; undefined when absent. */
  keepAliveMs: number | undefined;

  constructor(sink: ResponseSink) {
    super(MAX_HEAD_BYTES);
    this.#sink = sink;
  }

  /** Prepares for the response to a new request; `noBody` for HEAD. */
  reset(noBody: boolean): void {
    this.restart();
    this.#noBody = noBody;
    this.mustClose = false;
    this.keepAliveMs = undefined;
  }

  protected onHead(text: string): void {
    let lineEnd = text.indexOf('\r\n');
    if (lineEnd === -1) lineEnd = text.length;
    const code = statusCode(text, lineEnd);
    if (code === -1)
      throw this.error(`invalid status line ${JSON.stringify(text.slice(0, Math.min(lineEnd, 64)))}`);
    if (code < 100 || code > 599) throw this.error(`status code ${text.slice(9, 12)} is outside 100–599`);
    // Never stored rather than deleted afterwards: a delete leaves V8 a slow dictionary object.
    const hop: Fields = {};
    const fields = lineEnd === text.length ? {} : this.parseFields(text.slice(lineEnd + 2), undefined, hop);
    const listed = connectionTokens(hop.connection);
    let headers = listed === undefined ? fields : withoutFields(fields, (name) => listed.has(name));
    // RFC 9110 §8.6: a server must not send one there; passed on, it would frame a body that is not.
    if ((code < 200 || code === 204) && headers['content-length'] !== undefined)
      headers = withoutFields(headers, (name) => name === 'content-length');
    if (code < 200) {
      if (code === 101) throw this.error('101 Switching Protocols to a request that asked for no upgrade');
      this.#sink.onHead(code, headers);
      return;
    }
    const connection = fieldText(hop.connection);
    this.mustClose =
      text.charCodeAt(7) === 48 /* HTTP/1.0 */
        ? !listHasToken(connection, 'keep-alive')
        : listHasToken(connection, 'close');
    this.keepAliveMs = keepAliveTimeout(hop['keep-alive']);
    const framing = this.#framing(code, headers, hop);
    this.#sink.onHead(code, headers);
    if (framing.kind === 'eof') this.mustClose = true;
    this.frame(framing);
  }

  protected onBody(chunk: Buffer): void {
    this.#sink.onBody(chunk);
  }

  protected onEnd(trailers: Fields): void {
    this.#sink.onEnd(trailers);
  }

  protected error(message: string): PorticoError {
    return new PorticoError('UPSTREAM_PROTOCOL', `upstream sent an invalid response: ${message}`, {
      source: 'upstream',
    });
  }

  /** RFC 9112 §6.3, for a response. */
  #framing(status: number, headers: Fields, hop: Fields): Framing {
    if (this.#noBody || status === 204 || status === 304) return NO_BODY;
    const te = fieldText(hop['transfer-encoding']);
    // RFC 9112 §6.3: Transfer-Encoding would override it, but both at once is the shape of a smuggling
    // attempt, and it "ought to be handled as an error" — as undici and node's own parser do.
    if (te !== undefined && headers['content-length'] !== undefined)
      throw this.error('both Transfer-Encoding and Content-Length');
    if (te !== undefined) return lastCodingIsChunked(te) ? CHUNKED : UNTIL_CLOSE;
    const field = headers['content-length'];
    const length = contentLength(field, (message) => this.error(message));
    if (length === undefined) return UNTIL_CLOSE;
    // "2, 2" or a repeated field: one value, as the message means it (an assignment, not a delete).
    if (typeof field !== 'string' || field.length !== String(length).length)
      headers['content-length'] = String(length);
    return { kind: 'length', length };
  }
}

/**
 * The code of the status line `text` holds up to `end` (`HTTP/1.x NNN`, then a reason phrase after a
 * space, without CR or LF), or -1 when it is not one. Read in place: a regex would slice the line and
 * make a match array per response.
 */
function statusCode(text: string, end: number): number {
  if (end < 12 || !text.startsWith('HTTP/1.', 0)) return -1;
  const minor = text.charCodeAt(7);
  if ((minor !== 48 && minor !== 49) || text.charCodeAt(8) !== 32) return -1;
  let code = 0;
  for (let at = 9; at < 12; at++) {
    const digit = text.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) return -1;
    code = code * 10 + digit;
  }
  if (end === 12) return code;
  if (text.charCodeAt(12) !== 32) return -1;
  for (let at = 13; at < end; at++) {
    const c = text.charCodeAt(at);
    if (c === 13 || c === 10) return -1;
  }
  return code;
}

/** `Keep-Alive: timeout=5, max=100` → 5000. */
function keepAliveTimeout(value: string | string[] | undefined): number | undefined {
  const text = fieldText(value);
  if (text === undefined) return undefined;
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i.exec(text);
  return match === null ? undefined : Number(match[1]) * 1000;
}
