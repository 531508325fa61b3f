// Dates and durations as operators write them in policies.

/** A date-only value means 00:00 UTC of that day. Rejects impossible dates such as 2025-02-30. */
export function parseDate(value: string): Date | undefined {
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const d = new Date(dateOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime())) return undefined;
  const ymd = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (ymd) {
    // Check the calendar date as written (before any zone offset moved it).
    const [, y, mo, da] = ymd;
    const probe = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(da)));
    if (probe.getUTCFullYear() !== Number(y) || probe.getUTCMonth() !== Number(mo) - 1 || probe.getUTCDate() !== Number(da)) return undefined;
  }
  return d;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** '30d' or ISO 8601 'P30D' / 'PT12H' → seconds. The schema already restricted the shape. */
export function parseDuration(text: string): number {
  const short = /^(\d+)([smhdw])$/.exec(text);
  if (short) return Number(short[1]) * (UNIT_SECONDS[short[2] as string] ?? 0);
  const iso = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text);
  if (!iso || text === 'P' || text.endsWith('T')) throw new Error(`bad duration ${text}`);
  const [, w, d, h, m, s] = iso.map((x) => Number(x ?? 0));
  return (w ?? 0) * 604800 + (d ?? 0) * 86400 + (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0);
}
