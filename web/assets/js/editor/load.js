// load.js - the load model: closed (users) or open (a rate of arrivals, with max_vus), in the
// short form or as stages, stop_when; and the small uPlot chart of users or rate over time
// drawn from it. form is { ed, structural }.
import uPlot from '/assets/vendor/uPlot.esm.js';
import { h } from '../dom.js';
import { loadPoints } from '../defpath.js';
import { fld, sel, listOf, fldRaw } from './controls.js';

/** The load section; gives the definition a load when it has none. */
export function loadEditor(form) {
  const { ed } = form;
  const L = ed.def.load && typeof ed.def.load === 'object' ? ed.def.load : (ed.def.load = { users: 1, duration: '30s' });
  const open = L.model === 'open';
  const key = open ? 'rate' : 'users';
  const short = !Array.isArray(L.stages);
  const modelSel = sel(form, 'Model', ['load', 'model'], [['closed', 'closed: a number of users'], ['open', 'open: a rate of arrivals']], {
    dflt: 'closed',
    onChange: (v) => {
      const l = ed.def.load;
      const from = v === 'open' ? 'users' : 'rate', to = v === 'open' ? 'rate' : 'users';
      if (v === 'open') { l.model = 'open'; if (!l.max_vus) l.max_vus = 10; } else { delete l.model; delete l.max_vus; }
      if (from in l) { l[to] = l[from]; delete l[from]; }
      if (Array.isArray(l.stages)) for (const st of l.stages) if (from in st) { st[to] = st[from]; delete st[from]; }
      form.structural();
    },
  });
  const chartBox = h('div', { class: 'load-chart', role: 'img', 'aria-label': `${open ? 'Arrival rate' : 'Users'} over time` });
  return h('div', {},
    h('div', { class: 'grid-3-even' }, modelSel, open ? fld(form, 'Max VUs', ['load', 'max_vus'], { kind: 'number' }) : null),
    short
      ? h('div', { class: 'grid-3-even' },
        fld(form, open ? 'Rate (iterations/s)' : 'Users', ['load', key], { kind: 'number' }),
        fld(form, 'Duration', ['load', 'duration'], { kind: 'duration', placeholder: '1m' }),
        h('div', { class: 'field field-end' }, h('button', { type: 'button', class: 'btn btn-small', on: { click: () => {
          const l = ed.def.load; l.stages = [{ duration: '0s', [key]: l[key] }, { duration: l.duration || '30s', [key]: l[key] }];
          delete l[key]; delete l.duration; form.structural();
        } } }, 'Use stages (ramps)')))
      : listOf(form, 'Stages', ['load', 'stages'], (sp) => h('div', { class: 'grid-2' },
        fld(form, 'Duration', [...sp, 'duration'], { kind: 'duration', placeholder: '30s' }),
        fld(form, open ? 'Rate at the end' : 'Users at the end', [...sp, key], { kind: 'number' })), () => ({ duration: '30s', [key]: 1 }), { itemName: 'stage', min: 1, cls: 'stage-item' }),
    chartBox,
    h('details', { class: 'stop-when' }, h('summary', 'Stop at the breaking point (stop_when)'),
      h('div', { dataset: { path: 'load.stop_when' } },
        listOf(form, 'Conditions', ['load', 'stop_when', 'any'], (cp) => fldRaw(form, 'Condition', cp, 'error_rate > 5%'), () => '', { itemName: 'condition' }),
        fld(form, 'Window', ['load', 'stop_when', 'window'], { kind: 'duration', placeholder: '10s' }))));
}

/**
 * The chart in the form's .load-chart box (under formEl), drawn from ed.def.load:
 * draw() (re)draws it, redraw() only when it is drawn, destroy() removes it.
 */
export function loadChart(formEl, ed) {
  let chart = null;
  function destroy() {
    if (chart) { chart.destroy(); chart = null; }
  }
  function draw() {
    const box = formEl.querySelector('.load-chart');
    destroy();
    if (!box) return;
    const [xs, ys] = loadPoints(ed.def.load);
    const open = ed.def.load && ed.def.load.model === 'open';
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
  return { draw, redraw: () => { if (chart) draw(); }, destroy };
}
