// access.test.mjs - the dashboard under access control: a wrong password is refused on the
// login page, the admin signs in and out, a viewer sees no Start, Delete or New test control
// and the API refuses the viewer's start anyway. Needs a build with access control (issue 6);
// without it /auth/me is 404 and the test says so and skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startShop } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, apiClient, hasAuth, waitReady, shot, ADMIN_PASSWORD } from '../lib/browser.mjs';

let skip = skipReason() || false;
let shop, srv, browser, page;
const errors = [];

before(async () => {
  if (skip) return;
  shop = await startShop();
  srv = await startServer(['--shop-url', shop.url], { liveUrl: true });
  if (!(await hasAuth(srv))) {
    skip = 'this build has no access control (GET /api/v1/auth/me is 404)';
    return;
  }
  browser = await launch();
  page = await newPage(browser, errors);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

async function signIn(user, password) {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('sign in and out; a viewer can look but not start, and the API agrees', async (t) => {
  if (skip) { t.skip(skip); return; }
  const admin = await apiClient(srv);
  const made = await admin('POST', '/api/v1/users', { name: 'vera', password: 'viewer-pw-12345', role: 'viewer' });
  assert.equal(made.status, 201, made.text);

  // No session: every page leads to the login page, which remembers where the user was going.
  await page.goto(`${srv.base}/#/runs`);
  await waitReady(page, 'login');
  assert.match(page.url(), /#\/login\?next=%2Fruns/);
  await shot(page, 'login');
  await signIn('admin', 'not-the-password');
  await page.locator('.form-error', { hasText: 'The user name or password is wrong.' }).waitFor();

  // The admin lands where they were going, sees every control, and signs out.
  await signIn('admin', ADMIN_PASSWORD);
  await waitReady(page, 'history');
  await page.getByRole('link', { name: 'Tests' }).click();
  await waitReady(page, 'tests');
  assert.ok(await page.getByRole('button', { name: /^Start / }).count() > 0);
  assert.equal(await page.getByRole('link', { name: 'New test' }).count(), 1);
  assert.equal(await page.getByRole('button', { name: 'Paste JSON' }).count(), 1);
  assert.match(await page.locator('#who').innerText(), /admin/i);
  // No target allowlist yet: the admin is told; once one is set, the notice is gone.
  await page.locator('#notice', { hasText: 'No target allowlist is set' }).waitFor();
  const set = await admin('PUT', '/api/v1/settings/allowlist', { entries: ['127.0.0.0/8'] });
  assert.equal(set.status, 200, set.text);
  await page.reload();
  await waitReady(page, 'tests');
  assert.equal(await page.locator('#notice').isHidden(), true);
  await page.getByRole('button', { name: 'Log out' }).click();
  await waitReady(page, 'login');
  await page.goto(`${srv.base}/#/tests`);
  await waitReady(page, 'login');

  // A viewer: the lists, no control that changes anything.
  await signIn('vera', 'viewer-pw-12345');
  await waitReady(page, 'tests');
  assert.match(await page.locator('#who').innerText(), /vera[\s\S]*viewer/i);
  assert.ok(await page.locator('.tests-table tbody tr').count() > 0, 'a viewer sees the tests');
  assert.equal(await page.getByRole('button', { name: /^Start / }).count(), 0);
  assert.equal(await page.getByRole('button', { name: /^Delete / }).count(), 0);
  assert.equal(await page.getByRole('button', { name: /^Duplicate / }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'New test' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Paste JSON' }).count(), 0);
  await shot(page, 'viewer-tests');

  // The API refuses the viewer whatever the page shows: a start with the viewer's own session.
  const status = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/auth/me')).json();
    const r = await fetch('/api/v1/tests/1/runs', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: '{}' });
    return r.status;
  });
  assert.equal(status, 403);

  // A viewer watching a run the admin started sees it live, without Stop or change-load.
  const list = await admin('GET', '/api/v1/tests?per_page=1');
  const started = await admin('POST', `/api/v1/tests/${list.json.items[0].id}/runs`, { users: 1, duration: '3s' });
  assert.equal(started.status, 201, started.text);
  await page.goto(`${srv.base}/#/runs/${started.json.id}`);
  await waitReady(page, 'live');
  assert.equal(await page.getByRole('button', { name: 'Stop', exact: true }).count(), 0);
  assert.equal(await page.getByLabel('New users').count(), 0);
  await page.waitForFunction(() => Number(document.querySelector('figure.chart[aria-label="Requests per second"]')?.dataset.points) >= 1, null, { timeout: 10000 });
  // The stream was opened where the server said it is (live_url in GET /config).
  assert.match(await page.evaluate(() => window.stampedeLive && window.stampedeLive.url), /^ws:\/\/127\.0\.0\.1:\d+\/live\/$/);
  assert.equal(await page.locator('.conn').innerText(), 'Live');
  await waitReady(page, 'report', 20000);
  assert.deepEqual(errors, []);
});
