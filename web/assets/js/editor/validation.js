// validation.js - the definition checked by the server (POST /tests/validate) 600 ms after the
// last change and before saving. Each error is shown under the field its path names
// (users[0].tasks[2].steps[0].request.url) or the nearest shown parent, and listed in the
// summary above the form with a link to the field.
import { h, mount, uid } from '../dom.js';
import { API, request, ApiError } from '../api.js';

const VALIDATE_DELAY_MS = 600;

/**
 * formEl: the form whose fields carry data-path; summary: the box above it. showForm() brings
 * the form tab up (for an error's link). Returns { validate(onSave), schedule(), cancel(),
 * show(), setErrors(list) }.
 */
export function validation(ed, { formEl, summary, showForm }) {
  let errors = []; // [{path, message}] from the last check
  let timer = null;
  let seq = 0;

  /** Resolves true when the definition is valid. A check overtaken by a newer one changes nothing. */
  async function validate(onSave) {
    const mine = ++seq;
    try {
      const r = await request('POST', `${API}/tests/validate`, JSON.stringify(ed.def));
      if (mine !== seq) return true;
      errors = [];
      show();
      if (onSave) mount(summary);
      else mount(summary, h('p', { class: 'muted small valid-mark' }, `Valid: ${r.names.length} request name${r.names.length === 1 ? '' : 's'}.`));
      return true;
    } catch (e) {
      if (mine !== seq) return false;
      errors = e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length ? e.body.errors
        : [{ path: e.path || '', message: e.message }];
      show();
      return false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => validate(false), VALIDATE_DELAY_MS);
  }

  /** Puts each error beside the field its path names (or the nearest one that is shown). */
  function show() {
    for (const el of formEl.querySelectorAll('.field-error')) el.remove();
    for (const el of formEl.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (!errors.length) return;
    const items = [];
    for (const err of errors) {
      let target = null;
      const parts = err.path ? err.path.split(/(?=\[)|\./).filter(Boolean) : [];
      for (let n = parts.length; n > 0 && !target; n--) {
        const p = parts.slice(0, n).join('.').replace(/\.\[/g, '[');
        target = formEl.querySelector(`[data-path="${CSS.escape(p)}"]`);
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
    showForm();
    const el = formEl.querySelector(`[data-path="${CSS.escape(p)}"] input, [data-path="${CSS.escape(p)}"] select, [data-path="${CSS.escape(p)}"] textarea`)
      || formEl.querySelector('[aria-invalid="true"]');
    if (el) { el.scrollIntoView({ block: 'center' }); el.focus(); }
  }

  return {
    validate,
    schedule,
    cancel: () => clearTimeout(timer),
    show,
    setErrors: (list) => { errors = list; show(); },
  };
}
