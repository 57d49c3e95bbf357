// try.js - Try it: each step run once with one user (POST /tests/try with the unsaved
// definition, or POST /tests/ID/try for a saved test without changes, which uses its stored
// secrets), and every request listed as text: name, status, time, pass or fail, the error,
// each expectation, the extracted variables, the cookie jar, the request and the response.
// Loops, branches and groups are listed where they happen, step by step: each pass of a
// repeat, the branch a choose took, a group's time.
import { h, mount } from '../dom.js';
import { prettyBody } from '../defpath.js';
import { API, post, request, ApiError } from '../api.js';
import { errorBox } from '../page.js';

/**
 * id and record: the saved test (null for a new one). onErrors(list) gets the validation
 * errors when the server refuses the definition. Returns { el, run() }.
 */
export function tryPanel(ed, { id, record, onErrors }) {
  const el = h('div', { class: 'try-box' }, h('p', { class: 'muted' }, 'Try it runs each step once with one user (the unsaved definition) and shows every request and response.'));

  async function run() {
    mount(el, h('p', { class: 'loading' }, 'Trying each step once…'));
    let r;
    try {
      // A saved test is tried by id, so its stored secrets are used; unsaved changes are sent
      // whole (a secret still masked as ******** has no value there: type it to try it).
      r = id && !ed.dirty() ? await post(`${API}/tests/${id}/try`, { revision: record.revision })
        : await request('POST', `${API}/tests/try`, JSON.stringify(ed.def));
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.body.errors)) onErrors(e.body.errors);
      mount(el, errorBox(`Try it failed: ${e.message}`));
      return;
    }
    const list = Array.isArray(r.requests) ? r.requests : [];
    const reqs = list.filter((x) => x.kind !== 'flow');
    const passed = reqs.filter((x) => x.passed).length;
    mount(el,
      h('div', { class: ['alert', r.complete && passed === reqs.filter((x) => !x.skipped).length ? 'alert-ok' : 'alert-warn'], role: 'status' },
        `${reqs.length} step${reqs.length === 1 ? '' : 's'}, ${passed} passed, in ${r.elapsed_ms} ms${r.complete ? '' : ' (cut short: the try took too long)'}${r.requests_dropped ? `; ${r.requests_dropped} more not shown` : ''}.`),
      h('ol', { class: 'try-list' }, list.map((x) => (x.kind === 'flow' && !x.skipped ? flowItem(x) : tryItem(x)))));
  }

  return { el, run };
}

function headersList(hs) {
  return h('dl', { class: 'try-headers' }, (hs || []).map((x) => [h('dt', x.name), h('dd', x.value)]));
}

function bodyPre(b) {
  if (!b || !b.bytes) return h('p', { class: 'muted small' }, 'no body');
  const shown = prettyBody(b.text, b.truncated);
  return h('div', {}, h('pre', { class: ['try-body', shown.pretty && 'try-json'] }, shown.text),
    shown.pretty ? h('p', { class: 'muted small' }, `JSON, pretty-printed (${b.bytes} bytes as received)`) : null,
    b.truncated ? h('p', { class: 'muted small' }, `cut at ${b.text.length} of ${b.bytes} bytes`) : null);
}

/** Where an entry happened: the class, the phase or task, the step and any loop passes. */
function whereOf(x) {
  const passes = Array.isArray(x.passes) && x.passes.length ? ` · pass ${x.passes.map((p) => p + 1).join('.')}` : '';
  const at = x.at ? ` · ${x.at}` : '';
  if (x.phase === 'on_start') return `${x.user} · on start · step ${x.step + 1}${passes}${at}`;
  if (x.phase === 'on_stop') return `${x.user} · on stop · step ${x.step + 1}${passes}${at}`;
  if (x.phase === 'task') return `${x.user} · ${x.task_name || `task ${x.task + 1}`} · step ${x.step + 1}${passes}${at}`;
  return `${x.user || ''} · ${x.phase}`;
}

/** A step of control flow: a pass of a repeat, its end, the branch taken, a group's time. */
function flowItem(x) {
  let text;
  if (x.event === 'repeat') text = `repeat: pass ${x.pass + 1}`;
  else if (x.event === 'repeat_end') text = `repeat done after ${x.passes} pass${x.passes === 1 ? '' : 'es'}${x.stopped_at_max ? ' (stopped at max)' : ''}`;
  else if (x.event === 'choose') text = `choose: branch ${x.branch + 1}${x.branch_name ? ` (${x.branch_name})` : ''}`;
  else if (x.event === 'group') text = `group ${x.name}: ${Math.round((x.time_ms || 0) * 10) / 10} ms, ${x.passed ? 'passed' : 'failed'}`;
  else text = x.event || '';
  return h('li', { class: ['try-item', 'try-flow', `try-${x.event}`, x.event === 'group' && !x.passed ? 'try-fail' : null], dataset: { event: x.event || '' } },
    h('div', { class: 'try-head' }, h('span', { class: 'badge badge-group' }, x.event === 'group' ? 'group' : 'flow'), ' ', h('strong', text), h('span', { class: 'muted small' }, ` ${whereOf(x)}`)));
}

/** One request of the try; a failed one shows its response open. */
function tryItem(x) {
  const where = whereOf(x);
  if (x.skipped) return h('li', { class: 'try-item try-skipped' }, h('div', { class: 'try-head' }, h('span', { class: 'badge' }, 'skipped'), ' ', h('strong', x.name || ''), h('span', { class: 'muted small' }, ` ${where} · ${x.reason || ''}`)));
  const res = x.response;
  return h('li', { class: ['try-item', x.passed ? 'try-pass' : 'try-fail'] },
    h('div', { class: 'try-head' },
      h('span', { class: ['badge', x.passed ? 'st-passed' : 'st-failed'] }, x.passed ? 'passed' : 'failed'), ' ',
      h('strong', x.name || ''), ' ',
      h('span', { class: 'try-status' }, res ? String(res.status) : 'no response'), ' ',
      h('span', { class: 'muted small' }, `${Math.round((x.time_ms || 0) * 10) / 10} ms · ${where}`)),
    h('div', { class: 'mono small try-url' }, `${x.method || ''} ${x.url || ''}`),
    x.error ? h('p', { class: 'error-text try-error' }, `${x.error.kind}: ${x.error.message}`) : null,
    Array.isArray(x.expect) && x.expect.length ? h('ul', { class: 'try-expect' }, x.expect.map((c) => h('li', { class: c.passed === false ? 'th-fail' : c.passed ? 'th-pass' : 'muted' }, `${c.passed === false ? '✗' : c.passed ? '✓' : '?'} ${c.check}`))) : null,
    x.extracted && Object.keys(x.extracted).length ? h('dl', { class: 'try-extracted' }, Object.entries(x.extracted).map(([k, v]) => [h('dt', k), h('dd', v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v))])) : null,
    Array.isArray(x.cookies) && x.cookies.length ? h('dl', { class: 'try-cookies' }, h('dt', { class: 'muted small' }, 'Cookies'), x.cookies.map((c) => h('dd', { class: 'mono small' }, `${c.name}=${c.value} (${c.domain}${c.path})`))) : null,
    h('details', { class: 'try-detail' }, h('summary', 'Request'), x.request ? [h('div', { class: 'mono small' }, x.request.line), headersList(x.request.headers), bodyPre(x.request.body)] : h('p', 'not sent')),
    h('details', { class: 'try-detail', open: !x.passed ? true : null }, h('summary', 'Response'), res ? [h('div', { class: 'mono small' }, res.line), headersList(res.headers), bodyPre(res.body)] : h('p', 'none came')));
}
