// import.test.mjs - the import page in Chromium against the real daemon and demo shop: a curl
// command, a HAR recording (tests/fixtures/shop-recording.har) and an OpenAPI document
// (tests/fixtures/shop-openapi.json) each become a test through the REST importers, the
// importer's notes are shown, the result opens unsaved in the editor, is saved and run (one
// user, 2 s each). A curl command also becomes a step of an existing task in the editor.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startShop, SOURCE_DIR } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, openDashboard, waitReady, shot } from '../lib/browser.mjs';

let skip = skipReason() || false;
let shop, srv, browser, page;
const errors = [];
const FIXTURES = path.join(SOURCE_DIR, 'tests/fixtures');

before(async () => {
  if (skip) return;
  shop = await startShop();
  srv = await startServer(['--shop-url', shop.url]);
  browser = await launch();
  page = await newPage(browser, errors);
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

/** Saves the imported test open in the editor, runs it for 2 s with one user, returns the report's status. */
async function saveAndRun() {
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/#\/tests\/\d+\/edit$/);
  await waitReady(page, 'editor');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.getByRole('dialog').getByLabel('Users', { exact: true }).fill('1');
  await page.getByRole('dialog').getByLabel('Duration', { exact: true }).fill('2s');
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  await waitReady(page, 'report', 30000);
  return page.locator('.page-head .badge').first().innerText();
}

test('a curl command becomes a test, and a step of an existing task', async (t) => {
  if (skip) { t.skip(skip); return; }
  await openDashboard(page, srv, undefined, undefined, '#/import');
  await waitReady(page, 'import');
  await page.getByRole('textbox', { name: 'curl command' }).fill(`curl '${shop.url}/api/v1/products?page=1' -H 'Accept: application/json' --compressed`);
  await page.getByLabel('Test name').fill('From curl');
  await page.getByRole('button', { name: 'Import curl command' }).click();
  await page.locator('.import-result', { hasText: '“From curl”: 1 task' }).waitFor();
  await shot(page, 'import');
  await page.getByRole('button', { name: 'Open in the editor' }).click();
  await waitReady(page, 'editor');
  await page.locator('.alert', { hasText: 'Imported. Not saved yet' }).waitFor();
  assert.equal(await page.locator('[data-path="base_url"] input').inputValue(), shop.url);
  assert.equal(await page.locator('[data-path="users[0].tasks[0].steps[0].request.url"] input').inputValue(), '/api/v1/products?page=1');

  // A second command becomes the task's second step.
  await page.getByRole('button', { name: '+ Add step from curl' }).click();
  await page.getByRole('dialog').getByRole('textbox', { name: 'curl command' }).fill(`curl '${shop.url}/api/v1/categories' -H 'Accept: application/json'`);
  await page.getByRole('dialog').getByRole('button', { name: 'Add step' }).click();
  await page.locator('[data-path="users[0].tasks[0].steps[1].request.url"]').waitFor();
  assert.equal(await page.locator('[data-path="users[0].tasks[0].steps[1].request.url"] input').inputValue(), `${shop.url}/api/v1/categories`);
  assert.equal(await saveAndRun(), 'Passed');
  await page.locator('.names-table th.name-cell', { hasText: '/api/v1/categories' }).waitFor();
  assert.deepEqual(errors, []);
});

test('a HAR recording becomes a test, with its notes, and runs', async (t) => {
  if (skip) { t.skip(skip); return; }
  await page.goto(`${srv.base}/#/import`);
  await waitReady(page, 'import');
  const har = page.getByRole('region', { name: 'HAR recording' });
  await har.getByLabel('HAR recording file').setInputFiles(path.join(FIXTURES, 'shop-recording.har'));
  await har.getByLabel('Base URL').fill(shop.url);
  await har.getByRole('button', { name: 'Import HAR recording' }).click();
  await har.locator('.import-result').waitFor();
  assert.ok(await har.locator('.import-notes li').count() >= 1, 'the notes are shown');
  assert.match(await har.locator('.import-notes').innerText(), /extracted into variables/);
  await shot(page, 'import-har');
  await har.getByRole('button', { name: 'Open in the editor' }).click();
  await waitReady(page, 'editor');
  assert.equal(await page.locator('[data-path="base_url"] input').inputValue(), shop.url);
  assert.equal(await saveAndRun(), 'Passed');
  assert.deepEqual(errors, []);
});

test('an OpenAPI document becomes a test with one task per operation, and runs', async (t) => {
  if (skip) { t.skip(skip); return; }
  await page.goto(`${srv.base}/#/import`);
  await waitReady(page, 'import');
  const oas = page.getByRole('region', { name: 'OpenAPI' });
  await oas.getByLabel('OpenAPI file').setInputFiles(path.join(FIXTURES, 'shop-openapi.json'));
  await oas.getByLabel('Base URL').fill(shop.url);
  await oas.getByRole('button', { name: 'Import OpenAPI' }).click();
  await oas.locator('.import-result', { hasText: '7 tasks' }).waitFor();
  assert.match(await oas.locator('.import-notes').innerText(), /getProfile needs authentication/);
  await oas.getByRole('button', { name: 'Open in the editor' }).click();
  await waitReady(page, 'editor');
  assert.equal(await page.locator('[data-path="users[0].tasks[0].name"] input').inputValue(), 'listProducts');
  // As the notes say: the operations that need a token get a login in on_start, by JSON.
  await page.getByRole('tab', { name: 'JSON' }).click();
  const def = JSON.parse(await page.getByLabel('Definition (JSON)').inputValue());
  def.users[0].on_start = [{ request: { method: 'POST', url: '/api/v1/auth/login', json: { email: 'sarah.chen@example.com', password: 'TestPass123!' } },
    extract: { token: { json: 'access_token' } }, set_headers: { Authorization: 'Bearer {{token}}' } }];
  def.thresholds = ['error_rate < 1%'];
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(def, null, 2));
  await page.getByRole('tab', { name: 'Form' }).click();
  assert.equal(await page.locator('[data-path="users[0].on_start[0].request.url"] input').inputValue(), '/api/v1/auth/login');
  assert.equal(await saveAndRun(), 'Passed');
  await page.locator('.names-table th.name-cell', { hasText: 'getProfile' }).waitFor();
  assert.deepEqual(errors, []);
});
