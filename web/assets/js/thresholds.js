// thresholds.js - reads threshold texts ("p95 < 300ms", "error_rate < 1%", "rps > 50",
// "POST /orders: p99 < 800ms") to judge them against live totals while a run goes. The
// server judges them for real at the end; this is the "as it stands" view.

const RE = /^(?:(.*):\s+)?(p50|p90|p95|p99|max|avg|error_rate|rps)\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|%)?$/;

export function parseThreshold(text) {
  const m = String(text).trim().match(RE);
  if (!m) return null;
  let value = Number(m[4]);
  if (m[5] === 's') value *= 1000;
  if (m[5] === '%') value /= 100;
  return { name: m[1] || null, metric: m[2], op: m[3], value, text };
}

/** The measured value of a threshold from live totals ({p50, p95, p99, max, rps, error_rate,
 * names: [...]}), or null when live totals do not carry it (p90, avg: judged at the end). */
export function measure(th, totals) {
  let src = totals;
  if (th.name) src = (totals.names || []).find((n) => n.name === th.name);
  if (!src) return null;
  const v = src[th.metric];
  return typeof v === 'number' ? v : null;
}

export function holds(th, v) {
  switch (th.op) {
    case '<': return v < th.value;
    case '<=': return v <= th.value;
    case '>': return v > th.value;
    default: return v >= th.value;
  }
}
