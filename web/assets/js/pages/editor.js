// editor.js - the test editor (#/tests/new, #/tests/ID/edit[?revision=N]): a form for every
// field of the definition format, a raw JSON tab, "Try it", and the test's revisions with a
// diff between any two.
//
// The form edits one parsed copy of the definition in place: each control reads and writes
// its own path, so fields the form does not show (anything new or advanced) stay as they
// were, and the JSON tab shows exactly what will be saved. Unsaved work is kept in
// localStorage (restored after a reload on request) and leaving with unsaved changes asks.
//
// This module opens the test and wires the parts together (../editor/): the edit state
// (state.js) that every part changes, the form (form.js, built from controls.js, steps.js,
// users.js, data.js, load.js and curl.js), the JSON tab (json.js), Try it (try.js), the
// revisions (revisions.js), the schedules (schedules.js), the server's checks (validation.js)
// and the drafts (drafts.js). #/tests/ID/edit?tab=schedules opens a saved test's schedules.
import { h, mount, toast } from '../dom.js';
import { API, get, request, can, ApiError } from '../api.js';
import { ready, pageHeader, errorBox, leaveGuard } from '../page.js';
import { openStartDialog } from './start.js';
import { blankTest, clone, editState } from '../editor/state.js';
import { editorForm } from '../editor/form.js';
import { jsonPanel } from '../editor/json.js';
import { tryPanel } from '../editor/try.js';
import { revisionsPanel } from '../editor/revisions.js';
import { schedulesPanel } from '../editor/schedules.js';
import { validation } from '../editor/validation.js';
import { drafts as draftStore } from '../editor/drafts.js';
import { tabView } from '../editor/tabs.js';

/**
 * A new test: blank, or what the import page handed over in sessionStorage (used once).
 * Returns { def, importNotes }; importNotes is null unless the test came from the import page.
 */
function newTest(query) {
  let def = blankTest();
  let importNotes = null;
  if (query.get('from') === 'import') {
    try {
      const imp = JSON.parse(sessionStorage.getItem('sp-import') || 'null');
      if (imp && imp.definition) { def = imp.definition; importNotes = imp.notes || []; }
    } catch { /* nothing usable was handed over: start blank */ }
    sessionStorage.removeItem('sp-import');
  }
  return { def, importNotes };
}

export async function render(main, ctx) {
  const id = ctx.params.id || null;
  const atRevision = ctx.query.get('revision');
  const writable = can('write');
  let record = null; // GET /tests/ID
  if (id) {
    try {
      record = await get(`${API}/tests/${id}${atRevision ? `?revision=${encodeURIComponent(atRevision)}` : ''}`);
    } catch (e) {
      mount(main, h('section', { class: 'page' }, pageHeader('Edit test'), errorBox(e.status === 404 ? `There is no test #${id}${atRevision ? ` at revision ${atRevision}` : ''}.` : e.message)));
      ready('editor');
      return () => {};
    }
  }
  const { def, importNotes } = id ? { def: clone(record.definition), importNotes: null } : newTest(ctx.query);
  const ed = editState(def, JSON.stringify(id ? record.definition : blankTest()));

  // ---- the page ----
  const title = h('span', id ? record.name : 'New test');
  const subtitle = id
    ? `Test #${id} · revision ${record.revision} of ${record.revisions}${atRevision ? ' (an older revision: saving makes it the newest)' : ''}`
    : 'Build a test with the form, or edit its JSON; check it with Try it before loading anything.';
  const dirtyMark = h('span', { class: 'badge dirty-mark', hidden: true }, 'Unsaved changes');
  const tryBtn = can('run') ? h('button', { type: 'button', class: 'btn', on: { click: () => { tabs.show('try'); runTry(); } } }, 'Try it') : null;
  const saveBtn = writable ? h('button', { type: 'button', class: 'btn btn-primary', on: { click: save } }, 'Save') : null;
  const startLink = id ? h('a', { class: 'btn', href: `#/runs?test=${id}` }, 'Runs') : null;
  const startBtn = id && can('run') ? h('button', { type: 'button', class: 'btn', on: { click: () => {
    if (ed.dirty()) { toast('Save the test first: a run uses the saved revision.', 'error'); return; }
    openStartDialog({ id: Number(id), name: record.name }, ctx.go);
  } } }, 'Start') : null;
  const banner = h('div', { class: 'editor-banners' });
  const summary = h('div', { class: 'validation', 'aria-live': 'polite' });

  const form = editorForm(ed, {
    writable,
    validateNow: () => checks.validate(false),
    onRender: () => {
      checks.show();
      if (ed.def.name !== undefined) title.textContent = String(ed.def.name || 'Untitled test');
    },
  });
  const json = jsonPanel(ed, { writable });
  const trial = tryPanel(ed, { id, record, onErrors: (list) => checks.setErrors(list) });
  const revisions = id ? revisionsPanel(id) : null;
  const schedules = id ? schedulesPanel(id) : null;
  const tabs = tabView('Editor views', [
    { key: 'form', label: 'Form', panel: form.el },
    { key: 'json', label: 'JSON', panel: json.el },
    can('run') ? { key: 'try', label: 'Try it', panel: trial.el } : null,
    id ? { key: 'revisions', label: 'Revisions', panel: revisions.el } : null,
    id ? { key: 'schedules', label: 'Schedules', panel: schedules.el } : null,
  ].filter(Boolean), {
    initial: 'form',
    canLeave: (from, to) => !(from === 'json' && to !== 'json') || json.take(),
    onShow: (key) => {
      if (key === 'form') form.render();
      if (key === 'json') json.show();
      if (key === 'revisions') revisions.render();
      if (key === 'schedules') schedules.render();
    },
  });
  const checks = validation(ed, { formEl: form.el, summary, showForm: () => { if (tabs.current !== 'form') tabs.show('form'); } });
  const drafts = draftStore(id, ed, record);
  ed.onChange = () => {
    dirtyMark.hidden = !ed.dirty();
    drafts.schedule();
    checks.schedule();
    form.redrawChart();
  };

  mount(main, h('section', { class: 'page editor' },
    pageHeader(title, subtitle, dirtyMark, startLink, startBtn, tryBtn, saveBtn),
    banner, summary, tabs.el, ...tabs.panels));

  function runTry() {
    if (tabs.current === 'json' && !json.take()) return;
    trial.run();
  }

  async function save() {
    if (tabs.current === 'json' && !json.take()) return;
    saveBtn.disabled = true;
    try {
      if (!(await checks.validate(true))) { toast('The test has problems: see the fields marked in red.', 'error'); return; }
      const text = JSON.stringify(ed.def);
      const r = id ? await request('PUT', `${API}/tests/${id}`, text) : await request('POST', `${API}/tests`, text);
      ed.savedText = text;
      drafts.drop();
      dirtyMark.hidden = true;
      toast(`Saved “${r.name}” as revision ${r.revision}.`, 'success', { follow: true });
      ctx.go(`/tests/${r.id || id}/edit`);
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.body.errors)) checks.setErrors(e.body.errors); else toast(`Save failed: ${e.message}`, 'error');
    } finally { saveBtn.disabled = false; }
  }

  // ---- leaving ----
  const onBeforeUnload = (e) => { if (ed.dirty()) { drafts.save(); e.preventDefault(); e.returnValue = ''; } };
  window.addEventListener('beforeunload', onBeforeUnload);
  leaveGuard.fn = () => !ed.dirty() || window.confirm('This test has unsaved changes. Leave anyway? (They stay kept in this browser as a draft.)');

  if (importNotes) {
    banner.appendChild(h('div', { class: 'alert alert-ok', role: 'status' }, h('strong', 'Imported. Not saved yet: check it, try it, then save.'),
      importNotes.length ? h('ul', { class: 'import-notes' }, importNotes.map((n) => h('li', n))) : null));
    ed.changed();
  }
  if (!importNotes) {
    drafts.offer(banner, (definition) => {
      ed.def = definition;
      if (tabs.current === 'form') form.render(); else tabs.show('form');
      ed.changed();
      checks.validate(false);
    });
  }
  tabs.show(id && ctx.query.get('tab') === 'schedules' ? 'schedules' : 'form');
  ready('editor');
  checks.validate(false);
  return () => {
    window.removeEventListener('beforeunload', onBeforeUnload);
    leaveGuard.fn = null;
    if (ed.dirty()) drafts.save();
    checks.cancel();
    drafts.cancel();
    form.destroy();
    if (schedules) schedules.destroy();
  };
}
