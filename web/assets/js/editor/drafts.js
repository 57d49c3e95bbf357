// drafts.js - unsaved work kept in localStorage (sp-draft:ID or sp-draft:new) 250 ms after
// each change, and offered back when the test is opened again. Storage that is full or off
// loses the draft only: the question on leaving still guards the work.
import { h } from '../dom.js';
import { when as whenText } from '../format.js';

const DRAFT_PREFIX = 'sp-draft:';

/**
 * The draft of test id (null for a new test); record is what GET /tests/ID answered (null
 * for a new test). Returns { schedule(), save(), drop(), cancel(), offer(banner, restore) }.
 */
export function drafts(id, ed, record) {
  const key = `${DRAFT_PREFIX}${id || 'new'}`;
  let timer = null;
  function save() {
    try {
      if (ed.dirty()) localStorage.setItem(key, JSON.stringify({ at: Date.now(), revision: record ? record.revision : 0, definition: ed.def }));
      else localStorage.removeItem(key);
    } catch { /* storage full or off: the beforeunload question still guards */ }
  }
  function cancel() { clearTimeout(timer); }
  function schedule() { cancel(); timer = setTimeout(save, 250); }
  function drop() { cancel(); try { localStorage.removeItem(key); } catch { /* ignore */ } }

  /** Offers a kept draft that differs from ed.def in banner; restore(definition) takes it. */
  function offer(banner, restore) {
    let d = null;
    try { d = JSON.parse(localStorage.getItem(key) || 'null'); } catch { d = null; }
    if (!d || !d.definition || JSON.stringify(d.definition) === JSON.stringify(ed.def)) return;
    const when = whenText(d.at);
    const box = h('div', { class: 'alert alert-warn draft-offer', role: 'alert' },
      h('span', `You have unsaved changes to this test from ${when}${record && d.revision && d.revision !== record.revision ? ` (made on revision ${d.revision}; the test is now at ${record.revision})` : ''}. `),
      h('div', { class: 'btn-row' },
        h('button', { type: 'button', class: 'btn btn-primary btn-small', on: { click: () => { box.remove(); restore(d.definition); } } }, 'Restore them'),
        h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { drop(); box.remove(); } } }, 'Discard them')));
    banner.appendChild(box);
  }

  return { schedule, save, drop, cancel, offer };
}
