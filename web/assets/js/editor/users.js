// users.js - a user class: name and weight, think time, its headers, its CSV data file, the
// steps it runs once on start, its weighted tasks, and the steps it runs once when stopped. A task stays in the short form (the
// step's fields on the task itself) until a second step is added. form is { ed, structural }.
import { h } from '../dom.js';
import { pathStr, getAt, setAt, delAt } from '../defpath.js';
import { fld, sel, kv, listOf } from './controls.js';
import { stepEditor } from './steps.js';
import { dataFileEditor } from './data.js';
import { addStepFromCurl } from './curl.js';

/** The user class at up. */
export function userEditor(form, up) {
  const { ed } = form;
  const u = getAt(ed.def, up) || {};
  return h('div', { class: 'user-class' },
    h('div', { class: 'grid-2' }, fld(form, 'Class name', [...up, 'name'], { placeholder: 'user1' }), fld(form, 'Weight', [...up, 'weight'], { kind: 'number', placeholder: '1' })),
    thinkEditor(form, up),
    kv(form, 'Class headers', [...up, 'headers'], { add: 'Add header' }),
    dataFileEditor(form, up, u),
    h('details', { class: 'on-start', open: Array.isArray(u.on_start) && u.on_start.length ? true : null },
      h('summary', `On start (${Array.isArray(u.on_start) ? u.on_start.length : 0} step${Array.isArray(u.on_start) && u.on_start.length === 1 ? '' : 's'}): run once when a user starts`),
      listOf(form, null, [...up, 'on_start'], (sp) => stepEditor(form, sp), () => ({ request: { method: 'POST', url: '/' } }), { itemName: 'on-start step' })),
    listOf(form, 'Tasks', [...up, 'tasks'], (tp) => taskEditor(form, tp), () => ({ name: `task ${(getAt(ed.def, [...up, 'tasks']) || []).length + 1}`, request: { method: 'GET', url: '/' } }), { itemName: 'task', min: 1, cls: 'task-item' }),
    h('details', { class: 'on-stop', open: Array.isArray(u.on_stop) && u.on_stop.length ? true : null },
      h('summary', `On stop (${Array.isArray(u.on_stop) ? u.on_stop.length : 0} step${Array.isArray(u.on_stop) && u.on_stop.length === 1 ? '' : 's'}): run once when a user is stopped gracefully`),
      listOf(form, null, [...up, 'on_stop'], (sp) => stepEditor(form, sp), () => ({ request: { method: 'DELETE', url: '/' } }), { itemName: 'on-stop step' })));
}

/** Think time: none, random between two durations, constant, or pacing (in s or ms). */
function thinkEditor(form, up) {
  const { ed } = form;
  const th = getAt(ed.def, [...up, 'think']);
  const kinds = ['between', 'between_ms', 'constant', 'constant_ms', 'pacing', 'pacing_ms'];
  const k = th && typeof th === 'object' ? kinds.find((x) => x in th) || '' : '';
  const base = k.replace('_ms', '');
  const box = h('div', { class: 'think grid-3-even' });
  const s = sel(form, 'Think time', [...up, 'think', '__k'], [['', 'none'], ['between', 'random between'], ['constant', 'constant'], ['pacing', 'pacing (start a task every)']], {
    onChange: (v) => { if (!v) delAt(ed.def, [...up, 'think']); else setAt(ed.def, [...up, 'think'], v === 'between' ? { between: ['1s', '3s'] } : { [v]: '1s' }); form.structural(); },
  });
  s.querySelector('select').value = base;
  s.dataset.path = pathStr([...up, 'think']);
  box.appendChild(s);
  if (base === 'between') {
    box.appendChild(fld(form, 'From', [...up, 'think', k, 0], { kind: 'duration', placeholder: '1s' }));
    box.appendChild(fld(form, 'To', [...up, 'think', k, 1], { kind: 'duration', placeholder: '3s' }));
  } else if (base) box.appendChild(fld(form, k.endsWith('_ms') ? 'Milliseconds' : 'Duration', [...up, 'think', k], { kind: 'duration' }));
  return box;
}

/** The task at tp: name, weight and its steps (one step in the short form, or a list). */
function taskEditor(form, tp) {
  const { ed } = form;
  const task = getAt(ed.def, tp) || {};
  const long = Array.isArray(task.steps);
  const toLong = () => {
    const t = getAt(ed.def, tp);
    if (Array.isArray(t.steps)) return t;
    const st = {};
    for (const k of Object.keys(t)) if (k !== 'name' && k !== 'weight' && k !== 'steps') { st[k] = t[k]; delete t[k]; }
    t.steps = Object.keys(st).length ? [st] : [];
    return t;
  };
  return h('div', { class: 'task' },
    h('div', { class: 'grid-2' }, fld(form, 'Task name', [...tp, 'name']), fld(form, 'Weight', [...tp, 'weight'], { kind: 'number', placeholder: '1' })),
    long ? listOf(form, null, [...tp, 'steps'], (sp) => stepEditor(form, sp), () => ({ request: { method: 'GET', url: '/' } }), { itemName: 'step', min: 1 })
      : h('div', { class: 'list' }, h('div', { class: 'list-item' }, stepEditor(form, tp))),
    h('div', { class: 'btn-row' },
      long ? null : h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { toLong().steps.push({ request: { method: 'GET', url: '/' } }); form.structural(); } } }, '+ Add step'),
      h('button', { type: 'button', class: 'btn btn-small', on: { click: () => addStepFromCurl((step) => { toLong().steps.push(step); form.structural(); }) } }, '+ Add step from curl')));
}
