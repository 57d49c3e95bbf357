// revisions.js - the Revisions tab of a saved test: every revision (each opens in the editor)
// and a line diff of the pretty-printed JSON of any two, the newest two at first.
import { h, mount, uid } from '../dom.js';
import { API, get } from '../api.js';
import { errorBox, timeEl } from '../page.js';
import { lineDiff } from '../defpath.js';
import { pretty } from './state.js';

/** The revisions of test id. Returns { el, render() }; render() loads them afresh. */
export function revisionsPanel(id) {
  const el = h('div', { class: 'rev-box' });

  async function render() {
    mount(el, h('p', { class: 'loading' }, 'Loading revisions…'));
    let revs;
    try { revs = (await get(`${API}/tests/${id}/revisions`)).items; } catch (e) { mount(el, errorBox(e.message)); return; }
    const aSel = h('select', { id: uid() }, revs.map((r) => h('option', { value: String(r.revision) }, `Revision ${r.revision}`)));
    const bSel = h('select', { id: uid() }, revs.map((r) => h('option', { value: String(r.revision) }, `Revision ${r.revision}`)));
    aSel.value = String(revs.length > 1 ? revs[1].revision : revs[0].revision);
    bSel.value = String(revs[0].revision);
    const out = h('div', { class: 'diff-box', 'aria-live': 'polite' });
    async function diff() {
      try {
        const [a, b] = await Promise.all([get(`${API}/tests/${id}/revisions/${aSel.value}`), get(`${API}/tests/${id}/revisions/${bSel.value}`)]);
        const lines = lineDiff(pretty(a.definition), pretty(b.definition));
        const changes = lines.filter((l) => l.op !== ' ').length;
        mount(out, h('p', { class: 'muted' }, changes ? `${changes} changed line${changes === 1 ? '' : 's'} from revision ${aSel.value} to ${bSel.value}.` : 'The two revisions are the same.'),
          h('pre', { class: 'diff' }, lines.map((l) => h('span', { class: l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-same' }, `${l.op} ${l.text}\n`))));
      } catch (e) { mount(out, errorBox(e.message)); }
    }
    mount(el, h('div', { class: 'card card-flush table-scroll' }, h('table', { class: 'table revisions-table' },
      h('caption', { class: 'sr-only' }, 'Revisions'),
      h('thead', h('tr', h('th', { scope: 'col' }, 'Revision'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Saved'), h('th', { scope: 'col' }, 'By'), h('th', { scope: 'col', class: 'num' }, 'Bytes'))),
      h('tbody', revs.map((r) => h('tr', h('td', h('a', { href: `#/tests/${id}/edit?revision=${r.revision}` }, `Revision ${r.revision}`)), h('td', r.name), h('td', timeEl(r.created_at)), h('td', r.created_by || '–'), h('td', { class: 'num' }, String(r.bytes))))))),
    h('div', { class: 'card diff-card' }, h('h2', { class: 'card-title' }, 'Compare two revisions'),
      h('div', { class: 'toolbar' }, h('div', { class: 'field' }, h('label', { for: aSel.id }, 'From'), aSel), h('div', { class: 'field' }, h('label', { for: bSel.id }, 'To'), bSel),
        h('button', { type: 'button', class: 'btn', on: { click: diff } }, 'Show the diff')), out));
    if (revs.length > 1) diff();
  }

  return { el, render };
}
