// history.js - every run, newest first, paginated on the server; filters by test, verdict,
// origin (a user's start or a schedule's) and date live in the URL
// (#/runs?test=3&status=failed&origin=scheduled&from=2026-11-01), so a filtered view can be
// bookmarked. Runs picked here (kept while the dashboard is open) go to the compare page.
// Each run says how it stands against its test's pinned baseline (GET /runs?against=baseline),
// linking to that comparison.
import { h, mount, field } from '../dom.js';
import { API, get } from '../api.js';
import { ms, int, rate, pct, duration, when, STATUSES } from '../format.js';
import { ready, pageHeader, statusBadge, scheduledBadge, emptyState, errorBox, table } from '../page.js';
import { briefText, verdictClass } from '../verdicts.js';

const PER_PAGE = 50;
const MAX_COMPARE = 10;
/** Picked runs in the order they were picked; the first is the baseline. */
export const picked = [];
const pickedInfo = new Map();

function dayStart(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime() : 0;
}

export async function render(main, ctx) {
  const q = ctx.query;
  const state = {
    test: q.get('test') || '', status: q.get('status') || '', origin: q.get('origin') || '', from: q.get('from') || '', to: q.get('to') || '',
    page: Math.max(1, Number(q.get('page')) || 1),
  };

  const testSel = h('select', { name: 'test' }, h('option', { value: '' }, 'All tests'));
  const statusSel = h('select', { name: 'status' }, h('option', { value: '' }, 'Any verdict'),
    STATUSES.map((s) => h('option', { value: s }, s[0].toUpperCase() + s.slice(1))));
  const fromIn = h('input', { type: 'date', name: 'from', value: state.from });
  const toIn = h('input', { type: 'date', name: 'to', value: state.to });
  statusSel.value = state.status;
  const originSel = h('select', { name: 'origin' }, h('option', { value: '' }, 'Any origin'),
    h('option', { value: 'manual' }, 'Started by hand'), h('option', { value: 'scheduled' }, 'Scheduled'));
  originSel.value = ['manual', 'scheduled'].includes(state.origin) ? state.origin : '';
  const reset = h('button', { type: 'button', class: 'btn btn-ghost btn-small', on: { click: () => ctx.go('/runs') } }, 'Clear filters');
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter runs', on: { submit: (e) => e.preventDefault(), change: apply } },
    field('Test', testSel).wrap, field('Verdict', statusSel).wrap, field('Origin', originSel).wrap, field('From', fromIn).wrap, field('To (inclusive)', toIn).wrap, reset);

  const compareBtn = h('button', { type: 'button', class: 'btn btn-primary', on: { click: () => ctx.go(`/compare?runs=${picked.join(',')}`) } }, 'Compare');
  const pickInfo = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const clearPick = h('button', { type: 'button', class: 'btn btn-ghost btn-small', on: { click: () => { picked.length = 0; pickedInfo.clear(); for (const c of main.querySelectorAll('input[data-pick]')) c.checked = false; updatePick(); } } }, 'Clear');
  const body = h('div', { class: 'card card-flush' }, h('p', { class: 'loading' }, 'Loading runs…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of runs' });

  mount(main, h('section', { class: 'page' },
    pageHeader('History', 'Every run, newest first. Pick two or more to compare them.', h('div', { class: 'btn-row' }, pickInfo, clearPick, compareBtn)),
    filters, body, pager));
  updatePick();

  function updatePick() {
    compareBtn.disabled = picked.length < 2;
    clearPick.hidden = picked.length === 0;
    pickInfo.textContent = picked.length
      ? `${picked.length} picked; baseline #${picked[0]}${pickedInfo.get(picked[0]) ? ` (${pickedInfo.get(picked[0])})` : ''}`
      : 'No runs picked';
  }

  function apply() {
    const qs = new URLSearchParams();
    if (testSel.value) qs.set('test', testSel.value);
    if (statusSel.value) qs.set('status', statusSel.value);
    if (originSel.value) qs.set('origin', originSel.value);
    if (fromIn.value) qs.set('from', fromIn.value);
    if (toIn.value) qs.set('to', toIn.value);
    ctx.go(`/runs${qs.toString() ? `?${qs}` : ''}`);
  }

  function goPage(p) {
    const qs = new URLSearchParams(ctx.query);
    qs.set('page', String(p));
    ctx.go(`/runs?${qs}`);
  }

  const qs = new URLSearchParams({ page: String(state.page), per_page: String(PER_PAGE), against: 'baseline' });
  if (/^[1-9][0-9]*$/.test(state.test)) qs.set('test_id', state.test);
  if (STATUSES.includes(state.status)) qs.set('status', state.status);
  if (['manual', 'scheduled'].includes(state.origin)) qs.set('origin', state.origin);
  if (dayStart(state.from)) qs.set('from', String(dayStart(state.from)));
  if (dayStart(state.to)) qs.set('to', String(dayStart(state.to) + 86400000));

  const [runs, tests] = await Promise.all([
    get(`${API}/runs?${qs}`).catch((e) => e),
    get(`${API}/tests?per_page=200`).catch(() => ({ items: [] })),
  ]);
  for (const t of tests.items) testSel.appendChild(h('option', { value: String(t.id) }, t.name));
  testSel.value = state.test;
  if (state.test && testSel.value !== state.test) {
    testSel.appendChild(h('option', { value: state.test }, `Test #${state.test}`));
    testSel.value = state.test;
  }

  if (runs instanceof Error) {
    mount(body, errorBox(`The runs could not be loaded: ${runs.message}`));
  } else if (!runs.items.length) {
    mount(body, emptyState('No runs', state.test || state.status || state.origin || state.from || state.to ? 'No run matches these filters.' : 'Start a test to see its runs here.'));
  } else {
    mount(body, table([['Pick', 'pick'], ['Run'], ['Test'], ['Verdict'], ['Started'], ['Duration', 'num'], ['Requests', 'num'], ['RPS', 'num'], ['Errors', 'num'], ['p95', 'num'], ['Against baseline'], ['By']],
      h('tbody', runs.items.map(row)), { caption: 'Runs', className: 'runs-table' }));
    const pages = Math.max(1, Math.ceil(runs.total / PER_PAGE));
    mount(pager,
      h('button', { type: 'button', class: 'btn btn-small', disabled: state.page <= 1, on: { click: () => goPage(state.page - 1) } }, '← Newer'),
      h('span', { class: 'muted' }, `Page ${state.page} of ${pages} · ${int(runs.total)} runs`),
      h('button', { type: 'button', class: 'btn btn-small', disabled: state.page >= pages, on: { click: () => goPage(state.page + 1) } }, 'Older →'));
  }

  function row(r) {
    const box = h('input', { type: 'checkbox', 'aria-label': `Pick run ${r.id} to compare`, dataset: { pick: String(r.id) }, checked: picked.includes(r.id),
      disabled: ['running', 'queued', 'error'].includes(r.status) && !picked.includes(r.id),
      on: { change: () => {
        const i = picked.indexOf(r.id);
        if (box.checked && i < 0) {
          if (picked.length >= MAX_COMPARE) { box.checked = false; pickInfo.textContent = `At most ${MAX_COMPARE} runs can be compared.`; return; }
          picked.push(r.id); pickedInfo.set(r.id, r.test_name);
        } else if (!box.checked && i >= 0) picked.splice(i, 1);
        updatePick();
      } } });
    return h('tr', { dataset: { runId: String(r.id) } },
      h('td', { class: 'pick' }, box),
      h('td', h('a', { href: `#/runs/${r.id}`, class: 'strong' }, `#${r.id}`)),
      h('td', h('a', { href: `#/runs?test=${r.test_id}`, title: 'Only this test\'s runs' }, r.test_name)),
      h('td', statusBadge(r.status), r.origin === 'scheduled' ? [' ', scheduledBadge(r)] : null),
      h('td', { class: 'nowrap' }, when(r.started_at || r.created_at)),
      h('td', { class: 'num' }, r.duration_s !== null && r.duration_s !== undefined ? duration(r.duration_s) : r.ended_at && r.started_at ? duration((r.ended_at - r.started_at) / 1000) : '–'),
      h('td', { class: 'num' }, int(r.requests)),
      h('td', { class: 'num' }, rate(r.rps)),
      h('td', { class: 'num' }, pct(r.error_rate)),
      h('td', { class: 'num' }, ms(r.p95)),
      h('td', { class: 'against' }, againstCell(r)),
      h('td', { class: 'muted' }, r.started_by || '–'));
  }

  ready('history');
  return () => {};
}

/** A run against its test's pinned baseline: the verdict, linked to the comparison. */
function againstCell(r) {
  const a = r.against;
  if (!a) return h('span', { class: 'muted' }, '–');
  if (a.is_baseline) return h('span', { class: 'badge badge-base', title: 'The pinned baseline of this test' }, 'baseline');
  return h('a', { href: `#/compare?runs=${a.baseline},${r.id}`, class: verdictClass(a.verdict), title: `Against baseline run #${a.baseline}: ${a.verdict}` },
    briefText(a));
}
