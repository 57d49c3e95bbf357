// settings.test.mjs - the admin's settings page in Chromium against the real daemon: create a
// viewer, change a role, reset a password, create an API token (shown once) that works, revoke
// it (then it gets 401), set the target allowlist (a bad entry is named by its line), set caps,
// and filter the audit log. A viewer has no Settings link and no page. No load is sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipReason, launch, newPage, startServer, hasAuth, openDashboard, waitReady, shot } from '../lib/browser.mjs';

let skip = skipReason() || false;
let srv, browser, page;
const errors = [];

before(async () => {
  if (skip) return;
  srv = await startServer();
  if (!(await hasAuth(srv))) { skip = 'this build has no access control (GET /api/v1/auth/me is 404)'; return; }
  browser = await launch();
  page = await newPage(browser, errors);
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const bearer = (token) => fetch(`${srv.base}/api/v1/tests`, { headers: { Authorization: `Bearer ${token}` } }).then((r) => r.status);

test('an admin manages users, tokens, the allowlist, caps and reads the audit log', async (t) => {
  if (skip) { t.skip(skip); return; }
  await openDashboard(page, srv);
  await page.getByRole('link', { name: 'Settings' }).click();
  await waitReady(page, 'settings');

  // A viewer, then a tester, then a viewer again; a new password.
  const users = page.getByRole('region', { name: 'Users and roles' });
  await users.getByLabel('New user name').fill('vic');
  await users.getByLabel('Password', { exact: true }).fill('viewer-pass-123');
  await users.getByLabel('Role', { exact: true }).selectOption('viewer');
  await users.getByRole('button', { name: 'Create user' }).click();
  await users.locator('tr[data-user="vic"]').waitFor();
  await users.getByLabel('Role of vic').selectOption('tester');
  await page.locator('.toast', { hasText: 'vic is now tester' }).waitFor();
  await users.getByLabel('Role of vic').selectOption('viewer');
  await page.locator('.toast', { hasText: 'vic is now viewer' }).waitFor();
  await users.getByRole('button', { name: 'Reset the password of vic' }).click();
  await page.getByRole('dialog').getByLabel('New password (8 to 256 bytes)').fill('viewer-pass-456');
  await page.getByRole('dialog').getByRole('button', { name: 'Set password' }).click();
  await page.locator('.toast', { hasText: 'The password of vic was changed' }).waitFor();
  const login = await fetch(`${srv.base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'vic', password: 'viewer-pass-456' }) });
  assert.equal(login.status, 200);
  assert.equal((await login.json()).user.role, 'viewer');

  // A token: shown once, works, is revoked, then refused.
  const tokens = page.getByRole('region', { name: 'API tokens' });
  await tokens.getByLabel('Token name').fill('ci pipeline');
  await tokens.getByLabel('Expires').selectOption('2592000');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const shown = tokens.getByLabel('The token ci pipeline');
  await shown.waitFor();
  const token = await shown.inputValue();
  assert.ok(token.length >= 20, token);
  assert.equal(await bearer(token), 200);
  await shot(page, 'settings');
  await tokens.getByRole('button', { name: 'Revoke token ci pipeline' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('.toast', { hasText: 'Revoked “ci pipeline”' }).waitFor();
  await tokens.locator('tr', { hasText: 'ci pipeline' }).locator('.badge', { hasText: /revoked/ }).waitFor();
  assert.equal(await bearer(token), 401);

  // The allowlist: a bad entry is named by its line; a good list is stored.
  const allow = page.getByRole('region', { name: 'Target allowlist' });
  await allow.getByLabel('Allowed targets').fill('127.0.0.0/8\n10.0.0.0/40');
  await allow.getByRole('button', { name: 'Save allowlist' }).click();
  await allow.locator('.alert-error', { hasText: 'line 2 (10.0.0.0/40)' }).waitFor();
  await allow.getByLabel('Allowed targets').fill('127.0.0.0/8\nlocalhost:8090');
  await allow.getByRole('button', { name: 'Save allowlist' }).click();
  await allow.locator('.alert-ok', { hasText: 'Saved: 2 entries' }).waitFor();

  // Caps.
  const caps = page.getByRole('region', { name: 'Caps per role' });
  await caps.getByLabel('Max VUs for tester').fill('50');
  await caps.getByRole('button', { name: 'Save caps' }).click();
  await caps.locator('.alert-ok', { hasText: 'Caps saved' }).waitFor();
  const capsNow = await page.evaluate(async () => (await fetch('/api/v1/settings/caps')).json());
  assert.equal(capsNow.tester.max_vus, 50);

  // The audit log, filtered by action and by user.
  const audit = page.getByRole('region', { name: 'Audit log' });
  await audit.getByLabel('Action').fill('token');
  await audit.getByRole('button', { name: 'Filter' }).click();
  await audit.locator('.audit-table tbody tr', { hasText: 'token.revoke' }).waitFor();
  const actions = await audit.locator('.audit-table tbody td code').allInnerTexts();
  assert.ok(actions.length >= 2 && actions.every((a) => a.startsWith('token.')), actions.join());
  await audit.getByLabel('Action').fill('');
  await audit.getByLabel('User').fill('vic');
  await audit.getByRole('button', { name: 'Filter' }).click();
  await audit.locator('.audit-table tbody td code', { hasText: /^login$/ }).waitFor();
  const who = await audit.locator('.audit-table tbody tr td:nth-child(2)').allInnerTexts();
  assert.ok(who.every((u) => u === 'vic'), who.join());
  await shot(page, 'settings-audit');

  // The viewer: no Settings link, and the page says it is for admins.
  await page.getByRole('button', { name: 'Log out' }).click();
  await waitReady(page, 'login');
  await page.getByLabel('User name').fill('vic');
  await page.getByLabel('Password').fill('viewer-pass-456');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitReady(page, 'tests');
  assert.equal(await page.getByRole('link', { name: 'Settings', exact: true }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Import', exact: true }).count(), 0);
  await page.goto(`${srv.base}/#/settings`);
  await waitReady(page, 'forbidden');
  assert.deepEqual(errors, []);
});
