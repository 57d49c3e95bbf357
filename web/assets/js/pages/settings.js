// settings.js - the admin's settings (#/settings): users and roles, API tokens, the target
// allowlist, caps per role, webhooks (their allowlist and the delivery log, with Resend) and
// the audit log with filters. Every section is one REST resource (docs/api.md,
// docs/security.md, docs/api-webhooks.md); a failed request says why beside its form.
import { h, mount, uid, toast, confirmDialog, dialog } from '../dom.js';
import { API, get, post, put, del, session, ApiError } from '../api.js';
import { when } from '../format.js';
import { ready, pageHeader, errorBox, table } from '../page.js';
import { agentTokens } from '../agenttokens.js';

const ROLES = ['admin', 'tester', 'viewer'];
const CAPS = [['max_vus', 'Max VUs'], ['max_rate', 'Max rate (/s)'], ['max_duration_s', 'Max duration (s)'], ['max_concurrent_runs', 'Max concurrent runs']];
const EVENTS = [['run.ended', 'Run ended'], ['run.failed', 'Run failed'], ['run.regressed', 'Run regressed (once baselines exist)'],
  ['run.aborted', 'Run aborted'], ['agent.lost', 'Agent lost (once agents exist)']];
const EXPIRY = [['', 'never'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days'], ['7776000', '90 days'], ['31536000', '1 year']];

function msg(e) {
  if (e instanceof ApiError && Array.isArray(e.body.errors) && e.body.errors.length) return e.body.errors.map((x) => (x.path ? `${x.path}: ${x.message}` : x.message)).join('; ');
  return e.path ? `${e.path}: ${e.message}` : e.message;
}

function labelled(label, input) {
  if (!input.id) input.id = uid();
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

function card(id, title, ...children) {
  return h('section', { class: 'card settings-card', id, 'aria-labelledby': `${id}-title` }, h('h2', { class: 'card-title', id: `${id}-title` }, title), children);
}

export async function render(main, ctx) {
  const usersBox = h('div', {}), tokensBox = h('div', {}), agentTokensBox = h('div', {}), allowBox = h('div', {}), capsBox = h('div', {}), auditBox = h('div', {});
  const hooksBox = h('div', {}), hookAllowBox = h('div', {}), deliveriesBox = h('div', {});
  mount(main, h('section', { class: 'page settings-page' },
    pageHeader('Settings', 'Users, API tokens, agent tokens, the target allowlist, caps per role, webhooks and the audit log.'),
    h('nav', { class: 'toc', 'aria-label': 'Settings sections' },
      [['set-users', 'Users'], ['set-tokens', 'API tokens'], ['set-agent-tokens', 'Agent tokens'], ['set-allow', 'Target allowlist'], ['set-caps', 'Caps'], ['set-hooks', 'Webhooks'], ['set-audit', 'Audit log']]
        .map(([id, t]) => h('a', { href: `#/settings`, dataset: { target: id }, on: { click: (e) => { e.preventDefault(); document.getElementById(id).scrollIntoView(); document.getElementById(`${id}-title`).focus(); } } }, t))),
    card('set-users', 'Users and roles', usersBox),
    card('set-tokens', 'API tokens', tokensBox),
    card('set-agent-tokens', 'Agent tokens', h('p', { class: 'hint' }, 'Agents (', h('a', { href: '#/agents' }, 'the Agents page'), ') connect with these: they may register and take work, nothing else.'), agentTokensBox),
    card('set-allow', 'Target allowlist', allowBox),
    card('set-caps', 'Caps per role', capsBox),
    card('set-hooks', 'Webhooks', hooksBox, h('h3', 'Webhook allowlist'), hookAllowBox, h('h3', 'Delivery log'), deliveriesBox),
    card('set-audit', 'Audit log', auditBox)));
  for (const t of main.querySelectorAll('.card-title')) t.tabIndex = -1;

  // ---- users ----
  async function loadUsers() {
    let list;
    try { list = (await get(`${API}/users`)).items; } catch (e) { mount(usersBox, errorBox(msg(e))); return; }
    const name = h('input', { type: 'text', autocomplete: 'off' });
    const pw = h('input', { type: 'password', autocomplete: 'new-password' });
    const role = h('select', ROLES.map((r) => h('option', { value: r }, r)));
    role.value = 'viewer';
    const out = h('div', { 'aria-live': 'polite' });
    const add = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create user');
    const form = h('form', { class: 'inline-form', on: { submit: async (e) => {
      e.preventDefault();
      add.disabled = true;
      try {
        await post(`${API}/users`, { name: name.value, password: pw.value, role: role.value });
        toast(`Created ${name.value} (${role.value}).`, 'success');
        await loadUsers();
      } catch (err) { mount(out, errorBox(msg(err))); } finally { add.disabled = false; }
    } } }, labelled('New user name', name), labelled('Password', pw), labelled('Role', role), add);
    mount(usersBox, table([['User'], ['Role'], ['Created'], ['Actions', 'actions']], h('tbody', list.map((u) => {
      const rs = h('select', { 'aria-label': `Role of ${u.name}` }, ROLES.map((r) => h('option', { value: r }, r)));
      rs.value = u.role;
      rs.addEventListener('change', async () => {
        try { await put(`${API}/users/${encodeURIComponent(u.name)}`, { role: rs.value }); toast(`${u.name} is now ${rs.value}.`, 'success'); } catch (e) { toast(msg(e), 'error'); rs.value = u.role; }
      });
      return h('tr', { dataset: { user: u.name } }, h('td', { class: 'strong' }, u.name, u.password_generated ? h('span', { class: 'muted small' }, ' (generated password)') : null), h('td', rs), h('td', when(u.created_at)),
        h('td', { class: 'actions' }, h('div', { class: 'btn-row' },
          h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Reset the password of ${u.name}`, on: { click: () => resetPassword(u.name) } }, 'Reset password'),
          u.name === (session.user && session.user.name) ? null
            : h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Delete user ${u.name}`, on: { click: async () => {
              if (!(await confirmDialog('Delete user', `Delete ${u.name}? Their sessions and tokens end.`))) return;
              try { await del(`${API}/users/${encodeURIComponent(u.name)}`); toast(`Deleted ${u.name}.`, 'success'); loadUsers(); loadTokens(); } catch (e) { toast(msg(e), 'error'); }
            } } }, 'Delete'))));
    })), { caption: 'Users', className: 'users-table' }), form, out);
  }

  function resetPassword(name) {
    const pw = h('input', { type: 'password', autocomplete: 'new-password' });
    const out = h('div', { 'aria-live': 'polite' });
    const ok = h('button', { type: 'button', class: 'btn btn-primary', on: { click: async () => {
      try { await put(`${API}/users/${encodeURIComponent(name)}`, { password: pw.value }); d.close(); toast(`The password of ${name} was changed; their sessions ended.`, 'success'); } catch (e) { mount(out, errorBox(msg(e))); }
    } } }, 'Set password');
    const d = dialog(`Reset the password of ${name}`, [labelled('New password (8 to 256 bytes)', pw), out],
      [h('button', { type: 'button', class: 'btn', on: { click: () => d.close() } }, 'Cancel'), ok]);
    pw.focus();
  }

  // ---- tokens ----
  async function loadTokens() {
    let list;
    try { list = (await get(`${API}/tokens`)).items; } catch (e) { mount(tokensBox, errorBox(msg(e))); return; }
    const name = h('input', { type: 'text', autocomplete: 'off' });
    const exp = h('select', EXPIRY.map(([v, l]) => h('option', { value: v }, l)));
    const out = h('div', { 'aria-live': 'polite' });
    const add = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create token');
    const form = h('form', { class: 'inline-form', on: { submit: async (e) => {
      e.preventDefault();
      const body = { name: name.value };
      if (exp.value) body.expires_in_s = Number(exp.value);
      try {
        const r = await post(`${API}/tokens`, body);
        await loadTokens();
        const shown = h('input', { type: 'text', readonly: true, value: r.token, class: 'mono token-value', 'aria-label': `The token ${r.name}` });
        tokensBox.prepend(h('div', { class: 'alert alert-ok token-once', role: 'status' },
          h('p', h('strong', `Token “${r.name}” created. Copy it now: it is not shown again.`)), shown,
          h('button', { type: 'button', class: 'btn btn-small', on: { click: async () => { try { await navigator.clipboard.writeText(r.token); toast('Copied.', 'success'); } catch { shown.select(); } } } }, 'Copy')));
        shown.focus(); shown.select();
      } catch (err) { mount(out, errorBox(msg(err))); }
    } } }, labelled('Token name', name), labelled('Expires', exp), add);
    mount(tokensBox, list.length ? table([['Name'], ['User'], ['Prefix'], ['Created'], ['Expires'], ['Last used'], ['State'], ['Actions', 'actions']], h('tbody', list.map((t) => h('tr', { dataset: { token: String(t.id) } },
      h('td', { class: 'strong' }, t.name), h('td', t.user), h('td', { class: 'mono' }, t.prefix || ''), h('td', when(t.created_at)), h('td', t.expires_at ? when(t.expires_at) : 'never'),
      h('td', t.last_used_at ? when(t.last_used_at) : '–'), h('td', h('span', { class: ['badge', t.state === 'active' ? 'st-passed' : 'st-stopped'] }, t.state || '')),
      h('td', { class: 'actions' }, t.state === 'active' ? h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Revoke token ${t.name}`, on: { click: async () => {
        if (!(await confirmDialog('Revoke token', `Revoke “${t.name}”? Requests with it are refused from now on.`, 'Revoke'))) return;
        try { await del(`${API}/tokens/${t.id}`); toast(`Revoked “${t.name}”.`, 'success'); loadTokens(); } catch (e) { toast(msg(e), 'error'); }
      } } }, 'Revoke') : null)))), { caption: 'API tokens', className: 'tokens-table' })
      : h('p', { class: 'muted' }, 'No API tokens yet.'), form, out);
  }

  // ---- allowlist ----
  async function loadAllow() {
    let entries;
    try { entries = (await get(`${API}/settings/allowlist`)).entries; } catch (e) { mount(allowBox, errorBox(msg(e))); return; }
    const ta = h('textarea', { class: 'code', rows: 5, spellcheck: 'false' });
    ta.value = entries.join('\n');
    const out = h('div', { 'aria-live': 'polite' });
    const save = h('button', { type: 'button', class: 'btn btn-primary', on: { click: async () => {
      const list = ta.value.split('\n').map((s) => s.trim()).filter(Boolean);
      try {
        const r = await put(`${API}/settings/allowlist`, { entries: list });
        ta.value = r.entries.join('\n');
        mount(out, h('div', { class: 'alert alert-ok' }, r.entries.length ? `Saved: ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'}.` : 'Saved: the list is empty, every target is allowed.'));
      } catch (e) {
        mount(out, h('div', { class: 'alert alert-error', role: 'alert' }, e instanceof ApiError && Array.isArray(e.body.errors)
          ? h('ul', { class: 'error-list' }, e.body.errors.map((x) => { const m = /^entries\[(\d+)\]$/.exec(x.path || ''); return h('li', m ? `line ${Number(m[1]) + 1} (${list[Number(m[1])]}): ${x.message}` : msg(e)); }))
          : msg(e)));
      }
    } } }, 'Save allowlist');
    mount(allowBox, h('p', { class: 'hint' }, 'One entry a line: an address or network (127.0.0.0/8, ::1), a host and port (localhost:8090, [::1]:8090). Runs and tries may only reach these targets; an empty list allows every target.'),
      labelled('Allowed targets', ta), h('div', { class: 'btn-row' }, save), out);
  }

  // ---- caps ----
  async function loadCaps() {
    let caps;
    try { caps = await get(`${API}/settings/caps`); } catch (e) { mount(capsBox, errorBox(msg(e))); return; }
    const inputs = {};
    const out = h('div', { 'aria-live': 'polite' });
    const body = h('tbody', ROLES.map((r) => h('tr', h('th', { scope: 'row' }, r), CAPS.map(([k, label]) => {
      const inp = h('input', { type: 'number', min: 0, step: 1, value: String((caps[r] && caps[r][k]) || 0), 'aria-label': `${label} for ${r}`, class: 'num-input' });
      inputs[`${r}.${k}`] = inp;
      return h('td', inp);
    }))));
    const save = h('button', { type: 'button', class: 'btn btn-primary', on: { click: async () => {
      const b = {};
      for (const r of ROLES) { b[r] = {}; for (const [k] of CAPS) b[r][k] = Number(inputs[`${r}.${k}`].value || 0); }
      try { await put(`${API}/settings/caps`, b); mount(out, h('div', { class: 'alert alert-ok' }, 'Caps saved.')); } catch (e) { mount(out, errorBox(msg(e))); }
    } } }, 'Save caps');
    mount(capsBox, h('p', { class: 'hint' }, '0 means no cap (the server\'s own limits still apply).'),
      table([['Role'], ...CAPS.map(([, l]) => [l])], body, { caption: 'Caps per role', className: 'caps-table' }), h('div', { class: 'btn-row' }, save), out);
  }

  // ---- webhooks ----
  async function loadHooks() {
    let list;
    try { list = (await get(`${API}/webhooks`)).items; } catch (e) { mount(hooksBox, errorBox(msg(e))); return; }
    const url = h('input', { type: 'url', placeholder: 'https://hooks.example.com/stampede', autocomplete: 'off' });
    const name = h('input', { type: 'text', autocomplete: 'off' });
    const format = h('select', h('option', { value: 'stampede' }, 'Stampede JSON'), h('option', { value: 'slack' }, 'Slack-compatible'));
    const boxes = EVENTS.map(([ev, label]) => {
      const c = h('input', { type: 'checkbox', value: ev, checked: ev === 'run.ended' || ev === 'run.failed' });
      return { c, el: h('label', { class: 'check' }, c, ` ${label}`) };
    });
    const out = h('div', { 'aria-live': 'polite' });
    const add = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add webhook');
    const form = h('form', { class: 'webhook-form', on: { submit: async (e) => {
      e.preventDefault();
      const body = { url: url.value.trim(), events: boxes.filter((b) => b.c.checked).map((b) => b.c.value), format: format.value };
      if (name.value.trim()) body.name = name.value.trim();
      add.disabled = true;
      try {
        const r = await post(`${API}/webhooks`, body);
        await loadHooks();
        showSecret(r);
      } catch (err) { mount(out, errorBox(msg(err))); } finally { add.disabled = false; }
    } } }, h('div', { class: 'inline-form' }, labelled('Receiver URL', url), labelled('Name (optional)', name), labelled('Format', format)),
    h('fieldset', { class: 'events' }, h('legend', 'Events'), boxes.map((b) => b.el)), h('div', { class: 'btn-row' }, add), out);
    mount(hooksBox, h('p', { class: 'hint' }, 'Each delivery is a POST signed with the webhook\'s secret: X-Stampede-Signature-256 is sha256= and the HMAC-SHA256 of the body. Failed deliveries are retried with back-off for an hour.'),
      list.length ? table([['Name'], ['URL'], ['Events'], ['Format'], ['State'], ['Actions', 'actions']], h('tbody', list.map((w) => h('tr', { dataset: { webhook: String(w.id) } },
        h('td', { class: 'strong' }, w.name), h('td', { class: 'mono small' }, w.url), h('td', { class: 'small' }, w.events.join(', ')), h('td', w.format),
        h('td', h('span', { class: ['badge', w.enabled ? 'st-passed' : 'st-stopped'] }, w.enabled ? 'enabled' : 'disabled')),
        h('td', { class: 'actions' }, h('div', { class: 'btn-row' },
          h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Send a test delivery to ${w.name}`, on: { click: async () => {
            try { await post(`${API}/webhooks/${w.id}/ping`, undefined); toast(`Test delivery to ${w.name} sent.`, 'success'); setTimeout(loadDeliveries, 800); } catch (e) { toast(msg(e), 'error'); }
          } } }, 'Ping'),
          h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `${w.enabled ? 'Disable' : 'Enable'} ${w.name}`, on: { click: async () => {
            try { await put(`${API}/webhooks/${w.id}`, { enabled: !w.enabled }); loadHooks(); } catch (e) { toast(msg(e), 'error'); }
          } } }, w.enabled ? 'Disable' : 'Enable'),
          h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `New secret for ${w.name}`, on: { click: async () => {
            if (!(await confirmDialog('New secret', `Make a new secret for “${w.name}”? The receiver must check signatures with the new one from now on.`, 'Make a new secret', false))) return;
            try { showSecret(await put(`${API}/webhooks/${w.id}`, { rotate_secret: true })); } catch (e) { toast(msg(e), 'error'); }
          } } }, 'New secret'),
          h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Delete webhook ${w.name}`, on: { click: async () => {
            if (!(await confirmDialog('Delete webhook', `Delete “${w.name}” and its delivery log?`))) return;
            try { await del(`${API}/webhooks/${w.id}`); toast(`Deleted ${w.name}.`, 'success'); loadHooks(); loadDeliveries(); } catch (e) { toast(msg(e), 'error'); }
          } } }, 'Delete')))))), { caption: 'Webhooks', className: 'webhooks-table' })
        : h('p', { class: 'muted' }, 'No webhooks yet.'), form);
  }

  function showSecret(w) {
    const shown = h('input', { type: 'text', readonly: true, value: w.secret, class: 'mono webhook-secret', 'aria-label': `The secret of ${w.name}` });
    hooksBox.prepend(h('div', { class: 'alert alert-ok secret-once', role: 'status' },
      h('p', h('strong', `The secret of “${w.name}”. Copy it now: it is not shown again.`)), shown));
    shown.focus(); shown.select();
  }

  async function loadHookAllow() {
    let entries;
    try { entries = (await get(`${API}/settings/webhook-allowlist`)).entries; } catch (e) { mount(hookAllowBox, errorBox(msg(e))); return; }
    const ta = h('textarea', { class: 'code', rows: 3, spellcheck: 'false' });
    ta.value = entries.join('\n');
    const out = h('div', { 'aria-live': 'polite' });
    const save = h('button', { type: 'button', class: 'btn btn-primary', on: { click: async () => {
      const list = ta.value.split('\n').map((s) => s.trim()).filter(Boolean);
      try {
        const r = await put(`${API}/settings/webhook-allowlist`, { entries: list });
        mount(out, h('div', { class: 'alert alert-ok' }, r.entries.length ? `Saved: ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'}.` : 'Saved: the list is empty, webhooks may reach any address.'));
      } catch (e) { mount(out, errorBox(msg(e))); }
    } } }, 'Save webhook allowlist');
    mount(hookAllowBox, h('p', { class: 'hint' }, 'The addresses webhooks may reach, one a line, as in the target allowlist (which does not apply to webhooks). Checked after DNS on every connection; an empty list allows every address.'),
      labelled('Allowed receivers', ta), h('div', { class: 'btn-row' }, save), out);
  }

  async function loadDeliveries() {
    let items;
    try { items = (await get(`${API}/webhooks/deliveries?limit=50`)).items; } catch (e) { mount(deliveriesBox, errorBox(msg(e))); return; }
    const refresh = h('button', { type: 'button', class: 'btn btn-small', on: { click: loadDeliveries } }, 'Refresh');
    const stateClass = { delivered: 'st-passed', pending: 'st-running', failed: 'st-failed' };
    mount(deliveriesBox, h('div', { class: 'btn-row' }, refresh), items.length ? table([['When'], ['Webhook'], ['Event'], ['Run'], ['State'], ['Attempts', 'num'], ['Last answer'], ['Actions', 'actions']],
      h('tbody', items.map((d) => h('tr', { dataset: { delivery: String(d.id) } },
        h('td', { class: 'nowrap' }, when(d.created_at)), h('td', d.webhook_name), h('td', h('code', d.event)),
        h('td', d.run_id ? h('a', { href: `#/runs/${d.run_id}` }, `#${d.run_id}`) : '–'),
        h('td', h('span', { class: ['badge', stateClass[d.state] || 'st-unknown'] }, d.state), d.redelivery_of ? h('span', { class: 'muted small' }, ` (resent #${d.redelivery_of})`) : null),
        h('td', { class: 'num' }, String(d.attempts)),
        h('td', d.last_status ? `HTTP ${d.last_status}` : '–', d.last_ms !== null && d.last_ms !== undefined ? h('span', { class: 'muted small' }, ` in ${d.last_ms} ms`) : null,
          d.last_error ? h('div', { class: 'delivery-error' }, d.last_error) : null,
          d.state === 'pending' && d.next_attempt_at ? h('div', { class: 'muted small' }, `next attempt ${when(d.next_attempt_at)}`) : null),
        h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Resend delivery ${d.id}`, on: { click: async () => {
          try { const r = await post(`${API}/webhooks/deliveries/${d.id}/resend`, undefined); toast(`Sent again as delivery #${r.id}.`, 'success'); setTimeout(loadDeliveries, 800); } catch (e) { toast(msg(e), 'error'); }
        } } }, 'Resend'))))), { caption: 'Webhook deliveries', className: 'deliveries-table' })
      : h('p', { class: 'muted' }, 'No deliveries yet.'));
  }

  // ---- audit ----
  const fUser = h('input', { type: 'text' }), fAction = h('input', { type: 'text', placeholder: 'run, test.save, auth.login…' });
  const fSince = h('input', { type: 'date' }), fUntil = h('input', { type: 'date' });
  const auditList = h('div', { 'aria-live': 'polite' });
  async function loadAudit() {
    const qs = new URLSearchParams({ limit: '200' });
    if (fUser.value.trim()) qs.set('user', fUser.value.trim());
    if (fAction.value.trim()) qs.set('action', fAction.value.trim());
    if (fSince.value) qs.set('since', String(new Date(`${fSince.value}T00:00:00`).getTime()));
    if (fUntil.value) qs.set('until', String(new Date(`${fUntil.value}T23:59:59.999`).getTime()));
    let entries;
    try { entries = (await get(`${API}/audit?${qs}`)).entries; } catch (e) { mount(auditList, errorBox(msg(e))); return; }
    mount(auditList, entries.length ? table([['When'], ['User'], ['Address'], ['Action'], ['Object'], ['Detail']], h('tbody', entries.map((x) => h('tr',
      h('td', { class: 'nowrap' }, when(x.at)), h('td', x.user || '–'), h('td', { class: 'mono small' }, x.address || ''), h('td', h('code', x.action)), h('td', x.object || ''),
      h('td', { class: 'small' }, typeof x.detail === 'string' ? x.detail : x.detail ? JSON.stringify(x.detail) : '')))), { caption: 'Audit log', className: 'audit-table' })
      : h('p', { class: 'muted' }, 'No entries match.'));
  }
  mount(auditBox, h('form', { class: 'inline-form filters', on: { submit: (e) => { e.preventDefault(); loadAudit(); } } },
    labelled('User', fUser), labelled('Action', fAction), labelled('From', fSince), labelled('To', fUntil),
    h('button', { type: 'submit', class: 'btn' }, 'Filter')), auditList);

  await Promise.all([loadUsers(), loadTokens(), agentTokens(agentTokensBox), loadAllow(), loadCaps(), loadHooks(), loadHookAllow(), loadDeliveries(), loadAudit()]);
  // #/settings?section=allowlist (the notice under the top bar links there): that section.
  const section = { allowlist: 'set-allow', users: 'set-users', tokens: 'set-tokens', caps: 'set-caps', audit: 'set-audit' }[ctx && ctx.query.get('section')];
  if (section) {
    document.getElementById(section).scrollIntoView();
    const area = document.querySelector(`#${section} textarea`);
    (area || document.getElementById(`${section}-title`)).focus();
  }
  ready('settings');
  return () => {};
}
