// page.js - pieces every page uses: the header, status badges, empty and error states, and
// the readiness mark set once a page's first data is on screen.
import { h } from './dom.js';
import { STATUSES, when, whenFull } from './format.js';

/**
 * A page with unsaved work sets leaveGuard.fn: called before the route changes, it answers
 * whether to leave (the editor asks the user).
 */
export const leaveGuard = { fn: null };

/** Marks the page ready (main[data-ready], aria-busy=false): its first data is shown. */
export function ready(name) {
  const main = document.getElementById('main');
  main.setAttribute('aria-busy', 'false');
  main.dataset.ready = name;
  // Milliseconds from the start of the navigation to this page's first data: what a user
  // waits for, and what the load-time test reads.
  main.dataset.readyMs = String(Math.round(performance.now()));
}

export function pageHeader(title, subtitle, ...actions) {
  return h('header', { class: 'page-head' },
    h('div', { class: 'page-title' }, h('h1', title), subtitle ? h('p', { class: 'subtitle' }, subtitle) : null),
    h('div', { class: 'page-actions' }, actions));
}

const STATUS_LABEL = {
  queued: 'Queued', running: 'Running', passed: 'Passed', failed: 'Failed', stopped: 'Stopped',
  aborted: 'Aborted', error: 'Error', incomplete: 'Incomplete', degraded: 'Degraded',
};

export function statusBadge(status) {
  const known = STATUSES.includes(status);
  return h('span', { class: ['badge', `st-${known ? status : 'unknown'}`] }, known ? STATUS_LABEL[status] : String(status ?? '–'));
}

/** The mark of a run a schedule started (docs/api-schedules.md): "scheduled", with the fire time. */
export function scheduledBadge(run) {
  const at = run.fire_at ? new Date(run.fire_at).toLocaleString() : '';
  const title = `Started by schedule #${run.schedule_id} for ${at}${run.fire_missed ? ', missed while the server was down and run at its next start' : ''}`;
  return h('span', { class: 'badge badge-scheduled', title, dataset: { scheduleId: String(run.schedule_id ?? '') } }, run.fire_missed ? 'scheduled (missed)' : 'scheduled');
}

export function emptyState(title, text, ...actions) {
  return h('div', { class: 'empty' }, h('h2', title), text ? h('p', text) : null, actions.length ? h('div', { class: 'empty-actions' }, actions) : null);
}

export function errorBox(message) {
  return h('div', { class: 'alert alert-error', role: 'alert' }, message);
}

/**
 * A table whose header cells are given as [label, className], in a box of its own that scrolls
 * sideways on a screen narrower than the table: the page never does.
 */
export function table(headers, body, { caption, className } = {}) {
  return h('div', { class: 'table-scroll' }, h('table', { class: ['table', className] },
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', h('tr', headers.map(([label, cls]) => h('th', { scope: 'col', class: cls }, label)))),
    body));
}

/** A date as every page writes it ("2026-05-04 16:03"), with the seconds and the zone on hover
 * and in the datetime attribute. */
export function timeEl(msSinceEpoch) {
  if (!msSinceEpoch) return h('span', '–');
  return h('time', { datetime: new Date(msSinceEpoch).toISOString(), title: whenFull(msSinceEpoch) }, when(msSinceEpoch));
}
