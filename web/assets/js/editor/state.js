// state.js - the test being edited: one parsed definition that every part of the editor reads
// and changes in place, the text the server holds, and the hook called after each change.
//
// The form's controls, the JSON tab and a restored draft all work on ed.def. The JSON tab and
// a draft replace it whole, so a part reads ed.def when it acts, never a copy taken earlier.
// Whoever changes it calls ed.changed(); the page sets ed.onChange to mark the page dirty,
// keep a draft, check the definition again and redraw the load chart.

/** What a new test starts from. */
export function blankTest() {
  return {
    name: 'New test',
    base_url: 'http://127.0.0.1:8090',
    users: [{ name: 'user', tasks: [{ name: 'task 1', request: { method: 'GET', url: '/' } }] }],
    load: { users: 1, duration: '30s' },
  };
}

export const clone = (v) => JSON.parse(JSON.stringify(v));
export const pretty = (v) => JSON.stringify(v, null, 2);

/** def: the definition to edit (owned from here on); savedText: what the server holds, as JSON. */
export function editState(def, savedText) {
  const ed = {
    def,
    savedText,
    onChange: null,
    dirty: () => JSON.stringify(ed.def) !== ed.savedText,
    changed: () => { if (ed.onChange) ed.onChange(); },
  };
  return ed;
}
