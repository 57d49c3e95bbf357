// controls.js - the form's controls, each bound to one path of the definition: it shows the
// value found there and writes every edit back (deleting the key when the control is
// emptied), so whatever the form has no control for stays as it is.
//
// Each takes the form first: { ed, structural(focusPath) } (form.js). A control's edit calls
// ed.changed(); an edit that changes the shape of the definition (a list item added, moved or
// removed) calls form.structural(), which redraws the whole form.
import { h, uid } from '../dom.js';
import { pathStr, getAt, setAt, delAt } from '../defpath.js';
import { pretty } from './state.js';

/** Binds an input, select or textarea to path. kind: text | number | numexpr (a number, or an
 * expression kept as text) | duration | ints. */
export function bindInput(form, input, path, kind) {
  const { ed } = form;
  const v = getAt(ed.def, path);
  if (input.type === 'checkbox') input.checked = v === true;
  else if (kind === 'ints' && Array.isArray(v)) input.value = v.join(', ');
  else input.value = v === undefined || v === null ? '' : (typeof v === 'object' ? JSON.stringify(v) : String(v));
  input.addEventListener(input.tagName === 'SELECT' || input.type === 'checkbox' ? 'change' : 'input', () => {
    let val;
    if (input.type === 'checkbox') val = input.checked ? true : undefined;
    else if (input.value === '') val = undefined;
    else if (kind === 'number' || kind === 'numexpr') val = input.value.trim() !== '' && Number.isFinite(Number(input.value)) ? Number(input.value) : input.value;
    else if (kind === 'duration') val = /^\d+(\.\d+)?$/.test(input.value.trim()) && input.value.trim() !== '0' ? Number(input.value) : input.value;
    else if (kind === 'ints') {
      const nums = input.value.split(/[\s,]+/).filter(Boolean).map(Number);
      val = nums.length === 1 ? nums[0] : nums;
    } else val = input.value;
    if (val === undefined) delAt(ed.def, path); else setAt(ed.def, path, val);
    ed.changed();
  });
  return input;
}

/** A labelled input bound to path. kind: text | number | duration | ints | password | checkbox. */
export function fld(form, label, path, { kind = 'text', placeholder, hint, cls, list } = {}) {
  const type = kind === 'number' ? 'number' : kind === 'password' ? 'password' : kind === 'checkbox' ? 'checkbox' : 'text';
  const input = h('input', { type, placeholder, id: uid(), list, step: kind === 'number' ? 'any' : null, autocomplete: kind === 'password' ? 'off' : null });
  bindInput(form, input, path, kind);
  const wrap = kind === 'checkbox'
    ? h('div', { class: ['field', 'field-check', cls], dataset: { path: pathStr(path) } }, h('label', input, ' ', label))
    : h('div', { class: ['field', cls], dataset: { path: pathStr(path) } }, h('label', { for: input.id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null);
  return wrap;
}

/**
 * A select bound to path: the default option deletes the key. onChange(value), when given,
 * does the edit instead (a choice that reshapes the definition).
 */
export function sel(form, label, path, options, { dflt = '', onChange, cls } = {}) {
  const { ed } = form;
  const s = h('select', { id: uid() }, options.map(([v, l]) => h('option', { value: v }, l)));
  const cur = getAt(ed.def, path);
  s.value = cur === undefined ? dflt : String(cur);
  if (cur !== undefined && s.value !== String(cur)) { s.appendChild(h('option', { value: String(cur) }, String(cur))); s.value = String(cur); }
  s.addEventListener('change', () => {
    if (onChange) { onChange(s.value); return; }
    if (s.value === dflt) delAt(ed.def, path); else setAt(ed.def, path, s.value);
    ed.changed();
  });
  return h('div', { class: ['field', cls], dataset: { path: pathStr(path) } }, h('label', { for: s.id }, label), s);
}

/** A JSON value (a body, a data list) in a text area; kept only while it parses. */
export function jsonFld(form, label, path, { rows = 4, hint } = {}) {
  const { ed } = form;
  const ta = h('textarea', { class: 'code', rows, spellcheck: 'false', id: uid() });
  const v = getAt(ed.def, path);
  ta.value = v === undefined ? '' : pretty(v);
  const err = h('p', { class: 'field-error json-error', hidden: true });
  ta.addEventListener('input', () => {
    if (!ta.value.trim()) { delAt(ed.def, path); err.hidden = true; ed.changed(); return; }
    try { setAt(ed.def, path, JSON.parse(ta.value)); err.hidden = true; ed.changed(); } catch (e) { err.textContent = `Not valid JSON yet: ${e.message}`; err.hidden = false; }
  });
  return h('div', { class: 'field', dataset: { path: pathStr(path) } }, h('label', { for: ta.id }, label), ta, hint ? h('p', { class: 'hint' }, hint) : null, err);
}

/** A text input for an array item that is a plain string (a threshold, a stop condition). */
export function fldRaw(form, label, p, placeholder) {
  const { ed } = form;
  const input = h('input', { type: 'text', id: uid(), placeholder });
  input.value = getAt(ed.def, p) ?? '';
  input.addEventListener('input', () => { setAt(ed.def, p, input.value); ed.changed(); });
  return h('div', { class: 'field', dataset: { path: pathStr(p) } }, h('label', { for: input.id }, label), input);
}

/**
 * An object of name -> text (headers, let, query, form, secrets) as rows. Values that are
 * not text (a query's 10) keep their type while their row is not edited.
 */
export function kv(form, label, path, { nameLabel = 'Name', valueLabel = 'Value', secret = false, add = 'Add' } = {}) {
  const { ed } = form;
  const rowsBox = h('div', { class: 'kv-rows' });
  const rows = [];
  const obj = getAt(ed.def, path);
  const write = () => {
    const o = {};
    let any = false;
    for (const r of rows) {
      if (!r.name.value) continue;
      o[r.name.value] = r.orig !== undefined && r.value.value === String(r.orig) ? r.orig : r.value.value;
      any = true;
    }
    if (any) setAt(ed.def, path, o); else delAt(ed.def, path);
    ed.changed();
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

/**
 * An array edited item by item: move, remove, add. renderItem(itemPath, index) draws one
 * item, make() makes a new one. Structural changes redraw the form.
 */
export function listOf(form, label, path, renderItem, make, { itemName = 'item', addLabel, cls, min = 0 } = {}) {
  const { ed } = form;
  let arr = getAt(ed.def, path);
  if (!Array.isArray(arr)) arr = [];
  const items = arr.map((_, i) => {
    const ip = [...path, i];
    const tools = h('div', { class: 'item-tools btn-row' },
      i > 0 ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': `Move ${itemName} ${i + 1} up`, on: { click: () => { arr.splice(i - 1, 0, arr.splice(i, 1)[0]); form.structural(); } } }, '↑') : null,
      i < arr.length - 1 ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': `Move ${itemName} ${i + 1} down`, on: { click: () => { arr.splice(i + 1, 0, arr.splice(i, 1)[0]); form.structural(); } } }, '↓') : null,
      arr.length > min ? h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove ${itemName} ${i + 1}`, on: { click: () => { arr.splice(i, 1); if (!arr.length) delAt(ed.def, path); form.structural(); } } }, 'Remove') : null);
    return h('div', { class: ['list-item', cls], dataset: { path: pathStr(ip) } },
      h('div', { class: 'list-item-head' }, h('span', { class: 'item-label' }, `${itemName[0].toUpperCase()}${itemName.slice(1)} ${i + 1}`), tools),
      renderItem(ip, i));
  });
  return h('div', { class: 'list', dataset: { path: pathStr(path) } },
    label ? h('h3', { class: 'list-title' }, label) : null,
    items,
    h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { if (!Array.isArray(getAt(ed.def, path))) setAt(ed.def, path, []); getAt(ed.def, path).push(make()); form.structural(`${pathStr([...path, getAt(ed.def, path).length - 1])}`); } } }, addLabel || `+ Add ${itemName}`));
}

/** A titled card of the form. */
export function section(titleText, ...children) {
  const hid = uid('sec');
  return h('section', { class: 'card editor-section', 'aria-labelledby': hid }, h('h2', { class: 'card-title', id: hid }, titleText), children);
}
