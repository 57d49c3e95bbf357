// schedules.js - the Schedules tab of a saved test (docs/api-schedules.md): each schedule with
// its next fire times and last runs, Pause, Resume and Delete for its owner (or an admin), and
// a form to add one. The expression is checked as it is typed (POST /schedules/preview): the
// next fire times in the schedule's zone, or the field and the reason; saving shows the next
// five again, as the server computed them.
import { h, mount, uid, toast, confirmDialog } from '../dom.js';
import { API, get, post, del, can, session, ApiError } from '../api.js';
import { errorBox, statusBadge } from '../page.js';

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const OUTCOME = { started: 'st-passed', queued: 'st-running', skipped: 'st-stopped', missed: 'st-stopped', failed: 'st-failed' };

/** "Mon 30 Mar 2026, 02:30 (+02:00)" from the server's "2026-03-30T02:30:00+02:00": the wall
 * clock of the schedule's zone, whatever the browser's. */
export function localText(iso) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):\d\d([+-]\d\d:\d\d)$/.exec(iso || '');
  if (!m) return iso || '';
  const wd = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).getUTCDay();
  return `${WEEKDAYS[wd]} ${Number(m[3])} ${MONTHS[Number(m[2]) - 1]} ${m[1]}, ${m[4]}:${m[5]} (${m[6]})`;
}

/** An instant on the wall clock of zone (the browser's own zone when it does not know it). */
function inZone(ms, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: zone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
  } catch {
    return new Date(ms).toLocaleString();
  }
}

function overridesText(ov) {
  if (!ov) return 'the test as saved';
  const parts = [];
  if (ov.users) parts.push(`${ov.users} users`);
  if (ov.duration) parts.push(ov.duration);
  if (ov.stages) parts.push(`${ov.stages.length} stages`);
  if (ov.base_url) parts.push(ov.base_url);
  return parts.join(', ') || 'the test as saved';
}

function errorText(e) {
  if (e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length) return e.body.errors.map((x) => (x.path ? `${x.path}: ${x.message}` : x.message)).join('; ');
  return e.path ? `${e.path}: ${e.message}` : e.message;
}

function labelled(label, input, hint) {
  if (!input.id) input.id = uid();
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null);
}

/** The schedules of test id. Returns { el, render(), destroy() }; render() loads them afresh. */
export function schedulesPanel(id) {
  const el = h('div', { class: 'schedules-box' });
  const listBox = h('div', { class: 'schedule-list', 'aria-live': 'polite' });
  const saved = h('div', { 'aria-live': 'polite' });
  let timer = null;
  let seq = 0;

  function mayChange(s) {
    return can('run') && (session.user?.role === 'admin' || session.user?.name === s.owner);
  }

  function card(s) {
    const next = s.next_fires.length
      ? h('ol', { class: 'next-fires' }, s.next_fires.map((f) => h('li', { dataset: { at: String(f.at) } }, localText(f.local))))
      : h('p', { class: 'muted' }, 'No fire time ahead.');
    const last = s.last_fires.length
      ? h('ul', { class: 'last-fires' }, s.last_fires.slice(0, 5).map((f) => h('li', { dataset: { outcome: f.outcome } },
        h('span', { class: ['badge', OUTCOME[f.outcome] || 'st-unknown'] }, f.outcome), ' ', inZone(f.fire_at, s.timezone),
        f.run_id ? [' · ', h('a', { href: `#/runs/${f.run_id}` }, `run #${f.run_id}`), ' ', statusBadge(f.run_status)] : null,
        f.detail ? h('span', { class: 'muted small' }, ` · ${f.detail}`) : null)))
      : h('p', { class: 'muted' }, 'Not fired yet.');
    const actions = mayChange(s) ? h('div', { class: 'btn-row' },
      h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `${s.paused ? 'Resume' : 'Pause'} schedule ${s.id}`, on: { click: async () => {
        try {
          await post(`${API}/schedules/${s.id}/${s.paused ? 'resume' : 'pause'}`, undefined);
          toast(s.paused ? 'Schedule resumed: fire times from now on run.' : 'Schedule paused.', 'success');
          render();
        } catch (e) { toast(errorText(e), 'error'); }
      } } }, s.paused ? 'Resume' : 'Pause'),
      h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Delete schedule ${s.id}`, on: { click: async () => {
        if (!(await confirmDialog('Delete schedule', `Delete the schedule “${s.cron}” (${s.timezone})? Its history goes; its runs stay.`))) return;
        try { await del(`${API}/schedules/${s.id}`); toast('Schedule deleted.', 'success'); render(); } catch (e) { toast(errorText(e), 'error'); }
      } } }, 'Delete')) : null;
    return h('article', { class: ['card', 'schedule', s.paused && 'schedule-paused'], dataset: { scheduleId: String(s.id) } },
      h('header', { class: 'schedule-head' },
        h('h3', h('code', s.cron), ` in ${s.timezone}`),
        s.paused ? h('span', { class: 'badge st-stopped schedule-paused-mark' }, 'Paused') : h('span', { class: 'badge st-passed' }, 'Active'),
        h('span', { class: 'muted small' }, ` · owner ${s.owner}`), actions),
      h('p', { class: 'small' }, `Runs ${overridesText(s.overrides)}. If a run of this test is still going: ${s.if_running === 'queue' ? 'wait for it, then run' : 'skip'}. Fire times missed while the server was down: ${s.on_missed === 'run_once' ? 'run once at its next start' : 'skipped'}.`,
        s.queued_at ? h('strong', ` A run waits for the test to be idle (fire time ${inZone(s.queued_at, s.timezone)}).`) : null,
        s.follows_clock ? h('span', { class: 'muted' }, ' Every hour: follows the clock through daylight-saving changes.') : null),
      h('div', { class: 'schedule-cols' },
        h('div', h('h4', s.paused ? 'Next fire times (paused: none will run)' : 'Next fire times'), next),
        h('div', h('h4', 'Last fires'), last)));
  }

  function form() {
    const cron = h('input', { type: 'text', class: 'mono', placeholder: '0 2 * * 1-5', autocomplete: 'off', spellcheck: 'false', name: 'cron' });
    const zone = h('input', { type: 'text', list: uid('zones'), autocomplete: 'off', name: 'timezone' });
    zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const zones = h('datalist', { id: zone.getAttribute('list') },
      (typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC']).map((z) => h('option', { value: z })));
    const users = h('input', { type: 'number', min: 1, step: 1, class: 'num-input', name: 'users' });
    const dur = h('input', { type: 'text', placeholder: '5m', class: 'num-input', name: 'duration' });
    const base = h('input', { type: 'url', placeholder: 'the test\'s', name: 'base_url' });
    const ifRunning = h('select', { name: 'if_running' }, h('option', { value: 'skip' }, 'skip this fire time'), h('option', { value: 'queue' }, 'run when it ends'));
    const onMissed = h('select', { name: 'on_missed' }, h('option', { value: 'skip' }, 'skip them'), h('option', { value: 'run_once' }, 'run once at the next start'));
    const preview = h('div', { class: 'schedule-preview', 'aria-live': 'polite' }, h('p', { class: 'hint' }, 'Type an expression to see its next fire times.'));
    const out = h('div', { 'aria-live': 'polite' });
    const add = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add schedule');

    async function check() {
      const n = ++seq;
      if (!cron.value.trim()) { mount(preview, h('p', { class: 'hint' }, 'Type an expression to see its next fire times.')); return; }
      try {
        const r = await post(`${API}/schedules/preview`, { cron: cron.value, timezone: zone.value.trim() || 'UTC' });
        if (n !== seq) return;
        mount(preview, h('p', { class: 'hint' }, `Next fire times in ${r.timezone}:`), h('ol', { class: 'next-fires' }, r.next_fires.map((f) => h('li', localText(f.local)))));
      } catch (e) {
        if (n !== seq) return;
        mount(preview, h('p', { class: 'field-error', role: 'alert' }, errorText(e)));
      }
    }
    const schedule = () => { clearTimeout(timer); timer = setTimeout(check, 350); };
    cron.addEventListener('input', schedule);
    zone.addEventListener('input', schedule);

    return h('form', { class: 'card schedule-form', 'aria-label': 'Add a schedule', on: { submit: async (e) => {
      e.preventDefault();
      const body = { cron: cron.value, timezone: zone.value.trim() || 'UTC', if_running: ifRunning.value, on_missed: onMissed.value };
      const ov = {};
      if (users.value) ov.users = Number(users.value);
      if (dur.value.trim()) ov.duration = dur.value.trim();
      if (base.value.trim()) ov.base_url = base.value.trim();
      if (Object.keys(ov).length) body.overrides = ov;
      add.disabled = true;
      try {
        const s = await post(`${API}/tests/${id}/schedules`, body);
        mount(out);
        cron.value = '';
        mount(preview, h('p', { class: 'hint' }, 'Type an expression to see its next fire times.'));
        mount(saved, h('div', { class: 'alert alert-ok schedule-saved', role: 'status' },
          h('strong', `Schedule saved: “${s.cron}” in ${s.timezone}. Its next fire times:`),
          h('ol', { class: 'next-fires' }, s.next_fires.map((f) => h('li', localText(f.local))))));
        toast('Schedule saved.', 'success');
        await render(false);
      } catch (err) { mount(out, errorBox(errorText(err))); } finally { add.disabled = false; }
    } } },
    h('h3', 'Add a schedule'),
    h('div', { class: 'inline-form' },
      labelled('Cron expression', cron, 'minute hour day-of-month month day-of-week'),
      labelled('Time zone', zone), zones),
    preview,
    h('div', { class: 'inline-form' },
      labelled('Users (optional)', users), labelled('Duration (optional)', dur), labelled('Base URL (optional)', base)),
    h('div', { class: 'inline-form' },
      labelled('If a run of this test is still going', ifRunning), labelled('Fire times missed while the server was down', onMissed)),
    h('div', { class: 'btn-row' }, add), out);
  }

  const addForm = can('run') ? form() : null;

  async function render(clearSaved = true) {
    if (clearSaved) mount(saved);
    let list;
    try { list = (await get(`${API}/tests/${id}/schedules`)).items; } catch (e) { mount(listBox, errorBox(e.message)); return; }
    mount(listBox, list.length ? list.map(card) : h('p', { class: 'muted' }, 'No schedules: this test runs only when someone starts it.'));
  }

  mount(el, h('p', { class: 'hint' }, 'Schedules start runs of this test as their owner, with the owner\'s caps. Times are on the clock of each schedule\'s time zone; a daylight-saving change neither skips nor doubles a run.'),
    saved, listBox, addForm);
  return { el, render, destroy: () => clearTimeout(timer) };
}
