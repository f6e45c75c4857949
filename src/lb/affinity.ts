/**
 * Cookie-based session persistence (Gateway API's `sessionPersistence` of type Cookie, nginx's
 * `sticky cookie`): the first response names the endpoint that served it in a cookie, and later
 * requests carrying that cookie go to the same endpoint for as long as it is usable.
 *
 * The cookie value is a token derived from the backend's and the endpoint's identity, not the
 * endpoint's address, so it reveals nothing about the network behind the proxy, and it is the same
 * in every worker, on every node and across table swaps: a client keeps its endpoint whichever
 * process of whichever node the kernel or the load balancer in front hands its next connection to.
 */
import { InvalidArgumentError } from '../errors.ts';
import { HTTP_TOKEN } from '../http.ts';
import type { Endpoint } from './endpoint.ts';

export interface SessionCookieOptions {
  /** Cookie name (an RFC 6265 token). */
  readonly name: string;
  /**
   * `Max-Age` of the cookie in whole seconds; undefined makes a session cookie, which the browser
   * forgets when it closes.
   */
  readonly maxAgeSeconds?: number;
  /** `Path` attribute; default `/`. */
  readonly path?: string;
}

/** What a `Path` attribute may hold: no `;` and no control characters. */
const COOKIE_PATH = /^\/[^;\u0000-\u001f\u007f]*$/;

/** Maps endpoints to cookie tokens and back for one selector's endpoint list. */
export class SessionAffinity {
  readonly name: string;
  readonly #tokens: readonly string[];
  readonly #indexByToken: ReadonlyMap<string, number>;
  /** `; Path=…; Max-Age=…; HttpOnly; SameSite=Lax`, built once: a response only prepends the token. */
  readonly #attributes: string;

  /**
   * `scope` names what the endpoints belong to (a Backend id, say): the same endpoint address in two
   * backends gets two tokens, so a cookie of one never selects an endpoint of the other by accident.
   */
  constructor(scope: string, endpoints: readonly Endpoint[], options: SessionCookieOptions) {
    if (!HTTP_TOKEN.test(options.name))
      throw new InvalidArgumentError(
        'name',
        `must be a cookie name (an RFC 9110 token), got "${options.name}"`,
      );
    const path = options.path ?? '/';
    if (!COOKIE_PATH.test(path))
      throw new InvalidArgumentError('path', `must start with / and hold no ";" or control characters`);
    const maxAge = options.maxAgeSeconds;
    if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge <= 0))
      throw new InvalidArgumentError('maxAgeSeconds', `must be a positive whole number, got ${maxAge}`);
    this.name = options.name;
    this.#tokens = endpoints.map((e) => endpointToken(scope, e.id));
    this.#indexByToken = new Map(this.#tokens.map((token, index) => [token, index]));
    this.#attributes = `; Path=${path}${maxAge === undefined ? '' : `; Max-Age=${maxAge}`}; HttpOnly; SameSite=Lax`;
  }

  /** The endpoint index named by this request's cookie header, or -1 (no cookie, or an endpoint gone). */
  endpointFor(cookieHeader: string | undefined): number {
    const token = cookieValue(cookieHeader, this.name);
    return token === undefined ? -1 : (this.#indexByToken.get(token) ?? -1);
  }

  /** The `Set-Cookie` value that pins a client to endpoint `index`; `Secure` over HTTPS. */
  setCookie(index: number, secure: boolean): string {
    return `${this.name}=${this.#tokens[index]!}${this.#attributes}${secure ? '; Secure' : ''}`;
  }
}

/** 96 bits of SHA-256 over scope and endpoint id, base64url: unguessable enough, short on the wire. */
function endpointToken(scope: string, endpointId: string): string {
  return process
    .getBuiltinModule('node:crypto')
    .createHash('sha256')
    .update(scope)
    .update('\n')
    .update(endpointId)
    .digest('base64url')
    .slice(0, 16);
}

/** The value of cookie `name` in a `Cookie` request header (RFC 6265 §5.4 pairs), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name)
      return header.slice(eq + 1, end).trim();
    start = end + 1;
  }
  return undefined;
}
