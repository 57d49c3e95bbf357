// tests.js - the tests list: last verdict, last p95, a sparkline of recent runs, search,
// Start, Duplicate, Delete. A test's name opens it; New test opens the form editor, and a
// pasted or uploaded definition (JSON) stays a choice.
import { h, mount, field, toast, confirmDialog, dialog } from '../dom.js';
import { API, get, post, del, request, can, ApiError } from '../api.js';
import { ms, when } from '../format.js';
import { sparkline } from '../charts.js';
import { ready, pageHeader, statusBadge, emptyState, errorBox, table, timeEl } from '../page.js';
import { errorList } from '../errors.js';
import { openStartDialog } from './start.js';

const PER_PAGE = 50;

export async function render(main, ctx) {
  let page = Math.max(1, Number(ctx.query.get('page')) || 1);
  let q = ctx.query.get('q') || '';
  let seq = 0;
  let searchTimer = null;
  let running = new Map(); // test id -> a run of it that is going now

  const search = h('input', { type: 'search', class: 'search', placeholder: 'Search tests by name', value: q,
    'aria-label': 'Search tests by name', on: { input: () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { q = search.value; page = 1; load(); }, 200); } } });
  const newBtn = can('write') ? h('a', { class: 'btn btn-primary', href: '#/tests/new' }, 'New test') : null;
  const pasteBtn = can('write') ? h('button', { type: 'button', class: 'btn', on: { click: () => openNewTestDialog(load) } }, 'Paste JSON') : null;
  const importBtn = can('write') ? h('a', { class: 'btn', href: '#/import' }, 'Import') : null;
  const body = h('div', { class: 'card card-flush' }, h('p', { class: 'loading' }, 'Loading tests…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of tests' });

  mount(main, h('section', { class: 'page' },
    pageHeader('Tests', 'Your load tests, with the verdict and p95 of their recent runs.', importBtn, pasteBtn, newBtn),
    h('div', { class: 'toolbar' }, search),
    body, pager));

  async function load() {
    const mine = ++seq;
    let list;
    try {
      const qs = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
      if (q) qs.set('q', q);
      const [l, r] = await Promise.all([get(`${API}/tests?${qs}`), get(`${API}/runs?status=running&per_page=200`).catch(() => ({ items: [] }))]);
      list = l;
      running = new Map();
      for (const run of r.items) if (!running.has(run.test_id)) running.set(run.test_id, run);
    } catch (e) {
      if (mine === seq) mount(body, errorBox(`The tests could not be loaded: ${e.message}`));
      ready('tests');
      return;
    }
    if (mine !== seq) return;
    if (!list.items.length) {
      mount(body, q ? emptyState('No test matches', `Nothing is named like “${q}”.`)
        : emptyState('No tests yet', 'Build one in the editor, paste or upload a definition, or import one.', newBtn && h('a', { class: 'btn btn-primary', href: '#/tests/new' }, 'New test')));
    } else {
      const heads = [['Test'], ['Last run'], ['Last p95', 'num'], ['Recent runs (p95)']];
      if (can('run') || can('write')) heads.push(['Actions', 'actions']);
      mount(body, table(heads,
        h('tbody', list.items.map(row)), { caption: 'Tests', className: 'tests-table' }));
    }
    renderPager(list.total);
    ready('tests');
  }

  function row(t) {
    const last = t.last_run;
    const actions = [];
    if (can('run')) actions.push(h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Start ${t.name}`, on: { click: () => openStartDialog(t, ctx.go) } }, 'Start'));
    if (can('write')) {
      actions.push(h('a', { class: 'btn btn-small', href: `#/tests/${t.id}/edit`, 'aria-label': `Edit ${t.name}` }, 'Edit'));
      actions.push(h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Duplicate ${t.name}`, on: { click: () => duplicate(t) } }, 'Duplicate'));
      actions.push(h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Delete ${t.name}`, on: { click: () => remove(t) } }, 'Delete'));
    }
    return h('tr', { dataset: { testId: String(t.id) } },
      h('td', h('a', { href: `#/tests/${t.id}/edit`, class: 'strong test-link' }, t.name),
        h('div', { class: 'muted small' }, `Revision ${t.revision} · updated `, timeEl(t.updated_at), ' · ',
          h('a', { href: `#/runs?test=${t.id}`, 'aria-label': `Runs of ${t.name}` }, 'runs'))),
      h('td', running.has(t.id) ? h('a', { href: `#/runs/${running.get(t.id).id}`, class: 'nowrap running-link' }, statusBadge('running'), ' ', h('span', { class: 'small' }, 'watch live'))
        : last ? h('a', { href: `#/runs/${last.id}`, class: 'nowrap' }, statusBadge(last.status), ' ', h('span', { class: 'muted small' }, when(last.created_at))) : h('span', { class: 'muted' }, 'Never run')),
      h('td', { class: 'num', dataset: { label: 'Last p95' } }, last ? ms(last.p95) : '–'),
      h('td', sparkline(t.recent || [])),
      actions.length ? h('td', { class: 'actions' }, h('div', { class: 'btn-row' }, actions)) : null);
  }

  function renderPager(total) {
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    if (pages <= 1) { mount(pager); return; }
    mount(pager,
      h('button', { type: 'button', class: 'btn btn-small', disabled: page <= 1, on: { click: () => { page -= 1; load(); } } }, '← Newer'),
      h('span', { class: 'muted' }, `Page ${page} of ${pages} · ${total} tests`),
      h('button', { type: 'button', class: 'btn btn-small', disabled: page >= pages, on: { click: () => { page += 1; load(); } } }, 'Older →'));
  }

  async function duplicate(t) {
    try {
      const full = await get(`${API}/tests/${t.id}`);
      const def = full.definition;
      for (let n = 1; n < 50; n++) {
        def.name = n === 1 ? `${t.name} (copy)` : `${t.name} (copy ${n})`;
        try {
          const r = await post(`${API}/tests`, def);
          toast(`Created “${r.name}”.`, 'success');
          load();
          return;
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 409) throw e;
        }
      }
    } catch (e) {
      toast(`Duplicate failed: ${e.message}`, 'error');
    }
  }

  async function remove(t) {
    const yes = await confirmDialog('Delete test', `Delete “${t.name}”? Its runs stay in the history.`);
    if (!yes) return;
    try {
      await del(`${API}/tests/${t.id}`);
      toast(`Deleted “${t.name}”.`, 'success');
      load();
    } catch (e) {
      toast(`Delete failed: ${e.message}`, 'error');
    }
  }

  await load();
  // Focus stays where the page load left it, so that the first Tab reaches the skip link.
  return () => clearTimeout(searchTimer);
}

/** New test: paste or upload a definition, check it, save it. */
function openNewTestDialog(reload) {
  const text = h('textarea', { class: 'code', rows: 18, spellcheck: 'false', placeholder: '{ "name": "My test", "base_url": "http://127.0.0.1:8090", ... }' });
  const file = h('input', { type: 'file', accept: '.json,application/json' });
  const result = h('div', { class: 'validation', 'aria-live': 'polite' });
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    if (f.size > 4 * 1024 * 1024) { mount(result, errorBox('The file is larger than 4 MiB.')); return; }
    text.value = await f.text();
    check();
  });

  function showErrors(e) {
    if (e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length) {
      mount(result, h('div', { class: 'alert alert-error', role: 'alert' },
        h('strong', `${e.body.errors.length} problem${e.body.errors.length === 1 ? '' : 's'} to fix:`), errorList(e.body.errors)));
    } else {
      mount(result, errorBox(e.message));
    }
  }

  async function check() {
    if (!text.value.trim()) { mount(result, errorBox('Paste a test definition (JSON) or choose a file.')); return false; }
    try {
      const r = await request('POST', `${API}/tests/validate`, text.value);
      mount(result, h('div', { class: 'alert alert-ok' }, `“${r.name}” is valid: ${r.names.length} request name${r.names.length === 1 ? '' : 's'} (${r.names.join(', ')}).`));
      return true;
    } catch (e) { showErrors(e); return false; }
  }

  async function save() {
    if (!text.value.trim()) { mount(result, errorBox('Paste a test definition (JSON) or choose a file.')); return; }
    saveBtn.disabled = true;
    try {
      const r = await request('POST', `${API}/tests`, text.value);
      d.close();
      toast(`Saved “${r.name}”.`, 'success');
      reload();
    } catch (e) { showErrors(e); } finally { saveBtn.disabled = false; }
  }

  const checkBtn = h('button', { type: 'button', class: 'btn', on: { click: check } }, 'Check');
  const saveBtn = h('button', { type: 'button', class: 'btn btn-primary', on: { click: save } }, 'Save test');
  const d = dialog('Paste a test definition', [
    h('p', { class: 'muted' }, 'Paste a test definition (JSON, see docs/test-format.md) or upload a file. It is checked before it is saved.'),
    field('Definition (JSON)', text).wrap,
    field('Or upload a file', file).wrap,
    result,
  ], [h('button', { type: 'button', class: 'btn', on: { click: () => d.close() } }, 'Cancel'), checkBtn, saveBtn], { wide: true });
  text.focus();
}
