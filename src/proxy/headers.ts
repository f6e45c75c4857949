/**
 * Header handling on the request path. Headers travel as flat `[name, value, name, value]` arrays, the
 * shape node:http receives and undici sends, so forwarding a request builds no intermediate object.
 */

import type { OutgoingHttpHeader } from 'node:http';
import { PorticoError } from '../errors.ts';
import { connectionTokens, HOP_BY_HOP_HEADERS, HTTP_TOKEN } from '../http.ts';
import {
  equalsIgnoreCase,
  FIELD_TEXT,
  fieldIndex,
  lowerCaseFieldName,
  requestFieldProblem,
} from '../http1.ts';

/**
 * Case-insensitive, order-preserving, multi-valued header list over a flat name/value array. `set` and
 * `append` check what they are given (a token name, a value without control characters), so a list the
 * engine built from a parsed request and changed only through them is `checked`, and the upstream
 * request head is not checked again as a whole; taking the `raw` array, which may be written anything,
 * gives that up.
 */
export class HeaderList {
  readonly #raw: string[];
  #checked = false;

  constructor(raw: string[] = []) {
    this.#raw = raw;
  }

  /** A list of fields already checked: from a parsed request, or added by Portico itself. */
  static checked(raw: string[]): HeaderList {
    const list = new HeaderList(raw);
    list.#checked = true;
    return list;
  }

  /** The flat `[name, value, ...]` array, to read or write; taking it gives up `checked`. */
  get raw(): string[] {
    this.#checked = false;
    return this.#raw;
  }

  /** The flat array as it is to be sent, keeping `checked`. */
  get fields(): readonly string[] {
    return this.#raw;
  }

  /** True while every field was checked on its way in: none came through the `raw` array. */
  get checked(): boolean {
    return this.#checked;
  }

  /** The first value of a header, or undefined. */
  get(name: string): string | undefined {
    const at = fieldIndex(this.#raw, name);
    return at === -1 ? undefined : this.#raw[at + 1];
  }

  /** Every value of a header, in order. */
  getAll(name: string): string[] {
    const raw = this.#raw;
    const values: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      if (equalsIgnoreCase(raw[i]!, name)) values.push(raw[i + 1]!);
    }
    return values;
  }

  has(name: string): boolean {
    return fieldIndex(this.#raw, name) !== -1;
  }

  /** Replaces every value of `name` with one value. */
  set(name: string, value: string): void {
    checkRequestField(name, value);
    this.remove(name);
    this.#raw.push(name, value);
  }

  /** Adds a value, keeping existing ones (a repeated header line). */
  append(name: string, value: string): void {
    checkRequestField(name, value);
    this.#raw.push(name, value);
  }

  remove(name: string): void {
    const raw = this.#raw;
    let out = 0;
    for (let i = 0; i < raw.length; i += 2) {
      if (!equalsIgnoreCase(raw[i]!, name)) {
        raw[out++] = raw[i]!;
        raw[out++] = raw[i + 1]!;
      }
    }
    raw.length = out;
  }
}

/** A request field headed upstream, checked before anything is written (CR/LF injection). */
function checkRequestField(name: string, value: string): void {
  const problem = requestFieldProblem(name, value);
  if (problem !== undefined) throw new PorticoError('INVALID_ARGUMENT', `upstream request: ${problem}`);
}

/**
 * Response status and headers (names lower case, repeated headers as arrays), changeable by filters.
 * `set` and `append` check what they are given (a token name, a value without control characters),
 * so fields received from an upstream parser and changed only through them need no second check when
 * the head is written; code that takes the `headers` record itself may write anything into it, so
 * once it has, every field is checked again when sent.
 */
export class ResponseHeader {
  status: number;
  readonly #fields: Record<string, string | string[]>;
  #checked = false;

  constructor(status: number, headers: Record<string, string | string[]> = {}) {
    this.status = status;
    this.#fields = headers;
  }

  /** A head as an upstream parser produced it: every field already checked. */
  static received(status: number, headers: Record<string, string | string[]>): ResponseHeader {
    const response = new ResponseHeader(status, headers);
    response.#checked = true;
    return response;
  }

  /** The fields by lower-case name, to read or write; taking them gives up `checked`. */
  get headers(): Record<string, string | string[]> {
    this.#checked = false;
    return this.#fields;
  }

  /** The fields as they are to be sent, keeping `checked`. */
  get fields(): Readonly<Record<string, string | string[]>> {
    return this.#fields;
  }

  /** True while every field was checked on its way in: none came through the `headers` record. */
  get checked(): boolean {
    return this.#checked;
  }

  get(name: string): string | undefined {
    const value = this.#fields[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  }

  set(name: string, value: string | string[]): void {
    checkResponseField(name, value);
    this.#fields[name.toLowerCase()] = value;
  }

  append(name: string, value: string): void {
    checkResponseField(name, value);
    const key = name.toLowerCase();
    const existing = this.#fields[key];
    if (existing === undefined) this.#fields[key] = value;
    else this.#fields[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }

  remove(name: string): void {
    delete this.#fields[name.toLowerCase()];
  }
}

/** A response field's name and values, checked before anything is written (CR/LF injection). */
export function checkResponseField(name: string, value: OutgoingHttpHeader | readonly string[]): void {
  if (!HTTP_TOKEN.test(name)) throw invalidResponseFieldName(name);
  for (const item of Array.isArray(value) ? value : [value]) {
    if (!FIELD_TEXT.test(String(item))) throw invalidResponseFieldValue(name);
  }
}

export function invalidResponseFieldName(name: string): PorticoError {
  return new PorticoError(
    'INVALID_ARGUMENT',
    `invalid response header name ${JSON.stringify(name.slice(0, 64))}`,
  );
}

export function invalidResponseFieldValue(name: string): PorticoError {
  return new PorticoError(
    'INVALID_ARGUMENT',
    `response header ${name} holds a control character or a character beyond latin1`,
  );
}

/**
 * A `TE` value that accepts trailers, e.g. `trailers` or `gzip;q=0.5, trailers`. RFC 9110 §10.1.4:
 * `trailers` is a bare keyword (a weight belongs to transfer codings), so `trailers;q=…` is not it.
 */
const TE_TRAILERS = /(?:^|,)[ \t]*trailers[ \t]*(?:,|$)/i;

export interface ForwardingInfo {
  clientAddress: string;
  /** `http` or `https`: how the client reached us. */
  protocol: string;
  /** Value for `Via`, e.g. `1.1 portico`. */
  via: string;
  /**
   * The raw headers are a server's parse of a request (Portico's or node's), every name and value
   * checked there, and `info`'s values are safe: the list is then `checked`, and the request head is
   * not checked again as a whole. Default false.
   */
  checked?: boolean;
}

/**
 * Builds the upstream header list from node's `rawHeaders`: drops HTTP/2 pseudo-headers (turning
 * `:authority` into Host), hop-by-hop headers and those the
 * Connection header names, and `Expect` (node already answered 100-continue), joins Cookie fields
 * into one with `; `, then appends
 * `X-Forwarded-For` (to any the client sent), sets `X-Forwarded-Proto` and `X-Forwarded-Host` unless present
 * from a trusted hop, and appends `Via`. Of `TE` only `trailers` goes on, and only when the client sent it:
 * the one value HTTP/2 allows (RFC 9113 §8.2.2), and the one gRPC servers require.
 */
export function forwardRequestHeaders(rawHeaders: string[], info: ForwardingInfo): HeaderList {
  const fields = forwardedFields(rawHeaders, info);
  return info.checked === true ? HeaderList.checked(fields) : new HeaderList(fields);
}

function forwardedFields(rawHeaders: string[], info: ForwardingInfo): string[] {
  let connection: string | undefined;
  let forwardedFor: string | undefined;
  let host: string | undefined;
  let authority: string | undefined;
  let via: string | undefined;
  let forwardedProto = false;
  let forwardedHost = false;
  let te = '';
  /** Where the first Cookie's value is in `out`: later ones join it. */
  let cookieAt = -1;
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = lowerCaseFieldName(name);
    switch (lower) {
      case ':authority':
        // HTTP/2: the authority becomes Host, unless the client also sent a host field.
        authority = value;
        continue;
      case 'connection':
        connection = appended(connection, ',', value);
        continue;
      case 'x-forwarded-for':
        forwardedFor = appended(forwardedFor, ', ', value);
        continue;
      case 'via':
        via = appended(via, ', ', value);
        continue;
      case 'expect':
        continue;
      case 'te':
        te += `,${value}`;
        continue;
      case 'cookie':
        // HTTP/2 may send a cookie per field (RFC 9113 §8.2.3); HTTP/1.1 wants one (RFC 6265 §5.4).
        if (cookieAt !== -1) {
          out[cookieAt] = `${out[cookieAt]!}; ${value}`;
          continue;
        }
        cookieAt = out.length + 1;
        break;
      case 'host':
        host = value;
        break;
      case 'x-forwarded-proto':
        forwardedProto = true;
        break;
      case 'x-forwarded-host':
        forwardedHost = true;
        break;
    }
    if (HOP_BY_HOP_HEADERS.has(lower) || lower.charCodeAt(0) === 58 /* : pseudo-header */) continue;
    out.push(name, value);
  }
  if (host === undefined && authority !== undefined) {
    host = authority;
    out.unshift('host', authority);
  }
  const listed = connectionTokens(connection);
  if (listed !== undefined) {
    const headers = new HeaderList(out);
    for (const name of listed) headers.remove(name);
  }
  // After the Connection-listed names are gone: an HTTP/1.1 client sending TE also lists it there.
  forwardTeTrailers(out, te);
  out.push('x-forwarded-for', appended(forwardedFor, ', ', info.clientAddress));
  if (!forwardedProto) out.push('x-forwarded-proto', info.protocol);
  if (!forwardedHost && host !== undefined) out.push('x-forwarded-host', host);
  out.push('via', appended(via, ', ', info.via));
  return out;
}

/** A field's list with `value` after what came before, if anything did. */
function appended(list: string | undefined, separator: string, value: string): string {
  return list === undefined ? value : `${list}${separator}${value}`;
}

function forwardTeTrailers(out: string[], te: string): void {
  if (te !== '' && TE_TRAILERS.test(te)) out.push('te', 'trailers');
}
