// run.js - one run. While it goes: charts fed every second by the live stream, tiles, the
// per-name table updated in place, status codes, error kinds, failure messages, thresholds as
// they stand, Stop and change-load controls. Once it has ended: the report from stored data
// (series, summary, verdicts, failures, distribution) with export buttons.
//
// A chart means the same live and afterwards: second s is drawn at s + 1 s; the response time
// is p50/p95/p99 of all requests by default (each request name one pick away, in both), the
// open model's arrivals chart shows the planned rate, what was achieved and what was dropped;
// load changes are marked on every time chart.
import { h, mount, setText, field, toast } from '../dom.js';
import { API, get, post, put, can } from '../api.js';
import { ms, int, rate, pct, duration, when, whenFull, elapsed, parseDuration } from '../format.js';
import { TimeChart, BarChart, PALETTE } from '../charts.js';
import { LiveStream } from '../live.js';
import { ready, pageHeader, statusBadge, scheduledBadge, emptyState, errorBox, table, timeEl } from '../page.js';
import { parseThreshold, measure, holds } from '../thresholds.js';
import { picked } from './history.js';
import { briefText, verdictClass } from '../verdicts.js';
import { openStartDialog } from './start.js';
import { locationsCard, agentsCard, agentNotes } from '../locations.js';

export async function render(main, ctx) {
  const id = Number(ctx.params.id);
  let run;
  try {
    run = await get(`${API}/runs/${id}`);
  } catch (e) {
    mount(main, h('section', { class: 'page' }, pageHeader(`Run #${id}`), e.status === 404
      ? emptyState('No such run', `There is no run #${id}.`, h('a', { href: '#/runs', class: 'btn' }, 'Back to the history'))
      : errorBox(e.message)));
    ready('run');
    return () => {};
  }
  let thresholds = [];
  try {
    const t = await get(`${API}/tests/${run.test_id}/revisions/${run.revision}`);
    thresholds = (t.definition && Array.isArray(t.definition.thresholds)) ? t.definition.thresholds : [];
  } catch { /* a deleted test: the verdicts still name the thresholds */ }

  if (run.status === 'running' || run.status === 'queued') return renderLive(main, ctx, run, thresholds);
  return renderReport(main, ctx, run);
}

/* ---- Shared pieces ---- */

function header(run, extra) {
  const started = run.started_at || run.created_at;
  return pageHeader(h('span', run.test_name, h('span', { class: 'run-id' }, ` · run #${run.id}`)),
    h('span', { class: 'run-meta' }, statusBadge(run.status), ' ', run.origin === 'scheduled' ? [scheduledBadge(run), ' '] : null, h('a', { href: `#/tests/${run.test_id}/edit?revision=${run.revision}`, class: 'rev-link' }, `Revision ${run.revision}`), ' · started ', timeEl(started), ' by ', run.started_by || '–', overridesText(run.overrides)),
    extra);
}

/** What the change of a run's load reads like: "8 users", "120 iterations/s". */
function changeLabel(c, open) {
  return `${Math.round(c.target * 10) / 10} ${open ? 'iterations/s' : 'users'}`;
}

/** Load changes as chart marks. */
function marksOf(changes, open) {
  return (changes || []).map((c) => ({ x: c.elapsed_ms / 1000, label: changeLabel(c, open), at: elapsed(c.elapsed_ms / 1000) }));
}

/** The report's facts: what ran, where, when (with the zone), how long, from where. */
function factsCard(run, open) {
  const s = run.summary || {};
  const rows = [];
  const add = (k, ...v) => rows.push(h('dt', k), h('dd', ...v));
  if (s.base_url) add('Base URL', h('span', { class: 'mono' }, s.base_url));
  if (s.load) add('Load', loadText(s.load));
  const changes = run.load_changes || [];
  if (changes.length) add('Load changes', changes.map((c, i) => `${i ? '; ' : ''}at ${elapsed(c.elapsed_ms / 1000)}: ${changeLabel(c, open)}${c.ramp_ms ? ` over ${duration(c.ramp_ms / 1000)}` : ''}${c.by ? ` (by ${c.by})` : ''}`).join(''));
  add('Started', whenFull(run.started_at || run.created_at));
  if (run.ended_at) add('Ended', whenFull(run.ended_at));
  if (s.host) add('Load generator', s.host);
  return h('section', { class: 'card facts-card' }, h('dl', { class: 'facts' }, rows));
}

function loadText(load) {
  const unit = load.unit || 'users';
  let prev = 0;
  const stages = load.stages || [];
  const parts = [];
  stages.forEach((st, i) => {
    const t = `${Math.round(st.target * 100) / 100} ${unit}`;
    // A jump that the next stage holds reads as the hold: "3 users for 6s".
    if (st.duration_s <= 0 && stages[i + 1] && stages[i + 1].target === st.target) { prev = st.target; return; }
    parts.push(st.duration_s <= 0 ? `jump to ${t}` : st.target === prev ? `${t} for ${duration(st.duration_s)}` : `to ${t} over ${duration(st.duration_s)}`);
    prev = st.target;
  });
  let text = `${load.model === 'open' ? `open model (up to ${load.max_vus} VUs)` : 'closed model'}: ${parts.join(', then ')}`;
  if (load.stop_when) text += `; stops when ${load.stop_when.any.join(' or ')} over ${load.stop_when.window_s}s`;
  return text;
}

function overridesText(o) {
  if (!o || typeof o !== 'object' || !Object.keys(o).length) return '';
  const parts = [];
  if (o.users) parts.push(`${o.users} users`);
  if (o.stages) parts.push('custom stages');
  if (o.duration) parts.push(`for ${o.duration}`);
  if (o.base_url) parts.push(`against ${o.base_url}`);
  return parts.length ? ` · ${parts.join(' ')}` : '';
}

/** A row of figure tiles, each a value and a line under it; returns { el, set(key, text, sub) }. */
function tiles(defs) {
  const vals = {}, subs = {};
  const el = h('div', { class: 'tiles' }, defs.map(([key, label]) => {
    vals[key] = h('div', { class: 'tile-value' }, '–');
    subs[key] = h('div', { class: 'tile-sub' });
    return h('div', { class: 'tile', dataset: { tile: key } }, h('div', { class: 'tile-label' }, label), vals[key], subs[key]);
  }));
  return { el, set: (k, t, sub = '') => { if (vals[k]) { setText(vals[k], t); setText(subs[k], sub); } } };
}

/** The per-request-name table, updated in place by name. */
function namesTable() {
  const body = h('tbody');
  const rows = new Map();
  const el = table([['Request name'], ['Requests', 'num'], ['RPS', 'num'], ['Failures', 'num'], ['p50', 'num'], ['p95', 'num'], ['p99', 'num'], ['Max', 'num']],
    body, { caption: 'Per request name and group', className: 'names-table' });
  function update(items, total) {
    const all = total ? [...items, { ...total, name: 'Total', _total: true }] : items;
    for (const n of all) {
      const key = n._total ? '\u0000total' : n.name;
      let r = rows.get(key);
      if (!r) {
        // Labelled, for the phone layout that stacks each row (app.css).
        const labels = ['Requests', 'RPS', 'Failures', 'p50', 'p95', 'p99', 'Max'];
        const cells = labels.map((l) => h('td', { class: 'num', dataset: { label: l } }));
        // A group's row counts whole runs of its steps, beside the requests inside it.
        const group = n.kind === 'group';
        const label = group ? [h('span', { class: 'badge badge-group', title: 'A group: its steps timed as a whole' }, 'group'), ' ', n.name] : n.name;
        const tr = h('tr', { class: n._total ? 'total-row' : group ? 'group-row' : null, dataset: group ? { kind: 'group' } : {} },
          h('th', { scope: 'row', class: 'name-cell' }, label), cells);
        r = { tr, cells };
        rows.set(key, r);
        if (n._total) body.appendChild(tr);
        else { const t = rows.get('\u0000total'); body.insertBefore(tr, t ? t.tr : null); }
      }
      const lat = n.latency_ms || n;
      const vals = [int(n.requests), rate(n.rps), `${int(n.failures)} (${pct(n.error_rate)})`, ms(lat.p50), ms(lat.p95), ms(lat.p99), ms(lat.max)];
      vals.forEach((v, i) => setText(r.cells[i], v));
      r.tr.classList.toggle('has-failures', n.failures > 0);
    }
  }
  return { el, update };
}

/** Counts as a small list: status codes or error kinds. */
function countList(title, emptyText) {
  const list = h('ul', { class: 'count-list' });
  const el = h('section', { class: 'card' }, h('h2', { class: 'card-title' }, title), list);
  let shown = null;
  function update(obj, classify) {
    // Rebuilt only when the counts changed, so a steady list is left alone (and selectable).
    const key = JSON.stringify(obj || {});
    if (key === shown) return;
    shown = key;
    const entries = Object.entries(obj || {}).sort((a, b) => b[1] - a[1]);
    if (!entries.length) { mount(list, h('li', { class: 'muted' }, emptyText)); return; }
    mount(list, entries.map(([k, v]) => h('li', { class: classify ? classify(k) : null }, h('span', { class: 'count-key' }, k === '0' ? 'no response' : k), h('span', { class: 'count-val' }, int(v)))));
  }
  return { el, update };
}

const statusClass = (k) => (k === '0' || Number(k) >= 500 ? 'bad' : Number(k) >= 400 ? 'warn' : 'good');

function failuresCard() {
  const body = h('div');
  const el = h('section', { class: 'card' }, h('h2', { class: 'card-title' }, 'Failure messages'), body);
  let shown = null;
  function update(items) {
    const key = JSON.stringify(items || []);
    if (key === shown) return;
    shown = key;
    if (!items || !items.length) { mount(body, h('p', { class: 'muted' }, 'No failures.')); return; }
    mount(body, table([['Request name'], ['Message'], ['Count', 'num']],
      h('tbody', items.map((f) => h('tr', h('td', { class: 'nowrap' }, f.name), h('td', h('code', { class: 'failure-msg' }, f.message)), h('td', { class: 'num' }, int(f.count))))),
      { caption: 'Failure messages', className: 'failures-table' }));
  }
  return { el, update };
}

function thresholdsCard(title) {
  const list = h('ul', { class: 'thresholds' });
  const el = h('section', { class: 'card' }, h('h2', { class: 'card-title' }, title), list);
  /** items: [{ text, state: 'pass'|'fail'|'pending', measured }] */
  function update(items) {
    if (!items.length) { mount(list, h('li', { class: 'muted' }, 'This test has no thresholds.')); return; }
    mount(list, items.map((t) => h('li', { class: ['threshold', `th-${t.state}`] },
      h('span', { class: 'th-mark', 'aria-hidden': 'true' }, t.state === 'pass' ? '✓' : t.state === 'fail' ? '✗' : t.state === 'skip' ? '–' : '…'),
      h('span', { class: 'th-text' }, t.text),
      h('span', { class: 'th-measured' }, t.measured),
      h('span', { class: 'sr-only' }, t.state === 'pass' ? 'holds' : t.state === 'fail' ? 'missed' : t.state === 'skip' ? 'not judged' : 'not known yet'))));
  }
  return { el, update };
}

function measuredText(th, v) {
  if (v === null || v === undefined) return '';
  if (th && (th.metric === 'error_rate' || th.metric === 'dropped')) return pct(v);
  if (th && (th.metric === 'rps' || th.metric === 'achieved_rate')) return `${rate(v)}/s`;
  return ms(v);
}

const LAT_SERIES = [{ label: 'p50', color: '#2f9e6b' }, { label: 'p95', color: PALETTE[0] }, { label: 'p99', color: '#e07b39' }];
const ALL = 'All requests';
const rpsChartNew = () => new TimeChart({ title: 'Requests per second', unit: '/s', series: [{ label: 'Requests/s', color: PALETTE[0], fill: 'rgba(47,111,222,0.08)' }] });
const errChartNew = () => new TimeChart({ title: 'Errors per second', unit: '/s', series: [{ label: 'Errors/s', color: '#d64545', fill: 'rgba(214,69,69,0.08)' }] });
const vuChartNew = () => new TimeChart({ title: 'Virtual users', series: [{ label: 'Active VUs', color: '#5d6d7e', fill: 'rgba(93,109,126,0.08)' }, { label: 'Target', color: '#9b59b6', dash: [6, 4] }] });
const rateChartNew = () => new TimeChart({ title: 'Arrival rate (open model)', unit: '/s', series: [{ label: 'Target rate', color: '#9b59b6', dash: [6, 4] }, { label: 'Achieved', color: PALETTE[0] }, { label: 'Dropped', color: '#d64545' }] });

/** A run across locations: a total line first, then one line per location (named by it). */
const RPS_TOTAL = { label: 'Total', color: PALETTE[0], fill: 'rgba(47,111,222,0.08)' };
const P95_TOTAL = { label: 'Total p95', color: PALETTE[0] };
const locLines = (first, locs, suffix = '') => [first, ...locs.map((l, i) => ({ label: `${l}${suffix}`, color: PALETTE[(i + 1) % PALETTE.length] }))];

/** The response-time chart with its view picker: all requests first, then each name. */
function latencyChart() {
  const pick = h('select', { 'aria-label': 'Requests shown in the response time chart' }, h('option', { value: '' }, ALL));
  const chart = new TimeChart({ title: 'Response time', unit: 'ms', series: LAT_SERIES, tools: pick });
  const known = new Set();
  /** Adds the names not offered yet. */
  function offer(names) {
    for (const n of names) {
      if (known.has(n)) continue;
      known.add(n);
      pick.appendChild(h('option', { value: n }, n));
    }
  }
  return { chart, pick, offer };
}

function chartsGrid(charts) {
  return h('div', { class: 'charts' }, charts.map((c) => c.el));
}

/* ---- Live ---- */

function renderLive(main, ctx, run, thresholdTexts) {
  const points = new Map();
  let live = run.live || null;
  let liveAt = performance.now();
  let stopping = false;
  let refreshing = false;
  let lastRefresh = 0;
  let drawQueued = false;
  const parsed = thresholdTexts.map((t) => ({ text: t, th: parseThreshold(t) }));
  let model = (live && live.model) || 'closed';

  const conn = h('span', { class: 'conn conn-connecting', role: 'status' }, 'Connecting…');
  const lostNote = h('div', { class: 'alert alert-warn', role: 'alert', hidden: true });
  // Seconds the engine flags as its own stalls, said while the run goes, not only in the report.
  const stallNote = h('div', { class: 'alert alert-warn', role: 'status', hidden: true });
  const stalls = new Map();
  const t = tiles([['elapsed', 'Elapsed'], ['remaining', 'Remaining'], ['rps', 'Requests/s'], ['p95', 'p95 (last second)'], ['errors', 'Failures'], ['vus', 'Active VUs']]);

  const rpsChart = rpsChartNew();
  const lat = latencyChart();
  const latChart = lat.chart;
  lat.pick.addEventListener('change', () => { if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); } });
  const errChart = errChartNew();
  const vuChart = vuChartNew();
  const rateChart = rateChartNew();
  const charts = [rpsChart, latChart, errChart, vuChart, rateChart];
  const rateWrap = rateChart.el;
  rateWrap.classList.add('chart-wide');
  rateWrap.hidden = model !== 'open';

  const names = namesTable();
  const statusCodes = countList('Status codes', 'No responses yet.');
  const errorKinds = countList('Error kinds', 'No errors.');
  const failures = failuresCard();
  const ths = thresholdsCard('Thresholds (as they stand)');

  const controls = [];
  let targetIn = null;
  let loadForm = null;
  if (can('run')) {
    const stopBtn = h('button', { type: 'button', class: 'btn btn-danger', on: { click: () => stop('graceful') } }, 'Stop');
    const killBtn = h('button', { type: 'button', class: 'btn btn-danger-ghost', title: 'Abort the requests in flight', on: { click: () => stop('immediate') } }, 'Stop now');
    controls.push(stopBtn, killBtn);
    targetIn = h('input', { type: 'number', min: '0', step: 'any', class: 'narrow', inputmode: 'decimal' });
    const rampIn = h('input', { type: 'text', class: 'narrow', placeholder: '0s', value: '' });
    const apply = h('button', { type: 'submit', class: 'btn' }, 'Apply');
    const loadLabel = h('span');
    const form = h('form', { class: 'load-form', 'aria-label': 'Change the load', on: { submit: async (e) => {
      e.preventDefault();
      const target = Number(targetIn.value);
      if (targetIn.value === '' || !(target >= 0)) { toast('Enter the new target.', 'error'); targetIn.focus(); return; }
      const ramp = rampIn.value.trim();
      if (ramp && Number.isNaN(parseDuration(ramp))) { toast('Ramp: write it like 10s or 1m.', 'error'); rampIn.focus(); return; }
      apply.disabled = true;
      try {
        await post(`${API}/runs/${run.id}/load`, ramp ? { target, ramp: /^[0-9.]+$/.test(ramp) ? `${ramp}s` : ramp } : { target });
        toast(`Load changed to ${target}${model === 'open' ? ' iterations/s' : ' users'}.`, 'success');
      } catch (err) { toast(`Change load: ${err.message}`, 'error'); } finally { apply.disabled = false; }
    } } },
    field(loadLabel, targetIn).wrap, field('Ramp', rampIn).wrap, apply);
    const setLabel = () => setText(loadLabel, model === 'open' ? 'New rate (/s)' : 'New users');
    setLabel();
    loadForm = { setLabel };
    controls.push(form);
    async function stop(mode) {
      if (stopping && mode === 'graceful') return;
      stopping = true;
      try {
        await post(`${API}/runs/${run.id}/stop`, { mode });
        setText(conn, 'Stopping…');
        stopBtn.disabled = true;
      } catch (err) { toast(`Stop: ${err.message}`, 'error'); stopping = false; }
    }
  }

  mount(main, h('section', { class: 'page page-run' },
    header(run, conn),
    lostNote,
    stallNote,
    t.el,
    controls.length ? h('div', { class: 'card controls' }, controls) : null,
    chartsGrid(charts),
    h('div', { class: 'grid-main' },
      h('section', { class: 'card card-flush' }, h('h2', { class: 'card-title' }, 'Per request name and group'), names.el),
      ths.el),
    h('div', { class: 'grid-3' }, statusCodes.el, errorKinds.el, failures.el)));

  function draw() {
    drawQueued = false;
    if (!points.size) return;
    const secs = [...points.keys()].sort((a, b) => a - b);
    const first = 0, last = secs[secs.length - 1];
    const xs = [];
    const col = (f) => { const a = []; for (let s = first; s <= last; s++) { const p = points.get(s); a.push(p ? f(p) : null); } return a; };
    for (let s = first; s <= last; s++) xs.push(s + 1);
    // A run across locations: the total and one line per location (docs/live.md), in the
    // throughput chart and, for all requests, in the response time one (p95 of each).
    const locs = [...new Set(secs.flatMap((s) => Object.keys(points.get(s).locations || {})))].sort();
    const name = lat.pick.value;
    if (locs.length) {
      rpsChart.setSeries(locLines(RPS_TOTAL, locs));
      rpsChart.setData([xs, col((p) => p.rps), ...locs.map((l) => col((p) => p.locations?.[l]?.requests ?? null))]);
    } else {
      rpsChart.setData([xs, col((p) => p.rps)]);
    }
    errChart.setData([xs, col((p) => p.errors)]);
    // A second without a finished request has no latency: a gap, not a fall to zero.
    const src = (p) => (name ? (p.names || []).find((n) => n.name === name) : (p.count > 0 ? p : null));
    if (locs.length && !name) {
      latChart.setSeries(locLines(P95_TOTAL, locs, ' p95'));
      const locP95 = (l) => col((p) => (p.locations?.[l]?.requests > 0 ? p.locations[l].p95_ms : null));
      latChart.setData([xs, col((p) => src(p)?.p95 ?? null), ...locs.map(locP95)]);
    } else {
      latChart.setSeries(LAT_SERIES);
      latChart.setData([xs, col((p) => src(p)?.p50 ?? null), col((p) => src(p)?.p95 ?? null), col((p) => src(p)?.p99 ?? null)]);
    }
    // In the open model target_vus is the pool's size, not a target to draw against.
    vuChart.setData([xs, col((p) => p.vus), col((p) => (model === 'open' ? null : p.target_vus))]);
    if (model === 'open') rateChart.setData([xs, col((p) => p.target_rate ?? null), col((p) => p.arrivals ?? p.iterations), col((p) => p.dropped)]);
    const lp = points.get(last);
    t.set('rps', rate(lp.rps));
    t.set('p95', ms(lp.p95));
    t.set('vus', model === 'open' ? `${int(lp.vus)} of ${int(lp.target_vus)}` : `${int(lp.vus)} / ${int(lp.target_vus)}`);
  }

  function onPoint(p) {
    points.set(p.second, p);
    if (p.stall) {
      stalls.set(p.second, p.lag_ms || 0);
      const secs = [...stalls.keys()];
      const gap = Math.max(...stalls.values());
      const where = secs.length === 1 ? `second ${secs[0]}` : `${secs.length} seconds (from second ${Math.min(...secs)} to ${Math.max(...secs)})`;
      stallNote.hidden = false;
      setText(stallNote, `Generator stall: the load generator stalled in ${where} (longest gap ${ms(gap)}). Latencies and missing requests in those seconds are the generator's own, not the target's.`);
    }
    lat.offer((p.names || []).map((n) => n.name));
    if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
    if (performance.now() - lastRefresh > 900) refresh();
  }

  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    lastRefresh = performance.now();
    try {
      const r = await get(`${API}/runs/${run.id}`);
      run = r;
      if (r.live) { live = r.live; liveAt = performance.now(); applyLive(); }
    } catch { /* the next point tries again */ } finally { refreshing = false; }
  }

  function applyLive() {
    if (live.model && live.model !== model) { model = live.model; rateWrap.hidden = model !== 'open'; if (loadForm) loadForm.setLabel(); }
    names.update(live.names || [], { requests: live.requests, failures: live.failures, rps: live.rps, error_rate: live.error_rate, p50: live.p50, p95: live.p95, p99: live.p99, max: live.max });
    statusCodes.update(live.status, statusClass);
    errorKinds.update(live.error_kinds);
    failures.update(live.failure_messages || []);
    t.set('errors', int(live.failures), `${pct(live.error_rate)} of requests`);
    const marks = marksOf(live.load_changes, model === 'open');
    for (const c of charts) c.setMarks(marks);
    // The server's disk is full: the run goes on, but these seconds are not kept.
    lostNote.hidden = !(live.lost_seconds > 0);
    if (live.lost_seconds > 0) {
      setText(lostNote, `The server could not store ${int(live.lost_seconds)} second${live.lost_seconds === 1 ? '' : 's'} of this run (its disk is full): the run will end incomplete.${live.ending ? ' Its end waits for disk space.' : ''}`);
    }
    ths.update(parsed.map(({ text, th }) => {
      if (!th) return { text, state: 'pending', measured: '' };
      const v = measure(th, live);
      if (v === null) return { text, state: 'pending', measured: 'judged at the end' };
      return { text, state: holds(th, v) ? 'pass' : 'fail', measured: measuredText(th, v) };
    }));
    if (targetIn) {
      const lp = live.last || {};
      targetIn.placeholder = `now ${model === 'open' ? rate(lp.target_rate) : int(live.target_vus)}`;
    }
  }

  function tick() {
    if (!live) return;
    // The run's time ends at its planned end: requests finishing after it are the graceful
    // tail, not one more second of load.
    let el = live.elapsed_s + (performance.now() - liveAt) / 1000;
    if (live.planned_s && el > live.planned_s) el = live.planned_s;
    t.set('elapsed', duration(el));
    t.set('remaining', live.planned_s ? duration(Math.max(0, live.planned_s - el)) : '–');
  }
  const clock = setInterval(tick, 250);
  ths.update(parsed.map(({ text }) => ({ text, state: 'pending', measured: '' })));
  if (live) applyLive();

  const stream = new LiveStream(run.id, {
    onPoint,
    onState: (s) => {
      conn.className = `conn conn-${s}`;
      setText(conn, s === 'live' ? (stopping ? 'Stopping…' : 'Live') : s === 'reconnecting' ? 'Reconnecting…' : s === 'ended' ? 'Ended' : 'Connecting…');
    },
    onEnd: async (status) => {
      clearInterval(clock);
      toast(`Run #${run.id} ended: ${status || 'done'}.`, status === 'passed' ? 'success' : 'info');
      const fresh = await get(`${API}/runs/${run.id}`).catch(() => null);
      if (fresh && location.hash === `#/runs/${run.id}`) {
        for (const c of charts) c.destroy();
        cleanupRef.fn = await renderReport(main, ctx, fresh);
      }
    },
  });
  stream.start();
  ready('live');

  const cleanupRef = { fn: null };
  return () => {
    clearInterval(clock);
    stream.close();
    for (const c of charts) c.destroy();
    if (cleanupRef.fn) cleanupRef.fn();
  };
}

/* ---- Report ---- */

async function renderReport(main, ctx, run) {
  const s = run.summary;
  const total = s && s.total;
  const exportLink = (ext, label) => h('a', { class: 'btn btn-small', href: `${API}/runs/${run.id}/export.${ext}`, download: '', dataset: { export: ext } }, label);
  const actions = [
    h('div', { class: 'btn-row', role: 'group', 'aria-label': 'Export' }, h('span', { class: 'muted small' }, 'Export'),
      exportLink('html', 'HTML'), exportLink('csv', 'CSV'), exportLink('json', 'JSON'), exportLink('junit.xml', 'JUnit')),
    h('a', { class: 'btn btn-small', href: `#/runs?test=${run.test_id}`, title: 'Pick runs of this test to compare with this one',
      on: { click: () => { if (!picked.includes(run.id) && picked.length < 10) picked.unshift(run.id); } } }, 'Compare with…'),
    can('run') ? h('button', { type: 'button', class: 'btn btn-small btn-primary', on: { click: () => openStartDialog({ id: run.test_id, name: run.test_name }, ctx.go) } }, 'Run again') : null,
  ];
  const baseline = baselineCard(run);
  if (can('write') && s) actions.splice(2, 0, baseline.pin);
  const t = tiles([['duration', 'Duration'], ['requests', 'Requests'], ['rps', 'Requests/s'], ['errors', 'Failures'], ['p95', 'p95'], ['p99', 'p99']]);
  if (total) {
    t.set('duration', duration(s.duration_s));
    t.set('requests', int(total.requests));
    t.set('rps', rate(total.rps));
    t.set('errors', int(total.failures), `${pct(total.error_rate)} of requests`);
    t.set('p95', ms(total.latency_ms && total.latency_ms.p95));
    t.set('p99', ms(total.latency_ms && total.latency_ms.p99));
  }

  const rpsChart = rpsChartNew();
  const lat = latencyChart();
  const latPick = lat.pick;
  const latChart = lat.chart;
  const errChart = errChartNew();
  const vuChart = vuChartNew();
  const open = !!(s && (s.open_model || (s.load && s.load.model === 'open')));
  const rateChart = rateChartNew();
  rateChart.el.classList.add('chart-wide');
  const distPick = h('select', { 'aria-label': 'Requests shown in the distribution' }, h('option', { value: '' }, ALL));
  const distChart = new BarChart({ title: 'Response-time distribution', tools: distPick });
  distChart.el.classList.add('chart-wide');
  const timeCharts = open ? [rpsChart, latChart, errChart, vuChart, rateChart] : [rpsChart, latChart, errChart, vuChart];
  const charts = [...timeCharts, distChart];
  const marks = marksOf(run.load_changes, open);
  for (const c of timeCharts) c.setMarks(marks);
  const names = namesTable();
  const statusCodes = countList('Status codes', 'No responses.');
  const errorKinds = countList('Error kinds', 'No errors.');
  const failures = failuresCard();
  const ths = thresholdsCard('Thresholds');
  const verdicts = Array.isArray(run.verdicts) ? run.verdicts : [];
  ths.update(verdicts.map((v) => ({ text: v.threshold, state: v.skipped ? 'skip' : v.passed ? 'pass' : 'fail',
    measured: v.skipped ? `${measuredText({ metric: v.metric }, v.measured)}, not judged: no baseline run` : measuredText({ metric: v.metric }, v.measured) })));

  const notes = [];
  const errorTitle = { aborted: 'Aborted: ', incomplete: 'Incomplete results: ', degraded: 'Degraded: ' }[run.status] || 'Error: ';
  if (run.error) notes.push(h('div', { class: 'alert alert-error', role: 'alert' }, h('strong', errorTitle), run.error));
  if (s && s.broke) notes.push(h('div', { class: 'alert alert-warn' }, h('strong', `Broke at ${s.broke.load} ${s.broke.load_unit} in second ${s.broke.second}: `), `${s.broke.condition} (measured ${s.broke.measured_text}); the run was stopped there.`));
  const om = s && s.open_model;
  if (om && om.generator_limited) notes.push(h('div', { class: 'alert alert-warn' }, h('strong', 'The load generator, not the target, limited this run: '), 'its timers fired late, so the target saw less load than planned.'));
  else if (om && om.target_saturated) notes.push(h('div', { class: 'alert alert-warn' }, h('strong', 'The target was saturated: '), `all ${om.max_vus} VUs were busy waiting on its responses, so ${int(om.dropped)} arrivals (${pct(om.dropped_share)}) were dropped while the generator kept its schedule.`));
  if (s && s.failed_requests_fail) notes.push(h('div', { class: 'alert alert-error' }, `${int(s.failed_requests_fail)} requests failed and the test has no thresholds: stampede run and stampede remote run exit 1 for it (unless --allow-failures).`));
  const g = s && s.generator;
  if (g && g.stalled_seconds > 0) {
    const where = g.stall_first === g.stall_last ? `second ${g.stall_first}` : `${g.stalled_seconds} seconds between second ${g.stall_first} and ${g.stall_last}`;
    notes.push(h('div', { class: 'alert alert-warn', role: 'status' }, h('strong', 'Generator stall: '),
      `the load generator stalled in ${where} (longest gap ${ms(g.lag_ms_max)}). Latencies and missing requests in those seconds are the generator's own, not the target's.`));
  }

  notes.push(...agentNotes(run));

  mount(main, h('section', { class: 'page page-run' },
    header(run, actions),
    notes,
    factsCard(run, open),
    t.el,
    chartsGrid(charts),
    h('div', { class: 'grid-main' },
      h('section', { class: 'card card-flush' }, h('h2', { class: 'card-title' }, 'Per request name and group'), names.el),
      h('div', { class: 'stack' }, ths.el, baseline.el)),
    locationsCard(s),
    agentsCard(s),
    h('div', { class: 'grid-3' }, statusCodes.el, errorKinds.el, failures.el)));

  if (s) {
    names.update((s.names || []).filter((n) => n.requests > 0), total);
    statusCodes.update(total.status, statusClass);
    errorKinds.update(total.errors);
  } else {
    mount(names.el.querySelector('tbody'), h('tr', h('td', { colspan: 8, class: 'muted' }, 'This run has no results.')));
    statusCodes.update({});
    errorKinds.update({});
  }

  const [series, fails, dist] = await Promise.all([
    get(`${API}/runs/${run.id}/series`).catch(() => null),
    get(`${API}/runs/${run.id}/failures`).catch(() => null),
    get(`${API}/runs/${run.id}/distribution`).catch(() => null),
  ]);
  failures.update(fails ? fails.items : []);
  if (series) {
    const cols = seriesColumns(series);
    lat.offer((series.names || []).filter((n) => n.second.length).map((n) => n.name));
    // A run recorded before the latency of all requests was stored: per second, the slowest.
    if (!cols.hasTotal) latPick.options[0].textContent = 'Slowest request name each second';
    // A run across locations: the total and one line per location, as the live page drew them.
    const locs = cols.locs;
    if (locs.length) rpsChart.setSeries(locLines(RPS_TOTAL, locs));
    rpsChart.setData([cols.xs, cols.rps, ...locs.map((l) => cols.byLoc[l].requests)]);
    errChart.setData([cols.xs, cols.errors]);
    vuChart.setData([cols.xs, cols.vus, open ? cols.target.map(() => null) : cols.target]);
    if (open) rateChart.setData([cols.xs, cols.targetRate, cols.arrivals, cols.dropped]);
    const drawLat = () => {
      const l = cols.latency(latPick.value || null);
      if (locs.length && !latPick.value) {
        latChart.setSeries(locLines(P95_TOTAL, locs, ' p95'));
        latChart.setData([cols.xs, l.p95, ...locs.map((n) => cols.byLoc[n].p95)]);
      } else {
        latChart.setSeries(LAT_SERIES);
        latChart.setData([cols.xs, l.p50, l.p95, l.p99]);
      }
    };
    latPick.addEventListener('change', drawLat);
    drawLat();
  }
  if (dist && dist.total) {
    for (const n of dist.names || []) distPick.appendChild(h('option', { value: n.name }, n.name));
    const drawDist = () => distChart.setData(dist.bins_ms, distPick.value ? (dist.names || []).find((n) => n.name === distPick.value) : dist.total);
    distPick.addEventListener('change', drawDist);
    drawDist();
  } else {
    distChart.el.hidden = true;
  }
  ready('report');
  return () => { for (const c of charts) c.destroy(); };
}

/**
 * The run against a baseline: what its start asked and what the comparison found (the CI gate),
 * and whether it is its test's pinned baseline, with the button that pins it.
 */
function baselineCard(run) {
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const pin = h('button', { type: 'button', class: 'btn btn-small', dataset: { pin: String(run.id) } }, 'Pin as baseline');
  const el = h('section', { class: 'card baseline-card' }, h('h2', { class: 'card-title' }, 'Baseline'), status);
  const show = (pinned) => {
    const mine = pinned === run.id;
    pin.disabled = mine;
    pin.textContent = mine ? 'Pinned as baseline' : 'Pin as baseline';
    const parts = [mine ? 'This run is its test\'s baseline: history and the CI gate compare later runs with it.'
      : pinned ? h('span', 'The test\'s baseline is ', h('a', { href: `#/runs/${pinned}` }, `run #${pinned}`), ' (',
        h('a', { href: `#/compare?runs=${pinned},${run.id}` }, 'compare'), ').')
        : 'The test has no pinned baseline.'];
    const b = run.baseline;
    if (b && b.verdict) {
      parts.push(h('p', { class: ['gate', verdictClass(b.verdict)] },
        h('strong', `Against run #${b.run_id ?? '–'}${b.asked ? ` (${b.asked})` : ''}: `), briefText(b) || b.verdict,
        b.reason ? ` — ${b.reason}` : '', b.failed_run ? ' — the run failed for it.' : ''));
      if (b.regressions && b.regressions.length) {
        parts.push(h('ul', { class: 'gate-list' }, b.regressions.map((g) => h('li',
          `${g.name || 'Total'} ${g.figure}: ${g.baseline} → ${g.value} (${g.change > 0 ? '+' : ''}${Number(g.change).toFixed(2)} ${g.unit})`))));
      }
    }
    mount(status, ...parts);
  };
  get(`${API}/tests/${run.test_id}/baseline`).then((b) => show(b.run_id)).catch(() => show(null));
  pin.addEventListener('click', async () => {
    pin.disabled = true;
    try {
      const b = await put(`${API}/tests/${run.test_id}/baseline`, { run_id: run.id });
      show(b.run_id);
      toast(`Run #${run.id} is now the baseline of ${run.test_name}.`, 'ok');
    } catch (e) {
      pin.disabled = false;
      toast(`The baseline could not be pinned: ${e.message}`, 'error');
    }
  });
  return { el, pin };
}

/**
 * Stored series (GET /runs/:id/series) as chart columns over elapsed seconds: requests and
 * errors per second over every name, VUs, the open model's planned rate and arrivals, and
 * p50/p95/p99 (ms) of all requests (stored with each second, as the live chart drew them) or
 * of one name. A run recorded before the total was stored (hasTotal false) gets, per second,
 * the slowest name instead: per-name percentiles cannot be merged without the histograms.
 * A run across locations also has locs (sorted names) and byLoc[loc].requests / .p95.
 */
export function seriesColumns(series) {
  const ticks = series.ticks || { second: [] };
  let last = -1;
  for (const s of ticks.second || []) last = Math.max(last, s);
  for (const n of series.names || []) for (const s of n.second) last = Math.max(last, s);
  const len = last + 1;
  const zeros = () => new Array(len).fill(null);
  const xs = Array.from({ length: len }, (_, i) => i + 1);
  const rps = zeros(), errors = zeros(), vus = zeros(), target = zeros(), iterations = zeros(), dropped = zeros();
  const targetRate = zeros(), arrivals = zeros();
  const total = { p50: zeros(), p95: zeros(), p99: zeros() };
  let hasTotal = false;
  const at = (col, i) => (Array.isArray(col) && typeof col[i] === 'number' ? col[i] : null);
  (ticks.second || []).forEach((s, i) => {
    vus[s] = ticks.active_vus[i]; target[s] = ticks.target_vus[i];
    iterations[s] = ticks.iterations[i]; dropped[s] = ticks.dropped[i];
    targetRate[s] = at(ticks.target_rate, i);
    arrivals[s] = at(ticks.arrivals, i) ?? ticks.iterations[i];
    for (const k of ['p50', 'p95', 'p99']) {
      const v = at(ticks[k], i);
      if (v !== null) { total[k][s] = v / 1000; hasTotal = true; }
    }
    rps[s] = 0; errors[s] = 0;
  });
  // A run across locations: each location's requests and p95 per second (ticks.locations).
  const locs = [...new Set((ticks.locations || []).flatMap((o) => Object.keys(o || {})))].sort();
  const byLoc = Object.fromEntries(locs.map((l) => [l, { requests: zeros(), p95: zeros() }]));
  (ticks.second || []).forEach((s, i) => {
    const o = (ticks.locations || [])[i];
    for (const l of locs) {
      const f = o && o[l];
      if (!f) continue;
      byLoc[l].requests[s] = f.requests;
      byLoc[l].p95[s] = f.requests > 0 ? f.p95_ms : null;
    }
  });
  // Groups are not requests: their runs are left out of the totals, and of the slowest name.
  const requests = (series.names || []).filter((n) => n.kind !== 'group');
  for (const n of requests) {
    n.second.forEach((s, i) => { rps[s] = (rps[s] || 0) + n.count[i]; errors[s] = (errors[s] || 0) + n.errors[i]; });
  }
  function latency(name) {
    if (!name && hasTotal) return total;
    const out = { p50: zeros(), p95: zeros(), p99: zeros() };
    for (const n of name ? series.names || [] : requests) {
      if (name && n.name !== name) continue;
      n.second.forEach((s, i) => {
        for (const k of ['p50', 'p95', 'p99']) {
          const v = n[k][i] / 1000;
          if (out[k][s] === null || v > out[k][s]) out[k][s] = v;
        }
      });
    }
    return out;
  }
  return { xs, rps, errors, vus, target, iterations, dropped, targetRate, arrivals, hasTotal, latency, locs, byLoc };
}
