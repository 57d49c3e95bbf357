// defpath.js - paths into a test definition and a line diff, free of the DOM (checked under
// node too). A path is an array of keys and indexes; written out it reads like the server's
// validation paths: users[0].tasks[2].steps[0].request.url.

/** ['users', 0, 'name'] -> 'users[0].name' */
export function pathStr(path) {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += s ? `.${k}` : k;
  }
  return s;
}

export function getAt(obj, path) {
  let o = obj;
  for (const k of path) {
    if (o === null || typeof o !== 'object') return undefined;
    o = o[k];
  }
  return o;
}

/** Sets a value, making the objects on the way. */
export function setAt(obj, path, value) {
  let o = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i];
    if (o[k] === null || typeof o[k] !== 'object') o[k] = typeof path[i + 1] === 'number' ? [] : {};
    o = o[k];
  }
  o[path[path.length - 1]] = value;
}

/**
 * Deletes a key; objects left empty on the way up are removed too (an emptied "expect" or
 * "headers" goes), but never an array's item or the definition itself.
 */
export function delAt(obj, path) {
  const parent = getAt(obj, path.slice(0, -1));
  if (parent === null || typeof parent !== 'object') return;
  if (Array.isArray(parent)) return;
  delete parent[path[path.length - 1]];
  for (let i = path.length - 1; i > 0; i--) {
    const p = path.slice(0, i);
    const o = getAt(obj, p);
    const up = getAt(obj, p.slice(0, -1));
    if (!o || typeof o !== 'object' || Array.isArray(o) || Object.keys(o).length || Array.isArray(up)) break;
    if (!up || typeof up !== 'object') break;
    delete up[p[p.length - 1]];
  }
}

/** A duration as the format writes it ("1m30s", "500ms", 1500) in seconds, or NaN. */
export function durationSeconds(d) {
  if (typeof d === 'number') return d / 1000;
  if (typeof d !== 'string') return NaN;
  const s = d.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let total = 0, used = 0, m;
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  while ((m = re.exec(s)) !== null) { total += Number(m[1]) * mult[m[2]]; used += m[0].length; }
  return used === s.length && used > 0 ? total : NaN;
}

/** Points [[seconds...], [level...]] of a load profile (users or rate), for the chart. */
export function loadPoints(load) {
  const xs = [0], ys = [0];
  if (!load || typeof load !== 'object') return [xs, ys];
  const key = load.model === 'open' ? 'rate' : 'users';
  let stages = load.stages;
  if (!Array.isArray(stages)) stages = [{ duration: 0, [key]: load[key] }, { duration: load.duration, [key]: load[key] }];
  let t = 0;
  for (const st of stages) {
    const d = durationSeconds(st && st.duration);
    const v = Number(st && st[key]);
    if (!Number.isFinite(d) || !Number.isFinite(v)) continue;
    t += d;
    xs.push(t); ys.push(v);
  }
  return [xs, ys];
}

/**
 * A line diff (longest common subsequence) of two texts: [{op: ' '|'-'|'+', text}]. Texts
 * beyond 3000 lines are compared line by line at the same position (still readable, bounded).
 */
export function lineDiff(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  const out = [];
  if (x.length > 3000 || y.length > 3000) {
    const n = Math.max(x.length, y.length);
    for (let i = 0; i < n; i++) {
      if (x[i] === y[i]) out.push({ op: ' ', text: x[i] });
      else { if (i < x.length) out.push({ op: '-', text: x[i] }); if (i < y.length) out.push({ op: '+', text: y[i] }); }
    }
    return out;
  }
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push({ op: ' ', text: x[i] }); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) { out.push({ op: '-', text: x[i] }); i++; }
    else { out.push({ op: '+', text: y[j] }); j++; }
  }
  while (i < n) out.push({ op: '-', text: x[i++] });
  while (j < m) out.push({ op: '+', text: y[j++] });
  return out;
}

/**
 * A body as Try it shows it: JSON pretty-printed (two spaces a level), anything else, or JSON
 * cut short, as it came. Returns { text, pretty }.
 */
export function prettyBody(text, truncated = false) {
  const t = String(text ?? '');
  if (truncated || !/^\s*[[{]/.test(t)) return { text: t, pretty: false };
  try {
    return { text: JSON.stringify(JSON.parse(t), null, 2), pretty: true };
  } catch {
    return { text: t, pretty: false };
  }
}
