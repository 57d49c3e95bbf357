// settings.js - the admin's settings (#/settings): users and roles, API tokens, the target
// allowlist, caps per role and the audit log with filters. Every section is one REST
// resource (docs/api.md, docs/security.md); a failed request says why beside its form.
import { h, mount, uid, toast, confirmDialog, dialog } from '../dom.js';
import { API, get, post, put, del, session, ApiError } from '../api.js';
import { when } from '../format.js';
import { ready, pageHeader, errorBox, table } from '../page.js';

const ROLES = ['admin', 'tester', 'viewer'];
const CAPS = [['max_vus', 'Max VUs'], ['max_rate', 'Max rate (/s)'], ['max_duration_s', 'Max duration (s)'], ['max_concurrent_runs', 'Max concurrent runs']];
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
  const usersBox = h('div', {}), tokensBox = h('div', {}), allowBox = h('div', {}), capsBox = h('div', {}), auditBox = h('div', {});
  mount(main, h('section', { class: 'page settings-page' },
    pageHeader('Settings', 'Users, API tokens, the target allowlist, caps per role and the audit log.'),
    h('nav', { class: 'toc', 'aria-label': 'Settings sections' },
      [['set-users', 'Users'], ['set-tokens', 'API tokens'], ['set-allow', 'Target allowlist'], ['set-caps', 'Caps'], ['set-audit', 'Audit log']]
        .map(([id, t]) => h('a', { href: `#/settings`, dataset: { target: id }, on: { click: (e) => { e.preventDefault(); document.getElementById(id).scrollIntoView(); document.getElementById(`${id}-title`).focus(); } } }, t))),
    card('set-users', 'Users and roles', usersBox),
    card('set-tokens', 'API tokens', tokensBox),
    card('set-allow', 'Target allowlist', allowBox),
    card('set-caps', 'Caps per role', capsBox),
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

  await Promise.all([loadUsers(), loadTokens(), loadAllow(), loadCaps(), loadAudit()]);
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
