// agenttokens.js - the agent tokens (docs/distributed.md): an admin creates one (the secret is
// shown once, with a copy button), lists them and revokes them; a revoked token's agents are
// dropped at once. Shown in Settings and on the Agents page, one REST resource
// (/api/v1/agent-tokens). Under --no-auth there are none: loopback agents need no token.
import { h, mount, uid, toast, confirmDialog } from './dom.js';
import { API, get, post, del, session, ApiError } from './api.js';
import { when } from './format.js';
import { errorBox, table } from './page.js';

function msg(e) {
  if (e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length) return e.body.errors.map((x) => (x.path ? `${x.path}: ${x.message}` : x.message)).join('; ');
  return e.message;
}

/** Fills box with the agent tokens and their form; onChange is called after a create or revoke. */
export async function agentTokens(box, { onChange } = {}) {
  if (!session.auth) {
    mount(box, h('p', { class: 'muted' }, 'Access control is off (--no-auth): agents on this machine connect without a token, and no other agent can.'));
    return;
  }
  let list;
  try { list = (await get(`${API}/agent-tokens`)).items; } catch (e) { mount(box, errorBox(msg(e))); return; }
  const name = h('input', { type: 'text', autocomplete: 'off', id: uid() });
  const out = h('div', { 'aria-live': 'polite' });
  const add = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create agent token');
  const reload = () => agentTokens(box, { onChange });
  const form = h('form', { class: 'inline-form', on: { submit: async (e) => {
    e.preventDefault();
    add.disabled = true;
    try {
      const r = await post(`${API}/agent-tokens`, { name: name.value });
      await reload();
      if (onChange) onChange();
      const shown = h('input', { type: 'text', readonly: true, value: r.token, class: 'mono token-value', 'aria-label': `The agent token ${r.name}` });
      box.prepend(h('div', { class: 'alert alert-ok token-once', role: 'status' },
        h('p', h('strong', `Agent token “${r.name}” created. Copy it now: it is not shown again.`)),
        h('p', { class: 'small' }, 'Give it to the agents with ', h('code', '--token'), ' (or the Secret stampede-agent-token).'), shown,
        h('button', { type: 'button', class: 'btn btn-small', on: { click: async () => { try { await navigator.clipboard.writeText(r.token); toast('Copied.', 'success'); } catch { shown.select(); } } } }, 'Copy')));
      shown.focus(); shown.select();
    } catch (err) { mount(out, errorBox(msg(err))); add.disabled = false; }
  } } }, h('div', { class: 'field' }, h('label', { for: name.id }, 'Agent token name'), name), add);
  mount(box, list.length ? table([['Name'], ['Prefix'], ['Created by'], ['Created'], ['Last used'], ['State'], ['Actions', 'actions']], h('tbody', list.map((t) => h('tr', { dataset: { agentToken: String(t.id) } },
    h('td', { class: 'strong' }, t.name), h('td', { class: 'mono' }, t.prefix || ''), h('td', t.created_by || ''), h('td', when(t.created_at)),
    h('td', t.last_used_at ? when(t.last_used_at) : '–'), h('td', h('span', { class: ['badge', t.state === 'active' ? 'st-passed' : 'st-stopped'] }, t.state || '')),
    h('td', { class: 'actions' }, t.state === 'active' ? h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Revoke agent token ${t.name}`, on: { click: async () => {
      if (!(await confirmDialog('Revoke agent token', `Revoke “${t.name}”? Agents connected with it are dropped at once and cannot reconnect.`, 'Revoke'))) return;
      try { await del(`${API}/agent-tokens/${t.id}`); toast(`Revoked “${t.name}”.`, 'success'); await reload(); if (onChange) onChange(); } catch (e) { toast(msg(e), 'error'); }
    } } }, 'Revoke') : null)))), { caption: 'Agent tokens', className: 'agent-tokens-table' })
    : h('p', { class: 'muted' }, 'No agent tokens yet.'), form, out);
}
