// thresholds.js - reads threshold texts ("p95 < 300ms", "error_rate < 1%", "rps > 50",
// "POST /orders: p99 < 800ms") to judge them against live totals while a run goes. The
// server judges them for real at the end; this is the "as it stands" view.

const RE = /^(?:(.*):\s*)?(p50|p90|p95|p99|max|avg|min|error_rate|rps|dropped|achieved_rate)\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|%|\/s|rps)?$/;

export function parseThreshold(text) {
  const m = String(text).trim().match(RE);
  if (!m) return null;
  let value = Number(m[4]);
  if (m[5] === 's') value *= 1000;
  if (m[5] === 'us') value /= 1000;
  if (m[5] === '%') value /= 100;
  return { name: m[1] || null, metric: m[2], op: m[3], value, text };
}

/** The measured value of a threshold from live totals ({p50, p95, p99, max, rps, error_rate,
 * names: [...]}), or null when live totals do not carry it (p90, avg, min, the open model's
 * dropped and achieved_rate: judged at the end). */
export function measure(th, totals) {
  // Live totals count dropped arrivals but not the arrivals planned: judged at the end.
  if (th.metric === 'dropped' || th.metric === 'achieved_rate') return null;
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
