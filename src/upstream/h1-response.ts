/**
 * The parser for HTTP/1.1 responses (RFC 9112) as an upstream client reads them, on the framing shared
 * with the server's request parser (`src/http1.ts`). Besides that framing's strictness, a
 * Content-Length that is not a number or repeats with another value, and Transfer-Encoding together
 * with Content-Length, are protocol errors (502) and the connection is closed.
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

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;

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
    const lineEnd = text.indexOf('\r\n');
    const statusLine = lineEnd === -1 ? text : text.slice(0, lineEnd);
    const status = STATUS_LINE.exec(statusLine);
    if (status === null) throw this.error(`invalid status line ${JSON.stringify(statusLine.slice(0, 64))}`);
    const code = Number(status[2]);
    // Never stored rather than deleted afterwards: a delete leaves V8 a slow dictionary object.
    const hop: Fields = {};
    const fields = lineEnd === -1 ? {} : this.parseFields(text.slice(lineEnd + 2), undefined, hop);
    const listed = connectionTokens(hop.connection);
    const headers = listed === undefined ? fields : withoutFields(fields, (name) => listed.has(name));
    if (code < 200) {
      if (code === 101) throw this.error('101 Switching Protocols to a request that asked for no upgrade');
      this.#sink.onHead(code, headers);
      return;
    }
    const connection = fieldText(hop.connection);
    this.mustClose =
      status[1] === '0' ? !listHasToken(connection, 'keep-alive') : listHasToken(connection, 'close');
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
    const length = contentLength(headers['content-length'], (message) => this.error(message));
    return length === undefined ? UNTIL_CLOSE : { kind: 'length', length };
  }
}

/** `Keep-Alive: timeout=5, max=100` → 5000. */
function keepAliveTimeout(value: string | string[] | undefined): number | undefined {
  const text = fieldText(value);
  if (text === undefined) return undefined;
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i.exec(text);
  return match === null ? undefined : Number(match[1]) * 1000;
}
