/**
 * Byte ranges (RFC 9110 §14) served from a complete stored body. The cache never stores a 206;
 * it stores the whole 200 and slices it here.
 */
import { parseHttpDate } from './cache-control.ts';
import { firstHeaderValue, type HeaderMap } from './types.ts';

export type RangeOutcome =
  /** Serve the whole body with 200: no Range, an invalid or multi-part one, or a failed If-Range. */
  | { readonly kind: 'full' }
  /** Serve `body[start..end]` (inclusive) with 206 and this Content-Range. */
  | { readonly kind: 'partial'; readonly start: number; readonly end: number; readonly contentRange: string }
  /** Answer 416 with this Content-Range (`bytes *\/size`). */
  | { readonly kind: 'unsatisfiable'; readonly contentRange: string };

const FULL: RangeOutcome = { kind: 'full' };
const BYTES_UNIT = /^\s*bytes\s*=/i;
const RANGE_SPEC = /^(\d*)-(\d*)$/;

/**
 * Chooses what to send for a request's Range against a stored body of `size` bytes. Multiple
 * ranges fall back to the full body, which RFC 9110 §14.2 allows and which avoids multipart.
 */
export function selectRange(request: HeaderMap, stored: HeaderMap, size: number): RangeOutcome {
  const range = firstHeaderValue(request, 'range');
  if (range === undefined || !BYTES_UNIT.test(range) || !ifRangeMatches(request, stored)) return FULL;
  const specs = range
    .slice(range.indexOf('=') + 1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (specs.length !== 1) return FULL;
  const match = RANGE_SPEC.exec(specs[0] ?? '');
  if (match === null) return FULL;
  return resolveSpec(match[1] ?? '', match[2] ?? '', size);
}

function resolveSpec(first: string, last: string, size: number): RangeOutcome {
  if (first === '' && last === '') return FULL;
  const unsatisfiable: RangeOutcome = { kind: 'unsatisfiable', contentRange: `bytes */${size}` };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return unsatisfiable;
    return partial(Math.max(0, size - suffix), size - 1, size);
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return FULL;
  if (start >= size) return unsatisfiable;
  return partial(start, last === '' ? size - 1 : Math.min(Number(last), size - 1), size);
}

function partial(start: number, end: number, size: number): RangeOutcome {
  return { kind: 'partial', start, end, contentRange: `bytes ${start}-${end}/${size}` };
}

/**
 * RFC 9110 §13.1.5: a Range applies only if If-Range still names the stored representation — by
 * strong ETag, or by a date equal to Last-Modified. Otherwise the client gets the whole body.
 */
function ifRangeMatches(request: HeaderMap, stored: HeaderMap): boolean {
  const condition = firstHeaderValue(request, 'if-range')?.trim();
  if (condition === undefined) return true;
  if (condition.startsWith('"') || condition.startsWith('W/')) {
    return !condition.startsWith('W/') && firstHeaderValue(stored, 'etag') === condition;
  }
  const date = parseHttpDate(condition);
  return date !== undefined && date === parseHttpDate(firstHeaderValue(stored, 'last-modified'));
}
