// Fixture builders shared by the cache tests: requests, responses and a hand-driven clock.
import type { HeaderMap, RequestInfo, StoredResponse } from '../../../src/cache/index.ts';

/** A fixed instant so that every HTTP-date in a test is predictable. */
export const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function request(overrides: Partial<RequestInfo> = {}): RequestInfo {
  return {
    method: 'GET',
    scheme: 'https',
    host: 'shop.example',
    path: '/item',
    query: '',
    headers: {},
    ...overrides,
  };
}

/** A response received at `at` (request sent at the same instant), with a Date header of `at`. */
export function response(
  headers: HeaderMap,
  options: { status?: number; body?: string | Buffer; at?: number } = {},
): StoredResponse {
  const at = options.at ?? T0;
  const body =
    typeof options.body === 'string' || options.body === undefined
      ? Buffer.from(options.body ?? 'hello')
      : options.body;
  return {
    status: options.status ?? 200,
    headers: { date: httpDate(at), 'content-length': String(body.length), ...headers },
    body,
    requestTime: at,
    responseTime: at,
  };
}

export interface Clock {
  now: () => number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function clock(start: number = T0): Clock {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
    set: (ms) => {
      current = ms;
    },
  };
}
