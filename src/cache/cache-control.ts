/**
 * Parsing of the header fields that drive caching: Cache-Control (RFC 9111 §5.2), Expires, Date,
 * Age and the legacy request Pragma. Parsing is total: malformed input never throws, it degrades
 * to the most conservative reading RFC 9111 allows (usually "stale").
 */
import { firstHeaderValue, headerValue, type HeaderMap } from './types.ts';

/** RFC 9111 §1.2.2: delta-seconds that overflow are read as 2^31. */
const MAX_DELTA_SECONDS = 2_147_483_648;
const DELTA_SECONDS = /^\d+$/;

/** A directive list: lower-case name → one value per occurrence (`true` for a bare name). */
export type DirectiveMap = ReadonlyMap<string, ReadonlyArray<string | true>>;

/** Cache-Control directives of a response, as they apply to a shared cache. Times in seconds. */
export interface ResponseDirectives {
  readonly maxAge: number | undefined;
  readonly sMaxAge: number | undefined;
  readonly staleWhileRevalidate: number | undefined;
  readonly staleIfError: number | undefined;
  readonly noStore: boolean;
  /** Qualified `no-cache="field"` is read as unqualified: revalidate every time. */
  readonly noCache: boolean;
  /** Qualified `private="field"` is read as unqualified: a shared cache does not store it. */
  readonly private: boolean;
  readonly public: boolean;
  readonly mustRevalidate: boolean;
  readonly proxyRevalidate: boolean;
  readonly mustUnderstand: boolean;
  /**
   * The field the directives came from: a targeted field (RFC 9213) when one applied, in which case
   * Cache-Control and Expires are ignored for this cache.
   */
  readonly field: ResponsePolicyField;
}

/**
 * RFC 9213's target list, most specific first: the field for Portico alone, then the one for every
 * CDN (what Fastly, Cloudflare and Akamai honour). A cache uses the first of them with a valid,
 * non-empty value, and only without one does Cache-Control apply.
 */
export const TARGETED_CACHE_FIELDS = ['portico-cache-control', 'cdn-cache-control'] as const;
export type ResponsePolicyField = (typeof TARGETED_CACHE_FIELDS)[number] | 'cache-control';

/** Cache-Control directives of a request (plus `Pragma: no-cache`). Times in seconds. */
export interface RequestDirectives {
  readonly maxAge: number | undefined;
  /** `Infinity` for a bare `max-stale`: any staleness is acceptable. */
  readonly maxStale: number | undefined;
  readonly minFresh: number | undefined;
  readonly noCache: boolean;
  readonly noStore: boolean;
  readonly onlyIfCached: boolean;
}

const NO_REQUEST_DIRECTIVES: RequestDirectives = Object.freeze({
  maxAge: undefined,
  maxStale: undefined,
  minFresh: undefined,
  noCache: false,
  noStore: false,
  onlyIfCached: false,
});

interface Cursor {
  readonly text: string;
  pos: number;
}

/** Splits a Cache-Control value into directives; commas inside quoted strings are not separators. */
export function parseDirectives(value: string | undefined): DirectiveMap {
  const directives = new Map<string, Array<string | true>>();
  if (value === undefined) return directives;
  const cursor: Cursor = { text: value, pos: 0 };
  while (cursor.pos < value.length) {
    const name = readUntil(cursor, '=,').trim().toLowerCase();
    const argument = value[cursor.pos] === '=' ? readArgument(cursor) : true;
    skipPast(cursor, ',');
    if (name === '') continue;
    const seen = directives.get(name);
    if (seen === undefined) directives.set(name, [argument]);
    else seen.push(argument);
  }
  return directives;
}

function readUntil(cursor: Cursor, stops: string): string {
  const start = cursor.pos;
  while (cursor.pos < cursor.text.length && !stops.includes(cursor.text[cursor.pos] ?? '')) cursor.pos++;
  return cursor.text.slice(start, cursor.pos);
}

function skipPast(cursor: Cursor, char: string): void {
  readUntil(cursor, char);
  if (cursor.pos < cursor.text.length) cursor.pos++;
}

function readArgument(cursor: Cursor): string {
  cursor.pos++; // '='
  while (cursor.text[cursor.pos] === ' ' || cursor.text[cursor.pos] === '\t') cursor.pos++;
  if (cursor.text[cursor.pos] !== '"') return readUntil(cursor, ',').trim();
  return readQuoted(cursor);
}

/** RFC 9110 §5.6.4 quoted-string with backslash escapes; an unterminated string runs to the end. */
function readQuoted(cursor: Cursor): string {
  let out = '';
  cursor.pos++; // opening quote
  while (cursor.pos < cursor.text.length) {
    const char = cursor.text[cursor.pos++];
    if (char === '"') break;
    if (char === '\\' && cursor.pos < cursor.text.length) out += cursor.text[cursor.pos++];
    else out += char;
  }
  return out;
}

/** Non-negative integer seconds, capped per RFC 9111 §1.2.2; anything else is `undefined`. */
export function parseDeltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !DELTA_SECONDS.test(value)) return undefined;
  return Math.min(Number(value), MAX_DELTA_SECONDS);
}

/**
 * A freshness directive (`max-age`, `s-maxage`) of a response. RFC 9111 §4.2.1 lets a cache treat
 * duplicate or invalid freshness information as stale, which is the safe reading: 0.
 */
function responseFreshness(directives: DirectiveMap, name: string): number | undefined {
  const values = directives.get(name);
  if (values === undefined) return undefined;
  const parsed = values.map(parseDeltaSeconds);
  const first = parsed[0];
  if (first === undefined || parsed.some((v) => v !== first)) return 0;
  return first;
}

/** Extension windows and request limits: invalid occurrences are ignored, conflicts pick `pick`. */
function deltaDirective(
  directives: DirectiveMap,
  name: string,
  pick: (...values: number[]) => number,
): number | undefined {
  const parsed = (directives.get(name) ?? []).map(parseDeltaSeconds).filter((v) => v !== undefined);
  return parsed.length === 0 ? undefined : pick(...parsed);
}

/**
 * Reads the caching policy of a response: its first targeted field (RFC 9213) with directives in it,
 * else its Cache-Control (all lines of the field). Targeted fields are read with Cache-Control's
 * syntax, which covers the Dictionary values RFC 9213 gives them (`max-age=60, private`).
 */
export function parseResponseCacheControl(headers: HeaderMap): ResponseDirectives {
  let field: ResponsePolicyField = 'cache-control';
  let d: DirectiveMap | undefined;
  for (const name of TARGETED_CACHE_FIELDS) {
    const value = headerValue(headers, name);
    if (value === undefined) continue;
    const targeted = parseDirectives(value);
    if (targeted.size === 0) continue;
    field = name;
    d = targeted;
    break;
  }
  d ??= parseDirectives(headerValue(headers, 'cache-control'));
  return {
    field,
    maxAge: responseFreshness(d, 'max-age'),
    sMaxAge: responseFreshness(d, 's-maxage'),
    staleWhileRevalidate: deltaDirective(d, 'stale-while-revalidate', Math.min),
    staleIfError: deltaDirective(d, 'stale-if-error', Math.min),
    noStore: d.has('no-store'),
    noCache: d.has('no-cache'),
    private: d.has('private'),
    public: d.has('public'),
    mustRevalidate: d.has('must-revalidate'),
    proxyRevalidate: d.has('proxy-revalidate'),
    mustUnderstand: d.has('must-understand'),
  };
}

/**
 * Reads the Cache-Control of a request. `Pragma: no-cache` counts only when Cache-Control is absent
 * (RFC 9111 §5.4), so HTTP/1.0 clients can still force a revalidation.
 */
export function parseRequestCacheControl(headers: HeaderMap): RequestDirectives {
  const raw = headerValue(headers, 'cache-control');
  // Most requests carry neither header: one shared answer instead of two empty maps per request.
  if (raw === undefined && headers.pragma === undefined) return NO_REQUEST_DIRECTIVES;
  const d = parseDirectives(raw);
  const pragmaNoCache = raw === undefined && parseDirectives(headerValue(headers, 'pragma')).has('no-cache');
  return {
    maxAge: deltaDirective(d, 'max-age', Math.min),
    maxStale: requestMaxStale(d),
    minFresh: deltaDirective(d, 'min-fresh', Math.max),
    noCache: d.has('no-cache') || pragmaNoCache,
    noStore: d.has('no-store'),
    onlyIfCached: d.has('only-if-cached'),
  };
}

function requestMaxStale(d: DirectiveMap): number | undefined {
  const values = d.get('max-stale');
  if (values === undefined) return undefined;
  if (values.includes(true)) return Infinity;
  return deltaDirective(d, 'max-stale', Math.min);
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
const MONTH_INDEX = new Map(MONTHS.split('|').map((m, i) => [m, i]));
const IMF_FIXDATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTHS}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTHS})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
);
const ASCTIME_DATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTHS}) ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`,
);

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7) in any of its three formats to epoch milliseconds.
 * `now` only matters for the two-digit years of the obsolete RFC 850 format.
 */
export function parseHttpDate(value: string | undefined, now?: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2], m[1], m.slice(4, 7));
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1], m[2], m.slice(3, 6));
  m = RFC850_DATE.exec(text);
  // `now` is read only here: the hit path calls this for absent headers on every request.
  if (m) return utc(fullYear(Number(m[3]), now ?? Date.now()), m[2], m[1], m.slice(4, 7));
  return undefined;
}

/** RFC 9110 §5.6.7: a two-digit year more than 50 years ahead belongs to the previous century. */
function fullYear(twoDigits: number, now: number): number {
  const current = new Date(now).getUTCFullYear();
  const year = current - (current % 100) + twoDigits;
  return year > current + 50 ? year - 100 : year;
}

function utc(
  year: number,
  month: string | undefined,
  day: string | undefined,
  hms: string[],
): number | undefined {
  const monthIndex = MONTH_INDEX.get(month ?? '');
  const [h, min, s] = hms.map(Number);
  if (monthIndex === undefined || h === undefined || min === undefined || s === undefined) return undefined;
  const dayOfMonth = Number(day);
  const time = Date.UTC(year, monthIndex, dayOfMonth, h, min, s);
  const check = new Date(time);
  // Date.UTC rolls 31 Feb over into March; a real date must survive the round trip.
  if (check.getUTCDate() !== dayOfMonth || h > 23 || min > 59 || s > 60) return undefined;
  return time;
}

/**
 * Expires as epoch milliseconds; `undefined` when absent. RFC 9111 §5.3: an invalid value (such as
 * the common `0`) means "already expired", and so do conflicting duplicates (§4.2.1) — both read as 0.
 */
export function parseExpires(headers: HeaderMap, now?: number): number | undefined {
  const value = headers.expires;
  if (value === undefined) return undefined;
  const lines = Array.isArray(value) ? value : [value];
  const times = lines.map((line) => parseHttpDate(line, now));
  const first = times[0];
  if (first === undefined || times.some((t) => t !== first)) return 0;
  return first;
}

/** Date as epoch milliseconds; the first line wins, an invalid value counts as absent. */
export function parseDate(headers: HeaderMap, now?: number): number | undefined {
  return parseHttpDate(firstHeaderValue(headers, 'date'), now);
}

/**
 * Age in seconds. RFC 9111 §5.1: a list-based value is read as its first member (`600, 0` is 600,
 * not absent, which would make a stale response look fresh); an invalid one is ignored.
 */
export function parseAge(headers: HeaderMap): number | undefined {
  const line = firstHeaderValue(headers, 'age');
  if (line === undefined) return undefined;
  const comma = line.indexOf(',');
  return parseDeltaSeconds((comma === -1 ? line : line.slice(0, comma)).trim());
}
