/**
 * Gateway API durations (GEP-2257): `1h`, `30m`, `10s`, `500ms` and combinations such as `1m30s`.
 * Parsed once when a table is compiled; the request path only ever sees milliseconds.
 */

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
const UNIT_ORDER = ['h', 'm', 's', 'ms'] as const;
const GROUP = /([0-9]{1,5})(ms|h|m|s)/y;

/**
 * Milliseconds for a duration string, or `undefined` when it is not one. Units must appear at most
 * once and from largest to smallest, so `1m1h` and `1s1s` are refused rather than silently summed.
 */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0) return undefined;
  GROUP.lastIndex = 0;
  let total = 0;
  let lastUnit = -1;
  while (GROUP.lastIndex < text.length) {
    const m = GROUP.exec(text);
    if (m === null) return undefined;
    const unit = m[2] as keyof typeof UNIT_MS;
    const order = UNIT_ORDER.indexOf(unit);
    if (order <= lastUnit) return undefined;
    lastUnit = order;
    total += Number(m[1]) * UNIT_MS[unit];
  }
  return total;
}
