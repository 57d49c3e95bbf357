// start.js - the start dialog: users (closed model) or rate (open model), duration and base
// URL overrides, and when agents are connected the share of each location in percent (sent as
// "locations"; empty keeps the run on the server's own engine), then POST /tests/:id/runs and
// on to the live page.
import { h, mount, field, dialog } from '../dom.js';
import { API, get, post, ApiError } from '../api.js';
import { parseDuration } from '../format.js';
import { errorBox } from '../page.js';
import { errorList } from '../errors.js';

export async function openStartDialog(test, go) {
  let def = {};
  try { def = (await get(`${API}/tests/${test.id}`)).definition || {}; } catch { /* the form still works without hints */ }
  const load = def.load || {};
  const open = load.model === 'open';
  const stages = Array.isArray(load.stages) ? load.stages : [];
  const defLoad = open ? (load.rate ?? (stages.length ? stages[stages.length - 1].rate : '')) : (load.users ?? (stages.length ? Math.max(...stages.map((s) => s.users || 0)) : ''));
  const defDuration = load.duration || (stages.length ? stages.map((s) => s.duration).join(' + ') : '');

  const amount = h('input', { type: 'number', min: open ? '0.1' : '1', step: open ? 'any' : '1', inputmode: 'decimal', placeholder: String(defLoad ?? '') });
  const durationIn = h('input', { type: 'text', placeholder: defDuration ? `as defined: ${defDuration}` : 'e.g. 30s, 2m, 1h30m' });
  const baseUrl = h('input', { type: 'url', placeholder: def.base_url || 'http://127.0.0.1:8090', autocomplete: 'url' });
  const result = h('div', { 'aria-live': 'polite' });
  let agents = [];
  try { agents = (await get(`${API}/agents`)).agents.filter((a) => a.state !== 'lost'); } catch { /* no agents: the run stays on the server */ }
  const locs = [...new Set(agents.map((a) => a.location))].sort();
  const defLocs = (load.locations && typeof load.locations === 'object') ? load.locations : {};
  const shares = locs.map((l) => {
    const n = agents.filter((a) => a.location === l).length;
    const inp = h('input', { type: 'number', min: '0', max: '100', step: '1', inputmode: 'numeric', class: 'num-input', placeholder: defLocs[l] !== undefined ? String(defLocs[l]) : '0', dataset: { location: l } });
    return { l, inp, wrap: field(`${l} (%)`, inp, `${n} agent${n === 1 ? '' : 's'}${agents.some((a) => a.location === l && a.state === 'idle') ? '' : ', all busy'}`).wrap };
  });
  const shareSum = h('p', { class: 'small muted share-sum', 'aria-live': 'polite' });
  function readShares() {
    const out = {};
    let sum = 0, any = false;
    for (const { l, inp } of shares) {
      const t = inp.value.trim();
      if (!t) continue;
      any = true;
      const n = Number(t);
      if (!Number.isInteger(n) || n < 0 || n > 100) return { error: `locations.${l}: a whole percent from 0 to 100.`, inp };
      if (n > 0) out[l] = n;
      sum += n;
    }
    if (!any) return { none: true };
    if (sum !== 100) return { error: `locations: the shares add up to ${sum}%, not 100%.`, inp: shares[0].inp };
    return { locations: out };
  }
  const showSum = () => {
    const r = readShares();
    shareSum.textContent = r.none ? 'No shares: the run stays on this server.' : r.error ? r.error : 'The shares add up to 100%.';
    shareSum.classList.toggle('error-text', !!r.error);
  };
  for (const s of shares) s.inp.addEventListener('input', showSum);
  if (shares.length) showSum();
  const startBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Start run');

  async function start(e) {
    if (e) e.preventDefault();
    const body = {};
    const dur = durationIn.value.trim();
    const amt = amount.value.trim();
    if (dur && Number.isNaN(parseDuration(dur))) { mount(result, errorBox('Duration: write it like 30s, 2m or 1h30m.')); durationIn.focus(); return; }
    if (amt) {
      const n = Number(amt);
      if (!(n > 0) || (!open && !Number.isInteger(n))) { mount(result, errorBox(open ? 'Rate: a number of iterations per second above 0.' : 'Users: a whole number from 1.')); amount.focus(); return; }
      const d = dur || (load.duration || null);
      if (open) body.stages = [{ duration: d || '1m', rate: n }];
      else { body.users = n; body.duration = d || '1m'; }
      if (!d) mount(result, h('p', { class: 'muted' }, 'No duration given: the run lasts 1 minute.'));
    } else if (dur) {
      body.duration = dur;
    }
    if (baseUrl.value.trim()) body.base_url = baseUrl.value.trim();
    if (shares.length) {
      const r = readShares();
      if (r.error) { mount(result, errorBox(r.error)); r.inp.focus(); return; }
      if (r.locations) body.locations = r.locations;
    }
    startBtn.disabled = true;
    try {
      const run = await post(`${API}/tests/${test.id}/runs`, body);
      d.close();
      go(`/runs/${run.id}`);
    } catch (err) {
      if (err instanceof ApiError && Array.isArray(err.body.errors) && err.body.errors.length) mount(result, h('div', { class: 'alert alert-error', role: 'alert' }, h('strong', 'The run cannot start:'), errorList(err.body.errors)));
      else mount(result, errorBox(`The run cannot start: ${err.message}`));
    } finally { startBtn.disabled = false; }
  }

  const form = h('div', { class: 'start-form' },
    h('p', { class: 'muted' }, `Leave a field empty to keep what the test defines (${open ? 'open model: arrivals per second' : 'closed model: virtual users'}).`),
    h('div', { class: 'grid-2' },
      field(open ? 'Rate (iterations/s)' : 'Users', amount, 'Held for the whole duration.').wrap,
      field('Duration', durationIn, 'e.g. 30s, 2m, 1h30m').wrap),
    field('Base URL', baseUrl, 'Point the test at another host.').wrap,
    shares.length ? h('fieldset', { class: 'locations' }, h('legend', 'Locations: share of the load in percent'),
      h('p', { class: 'hint' }, `Leave them empty to run on this server${Object.keys(defLocs).length ? ' (or as the test defines)' : ''}; otherwise they must add up to 100.`),
      h('div', { class: 'grid-2' }, shares.map((s) => s.wrap)), shareSum) : null,
    result);
  const d = dialog(`Start “${test.name}”`, form, [h('button', { type: 'button', class: 'btn', on: { click: () => d.close() } }, 'Cancel'), startBtn]);
  d.dlg.querySelector('form').addEventListener('submit', start);
  amount.focus();
}
