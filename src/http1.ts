/**
 * HTTP/1.1 message framing (RFC 9112) shared by Portico's client and server: an incremental parser fed
 * a socket's chunks in order, reporting a head, body slices (views of the chunks, never copies) and
 * the end. `ResponseParser` (upstream) and `RequestParser` (downstream) differ only in their start
 * line and in how a head decides the body's framing.
 *
 * Strict where leniency lets a message be read two ways (RFC 9112 §6.3, §11.2): obs-fold, a field
 * name that is not a token, bare CR or LF, a chunk size that is not hex, a head or chunk line beyond
 * its limit — each is an error of the subclass's kind, and the connection is closed.
 */
import { HOP_BY_HOP_HEADERS, HTTP_TOKEN } from './http.ts';

export type Fields = Record<string, string | string[]>;
export const EMPTY_FIELDS: Fields = Object.freeze({});

/** The end of a head: a needle of bytes, since a string needle is encoded again on every search. */
const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
/** Longest chunk-size line (size and extensions) accepted. */
const MAX_CHUNK_LINE = 4096;
const HEX = /^[0-9A-Fa-f]{1,12}$/;
/** Control characters a field value may not hold (HTAB is allowed). */
const VALUE_CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'eof' | 'done';

export type Framing =
  { readonly kind: 'none' | 'chunked' | 'eof' } | { readonly kind: 'length'; readonly length: number };

export const NO_BODY: Framing = Object.freeze({ kind: 'none' });
export const CHUNKED: Framing = Object.freeze({ kind: 'chunked' });
export const UNTIL_CLOSE: Framing = Object.freeze({ kind: 'eof' });

/** The most field lines a head or trailer section may have, as Pingora's (its MAX_HEADERS). */
export const MAX_HEADER_FIELDS = 256;

export abstract class MessageParser {
  #state: State = 'head';
  /** Bytes of a head, chunk line or trailer section split across chunks. */
  #pending: Buffer | undefined;
  #remaining = 0;
  readonly #maxHeadBytes: number;
  readonly #maxFields: number;
  /** True once any byte of the current message has arrived. */
  started = false;

  constructor(maxHeadBytes: number, maxFields = MAX_HEADER_FIELDS) {
    this.#maxHeadBytes = maxHeadBytes;
    this.#maxFields = maxFields;
  }

  /** The start line and fields up to (not including) the blank line; calls `frame` unless it reports another head. */
  protected abstract onHead(text: string): void;
  protected abstract onBody(chunk: Buffer): void;
  protected abstract onEnd(trailers: Fields): void;
  /** The error to throw; `tooLarge` for a head or trailer section beyond the limit. */
  protected abstract error(message: string, tooLarge?: boolean): Error;

  /** Prepares for the next message. */
  restart(): void {
    this.#state = 'head';
    this.#pending = undefined;
    this.started = false;
  }

  /** True once the message has ended (`onEnd` was called). */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** True while the body runs until the connection closes (neither length nor chunked). */
  get readsUntilClose(): boolean {
    return this.#state === 'eof';
  }

  /** True while a head (or a 1xx's next head) is still expected. */
  get inHead(): boolean {
    return this.#state === 'head';
  }

  /**
   * Consumes one chunk. Returns the offset of the first byte after the end of the message (the next
   * message's, or data the peer should not have sent), or -1 when the whole chunk belonged to it.
   * Throws the subclass's error on a malformed message.
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
          this.onBody(chunk.subarray(offset, offset + n));
          offset += n;
          if (this.#remaining > 0) break;
          if (this.#state === 'length') {
            this.#end(EMPTY_FIELDS);
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
          this.onBody(offset === 0 ? chunk : chunk.subarray(offset));
          return -1;
        case 'done':
          return offset;
      }
    }
    return this.#state === 'done' && offset < chunk.length ? offset : -1;
  }

  /** Stops reporting anything for the current message (it was aborted). */
  halt(): void {
    this.#state = 'done';
    this.#pending = undefined;
  }

  /** The connection closed: ends a close-delimited body; anything else still open is an error. */
  finish(): boolean {
    if (this.#state !== 'eof') return this.#state === 'done';
    this.#end(EMPTY_FIELDS);
    return true;
  }

  /** Called by `onHead` once the head is known: how the body that follows is delimited. */
  protected frame(framing: Framing): void {
    switch (framing.kind) {
      case 'none':
        return this.#end(EMPTY_FIELDS);
      case 'length':
        if (framing.length === 0) return this.#end(EMPTY_FIELDS);
        this.#remaining = framing.length;
        this.#state = 'length';
        return;
      case 'chunked':
        this.#state = 'chunk-size';
        return;
      case 'eof':
        this.#state = 'eof';
    }
  }

  /** Accumulates a head or trailer section up to its blank line; returns the offset after it. */
  #section(chunk: Buffer, offset: number): number {
    const data = this.#join(chunk, offset);
    const base = this.#pending === undefined ? offset : 0;
    // A trailer section may be empty: the last chunk's line is followed directly by CRLF.
    const empty =
      this.#state === 'trailers' && data.length - base >= 2 && data[base] === 13 && data[base + 1] === 10;
    const end = empty ? base : data.indexOf(BLANK_LINE, base);
    const limit = this.#maxHeadBytes;
    if (end === -1) {
      if (data.length - base > limit) throw this.error('the head is too large', true);
      // Otherwise a head of bare-LF lines would wait for a CRLF CRLF that never comes.
      if (hasBareLf(data, base)) throw this.error('a line ends in a bare LF');
      this.#pending = Buffer.from(data.subarray(base));
      return chunk.length;
    }
    const consumedOfData = empty ? 2 : end + 4 - base;
    const text = empty ? '' : data.toString('latin1', base, end);
    const consumed =
      this.#pending === undefined ? offset + consumedOfData : offset + consumedOfData - this.#pending.length;
    this.#pending = undefined;
    if (consumedOfData > limit) throw this.error('the head is too large', true);
    if (this.#state === 'trailers') this.#end(text === '' ? EMPTY_FIELDS : this.parseFields(text));
    else this.onHead(text);
    return consumed;
  }

  #chunkSize(chunk: Buffer, offset: number): number {
    const data = this.#join(chunk, offset);
    const base = this.#pending === undefined ? offset : 0;
    const lf = data.indexOf(10, base);
    if (lf === -1) {
      if (data.length - base > MAX_CHUNK_LINE) throw this.error('a chunk-size line is too long');
      this.#pending = Buffer.from(data.subarray(base));
      return chunk.length;
    }
    if (lf === base || data[lf - 1] !== 13) throw this.error('a chunk-size line does not end in CRLF');
    const line = data.toString('latin1', base, lf - 1);
    const semicolon = line.indexOf(';');
    const size = (semicolon === -1 ? line : line.slice(0, semicolon)).trimEnd();
    if (!HEX.test(size)) throw this.error(`invalid chunk size ${JSON.stringify(size.slice(0, 32))}`);
    const consumed = this.#pending === undefined ? lf + 1 : lf + 1 - this.#pending.length + offset;
    this.#pending = undefined;
    this.#remaining = parseInt(size, 16);
    this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
    return consumed;
  }

  #chunkCrlf(chunk: Buffer, offset: number): number {
    while (this.#remaining > 0 && offset < chunk.length) {
      const expected = this.#remaining === 2 ? 13 : 10;
      if (chunk[offset] !== expected) throw this.error('chunk data is not followed by CRLF');
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

  #end(trailers: Fields): void {
    this.#state = 'done';
    this.onEnd(trailers);
  }

  /**
   * Field lines (`name: value` CRLF ...) as lower-case names, a repeated name becoming an array; with
   * `raw`, also appends each name as sent and its value, as node's `rawHeaders` holds them; with
   * `hopByHop`, hop-by-hop fields go there instead.
   */
  parseFields(text: string, raw?: string[], hopByHop?: Fields): Fields {
    // One pass of a compiled regex checks the whole block; the loop below then only cuts it up.
    if (!FIELD_BLOCK.test(text)) throw this.#fieldError(text);
    const fields: Fields = {};
    const length = text.length;
    let start = 0;
    let count = 0;
    while (start < length) {
      // Counted next to the byte limit: many tiny fields cost more than their bytes say.
      if (++count > this.#maxFields) throw this.error(`more than ${this.#maxFields} header fields`, true);
      let end = text.indexOf('\r\n', start);
      if (end === -1) end = length;
      const colon = text.indexOf(':', start);
      // A name spelled as usual is the table's constant, found in place: no slice, no lower-casing.
      const spellings = SPELLINGS_BY_LENGTH[colon - start];
      const known = commonSpelling(spellings, text, start);
      const name = known === -1 ? text.slice(start, colon) : spellings![known]!;
      const lower = known === -1 ? name.toLowerCase() : spellings![known + 1]!;
      let from = colon + 1;
      while (from < end && isOws(text.charCodeAt(from))) from++;
      let to = end;
      while (to > from && isOws(text.charCodeAt(to - 1))) to--;
      const value = text.slice(from, to);
      if (raw !== undefined) raw.push(name, value);
      const into = hopByHop !== undefined && HOP_BY_HOP_HEADERS.has(lower) ? hopByHop : fields;
      const existing = into[lower];
      if (existing === undefined) into[lower] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else into[lower] = [existing, value];
      start = end + 2;
    }
    return fields;
  }

  /** What is wrong with the first bad line of a field block that failed `FIELD_BLOCK`. */
  #fieldError(text: string): Error {
    for (const line of text.split('\r\n')) {
      const first = line.charCodeAt(0);
      if (first === 32 || first === 9) return this.error('obs-fold (a line starting with whitespace)');
      const colon = line.indexOf(':');
      if (colon === -1) return this.error('a header line has no colon');
      const name = line.slice(0, colon);
      if (!HTTP_TOKEN.test(name))
        return this.error(`an invalid header name ${JSON.stringify(name.slice(0, 64))}`);
      if (VALUE_CTL.test(line.slice(colon + 1)))
        return this.error(`header ${name} holds a control character (a bare CR, LF or NUL)`);
    }
    return this.error('a malformed header section');
  }
}

/**
 * Field names as senders usually spell them (lower case, or capitalised at each word), by length, each
 * followed by the lower-case name as a string constant. A parsed name found here needs no `toLowerCase`
 * copy, and as an object key or a set member the constant is already hashed and internalised, where a
 * fresh copy would be hashed and looked up in V8's string table each time. Found by comparing the few
 * spellings of its length: hashing the name for a Map lookup cost more than the comparisons.
 */
const SPELLINGS_BY_LENGTH: string[][] = [];
for (const lower of [
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'age',
  'authorization',
  'cache-control',
  'connection',
  'content-encoding',
  'content-length',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expires',
  'host',
  'if-modified-since',
  'if-none-match',
  'keep-alive',
  'last-modified',
  'location',
  'origin',
  'pragma',
  'referer',
  'server',
  'set-cookie',
  'strict-transport-security',
  'te',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'vary',
  'via',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-powered-by',
  'x-request-id',
]) {
  const capitalised = lower.replace(/(?:^|-)[a-z]/g, (start) => start.toUpperCase());
  const spellings = [lower, capitalised];
  if (lower === 'etag') spellings.push('ETag');
  if (lower === 'te') spellings.push('TE');
  for (const spelling of spellings) (SPELLINGS_BY_LENGTH[lower.length] ??= []).push(spelling, lower);
}

/**
 * Where in `spellings` (the bucket of one length) the name spelled at `start` of `text` is, or -1;
 * the lower-case constant follows it.
 */
function commonSpelling(spellings: string[] | undefined, text: string, start: number): number {
  if (spellings === undefined) return -1;
  for (let i = 0; i < spellings.length; i += 2) if (text.startsWith(spellings[i]!, start)) return i;
  return -1;
}

/** A field name in lower case. */
export function lowerCaseFieldName(name: string): string {
  const spellings = SPELLINGS_BY_LENGTH[name.length];
  const known = commonSpelling(spellings, name, 0);
  return known === -1 ? name.toLowerCase() : spellings![known + 1]!;
}

/** Field lines: a token, a colon, a value of visible characters, SP, HTAB and obs-text; CRLF between. */
const FIELD_BLOCK = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n|$))*$/;

/** RFC 9110 §5.6.3 optional whitespace: SP or HTAB (not String.prototype.trim's Unicode spaces). */
function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

function hasBareLf(data: Buffer, from: number): boolean {
  for (let lf = data.indexOf(10, from); lf !== -1; lf = data.indexOf(10, lf + 1)) {
    if (lf === from || data[lf - 1] !== 13) return true;
  }
  return false;
}

/** A field that may repeat, as one comma-joined list. */
export function fieldText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** Whether chunked is the final transfer coding, the one that frames the message (RFC 9112 §6.3). */
export function lastCodingIsChunked(te: string): boolean {
  const codings = te.toLowerCase().split(',');
  return codings[codings.length - 1]!.trim() === 'chunked';
}

const DIGITS = /^\d{1,15}$/;

/**
 * The body's length from Content-Length, undefined when absent; throws `error(message)` for a value
 * that is not a number or a list of differing ones.
 */
export function contentLength(
  value: string | string[] | undefined,
  error: (message: string) => Error,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && DIGITS.test(value)) return Number(value);
  const values = (Array.isArray(value) ? value.join(',') : value).split(',').map((v) => v.trim());
  const first = values[0]!;
  if (!DIGITS.test(first) || values.some((v) => v !== first))
    throw error(`invalid Content-Length ${JSON.stringify(String(value).slice(0, 64))}`);
  return Number(first);
}

/** HTAB, SP, visible characters, obs-text: what a reason phrase (RFC 9112 §4) and a field value may hold. */
export const FIELD_TEXT = /^[\t\x20-\x7e\x80-\xff]*$/;

/** What makes a request field unfit to send (a name that is no token, a value FIELD_TEXT refuses), or undefined. */
export function requestFieldProblem(name: string, value: string): string | undefined {
  if (!HTTP_TOKEN.test(name)) return `header name ${JSON.stringify(name)} is not a token`;
  if (!FIELD_TEXT.test(value)) return `header ${name} holds a control character or a character beyond latin1`;
  return undefined;
}

/**
 * A head as Portico writes one: a start line of visible characters, then fields of token, `: `,
 * visible characters, SP, HTAB or obs-text, CRLF after each, and the blank line.
 */
const HEAD =
  /^[\t\x20-\x7e\x80-\xff]*\r\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [\t\x20-\x7e\x80-\xff]*\r\n)*\r\n$/;

/**
 * Whether a serialised head is well formed and holds exactly `lineBreaks` line breaks (fields + 2):
 * one regex pass for the whole head instead of two per field, and the count stops a value that
 * smuggles in a CRLF and a field line of its own.
 */
export function isWellFormedHead(head: string, lineBreaks: number): boolean {
  if (!HEAD.test(head)) return false;
  let count = 0;
  for (let at = head.indexOf('\n'); at !== -1; at = head.indexOf('\n', at + 1)) count++;
  return count === lineBreaks;
}

/**
 * A checked head goes out as the buffer its pieces are copied into, one byte at a time: joining them
 * into a string and encoding that into a buffer cost ~40 % more per head (~400 against ~280 ns for a
 * five-field request head; the join is a runtime call that flattens every piece). Each character is
 * stored as its low byte, as latin1 encoding does; a checked head holds no other.
 */
export function piecesLength(pieces: readonly string[]): number {
  let length = 0;
  for (let i = 0; i < pieces.length; i++) length += pieces[i]!.length;
  return length;
}

/** Copies `pieces` (see {@link piecesLength}) into `out` from `at`; returns where they end. */
export function copyPieces(pieces: readonly string[], out: Buffer, at: number): number {
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    for (let j = 0; j < piece.length; j++) out[at++] = piece.charCodeAt(j);
  }
  return at;
}

/** `pieces` (see {@link piecesLength}) in a buffer of their own. */
export function piecesBuffer(pieces: readonly string[]): Buffer {
  const out = Buffer.allocUnsafe(piecesLength(pieces));
  copyPieces(pieces, out, 0);
  return out;
}

/** Where a field named `name` (in any case) first is in `fields` (name, value, ...), or -1. */
export function fieldIndex(fields: readonly string[], name: string): number {
  for (let i = 0; i < fields.length; i += 2) if (equalsIgnoreCase(fields[i]!, name)) return i;
  return -1;
}

/**
 * Field names compared as HTTP compares them: in any case. Names of one length usually differ in their
 * first letter, which is compared before anything is lower-cased.
 */
export function equalsIgnoreCase(a: string, b: string): boolean {
  return (
    a.length === b.length &&
    (a === b ||
      ((a.charCodeAt(0) | 0x20) === (b.charCodeAt(0) | 0x20) && a.toLowerCase() === b.toLowerCase()))
  );
}

/** Whether a comma-separated header holds a token (given in lower case), e.g. `close` in Connection. */
export function listHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  if (lower === token) return true;
  if (!lower.includes(',')) return lower.trim() === token;
  return lower.split(',').some((item) => item.trim() === token);
}
