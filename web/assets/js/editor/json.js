// json.js - the JSON tab: the whole definition as it will be saved. Text that parses as an
// object replaces ed.def as it is typed; text that does not is kept in the box, and take()
// refuses to leave the tab until it is fixed.
import { h } from '../dom.js';
import { pretty } from './state.js';

/** writable: false makes the text read only. Returns { el, show(), take() }. */
export function jsonPanel(ed, { writable }) {
  const area = h('textarea', { class: 'code json-edit', rows: 30, spellcheck: 'false', 'aria-label': 'Definition (JSON)' });
  if (!writable) area.readOnly = true;
  const err = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  const el = h('div', { class: 'card' }, h('p', { class: 'hint' }, 'The whole definition as it will be saved. Changes here show in the form when you switch back.'), area, err);

  area.addEventListener('input', () => {
    try { const v = JSON.parse(area.value); if (v && typeof v === 'object' && !Array.isArray(v)) { ed.def = v; err.hidden = true; ed.changed(); } } catch { /* shown when leaving the tab */ }
  });

  /** Fills the box from ed.def. */
  function show() {
    area.value = pretty(ed.def);
    err.hidden = true;
  }

  /** Takes the text into ed.def; false (and a message) when it is not a JSON object. */
  function take() {
    try {
      const v = JSON.parse(area.value);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the definition must be a JSON object');
      ed.def = v;
      err.hidden = true;
      return true;
    } catch (e) {
      err.textContent = `Not valid JSON: ${e.message}. Fix it before leaving this tab.`;
      err.hidden = false;
      area.focus();
      return false;
    }
  }

  return { el, show, take };
}
