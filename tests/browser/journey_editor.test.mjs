// journey_editor.test.mjs - a journey with a repeat, a choose and a group built in the form
// editor alone, in Chromium against the real daemon and the demo shop: an expression with a
// mistake is shown at its field as one types, the test is saved (its JSON is what the form
// says), Try it lists each pass of the loop, the branch taken and the group's time, and the run
// passes with the group in the run page's table, marked as a group. Load: 2 VUs for 4 s.
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
const addIn = (p, name) => page.locator(`[data-path="${p}"] > button`, { hasText: name }).click();

test('a journey with a repeat, a choose and a group, built in the form, tried and run', async (t) => {
  if (skip) { t.skip(skip); return; }
  page.on('dialog', (d) => d.accept());
  await openDashboard(page, srv, undefined, undefined, '#/tests/new');
  await waitReady(page, 'editor');
  await input('name').fill('Journey (form)');
  await input('base_url').fill(shop.url);
  await select('users[0].think').selectOption('constant');
  await input('users[0].think.constant').fill('50ms');

  // Three steps in the task: a loop over product pages, a weighted choice, a timed group.
  const task = 'users[0].tasks[0]';
  await page.locator(`[data-path="${task}"]`).getByRole('button', { name: '+ Add step', exact: true }).click();
  await addIn(`${task}.steps`, 'Add step');

  await select(`${task}.steps[0].__kind`).selectOption('repeat');
  await input(`${task}.steps[0].repeat.count`).fill('3');
  await input(`${task}.steps[0].repeat.index`).fill('page');
  await input(`${task}.steps[0].repeat.steps[0].request.url`).fill('/api/v1/products?limit=3&page={{page + 1}}');
  await input(`${task}.steps[0].repeat.steps[0].request.name`).fill('GET /products');

  await select(`${task}.steps[1].__kind`).selectOption('choose');
  await input(`${task}.steps[1].choose[0].name`).fill('categories');
  await input(`${task}.steps[1].choose[0].weight`).fill('3');
  await input(`${task}.steps[1].choose[0].steps[0].request.url`).fill('/api/v1/categories');
  await input(`${task}.steps[1].choose[1].name`).fill('search');
  await input(`${task}.steps[1].choose[1].steps[0].request.url`).fill('/api/v1/search');
  await addIn(`${task}.steps[1].choose[1].steps[0].request.query`, 'Add parameter');
  const q = page.locator(`[data-path="${task}.steps[1].choose[1].steps[0].request.query"] .kv-row`).last();
  await q.locator('input').nth(0).fill('q');
  await q.locator('input').nth(1).fill('mouse');

  await select(`${task}.steps[2].__kind`).selectOption('group');
  await input(`${task}.steps[2].group.name`).fill('product flow');
  await input(`${task}.steps[2].group.steps[0].request.url`).fill('/api/v1/products/{{random(ids)}}');
  await input(`${task}.steps[2].group.steps[0].request.name`).fill('GET /products/:id');
  await addIn(`${task}.steps[2].group.steps`, 'Add step');
  await input(`${task}.steps[2].group.steps[1].request.url`).fill('/api/v1/catalog');
  await input(`${task}.steps[2].group.steps[1].request.name`).fill('GET /catalog');
  // The group runs only when the last response passed: an expression condition.
  await select(`${task}.steps[2].__cond`).selectOption('if');
  await input(`${task}.steps[2].if`).fill('status == 200 and vu > 0');

  // The data list the group's URL picks from.
  await page.locator('[data-path="data"] button', { hasText: 'Add list' }).first().click().catch(() => {});
  const json = async () => {
    await page.getByRole('tab', { name: 'JSON' }).click();
    const d = JSON.parse(await page.getByLabel('Definition (JSON)').inputValue());
    return d;
  };
  let d = await json();
  d.data = { ids: [101, 102, 201] };
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(d, null, 2));
  await page.getByRole('tab', { name: 'Form' }).click();

  // An expression with a mistake: the error appears at its field as one types.
  await input(`${task}.steps[0].repeat.count`).fill('page +');
  await at(`${task}.steps[0].repeat.count`).locator('.field-error', { hasText: 'column' }).waitFor({ timeout: 5000 });
  assert.equal(await input(`${task}.steps[0].repeat.count`).getAttribute('aria-invalid'), 'true');
  await shot(page, 'journey-editor-error');
  await input(`${task}.steps[0].repeat.count`).fill('3');

  await input('load.users').fill('2');
  await input('load.duration').fill('4s');
  await addIn('thresholds', 'Add threshold');
  await input('thresholds[0]').fill('product flow: p95 < 2s');
  await page.locator('.valid-mark').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('.field-error:visible').count(), 0);
  await shot(page, 'journey-editor-form');

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/#\/tests\/\d+\/edit$/);
  await waitReady(page, 'editor');
  const id = Number(page.url().match(/#\/tests\/(\d+)\/edit/)[1]);
  const api = await apiClient(srv);
  const saved = (await api('GET', `/api/v1/tests/${id}`)).json.definition;
  assert.deepEqual(saved.users[0].tasks[0].steps, [
    { repeat: { count: 3, index: 'page', steps: [{ request: { method: 'GET', url: '/api/v1/products?limit=3&page={{page + 1}}', name: 'GET /products' } }] } },
    { choose: [
      { name: 'categories', weight: 3, steps: [{ request: { method: 'GET', url: '/api/v1/categories' } }] },
      { name: 'search', weight: 1, steps: [{ request: { method: 'GET', url: '/api/v1/search', query: { q: 'mouse' } } }] }] },
    { if: 'status == 200 and vu > 0',
      group: { name: 'product flow', steps: [
        { request: { method: 'GET', url: '/api/v1/products/{{random(ids)}}', name: 'GET /products/:id' } },
        { request: { method: 'GET', url: '/api/v1/catalog', name: 'GET /catalog' } }] } },
  ]);
  assert.deepEqual(saved.thresholds, ['product flow: p95 < 2s']);

  // Try it: each pass of the loop, the branch taken, the group and its time, step by step.
  await page.getByRole('button', { name: 'Try it', exact: true }).first().click();
  await page.locator('.try-item.try-group').waitFor({ timeout: 15000 });
  const passes = page.locator('.try-item.try-repeat');
  assert.equal(await passes.count(), 3);
  assert.match(await passes.nth(2).innerText(), /repeat: pass 3/);
  assert.match(await page.locator('.try-item.try-choose').innerText(), /choose: branch \d \((categories|search)\)/);
  assert.match(await page.locator('.try-item.try-group').innerText(), /group product flow: [\d.]+ ms, passed/);
  const products = page.locator('.try-item.try-pass', { hasText: 'GET /products' });
  assert.match(await products.nth(1).innerText(), /page=2/);
  assert.match(await products.nth(1).innerText(), /pass 2/);
  await shot(page, 'journey-editor-try');

  // Run it: it passes, and the group has its own row, marked.
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  await waitReady(page, 'report', 30000);
  assert.equal(await page.locator('.page-head .badge').first().innerText(), 'Passed');
  const row = page.locator('.names-table tr[data-kind="group"]');
  assert.equal(await row.count(), 1);
  assert.match(await row.innerText(), /group\s+product flow/);
  await shot(page, 'journey-editor-run');
  assert.deepEqual(errors, []);
});
