/**
 * RFC 9111 §4.4: a successful unsafe request changes the resource, so stored responses for it —
 * and for the URIs its response names in Location and Content-Location — must go.
 */
import { firstHeaderValue, type RequestInfo, type ResponseHead } from './types.ts';

/** RFC 9110 §9.2.1. Anything else (POST, PUT, DELETE, PATCH, extensions) is unsafe. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** The parts of a URI the cache key is built from. */
export interface UrlParts {
  readonly scheme: string;
  readonly host: string;
  readonly path: string;
  readonly query: string;
}

/**
 * The URIs whose stored responses an unsafe request's response invalidates. Empty for safe methods
 * and for error responses. Location and Content-Location count only when same-origin, so one
 * origin cannot purge another's entries (§4.4).
 */
export function invalidationTargets(request: RequestInfo, response: ResponseHead): UrlParts[] {
  if (SAFE_METHODS.has(request.method) || response.status < 200 || response.status >= 400) return [];
  const own: UrlParts = {
    scheme: request.scheme,
    host: request.host,
    path: request.path,
    query: request.query,
  };
  const targets = [own];
  const base = URL.parse(`${request.scheme}://${request.host}${request.path}`);
  if (base === null) return targets;
  for (const name of ['location', 'content-location']) {
    const target = sameOrigin(firstHeaderValue(response.headers, name), base);
    if (target !== undefined) targets.push(target);
  }
  return targets;
}

function sameOrigin(reference: string | undefined, base: URL): UrlParts | undefined {
  if (reference === undefined) return undefined;
  const url = URL.parse(reference.trim(), base.href);
  if (url === null || url.protocol !== base.protocol || url.host !== base.host) return undefined;
  return {
    scheme: url.protocol.slice(0, -1),
    host: url.host,
    path: url.pathname,
    query: url.search.slice(1),
  };
}
