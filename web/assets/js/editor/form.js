// form.js - the editor's form: every section of a definition (the test, data and secrets,
// user classes, load, thresholds) drawn from ed.def. It is drawn whole: on showing the form
// tab and after every edit that changes the definition's shape (structural), keeping the
// scroll position; ordinary edits only change ed.def and leave the controls alone.
import { h, mount } from '../dom.js';
import { setAt, delAt } from '../defpath.js';
import { fld, sel, kv, listOf, fldRaw, section } from './controls.js';
import { dataEditor } from './data.js';
import { userEditor } from './users.js';
import { loadEditor, loadChart } from './load.js';

/**
 * writable: false disables every control. onRender() is called after each drawing (the page
 * puts the errors back beside their fields); validateNow() checks the definition at once.
 * Returns { el, render(), redrawChart(), destroy() }.
 */
export function editorForm(ed, { writable, onRender, validateNow }) {
  const el = h('div', { class: 'editor-form' });
  const chart = loadChart(el, ed);
  const form = { ed, structural, validateNow };

  function render() {
    chart.destroy();
    mount(el,
      section('Test', ...testFields(form)),
      section('Data and secrets',
        h('p', { class: 'hint' }, 'Lists for {{random(name)}}; secrets are read as {{secret.NAME}} and never shown once saved ("********" keeps the stored value). CSV data files belong to a user class (Users, CSV data file).'),
        h('div', { dataset: { path: 'data' } }, dataEditor(form)),
        kv(form, 'Secrets', ['secrets'], { secret: true, add: 'Add secret' })),
      section('User classes', listOf(form, null, ['users'], (up) => userEditor(form, up), () => ({ name: `user${ed.def.users.length + 1}`, tasks: [{ request: { method: 'GET', url: '/' } }] }), { itemName: 'user class', min: 1, cls: 'user-item' })),
      section('Load', h('div', { dataset: { path: 'load' } }, loadEditor(form))),
      section('Thresholds', h('p', { class: 'hint' }, '[NAME:] METRIC OP VALUE, e.g. p95 < 300ms, error_rate < 1%, POST /orders: p99 < 800ms.'),
        listOf(form, null, ['thresholds'], (p) => fldRaw(form, 'Threshold', p, 'p95 < 300ms'), () => '', { itemName: 'threshold' })));
    if (!writable) for (const c of el.querySelectorAll('input, select, textarea, button')) c.disabled = true;
    chart.draw();
    onRender();
  }

  /** Redraws the form after a change of shape, then focuses the control at focusPathStr. */
  function structural(focusPathStr) {
    const y = window.scrollY;
    render();
    window.scrollTo(0, y);
    ed.changed();
    if (focusPathStr) {
      const c = el.querySelector(`[data-path="${CSS.escape(focusPathStr)}"] input, [data-path="${CSS.escape(focusPathStr)}"] select`);
      if (c) c.focus();
    }
  }

  return { el, render, redrawChart: chart.redraw, destroy: chart.destroy };
}

/** The test's own fields: name, base URL, description, default headers, options. */
function testFields(form) {
  const { ed } = form;
  return [
    h('div', { class: 'grid-2' }, fld(form, 'Name', ['name']), fld(form, 'Base URL', ['base_url'], { placeholder: 'http://127.0.0.1:8090' })),
    fld(form, 'Description', ['description']),
    kv(form, 'Default headers', ['headers'], { add: 'Add header' }),
    h('details', { class: 'options' }, h('summary', 'Options: timeouts, redirects, TLS'),
      h('div', { class: 'grid-3-even', dataset: { path: 'options' } },
        fld(form, 'Timeout', ['options', 'timeout'], { kind: 'duration', placeholder: '30s' }),
        fld(form, 'Connect timeout', ['options', 'connect_timeout'], { kind: 'duration', placeholder: '10s' }),
        fld(form, 'Graceful stop', ['options', 'graceful_stop'], { kind: 'duration', placeholder: '10s' }),
        fld(form, 'Max response bytes', ['options', 'max_response_bytes'], { kind: 'number', placeholder: '1048576' }),
        sel(form, 'Follow redirects', ['options', 'follow_redirects'], [['', 'yes (default)'], ['false', 'no']], { onChange: (v) => { if (v) setAt(ed.def, ['options', 'follow_redirects'], false); else delAt(ed.def, ['options', 'follow_redirects']); ed.changed(); } }),
        sel(form, 'HTTP version', ['options', 'http_version'], [['', '1.1 (default)'], ['2', '2 (h2 / h2c)'], ['auto', 'auto (h2 where TLS offers it)']]),
        fld(form, 'Skip TLS verification (insecure)', ['options', 'insecure'], { kind: 'checkbox' }))),
  ];
}
