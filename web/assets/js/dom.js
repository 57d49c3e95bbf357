// dom.js - builds elements. Text is always set as text (a text node or textContent), never as
// markup: everything a test, a target or a user wrote is shown as it is, never interpreted.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { for (const c of child) append(el, c); return; }
  if (child instanceof Node) { el.appendChild(child); return; }
  el.appendChild(document.createTextNode(String(child)));
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') { for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); continue; }
    if (k === 'class') { el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v); continue; }
    if (k === 'dataset') { Object.assign(el.dataset, v); continue; }
    if (k === 'text') { el.textContent = String(v); continue; }
    if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden') {
      el[k] = v; continue;
    }
    el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h('button', {class: 'btn', on: {click}}, 'Start') -> <button class="btn">Start</button> */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (for sparklines and icons). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Replaces the children of el. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Sets text only when it changed, so updating in place does not disturb selection or layout. */
export function setText(el, text) {
  const t = String(text);
  if (el.textContent !== t) el.textContent = t;
}

let idSeq = 0;
/** A unique id for label/for pairs. */
export function uid(prefix = 'f') { idSeq += 1; return `${prefix}-${idSeq}`; }

/** A labelled form field: returns { wrap, input }. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid();
  const wrap = h('div', { class: 'field' }, h('label', { for: input.id }, label), input,
    hint ? h('p', { class: 'hint', id: `${input.id}-hint` }, hint) : null);
  if (hint) input.setAttribute('aria-describedby', `${input.id}-hint`);
  return { wrap, input };
}

/**
 * Shows a short message at the bottom of the screen. A toast belongs to the page it was made
 * on and goes when that page goes (clearToasts); follow: true makes it the next page's, for the
 * message of an action that navigates ("Saved", then the saved test).
 */
export function toast(message, kind = 'info', { follow = false } = {}) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: ['toast', `toast-${kind}`], dataset: follow ? { follow: '1' } : null }, message);
  box.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** The page changes: its toasts go; those made to follow it stay, now the new page's. */
export function clearToasts() {
  for (const t of document.querySelectorAll('#toasts .toast')) {
    if (t.dataset.follow) delete t.dataset.follow;
    else t.remove();
  }
}

/** A modal dialog built on <dialog> (focus trap and Escape for free). Returns { dlg, close }. */
export function dialog(title, body, actions, { wide = false } = {}) {
  const titleId = uid('dlg');
  const dlg = h('dialog', { class: ['dialog', wide && 'dialog-wide'], 'aria-labelledby': titleId },
    h('form', { method: 'dialog', class: 'dialog-form', on: { submit: (e) => e.preventDefault() } },
      h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', on: { click: () => close() } }, '×')),
      h('div', { class: 'dialog-body' }, body),
      h('footer', { class: 'dialog-foot' }, actions)));
  const close = () => { if (dlg.open) dlg.close(); dlg.remove(); };
  dlg.addEventListener('close', () => dlg.remove());
  document.body.appendChild(dlg);
  dlg.showModal();
  return { dlg, close };
}

/** A yes/no question in a dialog; resolves true or false. */
export function confirmDialog(title, message, yesLabel = 'Delete', danger = true) {
  return new Promise((resolve) => {
    let answered = false;
    const yes = h('button', { type: 'button', class: ['btn', danger ? 'btn-danger' : 'btn-primary'],
      on: { click: () => { answered = true; resolve(true); d.close(); } } }, yesLabel);
    const no = h('button', { type: 'button', class: 'btn', on: { click: () => d.close() } }, 'Cancel');
    const d = dialog(title, h('p', message), [no, yes]);
    d.dlg.addEventListener('close', () => { if (!answered) resolve(false); });
    no.focus();
  });
}
