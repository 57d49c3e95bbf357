// editor.test.mjs - the test editor in Chromium against the real daemon and demo shop: the
// guide's authenticated shopper is built through the form alone (a login in on_start that
// extracts access_token and sets Authorization, weighted tasks, a threshold), an error is
// shown at its field as one types, the test is saved, tried (the login and its token are
// shown) and run to a pass; the JSON tab round-trips, keeping a field the form does not show;
// unsaved changes survive a reload and leaving asks first; revisions are diffed and the run
// links to its revision. Loads: 2 VUs for 4 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startShop } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, apiClient, openDashboard, waitReady, shot } from '../lib/browser.mjs';

let skip = skipReason() || false;
let shop, srv, browser, page;
const errors = [];

before(async () => {
  if (skip) return;
  shop = await startShop();
  srv = await startServer(['--shop-url', shop.url]);
  browser = await launch();
  page = await newPage(browser, errors);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

const at = (p) => page.locator(`[data-path="${p}"]`);
const input = (p) => page.locator(`[data-path="${p}"]`).first().locator('input, textarea').first();
const select = (p) => page.locator(`[data-path="${p}"] select`).first();
/** Clicks the add button that belongs to the list or fieldset at path p (its own, not a nested one's). */
const addIn = (p, name) => page.locator(`[data-path="${p}"] > button`, { hasText: name }).click();

async function fillKvRow(p, name, value) {
  await addIn(p, 'Add');
  const row = page.locator(`[data-path="${p}"] .kv-row`).last();
  await row.locator('input').nth(0).fill(name);
  await row.locator('input').nth(1).fill(value);
}

async function jsonTab() {
  await page.getByRole('tab', { name: 'JSON' }).click();
  return JSON.parse(await page.getByLabel('Definition (JSON)').inputValue());
}

test('the authenticated shopper, built in the form, saved, tried and run', async (t) => {
  if (skip) { t.skip(skip); return; }
  page.on('dialog', (d) => d.accept());
  await openDashboard(page, srv, undefined, undefined, '#/tests/new');
  await waitReady(page, 'editor');

  await input('name').fill('Authenticated shopper (form)');
  await input('base_url').fill(shop.url);
  await fillKvRow('headers', 'Accept', 'application/json');

  await input('users[0].name').fill('shopper');
  await select('users[0].think').selectOption('constant');
  await input('users[0].think.constant').fill('100ms');

  // on_start: the login, its check, the token and the header.
  await page.locator('details.on-start > summary').first().click();
  await addIn('users[0].on_start', 'Add on-start step');
  await input('users[0].on_start[0].request.url').fill('/api/v1/auth/login');
  await input('users[0].on_start[0].request.name').fill('POST /auth/login');
  await select('users[0].on_start[0].request.__body').selectOption('json');
  await input('users[0].on_start[0].request.json').fill('{"email": "sarah.chen@example.com", "password": "TestPass123!"}');
  await input('users[0].on_start[0].expect.status').fill('200');
  await addIn('users[0].on_start[0].extract', 'Add extraction');
  const ex = page.locator('[data-path="users[0].on_start[0].extract"] .extract-row').last();
  await ex.getByLabel('Variable').fill('token');
  await ex.getByLabel('Path').fill('access_token');
  await fillKvRow('users[0].on_start[0].set_headers', 'Authorization', 'Bearer {{token}}');

  // Two weighted tasks: the first was there, the second is added.
  await input('users[0].tasks[0].name').fill('view profile');
  await input('users[0].tasks[0].weight').fill('2');
  await input('users[0].tasks[0].request.url').fill('/api/v1/users/me');
  await input('users[0].tasks[0].request.name').fill('GET /users/me');
  await addIn('users[0].tasks', 'Add task');
  await input('users[0].tasks[1].name').fill('view cart');
  await input('users[0].tasks[1].weight').fill('3');
  await input('users[0].tasks[1].request.url').fill('/api/v1/cart');
  await input('users[0].tasks[1].request.name').fill('GET /cart');

  await input('load.users').fill('2');
  await input('load.duration').fill('4s');
  assert.equal(await at('load').locator('.load-chart').getAttribute('data-points'), '3');

  // A threshold with a mistake: the error appears at the field while typing, then is fixed.
  await addIn('thresholds', 'Add threshold');
  await input('thresholds[0]').fill('p95 < fast');
  await at('thresholds[0]').locator('.field-error').waitFor({ timeout: 5000 });
  assert.equal(await input('thresholds[0]').getAttribute('aria-invalid'), 'true');
  await shot(page, 'editor-errors');
  await input('thresholds[0]').fill('error_rate < 1%');
  await page.locator('.valid-mark').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('.field-error:visible').count(), 0);
  await shot(page, 'editor-form');

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/#\/tests\/\d+\/edit$/);
  await waitReady(page, 'editor');
  const id = Number(page.url().match(/#\/tests\/(\d+)\/edit/)[1]);
  const api = await apiClient(srv);
  const saved = (await api('GET', `/api/v1/tests/${id}`)).json.definition;
  assert.deepEqual(saved, {
    name: 'Authenticated shopper (form)', base_url: shop.url, headers: { Accept: 'application/json' },
    users: [{ name: 'shopper', think: { constant: '100ms' },
      on_start: [{ request: { method: 'POST', url: '/api/v1/auth/login', name: 'POST /auth/login', json: { email: 'sarah.chen@example.com', password: 'TestPass123!' } },
        expect: { status: 200 }, extract: { token: { json: 'access_token' } }, set_headers: { Authorization: 'Bearer {{token}}' } }],
      tasks: [{ name: 'view profile', weight: 2, request: { method: 'GET', url: '/api/v1/users/me', name: 'GET /users/me' } },
        { name: 'view cart', weight: 3, request: { method: 'GET', url: '/api/v1/cart', name: 'GET /cart' } }] }],
    load: { users: 2, duration: '4s' },
    thresholds: ['error_rate < 1%'],
  });

  // Try it (the saved test, by id): the login, the token it extracted, the tasks with the header.
  const tried = page.waitForRequest((r) => r.url().endsWith(`/api/v1/tests/${id}/try`));
  await page.getByRole('button', { name: 'Try it', exact: true }).first().click();
  await tried;
  await page.locator('.try-item').nth(2).waitFor({ timeout: 15000 });
  const login = page.locator('.try-item').first();
  assert.match(await login.innerText(), /POST \/auth\/login[\s\S]*200/);
  assert.equal(await login.locator('.try-extracted dt').innerText(), 'token');
  assert.match(await login.locator('.try-extracted dd').innerText(), /^[0-9a-f]{16,}$/);
  assert.equal(await page.locator('.try-item.try-pass').count(), 3);
  await page.locator('.try-item').nth(1).locator('summary', { hasText: 'Request' }).click();
  assert.match(await page.locator('.try-item').nth(1).locator('.try-headers').first().innerText(), /Authorization\s+Bearer [0-9a-f]+/);
  await shot(page, 'editor-try');

  // Run it against the shop: it passes.
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  await waitReady(page, 'report', 30000);
  assert.equal(await page.locator('.page-head .badge').first().innerText(), 'Passed');
  const revLink = page.getByRole('link', { name: 'Revision 1' });
  assert.equal(await revLink.getAttribute('href'), `#/tests/${id}/edit?revision=1`);
  await revLink.click();
  await waitReady(page, 'editor');
  assert.match(await page.locator('.subtitle').innerText(), /revision 1 of 1/);
  assert.deepEqual(errors, []);
});

test('the JSON tab round-trips and keeps what the form does not show', async (t) => {
  if (skip) { t.skip(skip); return; }
  const a = await jsonTab();
  // A field the form has no control for, nested in a task: kept through form edits.
  a.users[0].tasks[1].x_note = { kept: [1, 'two'] };
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(a, null, 2));
  await page.getByRole('tab', { name: 'Form' }).click();
  await input('users[0].tasks[1].name').fill('view the cart');
  const b = await jsonTab();
  assert.deepEqual(b.users[0].tasks[1].x_note, { kept: [1, 'two'] });
  assert.equal(b.users[0].tasks[1].name, 'view the cart');
  assert.deepEqual({ ...b, users: [{ ...b.users[0], tasks: [b.users[0].tasks[0], { ...b.users[0].tasks[1], name: 'view cart' }] }] }, a);
  // form -> JSON -> form -> JSON with no edit is the same definition; the tabs move with the
  // arrow keys.
  await page.getByRole('tab', { name: 'Form' }).click();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getByRole('tab', { name: 'JSON' }).getAttribute('aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-json');
  const c = JSON.parse(await page.getByLabel('Definition (JSON)').inputValue());
  assert.deepEqual(c, b);
  // Bad JSON keeps the user on the tab with a message.
  await page.getByLabel('Definition (JSON)').fill('{"name": ');
  await page.getByRole('tab', { name: 'Form' }).click();
  await page.locator('#panel-json .field-error', { hasText: 'Not valid JSON' }).waitFor();
  delete c.users[0].tasks[1].x_note;
  c.users[0].tasks[1].name = 'view cart';
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(c, null, 2));
  await page.getByRole('tab', { name: 'Form' }).click();
  await shot(page, 'editor-json');
});

test('unsaved changes survive a reload; leaving asks; revisions are diffed', async (t) => {
  if (skip) { t.skip(skip); return; }
  await input('name').fill('Authenticated shopper (edited)');
  await page.locator('.dirty-mark:visible').waitFor();
  await page.waitForTimeout(400); // the draft is kept 250 ms after the last change

  // Leaving through the nav asks; declining stays on the editor.
  page.removeAllListeners('dialog');
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
  await page.getByRole('link', { name: 'History' }).click();
  await page.waitForTimeout(300);
  assert.match(asked, /unsaved changes/);
  assert.match(page.url(), /\/edit/);
  assert.equal(await page.getAttribute('main', 'data-ready'), 'editor');

  page.on('dialog', (d) => d.accept());
  await page.reload();
  await waitReady(page, 'editor');
  assert.equal(await input('name').inputValue(), 'Authenticated shopper (form)');
  await page.getByRole('button', { name: 'Restore them' }).click();
  assert.equal(await input('name').inputValue(), 'Authenticated shopper (edited)');
  await shot(page, 'editor-restore');
  // Unsaved, the definition itself is tried (POST /tests/try).
  const sent = page.waitForRequest((r) => r.url().endsWith('/api/v1/tests/try') && r.method() === 'POST');
  await page.getByRole('button', { name: 'Try it', exact: true }).first().click();
  assert.equal(JSON.parse((await sent).postData()).name, 'Authenticated shopper (edited)');
  await page.locator('.try-item.try-pass').nth(2).waitFor({ timeout: 15000 });
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('.toast', { hasText: 'as revision 2' }).waitFor();
  await waitReady(page, 'editor');
  await page.getByRole('tab', { name: 'Revisions' }).click();
  await page.locator('.diff .diff-add', { hasText: 'Authenticated shopper (edited)' }).waitFor();
  assert.ok(await page.locator('.diff .diff-del', { hasText: 'Authenticated shopper (form)' }).count() >= 1);
  await shot(page, 'editor-revisions');
  // After a save nothing is pending: leaving does not ask.
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => { errors.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
  await page.getByRole('link', { name: 'History' }).click();
  await waitReady(page, 'history');
  assert.deepEqual(errors, []);
});

test('a CSV data file is set up and uploaded in the form, then read by Try it', async (t) => {
  if (skip) { t.skip(skip); return; }
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => d.accept());
  await openDashboard(page, srv, undefined, undefined, '#/tests/new');
  await waitReady(page, 'editor');
  await input('name').fill('Products from a CSV (form)');
  await input('base_url').fill(shop.url);
  await page.getByRole('button', { name: '+ Add CSV data file' }).click();
  await input('users[0].data_file.csv').fill('uploads/skus.csv');
  await select('users[0].data_file.mode').selectOption('random');
  await select('users[0].data_file.mode').selectOption('sequential');
  await page.getByLabel('Upload a CSV file to that path').setInputFiles({
    name: 'skus.csv', mimeType: 'text/csv', buffer: Buffer.from('sku,label\n9101,one\n9102,"two, quoted"\n'),
  });
  await at('users[0].data_file').locator('.hint.ok', { hasText: 'Uploaded skus.csv as uploads/skus.csv: 2 rows.' }).waitFor({ timeout: 5000 });
  // A field the file does not have is an error at the task's URL; the right one validates.
  await input('users[0].tasks[0].request.url').fill('/api/v1/products/{{row.skew}}');
  await at('users[0].tasks[0].request.url').locator('.field-error', { hasText: "unknown row field 'skew'" }).waitFor({ timeout: 5000 });
  await input('users[0].tasks[0].request.url').fill('/api/v1/products/{{row.sku}}');
  await page.locator('.valid-mark').waitFor({ timeout: 5000 });
  await shot(page, 'editor-data-file');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/#\/tests\/\d+\/edit$/);
  await waitReady(page, 'editor');
  const id = Number(page.url().match(/#\/tests\/(\d+)\/edit/)[1]);
  const api = await apiClient(srv);
  const saved = (await api('GET', `/api/v1/tests/${id}`)).json.definition;
  assert.deepEqual(saved.users[0].data_file, { csv: 'uploads/skus.csv', per: 'vu' });
  const file = await api('GET', '/api/v1/files/uploads/skus.csv');
  assert.equal(file.text, 'sku,label\n9101,one\n9102,"two, quoted"\n');

  // Try it: the first row's value is in the request the engine sent.
  await page.getByRole('button', { name: 'Try it', exact: true }).first().click();
  const item = page.locator('.try-item').first();
  await item.waitFor({ timeout: 15000 });
  assert.match(await item.innerText(), /\/api\/v1\/products\/9101/);
  assert.deepEqual(errors, []);
});
