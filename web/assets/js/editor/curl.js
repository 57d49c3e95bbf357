// curl.js - "Add step from curl": a dialog that takes a pasted curl command, has the server
// turn it into a step (POST /tests/import/curl, docs/imports.md) and hands the step over.
import { h, mount, toast, dialog, uid } from '../dom.js';
import { API, post, ApiError } from '../api.js';
import { errorBox } from '../page.js';

/** Opens the dialog; after(step) is called with the new step, once, when the server made one. */
export function addStepFromCurl(after) {
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
}
