// verdicts.js - how a comparison's verdicts read (GET /compare, a run's "baseline", the
// history's "against"): the words, the change with its interval, and what a cell's tooltip
// says about how it was judged. DOM-free, so node tests it (tests/integration/web_modules).

/** The four verdicts of a figure, and the throughput of runs of different load profiles. */
export const VERDICTS = ['regression', 'improvement', 'no significant change', 'not enough data', 'not compared'];

/** A short word for a verdict, for narrow table cells. */
export function shortVerdict(v) {
  switch (v) {
    case 'regression': return 'regression';
    case 'improvement': return 'improvement';
    case 'no significant change': return 'no change';
    case 'not enough data': return 'not enough data';
    case 'not compared': return 'not compared';
    default: return '';
  }
}

/** The CSS class of a verdict ("v-regression", "v-no-change", ...). */
export function verdictClass(v) {
  return v ? `v-${shortVerdict(v).replace(/ /g, '-')}` : '';
}

const UNITS = { p50: ' ms', p95: ' ms', p99: ' ms', rps: '/s', error_pct: ' pts' };

function signed(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  const s = a.toFixed(digits);
  return x > 0 ? `+${s}` : x < 0 ? `−${s}` : s;
}

/** "+4.52 ms [+3.90, +5.20]": a cell's change with its interval, in the figure's unit. */
export function changeText(figure, cell) {
  if (!cell || typeof cell.change !== 'number') return '';
  const unit = UNITS[figure] || '';
  const ci = Array.isArray(cell.ci) ? ` [${signed(cell.ci[0])}, ${signed(cell.ci[1])}]` : '';
  return `${signed(cell.change)}${unit}${ci}`;
}

/** What a cell was judged on, for its tooltip: "p = 0.002 on 6 and 6 seconds; 99% interval". */
export function basisText(cell, alpha) {
  if (!cell) return '';
  if (!cell.basis) return cell.reason || '';
  const n = Array.isArray(cell.samples) ? `${cell.samples[0]} and ${cell.samples[1]} ${cell.basis}` : cell.basis;
  const p = typeof cell.p_value === 'number' ? `p = ${cell.p_value < 0.001 ? cell.p_value.toExponential(1) : cell.p_value.toFixed(3)}` : 'p unknown';
  const level = typeof alpha === 'number' ? `; ${Math.round((1 - alpha) * 1000) / 10}% interval` : '';
  return `${p} on ${n}${level}${cell.reason ? `. ${cell.reason}` : ''}`;
}

/** The rule a comparison flags by, in a sentence. */
export function ruleText(settings) {
  if (!settings) return '';
  return `Flagged when significant at ${settings.alpha} and beyond both ${settings.min_change_pct}% of the baseline (p95, p99: ${settings.min_change_tail_pct}%) and `
    + `${settings.min_change_ms} ms (latency), ${settings.min_change_error_pct} points (errors) or ${settings.min_change_rps}/s (throughput); `
    + `seconds whose load generator lagged over ${settings.max_lag_ms} ms are left out.`;
}

/** A line for a run against its baseline ({verdict, regressions (a count or a list), improvements}). */
export function briefText(b) {
  if (!b) return '';
  if (b.is_baseline) return 'baseline';
  // A run's "baseline" lists its regressions; the history's "against" counts them.
  const n = Array.isArray(b.regressions) ? b.regressions.length : b.regressions || 0;
  const m = b.improvements || 0;
  if (b.verdict === 'regression') return `${n} regression${n === 1 ? '' : 's'}`;
  if (b.verdict === 'improvement') return `${m} improvement${m === 1 ? '' : 's'}`;
  return b.verdict || '';
}
