// agents.js - the Agents page (#/agents): every agent the server knows (GET /api/v1/agents)
// with its location, state (idle, running run N linked to its page, lost), version, cores,
// last heartbeat and clock offset, and while it runs its CPU, timer lag and dropped arrivals.
// It refreshes itself every 2 s, updating the rows in place. An admin also sees the agent
// tokens here and may revoke one (its agents are dropped at once) or create one.
import { h, mount, setText } from '../dom.js';
import { API, get, session } from '../api.js';
import { int, num } from '../format.js';
import { ready, pageHeader, errorBox, table, timeEl } from '../page.js';
import { agentTokens } from '../agenttokens.js';

const REFRESH_MS = 2000;
const COLS = [['Agent'], ['Location'], ['State'], ['Version'], ['Cores', 'num'], ['Last heartbeat'], ['Clock offset', 'num'], ['CPU', 'num'], ['Timer lag', 'num'], ['Dropped', 'num']];

function stateCell(a) {
  if (a.state === 'running' && a.run_id) return h('span', h('span', { class: ['badge', 'st-running'] }, 'running'), ' ', h('a', { href: `#/runs/${a.run_id}` }, `run ${a.run_id}`));
  return h('span', { class: ['badge', a.state === 'lost' ? 'st-error' : 'st-passed'] }, a.state || '–');
}

const orDash = (v, f) => (v === null || v === undefined ? '–' : f(v));

function row(a) {
  return h('tr', { dataset: { agent: a.name } },
    h('td', { class: 'strong' }, a.name), h('td', a.location), h('td', { class: 'agent-state' }, stateCell(a)),
    h('td', { class: 'small' }, a.version || ''), h('td', { class: 'num' }, int(a.cores)),
    h('td', timeEl(a.last_heartbeat ? Date.parse(a.last_heartbeat) : 0)),
    h('td', { class: 'num' }, orDash(a.clock_offset_ms, (v) => `${num(v)} ms`)),
    // cpu is in percent of one core, summed over the agent's threads (up to 100 x threads).
    h('td', { class: 'num agent-cpu' }, orDash(a.cpu, (v) => `${Math.round(v)}%`)),
    h('td', { class: 'num agent-lag' }, orDash(a.lag_ms, (v) => `${num(v)} ms`)),
    h('td', { class: 'num agent-dropped' }, orDash(a.dropped, int)));
}

export async function render(main) {
  const listBox = h('div', { 'aria-live': 'off' });
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const tokensBox = h('div', {});
  const admin = !session.user || session.user.role === 'admin';
  mount(main, h('section', { class: 'page agents-page' },
    pageHeader('Agents', 'Load generators on other machines and locations: runs across locations share their load among them.'),
    h('section', { class: 'card', 'aria-labelledby': 'agents-title' }, h('h2', { class: 'card-title', id: 'agents-title' }, 'Connected agents'), summary, listBox),
    admin ? h('section', { class: 'card', id: 'agent-tokens', 'aria-labelledby': 'agent-tokens-title' }, h('h2', { class: 'card-title', id: 'agent-tokens-title' }, 'Agent tokens'), tokensBox) : null));

  const body = h('tbody');
  let shown = false, timer = null, gone = false;
  async function load() {
    let list;
    try { list = (await get(`${API}/agents`)).agents; } catch (e) { if (!shown) mount(listBox, errorBox(`The agents cannot be listed: ${e.message}`)); return; }
    if (gone) return;
    if (!list.length) {
      mount(listBox, h('p', { class: 'empty-agents' }, 'No agent is connected. Start one with ', h('code', 'stampede agent --server URL --location NAME [--token TOKEN]'), ' (docs/distributed.md).'));
      shown = false;
    } else {
      // Rows are replaced in place, keyed by name, so the table does not jump while it refreshes.
      const old = new Map([...body.children].map((tr) => [tr.dataset.agent, tr]));
      const rows = list.map((a) => {
        const r = row(a);
        const o = old.get(a.name);
        if (o && o.innerHTML === r.innerHTML) return o;
        return r;
      });
      body.replaceChildren(...rows);
      if (!shown) { mount(listBox, table(COLS, body, { caption: 'Agents', className: 'agents-table' })); shown = true; }
    }
    const locs = new Map();
    for (const a of list) if (a.state !== 'lost') locs.set(a.location, (locs.get(a.location) || 0) + 1);
    setText(summary, list.length ? `${list.length} agent${list.length === 1 ? '' : 's'}; ready locations: ${[...locs].map(([l, n]) => `${l} (${n})`).join(', ') || 'none'}.` : '');
  }
  await Promise.all([load(), admin ? agentTokens(tokensBox, { onChange: load }) : null]);
  const tick = async () => { await load(); if (!gone) timer = setTimeout(tick, REFRESH_MS); };
  timer = setTimeout(tick, REFRESH_MS);
  ready('agents');
  return () => { gone = true; clearTimeout(timer); };
}
