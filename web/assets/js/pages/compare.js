// compare.js - 2 to 10 ended runs side by side: charts overlaid by elapsed time and a table
// per request name with each figure's change against the baseline (the first run) and its
// verdict: a regression or an improvement only when a rank test finds it significant and it
// is beyond both floors, else no significant change or not enough data, with the change's
// interval (GET /compare). What differs between the runs (tests, revisions, load profiles,
// durations) is said at the top. Runs that all went across locations get a table per location
// (from their summaries: shown with the change, never judged).
import { h, mount, field } from '../dom.js';
import { API, get } from '../api.js';
import { ms, int, rate, when, duration } from '../format.js';
import { TimeChart, PALETTE } from '../charts.js';
import { ready, pageHeader, statusBadge, emptyState, errorBox, table } from '../page.js';
import { seriesColumns } from './run.js';
import { picked } from './history.js';
import { shortVerdict, verdictClass, changeText, basisText, ruleText } from '../verdicts.js';

const FIGURES = [
  ['count', 'Requests', int], ['rps', 'RPS', rate], ['error_pct', 'Errors', (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100) / 100}%`)],
  ['p50', 'p50', ms], ['p95', 'p95', ms], ['p99', 'p99', ms],
];

export async function render(main, ctx) {
  const ids = (ctx.query.get('runs') || '').split(',').map((s) => s.trim()).filter((s) => /^[1-9][0-9]{0,17}$/.test(s));
  // The relative floor: from the URL when given, else the baseline's test's (or the default).
  const tolerance = /^[0-9]{1,3}(\.[0-9]+)?$/.test(ctx.query.get('tolerance') || '') ? ctx.query.get('tolerance') : '';

  const idsIn = h('input', { type: 'text', value: ids.join(', '), placeholder: 'e.g. 12, 15, 18', inputmode: 'numeric' });
  const tolIn = h('input', { type: 'number', min: '0', max: '1000', step: 'any', value: tolerance, placeholder: 'the test\'s', class: 'narrow' });
  const form = h('form', { class: 'filters', 'aria-label': 'Runs to compare', on: { submit: (e) => {
    e.preventDefault();
    const list = idsIn.value.split(/[\s,]+/).filter(Boolean).join(',');
    ctx.go(`/compare?runs=${encodeURIComponent(list)}${tolIn.value ? `&tolerance=${encodeURIComponent(tolIn.value)}` : ''}`);
  } } },
  field('Runs (baseline first)', idsIn).wrap, field('Relative floor (%)', tolIn).wrap, h('button', { type: 'submit', class: 'btn' }, 'Compare'));

  const body = h('div', { class: 'page' });
  mount(main, h('section', { class: 'page' },
    pageHeader('Compare runs', 'The first run is the baseline; a change is flagged only when it is significant and large enough to matter.'),
    form, body));

  if (ids.length < 2) {
    mount(body, emptyState('Pick at least two runs', picked.length >= 2 ? `You picked ${picked.join(', ')} in the history.` : 'Pick runs in the history, or type their numbers above.',
      picked.length >= 2 ? h('a', { class: 'btn btn-primary', href: `#/compare?runs=${picked.join(',')}` }, 'Compare the picked runs') : h('a', { class: 'btn', href: '#/runs' }, 'Go to the history')));
    ready('compare');
    return () => {};
  }

  let cmp;
  try {
    cmp = await get(`${API}/compare?runs=${ids.join(',')}${tolerance ? `&tolerance=${tolerance}` : ''}`);
  } catch (e) {
    mount(body, errorBox(`These runs cannot be compared: ${e.message}`));
    ready('compare');
    return () => {};
  }

  const colour = (i) => PALETTE[i % PALETTE.length];
  const legend = table([['', 'swatch'], ['Run'], ['Test'], ['Verdict'], ['Started'], ['Duration', 'num']],
    h('tbody', cmp.runs.map((r, i) => h('tr',
      h('td', { class: 'swatch' }, h('span', { class: 'swatch-dot', style: null, dataset: { c: String(i % PALETTE.length) } })),
      h('td', h('a', { href: `#/runs/${r.id}`, class: 'strong' }, `#${r.id}`), i === 0 ? h('span', { class: 'badge badge-base' }, 'baseline') : null),
      h('td', r.test_name), h('td', statusBadge(r.status)), h('td', when(r.started_at)), h('td', { class: 'num' }, duration(r.duration_s))))),
    { caption: 'Runs compared', className: 'legend-table' });

  const seriesOpts = cmp.runs.map((r, i) => ({ label: `#${r.id}${i === 0 ? ' (baseline)' : ''}`, color: colour(i), dash: i === 0 ? [6, 4] : undefined, width: 2 }));
  const rpsChart = new TimeChart({ title: 'Requests per second', unit: '/s', series: seriesOpts });
  const latPick = h('select', { 'aria-label': 'Request name for the p95 chart' }, h('option', { value: '' }, 'Slowest request name each second'),
    cmp.names.map((n) => h('option', { value: n.name }, n.kind === 'group' ? `${n.name} (group)` : n.name)));
  const latChart = new TimeChart({ title: 'p95 response time', unit: 'ms', series: seriesOpts, tools: latPick });

  // What differs between the runs comes first: the figures below are read in its light.
  const notes = (cmp.notes || []).map((n) => h('div', { class: 'alert alert-warn', role: 'note', dataset: { note: n.kind } },
    h('strong', `${n.kind[0].toUpperCase()}${n.kind.slice(1)} differs: `), n.message,
    n.runs && n.runs.length ? ` (${n.runs.map((r) => `#${r}`).join(', ')})` : ''));

  mount(body,
    notes,
    h('section', { class: 'card card-flush' }, legend),
    h('div', { class: 'charts' }, rpsChart.el, latChart.el),
    h('section', { class: 'card card-flush' }, h('h2', { class: 'card-title' }, 'Per request name against the baseline'),
      h('p', { class: 'muted small card-note' }, ruleText(cmp.settings)),
      compareTable(cmp)),
    locationsTable(cmp));

  const series = await Promise.all(cmp.runs.map((r) => get(`${API}/runs/${r.id}/series`).then(seriesColumns).catch(() => null)));
  const len = Math.max(1, ...series.map((c) => (c ? c.xs.length : 0)));
  const xs = Array.from({ length: len }, (_, i) => i + 1);
  const pad = (a) => { const out = new Array(len).fill(null); (a || []).forEach((v, i) => { out[i] = v; }); return out; };
  rpsChart.setData([xs, ...series.map((c) => pad(c && c.rps))]);
  const drawLat = () => latChart.setData([xs, ...series.map((c) => pad(c && c.latency(latPick.value || null).p95))]);
  latPick.addEventListener('change', drawLat);
  drawLat();
  ready('compare');
  return () => { rpsChart.destroy(); latChart.destroy(); };
}

function cell(entry, key, fmt, isBase, alpha) {
  if (!entry || entry.present === null || entry.present === false) {
    const gone = entry && entry.mark === 'gone';
    return h('td', { class: ['num', 'muted', gone && 'mark-gone'] }, gone ? 'gone' : 'absent');
  }
  if (isBase) return h('td', { class: 'num' }, fmt(entry[key]));
  if (entry.mark === 'new') return h('td', { class: 'num mark-new' }, fmt(entry[key]));
  const f = entry[key] || {};
  const change = f.change_pct;
  let delta = '';
  if (change === null || change === undefined) delta = f.value ? 'from 0' : '';
  else if (Math.round(change * 10) !== 0) delta = `${change > 0 ? '+' : ''}${Math.round(change * 10) / 10}%`;
  const v = f.verdict;
  const interval = changeText(key, f);
  return h('td', { class: ['num', f.flag && `flag-${f.flag}`], title: v ? `${v}: ${basisText(f, alpha)}` : null, dataset: v ? { verdict: v } : {} },
    fmt(f.value), delta ? h('span', { class: 'delta' }, ` ${delta}`) : null,
    v ? h('span', { class: ['verdict', verdictClass(v)] }, shortVerdict(v)) : null,
    interval ? h('span', { class: 'interval' }, interval) : null);
}

function compareTable(cmp) {
  const rows = [];
  const groups = [{ name: 'Total', runs: cmp.total, total: true }, ...cmp.names];
  for (const g of groups) {
    g.runs.forEach((entry, i) => {
      const run = cmp.runs[i];
      rows.push(h('tr', { class: [i === 0 && 'group-start', g.total && 'total-row'] },
        i === 0 ? h('th', { scope: 'rowgroup', rowspan: String(g.runs.length), class: 'name-cell', dataset: g.kind === 'group' ? { kind: 'group' } : {} },
          g.kind === 'group' ? [h('span', { class: 'badge badge-group' }, 'group'), ' ', g.name] : g.name) : null,
        h('td', { class: 'nowrap' }, h('span', { class: 'swatch-dot', dataset: { c: String(i % PALETTE.length) } }), ` #${run ? run.id : entry.run_id}`),
        FIGURES.map(([key, , fmt]) => cell(entry, key, fmt, i === 0, cmp.settings && cmp.settings.alpha)),
        h('td', { class: 'mark' }, entry && entry.mark ? h('span', { class: `badge badge-${entry.mark}` }, entry.mark) : null)));
    });
  }
  return table([['Request name'], ['Run'], ...FIGURES.map(([, label]) => [label, 'num']), ['', 'mark']], h('tbody', rows), { caption: 'Per request name against the baseline', className: 'compare-table' });
}

/** Per location, when every run went across locations: figures and changes, not judged. */
function locationsTable(cmp) {
  if (!Array.isArray(cmp.locations) || !cmp.locations.length) return null;
  const errText = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100) / 100}%`);
  const change = (v) => (v === null || v === undefined || Math.round(v * 10) === 0 ? null : h('span', { class: 'delta' }, ` ${v > 0 ? '+' : ''}${Math.round(v * 10) / 10}%`));
  const rows = [];
  for (const l of cmp.locations) {
    l.runs.forEach((e, i) => {
      const absent = !e || e.present !== true;
      rows.push(h('tr', { class: [i === 0 && 'group-start'], dataset: { location: l.location, run: String(e.run_id) } },
        i === 0 ? h('th', { scope: 'rowgroup', rowspan: String(l.runs.length), class: 'name-cell' }, l.location) : null,
        h('td', { class: 'nowrap' }, h('span', { class: 'swatch-dot', dataset: { c: String(i % PALETTE.length) } }), ` #${e.run_id}`),
        absent ? h('td', { class: 'num muted', colspan: '5' }, 'absent') : [
          h('td', { class: 'num' }, int(e.requests)), h('td', { class: 'num' }, errText(e.error_pct)),
          ...['p50', 'p95', 'p99'].map((k) => h('td', { class: 'num' }, ms(e[k]), i > 0 ? change(e[`${k}_change_pct`]) : null))]));
    });
  }
  return h('section', { class: 'card card-flush' }, h('h2', { class: 'card-title' }, 'Per location'),
    h('p', { class: 'muted small card-note' }, 'From each run\'s summary: changes against the baseline are shown, not judged.'),
    table([['Location'], ['Run'], ['Requests', 'num'], ['Errors', 'num'], ['p50', 'num'], ['p95', 'num'], ['p99', 'num']], h('tbody', rows),
      { caption: 'Per location against the baseline', className: 'compare-table compare-locations' }));
}
