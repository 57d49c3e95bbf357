// flow.js - the control steps of a task: a repeat (a count or a while expression, its bound,
// its index and its steps), a choose (weighted branches, each with its steps) and a group (a
// name and its steps, timed as a whole). Steps nest, so each editor draws its inner steps with
// the step editor it is given (steps.js passes its own, which keeps the modules free of an
// import cycle). form is { ed, structural }.
import { h } from '../dom.js';
import { pathStr, getAt, setAt } from '../defpath.js';
import { fld, sel, listOf } from './controls.js';

/** The kinds of step, for the step's kind select. */
export const STEP_KINDS = [['', 'Request and variables'], ['repeat', 'Repeat (a loop)'], ['choose', 'Choose one branch (by weight)'], ['group', 'Group (timed as a whole)']];

const newInner = () => ({ request: { method: 'GET', url: '/' } });

/** The kind of the step object st: 'repeat', 'choose', 'group' or '' (a plain step). */
export function stepKind(st) {
  if (!st || typeof st !== 'object') return '';
  return ['repeat', 'choose', 'group'].find((k) => k in st) || '';
}

/**
 * Turns the step at sp into a step of kind k, keeping its condition: a plain step goes inside
 * the new loop, branch or group; a control step's first inner step becomes the plain step.
 */
export function convertStep(ed, sp, k) {
  const st = getAt(ed.def, sp) || {};
  const cond = {};
  for (const c of ['if', 'unless']) if (c in st) cond[c] = st[c];
  const from = stepKind(st);
  let inner;
  if (!from) {
    inner = {};
    for (const [key, v] of Object.entries(st)) if (key !== 'if' && key !== 'unless' && key !== 'name' && key !== 'weight') inner[key] = v;
    if (!Object.keys(inner).length) inner = newInner();
  } else if (from === 'choose') inner = (st.choose[0] && st.choose[0].steps && st.choose[0].steps[0]) || newInner();
  else inner = (st[from].steps && st[from].steps[0]) || newInner();
  let next;
  if (k === 'repeat') next = { repeat: { count: 2, index: 'i', steps: [inner] } };
  else if (k === 'choose') next = { choose: [{ name: 'first', weight: 1, steps: [inner] }, { name: 'second', weight: 1, steps: [newInner()] }] };
  else if (k === 'group') next = { group: { name: 'my flow', steps: [inner] } };
  else next = inner;
  // A short-form task keeps its own name and weight beside its step.
  for (const key of ['name', 'weight']) if (key in st && sp[sp.length - 2] === 'tasks') next[key] = st[key];
  setAt(ed.def, sp, { ...cond, ...next });
}

/** The steps of a loop, a branch or a group: a list of steps, drawn by stepEditor. */
function innerSteps(form, path, stepEditor, title) {
  return listOf(form, title, path, (ip) => stepEditor(form, ip), newInner, { itemName: 'step', min: 1, cls: 'inner-step' });
}

/** A repeat: its count or while expression, max, index, and its steps. */
export function repeatEditor(form, sp, stepEditor) {
  const { ed } = form;
  const rp = [...sp, 'repeat'];
  const r = getAt(ed.def, rp) || {};
  const mode = 'while' in r ? 'while' : 'count';
  const modeSel = sel(form, 'Repeat', [...rp, '__mode'], [['count', 'a number of times'], ['while', 'while an expression holds']], {
    onChange: (v) => {
      const o = getAt(ed.def, rp);
      delete o.count; delete o.while;
      if (v === 'while') { o.while = 'true'; if (!o.max) o.max = 10; } else o.count = 2;
      form.structural(pathStr([...rp, v]));
    },
  });
  modeSel.querySelector('select').value = mode;
  return h('fieldset', { class: 'sub flow flow-repeat', dataset: { path: pathStr(rp) } }, h('legend', 'Repeat'),
    h('div', { class: 'grid-4' },
      modeSel,
      mode === 'while'
        ? fld(form, 'While (expression)', [...rp, 'while'], { placeholder: 'next != null', cls: 'f-expr', hint: 'Checked before each pass, e.g. next != null' })
        : fld(form, 'Times (a number or an expression)', [...rp, 'count'], { kind: 'numexpr', placeholder: '3', cls: 'f-expr' }),
      fld(form, 'At most (max)', [...rp, 'max'], { kind: 'number', placeholder: mode === 'while' ? 'required' : 'the count', hint: 'Every loop ends: needed with while or a computed count.' }),
      fld(form, 'Pass number in (index)', [...rp, 'index'], { placeholder: 'i', hint: '0, 1, 2… in {{i}}' })),
    innerSteps(form, [...rp, 'steps'], stepEditor, 'Steps of each pass'));
}

/** A choose: its branches, each with a name, a weight and steps. */
export function chooseEditor(form, sp, stepEditor) {
  const cp = [...sp, 'choose'];
  return h('fieldset', { class: 'sub flow flow-choose', dataset: { path: pathStr(cp) } }, h('legend', 'Choose one branch'),
    listOf(form, null, cp, (bp) => h('div', { class: 'branch' },
      h('div', { class: 'grid-2' }, fld(form, 'Branch name', [...bp, 'name'], { placeholder: 'browse' }), fld(form, 'Weight', [...bp, 'weight'], { kind: 'number', placeholder: '1' })),
      innerSteps(form, [...bp, 'steps'], stepEditor, null)),
    () => ({ name: '', weight: 1, steps: [newInner()] }), { itemName: 'branch', min: 1, cls: 'branch-item' }));
}

/** A group: its name (shown in reports beside request names) and its steps. */
export function groupEditor(form, sp, stepEditor) {
  const gp = [...sp, 'group'];
  return h('fieldset', { class: 'sub flow flow-group', dataset: { path: pathStr(gp) } }, h('legend', 'Group'),
    fld(form, 'Group name', [...gp, 'name'], { placeholder: 'checkout flow', hint: 'Timed as a whole: a row of its own in reports, and a name thresholds can use ("checkout flow: p95 < 2s").' }),
    innerSteps(form, [...gp, 'steps'], stepEditor, 'Steps of the group'));
}
