// import.js - the import page (#/import): a curl command, a HAR recording or an OpenAPI 3
// document becomes a test through the REST importers (docs/imports.md); the importer's notes
// are shown and the result opens, unsaved, in the editor.
import { h, mount, uid } from '../dom.js';
import { API, post, ApiError } from '../api.js';
import { ready, pageHeader, errorBox } from '../page.js';
import { errorList } from '../errors.js';

const MAX_FILE = 4 * 1024 * 1024;

export async function render(main, ctx) {
  function openInEditor(definition, notes) {
    sessionStorage.setItem('sp-import', JSON.stringify({ definition, notes }));
    ctx.go('/tests/new?from=import');
  }

  function result(box, definition, notes, skipped) {
    const n = (definition.users || []).reduce((a, u) => a + (u.tasks || []).length, 0);
    mount(box, h('div', { class: 'alert alert-ok import-result', role: 'status' },
      h('strong', `“${definition.name}”: ${n} task${n === 1 ? '' : 's'} against ${definition.base_url}.`),
      notes && notes.length ? [h('p', 'Notes from the importer:'), h('ul', { class: 'import-notes' }, notes.map((x) => h('li', x)))] : null,
      skipped && skipped.length ? h('details', h('summary', `${skipped.length} request${skipped.length === 1 ? '' : 's'} left out`),
        h('ul', skipped.map((x) => h('li', typeof x === 'string' ? x : `${x.method || ''} ${x.url || ''}: ${x.reason || ''}`.trim())))) : null,
      h('div', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn btn-primary', on: { click: () => openInEditor(definition, notes) } }, 'Open in the editor'))));
    box.querySelector('button').focus();
  }

  function failure(box, e) {
    if (e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length) {
      mount(box, h('div', { class: 'alert alert-error', role: 'alert' }, h('strong', 'This could not be imported:'), errorList(e.body.errors)));
    } else mount(box, errorBox(e.message));
  }

  // curl
  const curlText = h('textarea', { class: 'code', rows: 6, spellcheck: 'false', id: uid(), placeholder: "curl 'http://127.0.0.1:8090/api/v1/products' -H 'Accept: application/json'" });
  const curlName = h('input', { type: 'text', id: uid(), placeholder: 'Imported request' });
  const curlOut = h('div', { 'aria-live': 'polite' });
  async function importCurl(btn) {
    btn.disabled = true;
    try {
      const r = await post(`${API}/tests/import/curl`, { command: curlText.value });
      const url = new URL(r.step.request.url, 'http://127.0.0.1/');
      const base = /^https?:\/\//.test(r.step.request.url) ? url.origin : 'http://127.0.0.1:8090';
      const step = r.step;
      if (/^https?:\/\//.test(step.request.url) && url.origin === base) step.request.url = `${url.pathname}${url.search}`;
      const def = {
        name: curlName.value.trim() || `Imported ${step.request.name || step.request.url}`,
        base_url: base,
        users: [{ name: 'user', tasks: [{ name: step.request.name || 'request', steps: [step] }] }],
        load: { users: 1, duration: '30s' },
      };
      result(curlOut, def, ['A single step from the curl command; add more steps, a load profile and thresholds in the editor. To add a curl command to an existing test, use “Add step from curl” in its editor.']);
    } catch (e) { failure(curlOut, e); } finally { btn.disabled = false; }
  }

  // HAR and OpenAPI: a file (or pasted text) sent as {"document": text, "base_url"?}
  function docForm(kind, label, accept, path) {
    const file = h('input', { type: 'file', accept, id: uid() });
    const text = h('textarea', { class: 'code', rows: 5, spellcheck: 'false', id: uid(), placeholder: 'or paste the document (JSON) here' });
    const base = h('input', { type: 'text', id: uid(), placeholder: 'http://127.0.0.1:8090 (optional)' });
    const out = h('div', { 'aria-live': 'polite' });
    const btn = h('button', { type: 'button', class: 'btn btn-primary', on: { click: async () => {
      btn.disabled = true;
      try {
        let doc = text.value;
        const f = file.files && file.files[0];
        if (f) {
          if (f.size > MAX_FILE) throw new Error('The file is larger than 4 MiB.');
          doc = await f.text();
        }
        if (!doc.trim()) throw new Error(`Choose a ${label} file or paste one.`);
        const body = { document: doc };
        if (base.value.trim()) body.base_url = base.value.trim();
        const r = await post(`${API}/tests/import/${path}`, body);
        result(out, r.definition, r.notes || [], r.skipped);
      } catch (e) { failure(out, e); } finally { btn.disabled = false; }
    } } }, `Import ${label}`);
    return h('section', { class: 'card import-card', 'aria-labelledby': `imp-${kind}` },
      h('h2', { class: 'card-title', id: `imp-${kind}` }, label),
      h('div', { class: 'field' }, h('label', { for: file.id }, `${label} file`), file),
      h('div', { class: 'field' }, h('label', { for: text.id }, `${label} document`), text),
      h('div', { class: 'field' }, h('label', { for: base.id }, 'Base URL'), base),
      h('div', { class: 'btn-row' }, btn), out);
  }

  const curlBtn = h('button', { type: 'button', class: 'btn btn-primary', on: { click: () => importCurl(curlBtn) } }, 'Import curl command');
  mount(main, h('section', { class: 'page import-page' },
    pageHeader('Import', 'Start a test from a curl command, a browser recording (HAR) or an OpenAPI 3 description. Nothing is saved until you save it in the editor.'),
    h('div', { class: 'grid-2 import-grid' },
      h('section', { class: 'card import-card', 'aria-labelledby': 'imp-curl' },
        h('h2', { class: 'card-title', id: 'imp-curl' }, 'curl command'),
        h('div', { class: 'field' }, h('label', { for: curlText.id }, 'curl command'), curlText),
        h('div', { class: 'field' }, h('label', { for: curlName.id }, 'Test name'), curlName),
        h('div', { class: 'btn-row' }, curlBtn), curlOut),
      docForm('har', 'HAR recording', '.har,application/json', 'har'),
      docForm('openapi', 'OpenAPI', '.json,application/json', 'openapi'))));
  ready('import');
  return () => {};
}
