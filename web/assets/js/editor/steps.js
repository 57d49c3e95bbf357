// steps.js - one step of a task, of on_start or of on_stop: its kind (a plain step, or a
// repeat, choose or group holding steps of their own: flow.js), its condition (if/unless: a
// variable, the last status or an expression), and for a plain step the variables it sets first
// (let), the request with its body, the expectations, the extractions and the headers it sets
// for later requests. Each part edits its own paths of the definition through the controls
// (controls.js); form is { ed, structural }.
import { h, mount, uid } from '../dom.js';
import { pathStr, getAt, setAt, delAt } from '../defpath.js';
import { bindInput, fld, sel, jsonFld, kv, listOf } from './controls.js';
import { STEP_KINDS, stepKind, convertStep, repeatEditor, chooseEditor, groupEditor } from './flow.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const BODY_KINDS = [['', 'No body'], ['json', 'JSON'], ['form', 'Form (URL-encoded)'], ['body', 'Text'], ['multipart', 'Multipart']];

/** The step at sp: its kind, its condition, then what that kind holds. */
export function stepEditor(form, sp) {
  const { ed } = form;
  const step = getAt(ed.def, sp) || {};
  const kind = stepKind(step);
  const kindSel = sel(form, 'Step', [...sp, '__kind'], STEP_KINDS, { onChange: (v) => { convertStep(ed, sp, v); form.structural(); } });
  kindSel.querySelector('select').value = kind;
  kindSel.classList.add('step-kind');
  const head = h('div', { class: 'step-head grid-2' }, kindSel, condition(form, sp));
  if (kind === 'repeat') return h('div', { class: 'step step-flow' }, head, repeatEditor(form, sp, stepEditor));
  if (kind === 'choose') return h('div', { class: 'step step-flow' }, head, chooseEditor(form, sp, stepEditor));
  if (kind === 'group') return h('div', { class: 'step step-flow' }, head, groupEditor(form, sp, stepEditor));
  const rp = [...sp, 'request'];
  const hasReq = step.request && typeof step.request === 'object';
  return h('div', { class: 'step' },
    head,
    kv(form, 'Set variables first (let)', [...sp, 'let'], { nameLabel: 'Variable', valueLabel: 'Template (one {{hole}} keeps its type)', add: 'Add variable' }),
    hasReq ? h('fieldset', { class: 'sub', dataset: { path: pathStr(rp) } }, h('legend', 'Request'),
      h('div', { class: 'req-line' },
        sel(form, 'Method', [...rp, 'method'], METHODS.map((m) => [m, m]), { dflt: 'GET', cls: 'f-method' }),
        fld(form, 'URL', [...rp, 'url'], { placeholder: '/api/v1/products', cls: 'f-url' }),
        fld(form, 'Name', [...rp, 'name'], { placeholder: 'METHOD /path', cls: 'f-name' }),
        fld(form, 'Timeout', [...rp, 'timeout'], { kind: 'duration', placeholder: 'default', cls: 'f-timeout' })),
      h('div', { class: 'grid-2' },
        kv(form, 'Headers', [...rp, 'headers'], { add: 'Add header' }),
        kv(form, 'Query', [...rp, 'query'], { add: 'Add parameter' })),
      bodyEditor(form, rp),
      h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', on: { click: () => { const s = getAt(ed.def, sp); delete s.request; delete s.expect; delete s.extract; form.structural(); } } }, 'Remove the request'))
      : h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { setAt(ed.def, rp, { method: 'GET', url: '/' }); form.structural(); } } }, '+ Send a request in this step'),
    hasReq ? expectEditor(form, sp) : null,
    hasReq ? extractEditor(form, sp) : null,
    kv(form, 'Set headers for later requests', [...sp, 'set_headers'], { add: 'Add header', valueLabel: 'Value (empty removes)' }));
}

/**
 * Run the step always, only if or unless: an expression (cart.total > 0), a variable (set, or
 * equal to a value) or the last status.
 */
function condition(form, sp) {
  const { ed } = form;
  const which = getAt(ed.def, [...sp, 'if']) !== undefined ? 'if' : getAt(ed.def, [...sp, 'unless']) !== undefined ? 'unless' : '';
  const box = h('div', { class: 'cond' });
  box.appendChild(sel(form, 'Run this step', [...sp, '__cond'], [['', 'always'], ['if', 'only if'], ['unless', 'unless']], {
    dflt: '',
    onChange: (v) => {
      const cur = getAt(ed.def, [...sp, which]) || 'true';
      if (which) delete getAt(ed.def, sp)[which];
      if (v) getAt(ed.def, sp)[v] = cur;
      form.structural(v ? pathStr([...sp, v]) : undefined);
    },
  }));
  box.lastChild.querySelector('select').value = which;
  box.lastChild.dataset.path = pathStr([...sp, '__cond']);
  if (which) {
    const cp = [...sp, which];
    const c = getAt(ed.def, cp);
    const ckind = typeof c === 'string' ? 'expr' : c && typeof c === 'object' && 'status' in c ? 'status' : 'var';
    box.appendChild(sel(form, 'Condition on', [...cp, '__kind'], [['expr', 'an expression'], ['var', 'a variable'], ['status', 'the last status']], {
      onChange: (v) => { setAt(ed.def, cp, v === 'status' ? { status: 200 } : v === 'var' ? { var: '' } : 'true'); form.structural(pathStr(cp)); },
    }));
    box.lastChild.querySelector('select').value = ckind;
    if (ckind === 'expr') box.appendChild(fld(form, 'Expression', cp, { placeholder: 'cart.total > 0', cls: 'f-expr', hint: 'e.g. cart.total > 0 and status == 200 (no {{ }})' }));
    else if (ckind === 'status') box.appendChild(fld(form, 'Statuses', [...cp, 'status'], { kind: 'ints', placeholder: '200, 201' }));
    else {
      box.appendChild(fld(form, 'Variable', [...cp, 'var'], { placeholder: 'token' }));
      box.appendChild(fld(form, 'Equals (empty: is set)', [...cp, 'equals'], { placeholder: 'admin' }));
    }
  }
  return box;
}

/** The request's body, one kind at a time: JSON, form fields, text or multipart parts. */
function bodyEditor(form, rp) {
  const { ed } = form;
  const req = getAt(ed.def, rp) || {};
  const kind = ['json', 'form', 'body', 'multipart'].find((k) => k in req) || '';
  const box = h('div', { class: 'body-editor' });
  const kindSel = sel(form, 'Body', [...rp, '__body'], BODY_KINDS, {
    onChange: (v) => {
      const r = getAt(ed.def, rp);
      for (const k of ['json', 'form', 'body', 'multipart']) delete r[k];
      if (v === 'json') r.json = {};
      if (v === 'form') r.form = {};
      if (v === 'body') r.body = '';
      if (v === 'multipart') r.multipart = [{ name: 'field', value: '' }];
      form.structural();
    },
  });
  kindSel.querySelector('select').value = kind;
  box.appendChild(kindSel);
  if (kind === 'json') box.appendChild(jsonFld(form, 'JSON body', [...rp, 'json'], { rows: 5, hint: 'Strings may hold templates; a string that is exactly one {{…}} takes the value\'s own type.' }));
  if (kind === 'form') box.appendChild(kv(form, 'Form fields', [...rp, 'form'], { add: 'Add field' }));
  if (kind === 'body') {
    const ta = h('textarea', { class: 'code', rows: 4, id: uid(), spellcheck: 'false' });
    bindInput(form, ta, [...rp, 'body'], 'text');
    ta.addEventListener('input', () => { if (ta.value === '') { setAt(ed.def, [...rp, 'body'], ''); ed.changed(); } });
    box.appendChild(h('div', { class: 'field', dataset: { path: pathStr([...rp, 'body']) } }, h('label', { for: ta.id }, 'Text body'), ta));
  }
  if (kind === 'multipart') {
    box.appendChild(listOf(form, 'Parts', [...rp, 'multipart'], (pp) => multipartPart(form, pp),
      () => ({ name: 'field', value: '' }), { itemName: 'part', addLabel: '+ Add field part', min: 1 }));
    box.appendChild(h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { getAt(ed.def, [...rp, 'multipart']).push({ name: 'file', filename: 'file.txt', content_type: 'text/plain', content: '' }); form.structural(); } } }, '+ Add file part'));
  }
  return box;
}

/** One multipart part: a field (name, value) or a file (name, file name, type, content). */
function multipartPart(form, pp) {
  const part = getAt(form.ed.def, pp);
  const isFile = part && 'filename' in part;
  return h('div', { class: 'grid-2' },
    fld(form, 'Name', [...pp, 'name']),
    isFile ? fld(form, 'File name', [...pp, 'filename']) : fld(form, 'Value', [...pp, 'value']),
    isFile ? fld(form, 'Content type', [...pp, 'content_type'], { placeholder: 'application/octet-stream' }) : null,
    isFile ? h('div', { class: 'field', dataset: { path: pathStr([...pp, 'content']) } }, (() => { const ta = h('textarea', { class: 'code', rows: 3, id: uid() }); bindInput(form, ta, [...pp, 'content']); return [h('label', { for: ta.id }, 'File content'), ta]; })()) : null);
}

/** What the response must be: status, body text, latency, a message, and JSON checks. */
function expectEditor(form, sp) {
  const { ed } = form;
  const ep = [...sp, 'expect'];
  const checksPath = [...ep, 'json'];
  return h('fieldset', { class: 'sub', dataset: { path: pathStr(ep) } }, h('legend', 'Expect'),
    h('div', { class: 'grid-4' },
      fld(form, 'Status', [...ep, 'status'], { kind: 'ints', placeholder: 'below 400', hint: 'one or more, e.g. 200, 201' }),
      fld(form, 'Body contains', [...ep, 'body_contains']),
      fld(form, 'Max latency', [...ep, 'max_latency'], { kind: 'duration', placeholder: '500ms' }),
      fld(form, 'Failure message', [...ep, 'message'], { placeholder: 'Failed with {{status}}' })),
    listOf(form, null, checksPath, (cp) => {
      const c = getAt(ed.def, cp) || {};
      const mode = 'equals' in c ? 'equals' : c.exists === false ? 'absent' : 'exists';
      const modeSel = sel(form, 'Check', [...cp, '__mode'], [['exists', 'exists'], ['absent', 'does not exist'], ['equals', 'equals']], {
        onChange: (v) => {
          const o = getAt(ed.def, cp);
          delete o.exists; delete o.equals;
          if (v === 'exists') o.exists = true;
          if (v === 'absent') o.exists = false;
          if (v === 'equals') o.equals = '';
          form.structural();
        },
      });
      modeSel.querySelector('select').value = mode;
      return h('div', { class: 'grid-3-even' }, fld(form, 'JSON path', [...cp, 'path'], { placeholder: 'data.items[0].id' }), modeSel,
        mode === 'equals' ? jsonFld(form, 'Value (JSON; a string is a template)', [...cp, 'equals'], { rows: 1, hint: 'e.g. 201, true, or "{{order_id}}"' }) : null);
    }, () => ({ path: '', exists: true }), { itemName: 'JSON check', addLabel: '+ Add JSON check' }));
}

/**
 * Variables taken from the response: each from a JSON path, a header or a regular expression
 * (with its group). The rows are redrawn in place, not the whole form.
 */
function extractEditor(form, sp) {
  const { ed } = form;
  const xp = [...sp, 'extract'];
  const obj = getAt(ed.def, xp) || {};
  const rowsBox = h('div', { class: 'extract-rows' });
  const rows = Object.entries(obj).map(([name, src]) => ({ name, src: src && typeof src === 'object' ? src : {} }));
  const write = () => {
    const o = {};
    for (const r of rows) if (r.name) o[r.name] = r.src;
    if (Object.keys(o).length) setAt(ed.def, xp, o); else delAt(ed.def, xp);
    ed.changed();
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
      // Which of a selecting path's matches (items[*].id, items[?(@.stock > 0)]).
      const takeSel = source === 'json' ? h('select', { id: uid(), on: { change: () => { if (takeSel.value) r.src.take = takeSel.value; else delete r.src.take; write(); } } },
        [['', 'the first'], ['last', 'the last'], ['random', 'one at random'], ['all', 'all (an array)'], ['count', 'how many']].map(([v, l]) => h('option', { value: v }, l))) : null;
      if (takeSel) takeSel.value = r.src.take || '';
      return h('div', { class: 'extract-row', dataset: { path: pathStr([...xp, r.name]) } },
        h('div', { class: 'field' }, h('label', { for: nameIn.id }, 'Variable'), nameIn),
        h('div', { class: 'field' }, h('label', { for: srcSel.id }, 'From'), srcSel),
        h('div', { class: 'field', dataset: { path: pathStr([...xp, r.name, source]) } }, h('label', { for: exprIn.id }, source === 'json' ? 'Path' : source === 'header' ? 'Header name' : 'Expression'), exprIn),
        groupIn ? h('div', { class: 'field' }, h('label', { for: groupIn.id }, 'Group'), groupIn) : null,
        takeSel ? h('div', { class: 'field', dataset: { path: pathStr([...xp, r.name, 'take']) } }, h('label', { for: takeSel.id }, 'Take'), takeSel) : null,
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': `Remove extraction ${r.name}`, on: { click: () => { rows.splice(i, 1); write(); draw(); } } }, '×'));
    }));
  };
  draw();
  return h('fieldset', { class: 'sub', dataset: { path: pathStr(xp) } }, h('legend', 'Extract variables'), rowsBox,
    h('button', { type: 'button', class: 'btn btn-small btn-ghost', on: { click: () => { rows.push({ name: '', src: { json: '' } }); draw(); rowsBox.querySelector('.extract-row:last-child input').focus(); } } }, '+ Add extraction'));
}
