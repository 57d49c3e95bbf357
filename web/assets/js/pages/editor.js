// editor.js - the test editor (#/tests/new, #/tests/ID/edit[?revision=N]): a form for every
// field of the definition format, a raw JSON tab, "Try it", and the test's revisions with a
// diff between any two.
//
// The form edits one parsed copy of the definition in place: each control reads and writes
// its own path, so fields the form does not show (anything new or advanced) stay as they
// were, and the JSON tab shows exactly what will be saved. Unsaved work is kept in
// localStorage (restored after a reload on request) and leaving with unsaved changes asks.
import uPlot from '/assets/vendor/uPlot.esm.js';
import { h, mount, toast, dialog, uid } from '../dom.js';
import { API, get, post, put, request, can, ApiError } from '../api.js';
import { ready, pageHeader, errorBox, leaveGuard } from '../page.js';
import { pathStr, getAt, setAt, delAt, loadPoints, lineDiff } from '../defpath.js';
import { openStartDialog } from './start.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const BODY_KINDS = [['', 'No body'], ['json', 'JSON'], ['form', 'Form (URL-encoded)'], ['body', 'Text'], ['multipart', 'Multipart']];
const DRAFT_PREFIX = 'sp-draft:';
const VALIDATE_DELAY_MS = 600;

function blankTest() {
  return {
    name: 'New test',
    base_url: 'http://127.0.0.1:8090',
    users: [{ name: 'user', tasks: [{ name: 'task 1', request: { method: 'GET', url: '/' } }] }],
    load: { users: 1, duration: '30s' },
  };
}

const clone = (v) => JSON.parse(JSON.stringify(v));
const pretty = (v) => JSON.stringify(v, null, 2);

export async function render(main, ctx) {
  const id = ctx.params.id || null;
  const atRevision = ctx.query.get('revision');
  const draftKey = `${DRAFT_PREFIX}${id || 'new'}`;
  const writable = can('write');
  let record = null; // GET /tests/ID
  let def; // the definition being edited
  let savedText; // what the server holds (or the starting point of a new test)
  let importNotes = null;
  let tab = 'form';
  let validateTimer = null, draftTimer = null, validateSeq = 0;
  let errors = []; // [{path, message}] from the last check
  let chart = null;

  if (id) {
    try {
      record = await get(`${API}/tests/${id}${atRevision ? `?revision=${encodeURIComponent(atRevision)}` : ''}`);
    } catch (e) {
      mount(main, h('section', { class: 'page' }, pageHeader('Edit test'), errorBox(e.status === 404 ? `There is no test #${id}${atRevision ? ` at revision ${atRevision}` : ''}.` : e.message)));
      ready('editor');
      return () => {};
    }
    def = clone(record.definition);
  } else {
    def = blankTest();
    if (ctx.query.get('from') === 'import') {
      try {
        const imp = JSON.parse(sessionStorage.getItem('sp-import') || 'null');
        if (imp && imp.definition) { def = imp.definition; importNotes = imp.notes || []; }
      } catch { /* nothing usable was handed over: start blank */ }
      sessionStorage.removeItem('sp-import');
    }
  }
  savedText = JSON.stringify(id ? record.definition : blankTest());
  const dirty = () => JSON.stringify(def) !== savedText;

  // ---- the page ----
  const title = h('span', id ? record.name : 'New test');
  const subtitle = id
    ? `Test #${id} · revision ${record.revision} of ${record.revisions}${atRevision ? ' (an older revision: saving makes it the newest)' : ''}`
    : 'Build a test with the form, or edit its JSON; check it with Try it before loading anything.';
  const dirtyMark = h('span', { class: 'badge dirty-mark', hidden: true }, 'Unsaved changes');
  const tryBtn = can('run') ? h('button', { type: 'button', class: 'btn', on: { click: () => { showTab('try'); runTry(); } } }, 'Try it') : null;
  const saveBtn = writable ? h('button', { type: 'button', class: 'btn btn-primary', on: { click: save } }, 'Save') : null;
  const startLink = id ? h('a', { class: 'btn', href: `#/runs?test=${id}` }, 'Runs') : null;
  const startBtn = id && can('run') ? h('button', { type: 'button', class: 'btn', on: { click: () => {
    if (dirty()) { toast('Save the test first: a run uses the saved revision.', 'error'); return; }
    openStartDialog({ id: Number(id), name: record.name }, ctx.go);
  } } }, 'Start') : null;
  const banner = h('div', { class: 'editor-banners' });
  const summary = h('div', { class: 'validation', 'aria-live': 'polite' });
  const formBox = h('div', { class: 'editor-form' });
  const jsonArea = h('textarea', { class: 'code json-edit', rows: 30, spellcheck: 'false', 'aria-label': 'Definition (JSON)' });
  if (!writable) jsonArea.readOnly = true;
  const jsonErr = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const jsonBox = h('div', { class: 'card' }, h('p', { class: 'hint' }, 'The whole definition as it will be saved. Changes here show in the form when you switch back.'), jsonArea, jsonErr);
  const tryBox = h('div', { class: 'try-box' }, h('p', { class: 'muted' }, 'Try it runs each step once with one user (the unsaved definition) and shows every request and response.'));
  const revBox = h('div', { class: 'rev-box' });
  const tabs = {};
  const panels = { form: formBox, json: jsonBox, try: tryBox, revisions: revBox };
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Editor views' });
  for (const [key, label] of [['form', 'Form'], ['json', 'JSON'], ['try', 'Try it'], ['revisions', 'Revisions']]) {
    if (key === 'revisions' && !id) continue;
    if (key === 'try' && !can('run')) continue;
    const b = h('button', { type: 'button', role: 'tab', class: 'tab', id: `tab-${key}`, 'aria-controls': `panel-${key}`, on: { click: () => showTab(key) } }, label);
    tabs[key] = b;
    tablist.appendChild(b);
    panels[key].id = `panel-${key}`;
    panels[key].setAttribute('role', 'tabpanel');
    panels[key].setAttribute('aria-labelledby', `tab-${key}`);
  }
  tablist.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const keys = Object.keys(tabs);
    const i = keys.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : -1);
    const next = keys[(i + keys.length) % keys.length];
    if (showTab(next)) tabs[next].focus();
  });

  mount(main, h('section', { class: 'page editor' },
    pageHeader(title, subtitle, dirtyMark, startLink, startBtn, tryBtn, saveBtn),
    banner, summary, tablist,
    ...Object.keys(tabs).map((k) => panels[k])));

  function showTab(key) {
    if (key === tab && tabs[key].getAttribute('aria-selected') === 'true') return true;
    if (tab === 'json' && key !== 'json' && !takeJson()) return false;
    tab = key;
    for (const [k, b] of Object.entries(tabs)) {
      b.setAttribute('aria-selected', String(k === key));
      b.tabIndex = k === key ? 0 : -1;
      panels[k].hidden = k !== key;
    }
    if (key === 'form') renderForm();
    if (key === 'json') { jsonArea.value = pretty(def); jsonErr.hidden = true; }
    if (key === 'revisions') renderRevisions();
    return true;
  }

  /** Takes the JSON tab's text into the definition; false (and a message) when it is not JSON. */
  function takeJson() {
    try {
      const v = JSON.parse(jsonArea.value);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the definition must be a JSON object');
      def = v;
      jsonErr.hidden = true;
      return true;
    } catch (e) {
      jsonErr.textContent = `Not valid JSON: ${e.message}. Fix it before leaving this tab.`;
      jsonErr.hidden = false;
      jsonArea.focus();
      return false;
    }
  }
  jsonArea.addEventListener('input', () => {
    try { const v = JSON.parse(jsonArea.value); if (v && typeof v === 'object' && !Array.isArray(v)) { def = v; jsonErr.hidden = true; changed(); } } catch { /* shown when leaving the tab */ }
  });

  // ---- change tracking, drafts, validation ----
  function changed() {
    dirtyMark.hidden = !dirty();
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 250);
    clearTimeout(validateTimer);
    validateTimer = setTimeout(() => validate(false), VALIDATE_DELAY_MS);
    if (chart) drawChart();
  }
  function saveDraft() {
    try {
      if (dirty()) localStorage.setItem(draftKey, JSON.stringify({ at: Date.now(), revision: record ? record.revision : 0, definition: def }));
      else localStorage.removeItem(draftKey);
    } catch { /* storage full or off: the beforeunload question still guards */ }
  }
  function dropDraft() { clearTimeout(draftTimer); try { localStorage.removeItem(draftKey); } catch { /* ignore */ } }

  function offerDraft() {
    let d = null;
    try { d = JSON.parse(localStorage.getItem(draftKey) || 'null'); } catch { d = null; }
    if (!d || !d.definition || JSON.stringify(d.definition) === JSON.stringify(def)) return;
    const when = new Date(d.at).toLocaleString();
    const box = h('div', { class: 'alert alert-warn draft-offer', role: 'alert' },
      h('span', `You have unsaved changes to this test from ${when}${record && d.revision && d.revision !== record.revision ? ` (made on revision ${d.revision}; the test is now at ${record.revision})` : ''}. `),
      h('div', { class: 'btn-row' },
        h('button', { type: 'button', class: 'btn btn-primary btn-small', on: { click: () => { def = d.definition; box.remove(); tab === 'form' ? renderForm() : showTab('form'); changed(); validate(false); } } }, 'Restore them'),
        h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { dropDraft(); box.remove(); } } }, 'Discard them')));
    banner.appendChild(box);
  }

  async function validate(onSave) {
    const mine = ++validateSeq;
    try {
      const r = await request('POST', `${API}/tests/validate`, JSON.stringify(def));
      if (mine !== validateSeq) return true;
      errors = [];
      showErrors();
      if (onSave) mount(summary);
      else mount(summary, h('p', { class: 'muted small valid-mark' }, `Valid: ${r.names.length} request name${r.names.length === 1 ? '' : 's'}.`));
      return true;
    } catch (e) {
      if (mine !== validateSeq) return false;
      errors = e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length ? e.body.errors
        : [{ path: e.path || '', message: e.message }];
      showErrors();
      return false;
    }
  }

  /** Puts each error beside the field its path names (or the nearest one that is shown). */
  function showErrors() {
    for (const el of formBox.querySelectorAll('.field-error')) el.remove();
    for (const el of formBox.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (!errors.length) return;
    const items = [];
    for (const err of errors) {
      let target = null;
      const parts = err.path ? err.path.split(/(?=\[)|\./).filter(Boolean) : [];
      for (let n = parts.length; n > 0 && !target; n--) {
        const p = parts.slice(0, n).join('.').replace(/\.\[/g, '[');
        target = formBox.querySelector(`[data-path="${CSS.escape(p)}"]`);
      }
      if (target) {
        const msg = h('p', { class: 'field-error', id: uid('err') }, err.message);
        target.appendChild(msg);
        const input = target.querySelector('input, select, textarea');
        if (input) { input.setAttribute('aria-invalid', 'true'); input.setAttribute('aria-errormessage', msg.id); }
      }
      items.push(h('li', err.path ? h('button', { type: 'button', class: 'link-btn err-path', on: { click: () => focusPath(err.path) } }, err.path) : null, err.path ? ': ' : null, err.message));
    }
    mount(summary, h('div', { class: 'alert alert-error', role: 'alert' },
      h('strong', `${errors.length} problem${errors.length === 1 ? '' : 's'} to fix:`), h('ul', { class: 'error-list' }, items)));
  }

  function focusPath(p) {
    if (tab !== 'form') showTab('form');
    const el = formBox.querySelector(`[data-path="${CSS.escape(p)}"] input, [data-path="${CSS.escape(p)}"] select, [data-path="${CSS.escape(p)}"] textarea`)
      || formBox.querySelector('[aria-invalid="true"]');
    if (el) { el.scrollIntoView({ block: 'center' }); el.focus(); }
  }

  async function save() {
    if (tab === 'json' && !takeJson()) return;
    saveBtn.disabled = true;
    try {
      if (!(await validate(true))) { toast('The test has problems: see the fields marked in red.', 'error'); return; }
      const text = JSON.stringify(def);
      const r = id ? await request('PUT', `${API}/tests/${id}`, text) : await request('POST', `${API}/tests`, text);
      savedText = text;
      dropDraft();
      dirtyMark.hidden = true;
      toast(`Saved “${r.name}” as revision ${r.revision}.`, 'success');
      ctx.go(`/tests/${r.id || id}/edit`);
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.body.errors)) { errors = e.body.errors; showErrors(); } else toast(`Save failed: ${e.message}`, 'error');
    } finally { saveBtn.disabled = false; }
  }

  // ---- form controls: each reads and writes one path of def ----
  function bindInput(input, path, kind) {
    const v = getAt(def, path);
    if (input.type === 'checkbox') input.checked = v === true;
    else if (kind === 'ints' && Array.isArray(v)) input.value = v.join(', ');
    else input.value = v === undefined || v === null ? '' : (typeof v === 'object' ? JSON.stringify(v) : String(v));
    input.addEventListener(input.tagName === 'SELECT' || input.type === 'checkbox' ? 'change' : 'input', () => {
      let val;
      if (input.type === 'checkbox') val = input.checked ? true : undefined;
      else if (input.value === '') val = undefined;
      else if (kind === 'number') val = Number.isFinite(Number(input.value)) ? Number(input.value) : input.value;
      else if (kind === 'duration') val = /^\d+(\.\d+)?$/.test(input.value.trim()) && input.value.trim() !== '0' ? Number(input.value) : input.value;
      else if (kind === 'ints') {
        const nums = input.value.split(/[\s,]+/).filter(Boolean).map(Number);
        val = nums.length === 1 ? nums[0] : nums;
      } else val = input.value;
      if (val === undefined) delAt(def, path); else setAt(def, path, val);
      changed();
    });
    return input;
  }

  /** A labelled input bound to path. kind: text | number | duration | ints | password | checkbox. */
  function fld(label, path, { kind = 'text', placeholder, hint, cls, list } = {}) {
    const type = kind === 'number' ? 'number' : kind === 'password' ? 'password' : kind === 'checkbox' ? 'checkbox' : 'text';
    const input = h('input', { type, placeholder, id: uid(), list, step: kind === 'number' ? 'any' : null, autocomplete: kind === 'password' ? 'off' : null });
    bindInput(input, path, kind);
    const wrap = kind === 'checkbox'
      ? h('div', { class: ['field', 'field-check', cls], dataset: { path: pathStr(path) } }, h('label', input, ' ', label))
      : h('div', { class: ['field', cls], dataset: { path: pathStr(path) } }, h('label', { for: input.id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null);
    return wrap;
  }

  function sel(label, path, options, { dflt = '', onChange, cls } = {}) {
    const s = h('select', { id: uid() }, options.map(([v, l]) => h('option', { value: v }, l)));
    const cur = getAt(def, path);
    s.value = cur === undefined ? dflt : String(cur);
    if (cur !== undefined && s.value !== String(cur)) { s.appendChild(h('option', { value: String(cur) }, String(cur))); s.value = String(cur); }
    s.addEventListener('change', () => {
      if (onChange) { onChange(s.value); return; }
      if (s.value === dflt) delAt(def, path); else setAt(def, path, s.value);
      changed();
    });
    return h('div', { class: ['field', cls], dataset: { path: pathStr(path) } }, h('label', { for: s.id }, label), s);
  }

  /** A JSON value (a body, a data list) in a text area; kept only while it parses. */
  function jsonFld(label, path, { rows = 4, hint } = {}) {
    const ta = h('textarea', { class: 'code', rows, spellcheck: 'false', id: uid() });
    const v = getAt(def, path);
    ta.value = v === undefined ? '' : pretty(v);
    const err = h('p', { class: 'field-error json-error', hidden: true });
    ta.addEventListener('input', () => {
      if (!ta.value.trim()) { delAt(def, path); err.hidden = true; changed(); return; }
      try { setAt(def, path, JSON.parse(ta.value)); err.hidden = true; changed(); } catch (e) { err.textContent = `Not valid JSON yet: ${e.message}`; err.hidden = false; }
    });
    return h('div', { class: 'field', dataset: { path: pathStr(path) } }, h('label', { for: ta.id }, label), ta, hint ? h('p', { class: 'hint' }, hint) : null, err);
  }

  /**
   * An object of name -> text (headers, let, query, form, secrets) as rows. Values that are
   * not text (a query's 10) keep their type while their row is not edited.
   */
  function kv(label, path, { nameLabel = 'Name', valueLabel = 'Value', secret = false, add = 'Add' } = {}) {
    const rowsBox = h('div', { class: 'kv-rows' });
    const rows = [];
    const obj = getAt(def, path);
    const write = () => {
      const o = {};
      let any = false;
      for (const r of rows) {
        if (!r.name.value) continue;
        o[r.name.value] = r.orig !== undefined && r.value.value === String(r.orig) ? r.orig : r.value.value;
        any = true;
      }
      if (any) setAt(def, path, o); else delAt(def, path);
      changed();
    };
    const addRow = (name, value, focus) => {
      const r = { orig: value };
      const base = uid('kv');
      r.name = h('input', { type: 'text', value: name, 'aria-label': `${label}: ${nameLabel.toLowerCase()}`, id: `${base}-n`, on: { input: write } });
      r.value = h('input', { type: secret ? 'password' : 'text', value: value === undefined ? '' : (typeof value === 'object' ? JSON.stringify(value) : String(value)), 'aria-label': `${label}: ${valueLabel.toLowerCase()}${name ? ` of ${name}` : ''}`, autocomplete: secret ? 'off' : null, on: { input: write } });
      r.el = h('div', { class: 'kv-row', dataset: { path: pathStr([...path, name || '']) } }, r.name, r.value,
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': `Remove ${label.toLowerCase()} ${name}`.trim(), on: { click: () => { rows.splice(rows.indexOf(r), 1); r.el.remove(); write(); } } }, '×'));
      r.name.addEventListener('input', () => { r.el.dataset.path = pathStr([...path, r.name.value]); });
      rows.push(r);
      rowsBox.appendChild(r.el);
      if (focus) r.name.focus();
    };
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) for (const [k, v] of Object.entries(obj)) addRow(k, v);
    return h('fieldset', { class: 'kv', dataset: { path: pathStr(path) } }, h('legend', label),
      h('div', { class: 'kv-head muted small', 'aria-hidden': 'true' }, h('span', nameLabel), h('span', valueLabel)),
      rowsBox,
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', on: { click: () => addRow('', undefined, true) } }, `+ ${add}`));
  }

  /** An array edited item by item: move, remove, add. Structural changes redraw the form. */
  function listOf(label, path, renderItem, make, { itemName = 'item', addLabel, cls, min = 0 } = {}) {
    let arr = getAt(def, path);
    if (!Array.isArray(arr)) arr = [];
    const items = arr.map((_, i) => {
      const ip = [...path, i];
      const tools = h('div', { class: 'item-tools btn-row' },
        i > 0 ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': `Move ${itemName} ${i + 1} up`, on: { click: () => { arr.splice(i - 1, 0, arr.splice(i, 1)[0]); structural(); } } }, '↑') : null,
        i < arr.length - 1 ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': `Move ${itemName} ${i + 1} down`, on: { click: () => { arr.splice(i + 1, 0, arr.splice(i, 1)[0]); structural(); } } }, '↓') : null,
        arr.length > min ? h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove ${itemName} ${i + 1}`, on: { click: () => { arr.splice(i, 1); if (!arr.length) delAt(def, path); structural(); } } }, 'Remove') : null);
      return h('div', { class: ['list-item', cls], dataset: { path: pathStr(ip) } },
        h('div', { class: 'list-item-head' }, h('span', { class: 'item-label' }, `${itemName[0].toUpperCase()}${itemName.slice(1)} ${i + 1}`), tools),
        renderItem(ip, i));
    });
    return h('div', { class: 'list', dataset: { path: pathStr(path) } },
      label ? h('h3', { class: 'list-title' }, label) : null,
      items,
      h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { if (!Array.isArray(getAt(def, path))) setAt(def, path, []); getAt(def, path).push(make()); structural(`${pathStr([...path, getAt(def, path).length - 1])}`); } } }, addLabel || `+ Add ${itemName}`));
  }

  function structural(focusPathStr) {
    const y = window.scrollY;
    renderForm();
    window.scrollTo(0, y);
    changed();
    if (focusPathStr) {
      const el = formBox.querySelector(`[data-path="${CSS.escape(focusPathStr)}"] input, [data-path="${CSS.escape(focusPathStr)}"] select`);
      if (el) el.focus();
    }
  }

  function section(titleText, ...children) {
    const hid = uid('sec');
    return h('section', { class: 'card editor-section', 'aria-labelledby': hid }, h('h2', { class: 'card-title', id: hid }, titleText), children);
  }

  // ---- the parts of a definition ----
  function condition(sp) {
    const which = getAt(def, [...sp, 'if']) !== undefined ? 'if' : getAt(def, [...sp, 'unless']) !== undefined ? 'unless' : '';
    const box = h('div', { class: 'cond' });
    box.appendChild(sel('Run this step', [...sp, '__cond'], [['', 'always'], ['if', 'only if'], ['unless', 'unless']], {
      dflt: '',
      onChange: (v) => {
        const cur = getAt(def, [...sp, which]) || { var: '' };
        if (which) delete getAt(def, sp)[which];
        if (v) getAt(def, sp)[v] = cur;
        structural();
      },
    }));
    box.lastChild.querySelector('select').value = which;
    box.lastChild.dataset.path = pathStr([...sp, which || 'if']);
    if (which) {
      const cp = [...sp, which];
      const c = getAt(def, cp);
      const isStatus = c && typeof c === 'object' && 'status' in c;
      box.appendChild(sel('Condition on', [...cp, '__kind'], [['var', 'a variable'], ['status', 'the last status']], {
        onChange: (v) => { setAt(def, cp, v === 'status' ? { status: 200 } : { var: '' }); structural(); },
      }));
      box.lastChild.querySelector('select').value = isStatus ? 'status' : 'var';
      if (isStatus) box.appendChild(fld('Statuses', [...cp, 'status'], { kind: 'ints', placeholder: '200, 201' }));
      else {
        box.appendChild(fld('Variable', [...cp, 'var'], { placeholder: 'token' }));
        box.appendChild(fld('Equals (empty: is set)', [...cp, 'equals'], { placeholder: 'admin' }));
      }
    }
    return box;
  }

  function bodyEditor(rp) {
    const req = getAt(def, rp) || {};
    const kind = ['json', 'form', 'body', 'multipart'].find((k) => k in req) || '';
    const box = h('div', { class: 'body-editor' });
    const kindSel = sel('Body', [...rp, '__body'], BODY_KINDS, {
      onChange: (v) => {
        const r = getAt(def, rp);
        for (const k of ['json', 'form', 'body', 'multipart']) delete r[k];
        if (v === 'json') r.json = {};
        if (v === 'form') r.form = {};
        if (v === 'body') r.body = '';
        if (v === 'multipart') r.multipart = [{ name: 'field', value: '' }];
        structural();
      },
    });
    kindSel.querySelector('select').value = kind;
    box.appendChild(kindSel);
    if (kind === 'json') box.appendChild(jsonFld('JSON body', [...rp, 'json'], { rows: 5, hint: 'Strings may hold templates; a string that is exactly one {{…}} takes the value\'s own type.' }));
    if (kind === 'form') box.appendChild(kv('Form fields', [...rp, 'form'], { add: 'Add field' }));
    if (kind === 'body') {
      const ta = h('textarea', { class: 'code', rows: 4, id: uid(), spellcheck: 'false' });
      bindInput(ta, [...rp, 'body'], 'text');
      ta.addEventListener('input', () => { if (ta.value === '') { setAt(def, [...rp, 'body'], ''); changed(); } });
      box.appendChild(h('div', { class: 'field', dataset: { path: pathStr([...rp, 'body']) } }, h('label', { for: ta.id }, 'Text body'), ta));
    }
    if (kind === 'multipart') {
      box.appendChild(listOf('Parts', [...rp, 'multipart'], (pp) => {
        const part = getAt(def, pp);
        const isFile = part && 'filename' in part;
        return h('div', { class: 'grid-2' },
          fld('Name', [...pp, 'name']),
          isFile ? fld('File name', [...pp, 'filename']) : fld('Value', [...pp, 'value']),
          isFile ? fld('Content type', [...pp, 'content_type'], { placeholder: 'application/octet-stream' }) : null,
          isFile ? h('div', { class: 'field', dataset: { path: pathStr([...pp, 'content']) } }, (() => { const ta = h('textarea', { class: 'code', rows: 3, id: uid() }); bindInput(ta, [...pp, 'content']); return [h('label', { for: ta.id }, 'File content'), ta]; })()) : null);
      }, () => ({ name: 'field', value: '' }), { itemName: 'part', addLabel: '+ Add field part', min: 1 }));
      box.appendChild(h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { getAt(def, [...rp, 'multipart']).push({ name: 'file', filename: 'file.txt', content_type: 'text/plain', content: '' }); structural(); } } }, '+ Add file part'));
    }
    return box;
  }

  function expectEditor(sp) {
    const ep = [...sp, 'expect'];
    const checksPath = [...ep, 'json'];
    return h('fieldset', { class: 'sub', dataset: { path: pathStr(ep) } }, h('legend', 'Expect'),
      h('div', { class: 'grid-4' },
        fld('Status', [...ep, 'status'], { kind: 'ints', placeholder: 'below 400', hint: 'one or more, e.g. 200, 201' }),
        fld('Body contains', [...ep, 'body_contains']),
        fld('Max latency', [...ep, 'max_latency'], { kind: 'duration', placeholder: '500ms' }),
        fld('Failure message', [...ep, 'message'], { placeholder: 'Failed with {{status}}' })),
      listOf(null, checksPath, (cp) => {
        const c = getAt(def, cp) || {};
        const mode = 'equals' in c ? 'equals' : c.exists === false ? 'absent' : 'exists';
        const modeSel = sel('Check', [...cp, '__mode'], [['exists', 'exists'], ['absent', 'does not exist'], ['equals', 'equals']], {
          onChange: (v) => {
            const o = getAt(def, cp);
            delete o.exists; delete o.equals;
            if (v === 'exists') o.exists = true;
            if (v === 'absent') o.exists = false;
            if (v === 'equals') o.equals = '';
            structural();
          },
        });
        modeSel.querySelector('select').value = mode;
        return h('div', { class: 'grid-3-even' }, fld('JSON path', [...cp, 'path'], { placeholder: 'data.items[0].id' }), modeSel,
          mode === 'equals' ? jsonFld('Value (JSON)', [...cp, 'equals'], { rows: 1 }) : null);
      }, () => ({ path: '', exists: true }), { itemName: 'JSON check', addLabel: '+ Add JSON check' }));
  }

  function extractEditor(sp) {
    const xp = [...sp, 'extract'];
    const obj = getAt(def, xp) || {};
    const rowsBox = h('div', { class: 'extract-rows' });
    const rows = Object.entries(obj).map(([name, src]) => ({ name, src: src && typeof src === 'object' ? src : {} }));
    const write = () => {
      const o = {};
      for (const r of rows) if (r.name) o[r.name] = r.src;
      if (Object.keys(o).length) setAt(def, xp, o); else delAt(def, xp);
      changed();
    };
    const draw = () => {
      mount(rowsBox, rows.map((r, i) => {
        const source = 'json' in r.src ? 'json' : 'header' in r.src ? 'header' : 'regex' in r.src ? 'regex' : 'json';
        const nameIn = h('input', { type: 'text', value: r.name, id: uid(), on: { input: () => { r.name = nameIn.value; write(); } } });
        const srcSel = h('select', { id: uid(), on: { change: () => { const expr = r.src[source] || ''; r.src = { [srcSel.value]: expr }; write(); draw(); } } },
          h('option', { value: 'json' }, 'JSON path'), h('option', { value: 'header' }, 'Header'), h('option', { value: 'regex' }, 'Regular expression'));
        srcSel.value = source;
        const exprIn = h('input', { type: 'text', value: r.src[source] === undefined ? '' : String(r.src[source]), id: uid(), on: { input: () => { r.src[source] = exprIn.value; write(); } } });
        const groupIn = source === 'regex' ? h('input', { type: 'number', min: 0, value: r.src.group === undefined ? '' : String(r.src.group), id: uid(), on: { input: () => { if (groupIn.value === '') delete r.src.group; else r.src.group = Number(groupIn.value); write(); } } }) : null;
        return h('div', { class: 'extract-row', dataset: { path: pathStr([...xp, r.name]) } },
          h('div', { class: 'field' }, h('label', { for: nameIn.id }, 'Variable'), nameIn),
          h('div', { class: 'field' }, h('label', { for: srcSel.id }, 'From'), srcSel),
          h('div', { class: 'field' }, h('label', { for: exprIn.id }, source === 'json' ? 'Path' : source === 'header' ? 'Header name' : 'Expression'), exprIn),
          groupIn ? h('div', { class: 'field' }, h('label', { for: groupIn.id }, 'Group'), groupIn) : null,
          h('button', { type: 'button', class: 'icon-btn', 'aria-label': `Remove extraction ${r.name}`, on: { click: () => { rows.splice(i, 1); write(); draw(); } } }, '×'));
      }));
    };
    draw();
    return h('fieldset', { class: 'sub', dataset: { path: pathStr(xp) } }, h('legend', 'Extract variables'), rowsBox,
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', on: { click: () => { rows.push({ name: '', src: { json: '' } }); draw(); rowsBox.querySelector('.extract-row:last-child input').focus(); } } }, '+ Add extraction'));
  }

  function stepEditor(sp) {
    const step = getAt(def, sp) || {};
    const rp = [...sp, 'request'];
    const hasReq = step.request && typeof step.request === 'object';
    return h('div', { class: 'step' },
      condition(sp),
      kv('Set variables first (let)', [...sp, 'let'], { nameLabel: 'Variable', valueLabel: 'Template', add: 'Add variable' }),
      hasReq ? h('fieldset', { class: 'sub', dataset: { path: pathStr(rp) } }, h('legend', 'Request'),
        h('div', { class: 'req-line' },
          sel('Method', [...rp, 'method'], METHODS.map((m) => [m, m]), { dflt: 'GET', cls: 'f-method' }),
          fld('URL', [...rp, 'url'], { placeholder: '/api/v1/products', cls: 'f-url' }),
          fld('Name', [...rp, 'name'], { placeholder: 'METHOD /path', cls: 'f-name' }),
          fld('Timeout', [...rp, 'timeout'], { kind: 'duration', placeholder: 'default', cls: 'f-timeout' })),
        h('div', { class: 'grid-2' },
          kv('Headers', [...rp, 'headers'], { add: 'Add header' }),
          kv('Query', [...rp, 'query'], { add: 'Add parameter' })),
        bodyEditor(rp),
        h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', on: { click: () => { const s = getAt(def, sp); delete s.request; delete s.expect; delete s.extract; structural(); } } }, 'Remove the request'))
        : h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { setAt(def, rp, { method: 'GET', url: '/' }); structural(); } } }, '+ Send a request in this step'),
      hasReq ? expectEditor(sp) : null,
      hasReq ? extractEditor(sp) : null,
      kv('Set headers for later requests', [...sp, 'set_headers'], { add: 'Add header', valueLabel: 'Value (empty removes)' }));
  }

  function curlInto(stepsPath, after) {
    const ta = h('textarea', { class: 'code', rows: 8, spellcheck: 'false', id: uid(), placeholder: "curl 'http://127.0.0.1:8090/api/v1/products' -H 'Accept: application/json'" });
    const out = h('div', { 'aria-live': 'polite' });
    const go = h('button', { type: 'button', class: 'btn btn-primary', on: { click: async () => {
      go.disabled = true;
      try {
        const r = await post(`${API}/tests/import/curl`, { command: ta.value });
        after(r.step);
        d.close();
        toast(`Added the step ${r.step.request.name || r.step.request.url}.`, 'success');
      } catch (e) {
        mount(out, errorBox(e instanceof ApiError && e.body.errors ? e.body.errors.map((x) => x.message).join('; ') : e.message));
      } finally { go.disabled = false; }
    } } }, 'Add step');
    const d = dialog('Add a step from a curl command', [
      h('p', { class: 'muted' }, 'Paste a command as copied from a browser\'s developer tools (Copy as cURL, bash).'),
      h('div', { class: 'field' }, h('label', { for: ta.id }, 'curl command'), ta), out],
    [h('button', { type: 'button', class: 'btn', on: { click: () => d.close() } }, 'Cancel'), go], { wide: true });
    ta.focus();
    return stepsPath;
  }

  function taskEditor(tp) {
    const task = getAt(def, tp) || {};
    const long = Array.isArray(task.steps);
    const toLong = () => {
      const t = getAt(def, tp);
      if (Array.isArray(t.steps)) return t;
      const st = {};
      for (const k of Object.keys(t)) if (k !== 'name' && k !== 'weight' && k !== 'steps') { st[k] = t[k]; delete t[k]; }
      t.steps = Object.keys(st).length ? [st] : [];
      return t;
    };
    return h('div', { class: 'task' },
      h('div', { class: 'grid-2' }, fld('Task name', [...tp, 'name']), fld('Weight', [...tp, 'weight'], { kind: 'number', placeholder: '1' })),
      long ? listOf(null, [...tp, 'steps'], (sp) => stepEditor(sp), () => ({ request: { method: 'GET', url: '/' } }), { itemName: 'step', min: 1 })
        : h('div', { class: 'list' }, h('div', { class: 'list-item' }, stepEditor(tp))),
      h('div', { class: 'btn-row' },
        long ? null : h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { toLong().steps.push({ request: { method: 'GET', url: '/' } }); structural(); } } }, '+ Add step'),
        h('button', { type: 'button', class: 'btn btn-small', on: { click: () => curlInto(tp, (step) => { toLong().steps.push(step); structural(); }) } }, '+ Add step from curl')));
  }

  function thinkEditor(up) {
    const th = getAt(def, [...up, 'think']);
    const kinds = ['between', 'between_ms', 'constant', 'constant_ms', 'pacing', 'pacing_ms'];
    const k = th && typeof th === 'object' ? kinds.find((x) => x in th) || '' : '';
    const base = k.replace('_ms', '');
    const box = h('div', { class: 'think grid-3-even' });
    const s = sel('Think time', [...up, 'think', '__k'], [['', 'none'], ['between', 'random between'], ['constant', 'constant'], ['pacing', 'pacing (start a task every)']], {
      onChange: (v) => { if (!v) delAt(def, [...up, 'think']); else setAt(def, [...up, 'think'], v === 'between' ? { between: ['1s', '3s'] } : { [v]: '1s' }); structural(); },
    });
    s.querySelector('select').value = base;
    s.dataset.path = pathStr([...up, 'think']);
    box.appendChild(s);
    if (base === 'between') {
      box.appendChild(fld('From', [...up, 'think', k, 0], { kind: 'duration', placeholder: '1s' }));
      box.appendChild(fld('To', [...up, 'think', k, 1], { kind: 'duration', placeholder: '3s' }));
    } else if (base) box.appendChild(fld(k.endsWith('_ms') ? 'Milliseconds' : 'Duration', [...up, 'think', k], { kind: 'duration' }));
    return box;
  }

  /*
   * The class's CSV data file: its path among the server's data files (GET/PUT /api/v1/files)
   * and how rows are handed out; a file picked here is uploaded to that path at once.
   */
  function dataFileEditor(up, u) {
    const dp = [...up, 'data_file'];
    if (!u.data_file || typeof u.data_file !== 'object') {
      return h('div', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn btn-small', on: { click: () => {
        setAt(def, dp, { csv: 'data/users.csv', per: 'vu' });
        structural();
      } } }, '+ Add CSV data file'));
    }
    const status = h('p', { class: 'hint', role: 'status' }, 'Rows are read as {{row.FIELD}}. The file lives among the server\'s data files.');
    const fileIn = h('input', { type: 'file', accept: '.csv,text/csv', id: uid() });
    fileIn.addEventListener('change', async () => {
      const f = fileIn.files && fileIn.files[0];
      const target = getAt(def, [...dp, 'csv']);
      if (!f || !target) return;
      const delimiter = getAt(def, [...dp, 'delimiter']);
      try {
        const text = await f.text();
        const r = await put(`${API}/files/${String(target).split('/').map(encodeURIComponent).join('/')}`, delimiter ? { content: text, delimiter } : { content: text });
        status.textContent = `Uploaded ${f.name} as ${r.path}: ${r.rows} rows.`;
        status.className = 'hint ok';
        validate(false);
      } catch (e) {
        status.textContent = `Upload failed: ${e.message}`;
        status.className = 'hint bad'; /* not .field-error: those belong to the validator */
      }
      fileIn.value = '';
    });
    return h('fieldset', { class: 'data-file', dataset: { path: pathStr(dp) } },
      h('legend', 'CSV data file'),
      h('div', { class: 'grid-2' },
        fld('File on the server', [...dp, 'csv'], { placeholder: 'data/users.csv', hint: 'A relative path among the server\'s data files.' }),
        h('div', { class: 'field' }, h('label', { for: fileIn.id }, 'Upload a CSV file to that path'), fileIn)),
      h('div', { class: 'grid-3-even' },
        sel('Rows', [...dp, 'mode'], [['sequential', 'in file order'], ['random', 'at random'], ['unique', 'each row once']], { dflt: 'sequential' }),
        sel('A new row for each', [...dp, 'per'], [['iteration', 'iteration'], ['vu', 'user (kept for its life)']], { dflt: 'iteration' }),
        sel('When unique rows run out', [...dp, 'on_exhausted'], [['stop', 'stop the user'], ['recycle', 'start over']], { dflt: 'stop' })),
      h('div', { class: 'grid-3-even' },
        sel('Delimiter', [...dp, 'delimiter'], [[',', 'comma'], [';', 'semicolon'], ['tab', 'tab']], { dflt: ',' })),
      status,
      h('div', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', on: { click: () => { delAt(def, dp); structural(); } } }, 'Remove data file')));
  }

  function userEditor(up) {
    const u = getAt(def, up) || {};
    return h('div', { class: 'user-class' },
      h('div', { class: 'grid-2' }, fld('Class name', [...up, 'name'], { placeholder: 'user1' }), fld('Weight', [...up, 'weight'], { kind: 'number', placeholder: '1' })),
      thinkEditor(up),
      kv('Class headers', [...up, 'headers'], { add: 'Add header' }),
      dataFileEditor(up, u),
      h('details', { class: 'on-start', open: Array.isArray(u.on_start) && u.on_start.length ? true : null },
        h('summary', `On start (${Array.isArray(u.on_start) ? u.on_start.length : 0} step${Array.isArray(u.on_start) && u.on_start.length === 1 ? '' : 's'}): run once when a user starts`),
        listOf(null, [...up, 'on_start'], (sp) => stepEditor(sp), () => ({ request: { method: 'POST', url: '/' } }), { itemName: 'on-start step' })),
      listOf('Tasks', [...up, 'tasks'], (tp) => taskEditor(tp), () => ({ name: `task ${(getAt(def, [...up, 'tasks']) || []).length + 1}`, request: { method: 'GET', url: '/' } }), { itemName: 'task', min: 1, cls: 'task-item' }));
  }

  function dataEditor() {
    const box = h('div', { class: 'data-lists' });
    const data = def.data && typeof def.data === 'object' ? def.data : {};
    for (const name of Object.keys(data)) {
      const nameIn = h('input', { type: 'text', value: name, id: uid() });
      nameIn.addEventListener('change', () => {
        const nn = nameIn.value.trim();
        if (!nn || nn === name || nn in def.data) { nameIn.value = name; return; }
        const o = {};
        for (const [k, v] of Object.entries(def.data)) o[k === name ? nn : k] = v;
        def.data = o;
        structural();
      });
      box.appendChild(h('div', { class: 'list-item', dataset: { path: pathStr(['data', name]) } },
        h('div', { class: 'list-item-head' }, h('div', { class: 'field' }, h('label', { for: nameIn.id }, 'List name'), nameIn),
          h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove list ${name}`, on: { click: () => { delAt(def, ['data', name]); structural(); } } }, 'Remove')),
        jsonFld('Items (a JSON array of strings, numbers or objects)', ['data', name], { rows: 3 })));
    }
    box.appendChild(h('button', { type: 'button', class: 'btn btn-small', on: { click: () => {
      let n = 1; while (def.data && `list${n}` in def.data) n++;
      setAt(def, ['data', `list${n}`], ['']);
      structural();
    } } }, '+ Add data list'));
    return box;
  }

  function loadEditor() {
    const L = def.load && typeof def.load === 'object' ? def.load : (def.load = { users: 1, duration: '30s' });
    const open = L.model === 'open';
    const key = open ? 'rate' : 'users';
    const short = !Array.isArray(L.stages);
    const modelSel = sel('Model', ['load', 'model'], [['closed', 'closed: a number of users'], ['open', 'open: a rate of arrivals']], {
      dflt: 'closed',
      onChange: (v) => {
        const l = def.load;
        const from = v === 'open' ? 'users' : 'rate', to = v === 'open' ? 'rate' : 'users';
        if (v === 'open') { l.model = 'open'; if (!l.max_vus) l.max_vus = 10; } else { delete l.model; delete l.max_vus; }
        if (from in l) { l[to] = l[from]; delete l[from]; }
        if (Array.isArray(l.stages)) for (const st of l.stages) if (from in st) { st[to] = st[from]; delete st[from]; }
        structural();
      },
    });
    const chartBox = h('div', { class: 'load-chart', role: 'img', 'aria-label': `${open ? 'Arrival rate' : 'Users'} over time` });
    return h('div', {},
      h('div', { class: 'grid-3-even' }, modelSel, open ? fld('Max VUs', ['load', 'max_vus'], { kind: 'number' }) : null),
      short
        ? h('div', { class: 'grid-3-even' },
          fld(open ? 'Rate (iterations/s)' : 'Users', ['load', key], { kind: 'number' }),
          fld('Duration', ['load', 'duration'], { kind: 'duration', placeholder: '1m' }),
          h('div', { class: 'field field-end' }, h('button', { type: 'button', class: 'btn btn-small', on: { click: () => {
            const l = def.load; l.stages = [{ duration: '0s', [key]: l[key] }, { duration: l.duration || '30s', [key]: l[key] }];
            delete l[key]; delete l.duration; structural();
          } } }, 'Use stages (ramps)')))
        : listOf('Stages', ['load', 'stages'], (sp) => h('div', { class: 'grid-2' },
          fld('Duration', [...sp, 'duration'], { kind: 'duration', placeholder: '30s' }),
          fld(open ? 'Rate at the end' : 'Users at the end', [...sp, key], { kind: 'number' })), () => ({ duration: '30s', [key]: 1 }), { itemName: 'stage', min: 1, cls: 'stage-item' }),
      chartBox,
      h('details', { class: 'stop-when' }, h('summary', 'Stop at the breaking point (stop_when)'),
        h('div', { dataset: { path: 'load.stop_when' } },
          listOf('Conditions', ['load', 'stop_when', 'any'], (cp) => fldRaw('Condition', cp, 'error_rate > 5%'), () => '', { itemName: 'condition' }),
          fld('Window', ['load', 'stop_when', 'window'], { kind: 'duration', placeholder: '10s' }))));
  }

  /** A text input for an array item that is a plain string (a threshold, a stop condition). */
  function fldRaw(label, p, placeholder) {
    const input = h('input', { type: 'text', id: uid(), placeholder });
    input.value = getAt(def, p) ?? '';
    input.addEventListener('input', () => { setAt(def, p, input.value); changed(); });
    return h('div', { class: 'field', dataset: { path: pathStr(p) } }, h('label', { for: input.id }, label), input);
  }

  function drawChart() {
    const box = formBox.querySelector('.load-chart');
    if (chart) { chart.destroy(); chart = null; }
    if (!box) return;
    const [xs, ys] = loadPoints(def.load);
    const open = def.load && def.load.model === 'open';
    box.dataset.points = String(xs.length);
    box.setAttribute('aria-label', `${open ? 'Arrival rate' : 'Users'} over time: ${xs.map((x, i) => `${ys[i]} at ${x}s`).join(', ')}`);
    chart = new uPlot({
      width: Math.max(280, Math.min(640, box.clientWidth || 560)), height: 150,
      legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [{ label: 'seconds', size: 36 }, { label: open ? 'iterations/s' : 'users', size: 50 }],
      series: [{}, { stroke: '#2f6fde', fill: 'rgba(47,111,222,0.12)', width: 2, points: { show: true, size: 5 } }],
    }, [xs, ys], box);
  }

  function renderForm() {
    if (chart) { chart.destroy(); chart = null; }
    mount(formBox,
      section('Test',
        h('div', { class: 'grid-2' }, fld('Name', ['name']), fld('Base URL', ['base_url'], { placeholder: 'http://127.0.0.1:8090' })),
        fld('Description', ['description']),
        kv('Default headers', ['headers'], { add: 'Add header' }),
        h('details', { class: 'options' }, h('summary', 'Options: timeouts, redirects, TLS'),
          h('div', { class: 'grid-3-even', dataset: { path: 'options' } },
            fld('Timeout', ['options', 'timeout'], { kind: 'duration', placeholder: '30s' }),
            fld('Connect timeout', ['options', 'connect_timeout'], { kind: 'duration', placeholder: '10s' }),
            fld('Graceful stop', ['options', 'graceful_stop'], { kind: 'duration', placeholder: '10s' }),
            fld('Max response bytes', ['options', 'max_response_bytes'], { kind: 'number', placeholder: '1048576' }),
            sel('Follow redirects', ['options', 'follow_redirects'], [['', 'yes (default)'], ['false', 'no']], { onChange: (v) => { if (v) setAt(def, ['options', 'follow_redirects'], false); else delAt(def, ['options', 'follow_redirects']); changed(); } }),
            fld('Skip TLS verification (insecure)', ['options', 'insecure'], { kind: 'checkbox' })))),
      section('Data and secrets',
        h('p', { class: 'hint' }, 'Lists for {{random(name)}}; secrets are read as {{secret.NAME}} and never shown once saved ("********" keeps the stored value). CSV data files belong to a user class (Users, CSV data file).'),
        h('div', { dataset: { path: 'data' } }, dataEditor()),
        kv('Secrets', ['secrets'], { secret: true, add: 'Add secret' })),
      section('User classes', listOf(null, ['users'], (up) => userEditor(up), () => ({ name: `user${def.users.length + 1}`, tasks: [{ request: { method: 'GET', url: '/' } }] }), { itemName: 'user class', min: 1, cls: 'user-item' })),
      section('Load', h('div', { dataset: { path: 'load' } }, loadEditor())),
      section('Thresholds', h('p', { class: 'hint' }, '[NAME:] METRIC OP VALUE, e.g. p95 < 300ms, error_rate < 1%, POST /orders: p99 < 800ms.'),
        listOf(null, ['thresholds'], (p) => fldRaw('Threshold', p, 'p95 < 300ms'), () => '', { itemName: 'threshold' })));
    if (!writable) for (const el of formBox.querySelectorAll('input, select, textarea, button')) el.disabled = true;
    drawChart();
    showErrors();
    if (def.name !== undefined) title.textContent = String(def.name || 'Untitled test');
  }

  // ---- Try it ----
  async function runTry() {
    if (tab === 'json' && !takeJson()) return;
    mount(tryBox, h('p', { class: 'loading' }, 'Trying each step once…'));
    let r;
    try {
      // A saved test is tried by id, so its stored secrets are used; unsaved changes are sent
      // whole (a secret still masked as ******** has no value there: type it to try it).
      r = id && !dirty() ? await post(`${API}/tests/${id}/try`, { revision: record.revision })
        : await request('POST', `${API}/tests/try`, JSON.stringify(def));
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.body.errors)) { errors = e.body.errors; showErrors(); }
      mount(tryBox, errorBox(`Try it failed: ${e.message}`));
      return;
    }
    const list = Array.isArray(r.requests) ? r.requests : [];
    const passed = list.filter((x) => x.passed).length;
    mount(tryBox,
      h('div', { class: ['alert', r.complete && passed === list.filter((x) => !x.skipped).length ? 'alert-ok' : 'alert-warn'], role: 'status' },
        `${list.length} step${list.length === 1 ? '' : 's'}, ${passed} passed, in ${r.elapsed_ms} ms${r.complete ? '' : ' (cut short: the try took too long)'}${r.requests_dropped ? `; ${r.requests_dropped} more not shown` : ''}.`),
      h('ol', { class: 'try-list' }, list.map(tryItem)));
  }

  function headersList(hs) {
    return h('dl', { class: 'try-headers' }, (hs || []).map((x) => [h('dt', x.name), h('dd', x.value)]));
  }
  function bodyPre(b) {
    if (!b || !b.bytes) return h('p', { class: 'muted small' }, 'no body');
    return h('div', {}, h('pre', { class: 'try-body' }, b.text), b.truncated ? h('p', { class: 'muted small' }, `cut at ${b.text.length} of ${b.bytes} bytes`) : null);
  }
  function tryItem(x) {
    const where = x.phase === 'on_start' ? `${x.user} · on start · step ${x.step + 1}` : x.phase === 'task' ? `${x.user} · ${x.task_name || `task ${x.task + 1}`} · step ${x.step + 1}` : `${x.user || ''} · ${x.phase}`;
    if (x.skipped) return h('li', { class: 'try-item try-skipped' }, h('div', { class: 'try-head' }, h('span', { class: 'badge' }, 'skipped'), ' ', h('strong', x.name || ''), h('span', { class: 'muted small' }, ` ${where} · ${x.reason || ''}`)));
    const res = x.response;
    return h('li', { class: ['try-item', x.passed ? 'try-pass' : 'try-fail'] },
      h('div', { class: 'try-head' },
        h('span', { class: ['badge', x.passed ? 'st-passed' : 'st-failed'] }, x.passed ? 'passed' : 'failed'), ' ',
        h('strong', x.name || ''), ' ',
        h('span', { class: 'try-status' }, res ? String(res.status) : 'no response'), ' ',
        h('span', { class: 'muted small' }, `${Math.round((x.time_ms || 0) * 10) / 10} ms · ${where}`)),
      h('div', { class: 'mono small try-url' }, `${x.method || ''} ${x.url || ''}`),
      x.error ? h('p', { class: 'error-text try-error' }, `${x.error.kind}: ${x.error.message}`) : null,
      Array.isArray(x.expect) && x.expect.length ? h('ul', { class: 'try-expect' }, x.expect.map((c) => h('li', { class: c.passed === false ? 'th-fail' : c.passed ? 'th-pass' : 'muted' }, `${c.passed === false ? '✗' : c.passed ? '✓' : '?'} ${c.check}`))) : null,
      x.extracted && Object.keys(x.extracted).length ? h('dl', { class: 'try-extracted' }, Object.entries(x.extracted).map(([k, v]) => [h('dt', k), h('dd', String(v))])) : null,
      h('details', { class: 'try-detail' }, h('summary', 'Request'), x.request ? [h('div', { class: 'mono small' }, x.request.line), headersList(x.request.headers), bodyPre(x.request.body)] : h('p', 'not sent')),
      h('details', { class: 'try-detail', open: !x.passed ? true : null }, h('summary', 'Response'), res ? [h('div', { class: 'mono small' }, res.line), headersList(res.headers), bodyPre(res.body)] : h('p', 'none came')));
  }

  // ---- Revisions ----
  async function renderRevisions() {
    mount(revBox, h('p', { class: 'loading' }, 'Loading revisions…'));
    let revs;
    try { revs = (await get(`${API}/tests/${id}/revisions`)).items; } catch (e) { mount(revBox, errorBox(e.message)); return; }
    const aSel = h('select', { id: uid() }, revs.map((r) => h('option', { value: String(r.revision) }, `Revision ${r.revision}`)));
    const bSel = h('select', { id: uid() }, revs.map((r) => h('option', { value: String(r.revision) }, `Revision ${r.revision}`)));
    aSel.value = String(revs.length > 1 ? revs[1].revision : revs[0].revision);
    bSel.value = String(revs[0].revision);
    const out = h('div', { class: 'diff-box', 'aria-live': 'polite' });
    async function diff() {
      try {
        const [a, b] = await Promise.all([get(`${API}/tests/${id}/revisions/${aSel.value}`), get(`${API}/tests/${id}/revisions/${bSel.value}`)]);
        const lines = lineDiff(pretty(a.definition), pretty(b.definition));
        const changes = lines.filter((l) => l.op !== ' ').length;
        mount(out, h('p', { class: 'muted' }, changes ? `${changes} changed line${changes === 1 ? '' : 's'} from revision ${aSel.value} to ${bSel.value}.` : 'The two revisions are the same.'),
          h('pre', { class: 'diff' }, lines.map((l) => h('span', { class: l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-same' }, `${l.op} ${l.text}\n`))));
      } catch (e) { mount(out, errorBox(e.message)); }
    }
    mount(revBox, h('div', { class: 'card card-flush' }, h('table', { class: 'table revisions-table' },
      h('caption', { class: 'sr-only' }, 'Revisions'),
      h('thead', h('tr', h('th', { scope: 'col' }, 'Revision'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Saved'), h('th', { scope: 'col' }, 'By'), h('th', { scope: 'col', class: 'num' }, 'Bytes'))),
      h('tbody', revs.map((r) => h('tr', h('td', h('a', { href: `#/tests/${id}/edit?revision=${r.revision}` }, `Revision ${r.revision}`)), h('td', r.name), h('td', new Date(r.created_at).toLocaleString()), h('td', r.created_by || '–'), h('td', { class: 'num' }, String(r.bytes))))))),
    h('div', { class: 'card diff-card' }, h('h2', { class: 'card-title' }, 'Compare two revisions'),
      h('div', { class: 'toolbar' }, h('div', { class: 'field' }, h('label', { for: aSel.id }, 'From'), aSel), h('div', { class: 'field' }, h('label', { for: bSel.id }, 'To'), bSel),
        h('button', { type: 'button', class: 'btn', on: { click: diff } }, 'Show the diff')), out));
    if (revs.length > 1) diff();
  }

  // ---- leaving ----
  const onBeforeUnload = (e) => { if (dirty()) { saveDraft(); e.preventDefault(); e.returnValue = ''; } };
  window.addEventListener('beforeunload', onBeforeUnload);
  leaveGuard.fn = () => !dirty() || window.confirm('This test has unsaved changes. Leave anyway? (They stay kept in this browser as a draft.)');

  if (importNotes) {
    banner.appendChild(h('div', { class: 'alert alert-ok', role: 'status' }, h('strong', 'Imported. Not saved yet: check it, try it, then save.'),
      importNotes.length ? h('ul', { class: 'import-notes' }, importNotes.map((n) => h('li', n))) : null));
    changed();
  }
  if (!importNotes) offerDraft();
  showTab('form');
  ready('editor');
  validate(false);
  return () => {
    window.removeEventListener('beforeunload', onBeforeUnload);
    leaveGuard.fn = null;
    if (dirty()) saveDraft();
    clearTimeout(validateTimer); clearTimeout(draftTimer);
    if (chart) chart.destroy();
  };
}
