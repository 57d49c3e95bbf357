// data.js - the definition's data: the named lists of the test (data, each a JSON array, read
// as {{random(name)}}) and a user class's CSV data file (data_file), whose file is uploaded
// among the server's data files. form is { ed, structural, validateNow }.
import { h, uid } from '../dom.js';
import { API, put } from '../api.js';
import { pathStr, getAt, setAt, delAt } from '../defpath.js';
import { fld, sel, jsonFld } from './controls.js';

/** The data lists: each renamed, removed or its items edited as JSON. */
export function dataEditor(form) {
  const { ed } = form;
  const box = h('div', { class: 'data-lists' });
  const data = ed.def.data && typeof ed.def.data === 'object' ? ed.def.data : {};
  for (const name of Object.keys(data)) {
    const nameIn = h('input', { type: 'text', value: name, id: uid() });
    nameIn.addEventListener('change', () => {
      const nn = nameIn.value.trim();
      if (!nn || nn === name || nn in ed.def.data) { nameIn.value = name; return; }
      // Rebuilt rather than renamed in place, so the list keeps its place among the others.
      const o = {};
      for (const [k, v] of Object.entries(ed.def.data)) o[k === name ? nn : k] = v;
      ed.def.data = o;
      form.structural();
    });
    box.appendChild(h('div', { class: 'list-item', dataset: { path: pathStr(['data', name]) } },
      h('div', { class: 'list-item-head' }, h('div', { class: 'field' }, h('label', { for: nameIn.id }, 'List name'), nameIn),
        h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove list ${name}`, on: { click: () => { delAt(ed.def, ['data', name]); form.structural(); } } }, 'Remove')),
      jsonFld(form, 'Items (a JSON array of strings, numbers or objects)', ['data', name], { rows: 3 })));
  }
  box.appendChild(h('button', { type: 'button', class: 'btn btn-small', on: { click: () => {
    let n = 1; while (ed.def.data && `list${n}` in ed.def.data) n++;
    setAt(ed.def, ['data', `list${n}`], ['']);
    form.structural();
  } } }, '+ Add data list'));
  return box;
}

/*
 * The class's CSV data file: its path among the server's data files (GET/PUT /api/v1/files)
 * and how rows are handed out; a file picked here is uploaded to that path at once, and the
 * definition is checked again, since the rows' fields are checked in the templates.
 */
export function dataFileEditor(form, up, u) {
  const { ed } = form;
  const dp = [...up, 'data_file'];
  if (!u.data_file || typeof u.data_file !== 'object') {
    return h('div', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn btn-small', on: { click: () => {
      setAt(ed.def, dp, { csv: 'data/users.csv', per: 'vu' });
      form.structural();
    } } }, '+ Add CSV data file'));
  }
  const status = h('p', { class: 'hint', role: 'status' }, 'Rows are read as {{row.FIELD}}. The file lives among the server\'s data files.');
  const fileIn = h('input', { type: 'file', accept: '.csv,text/csv', id: uid() });
  fileIn.addEventListener('change', async () => {
    const f = fileIn.files && fileIn.files[0];
    const target = getAt(ed.def, [...dp, 'csv']);
    if (!f || !target) return;
    const delimiter = getAt(ed.def, [...dp, 'delimiter']);
    try {
      const text = await f.text();
      const r = await put(`${API}/files/${String(target).split('/').map(encodeURIComponent).join('/')}`, delimiter ? { content: text, delimiter } : { content: text });
      status.textContent = `Uploaded ${f.name} as ${r.path}: ${r.rows} rows.`;
      status.className = 'hint ok';
      form.validateNow();
    } catch (e) {
      status.textContent = `Upload failed: ${e.message}`;
      status.className = 'hint bad'; /* not .field-error: those belong to the validator */
    }
    fileIn.value = '';
  });
  return h('fieldset', { class: 'data-file', dataset: { path: pathStr(dp) } },
    h('legend', 'CSV data file'),
    h('div', { class: 'grid-2' },
      fld(form, 'File on the server', [...dp, 'csv'], { placeholder: 'data/users.csv', hint: 'A relative path among the server\'s data files.' }),
      h('div', { class: 'field' }, h('label', { for: fileIn.id }, 'Upload a CSV file to that path'), fileIn)),
    h('div', { class: 'grid-3-even' },
      sel(form, 'Rows', [...dp, 'mode'], [['sequential', 'in file order'], ['random', 'at random'], ['unique', 'each row once']], { dflt: 'sequential' }),
      sel(form, 'A new row for each', [...dp, 'per'], [['iteration', 'iteration'], ['vu', 'user (kept for its life)']], { dflt: 'iteration' }),
      sel(form, 'When unique rows run out', [...dp, 'on_exhausted'], [['stop', 'stop the user'], ['recycle', 'start over']], { dflt: 'stop' })),
    h('div', { class: 'grid-3-even' },
      sel(form, 'Delimiter', [...dp, 'delimiter'], [[',', 'comma'], [';', 'semicolon'], ['tab', 'tab']], { dflt: ',' })),
    status,
    h('div', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', on: { click: () => { delAt(ed.def, dp); form.structural(); } } }, 'Remove data file')));
}
