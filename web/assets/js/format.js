// format.js - numbers, times and statuses as the pages show them.

const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export function int(n) { return n === null || n === undefined || Number.isNaN(n) ? '–' : nf0.format(n); }
export function num(n) { return n === null || n === undefined || Number.isNaN(n) ? '–' : nf2.format(n); }
export function rate(n) { return n === null || n === undefined ? '–' : nf1.format(n); }

/** Milliseconds, precise for small values. */
export function ms(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (n >= 10000) return `${nf1.format(n / 1000)} s`;
  if (n >= 100) return `${nf0.format(n)} ms`;
  if (n >= 1) return `${nf1.format(n)} ms`;
  return `${nf2.format(n)} ms`;
}

/** A ratio 0..1 as a percentage. */
export function pct(r) {
  if (r === null || r === undefined || Number.isNaN(r)) return '–';
  const p = r * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return `${nf2.format(p)}%`;
}

/** Seconds as 1h 02m 03s / 2m 05s / 7s. */
export function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  s = Math.max(0, Math.round(s));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  if (hh) return `${hh}h ${String(mm).padStart(2, '0')}m ${String(ss).padStart(2, '0')}s`;
  if (mm) return `${mm}m ${String(ss).padStart(2, '0')}s`;
  return `${ss}s`;
}

/** "30s", "2m", "1h30m", "500ms" to seconds; NaN when not a duration. */
export function parseDuration(text) {
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0, m, seen = false;
  while ((m = re.exec(t)) !== null) {
    seen = true;
    const v = Number(m[1]);
    total += m[2] === 'h' ? v * 3600 : m[2] === 'm' ? v * 60 : m[2] === 's' ? v : v / 1000;
    if (re.lastIndex === t.length) return total;
  }
  return seen && re.lastIndex === t.length ? total : NaN;
}

// Dates have one style everywhere, the HTML report's too: year-month-day and a 24-hour clock in
// the browser's time zone, "2026-05-04 16:03"; whenFull adds the seconds and the zone as an
// offset from UTC, "2026-05-04 16:03:12 UTC+02:00" (the report's is the server's zone).
const pad = (n) => String(n).padStart(2, '0');

/** "2026-05-04 16:03" in the browser's zone; '–' for none. */
export function when(msSinceEpoch) {
  if (!msSinceEpoch) return '–';
  const d = new Date(msSinceEpoch);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The zone's offset from UTC at that moment: "UTC+02:00". */
export function zone(msSinceEpoch) {
  const off = -new Date(msSinceEpoch || Date.now()).getTimezoneOffset();
  const a = Math.abs(off);
  return `UTC${off < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** "2026-05-04 16:03:12 UTC+02:00"; '–' for none. */
export function whenFull(msSinceEpoch) {
  if (!msSinceEpoch) return '–';
  const d = new Date(msSinceEpoch);
  return `${when(msSinceEpoch)}:${pad(d.getSeconds())} ${zone(msSinceEpoch)}`;
}

/** A moment of a run: tenths of a second in its first minute ("12.5s"), then a duration. */
export function elapsed(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  return s < 60 ? `${Math.max(0, s).toFixed(1)}s` : duration(s);
}

export const STATUSES = ['queued', 'running', 'passed', 'failed', 'stopped', 'aborted', 'error', 'incomplete', 'degraded'];
