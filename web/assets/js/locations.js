// locations.js - a run across locations on its page (docs/distributed.md): the figures per
// location and per request name within it (summary.locations), the agents' generator health
// (summary.agents, the bottleneck named) and, for a degraded run, the agents lost with their
// location and second (agents_lost). A run without agents shows none of it.
import { h } from './dom.js';
import { int, ms, num } from './format.js';
import { table } from './page.js';

/** The per-location table, or null for a run on the server's own engine. */
export function locationsCard(s) {
  const locs = s && s.locations;
  if (!locs || !Object.keys(locs).length) return null;
  const cells = (f) => [int(f.requests), int(f.failures), ms(f.p50_ms), ms(f.p95_ms), ms(f.p99_ms)]
    .map((v, i) => h('td', { class: 'num', dataset: { label: ['Requests', 'Failures', 'p50', 'p95', 'p99'][i] } }, v));
  const rows = [];
  for (const loc of Object.keys(locs).sort()) {
    const f = locs[loc];
    rows.push(h('tr', { class: 'loc-row', dataset: { location: loc } }, h('td', { class: 'strong' }, loc), cells(f)));
    for (const name of Object.keys(f.names || {}).sort()) {
      rows.push(h('tr', { class: 'loc-name', dataset: { location: loc, name } }, h('td', name), cells(f.names[name])));
    }
  }
  return h('section', { class: 'card card-flush locations-card' }, h('h2', { class: 'card-title' }, 'Per location'),
    table([['Location / request name'], ['Requests', 'num'], ['Failures', 'num'], ['p50', 'num'], ['p95', 'num'], ['p99', 'num']],
      h('tbody', rows), { caption: 'Figures per location', className: 'locations-table' }));
}

/** The agents' health over the run, or null. cpu is in percent of one core (the peak). */
export function agentsCard(s) {
  const list = s && Array.isArray(s.agents) ? s.agents : [];
  if (!list.length) return null;
  const why = { cpu: 'its CPU was busy', 'timer lag': 'its timers fired late' };
  return h('section', { class: 'card card-flush agents-card' }, h('h2', { class: 'card-title' }, 'Agents of the run'),
    table([['Agent'], ['Location'], ['CPU (peak)', 'num'], ['Timer lag (max)', 'num'], ['Dropped', 'num'], ['Bottleneck']],
      h('tbody', list.map((a) => h('tr', { dataset: { agent: a.name } }, h('td', { class: 'strong' }, a.name), h('td', a.location),
        h('td', { class: 'num' }, `${Math.round(a.cpu)}%`), h('td', { class: 'num' }, `${num(a.lag_ms_max)} ms`), h('td', { class: 'num' }, int(a.dropped)),
        h('td', a.bottleneck ? h('span', { class: 'bottleneck' }, `this agent (${why[a.bottleneck] || a.bottleneck})`) : '–')))),
      { caption: 'Agents of the run', className: 'run-agents-table' }));
}

/** Notes above the report: a generator-bound agent, and the agents a degraded run lost. */
export function agentNotes(run) {
  const s = run.summary;
  const notes = [];
  const bound = (s && Array.isArray(s.agents) ? s.agents : []).filter((a) => a.bottleneck);
  if (bound.length) {
    notes.push(h('div', { class: 'alert alert-warn', role: 'status' }, h('strong', 'An agent, not the target, was the bottleneck: '),
      bound.map((a) => `${a.name} (${a.location}, ${a.bottleneck})`).join('; '), '. Its figures show the generator as much as the target.'));
  }
  const lost = Array.isArray(run.agents_lost) ? run.agents_lost : (s && Array.isArray(s.agents_lost) ? s.agents_lost : []);
  if (lost.length) {
    notes.push(h('div', { class: 'alert alert-warn agents-lost', role: 'status' }, h('strong', 'Agents lost: '),
      h('ul', lost.map((l) => h('li', { dataset: { agent: l.name } }, `${l.name} (${l.location}) at second ${l.second}`))),
      'What they had sent but not yet reported is missing from the results.'));
  }
  return notes;
}
