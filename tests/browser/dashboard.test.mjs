// dashboard.test.mjs - the dashboard in Chromium against the real daemon and the demo shop:
// sign in, paste a test (a bad one first: its errors are shown by path), start it, watch the
// charts and the per-name table fill, lose the live stream and get it back without a gap,
// change the load, stop, open the report and export it four ways, run it again and compare.
// Every load is a few VUs for a few seconds against the loopback shop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startShop } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, openDashboard, waitReady, shot } from '../lib/browser.mjs';

const skip = skipReason() || false;
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

function definition(name) {
  return {
    name,
    base_url: shop.url,
    users: [{ name: 'browser', think: { constant: '100ms' }, tasks: [{ steps: [
      { request: { url: '/api/v1/products', name: 'GET /products' } },
      { request: { url: '/api/v1/categories', name: 'GET /categories' } },
    ] }] }],
    load: { users: 2, duration: '20s' },
    thresholds: ['p95 < 500ms', 'error_rate < 1%'],
  };
}

const tile = (name) => page.locator(`[data-tile="${name}"] .tile-value`);
const chartPoints = async (title) => Number(await page.locator(`figure.chart[aria-label="${title}"]`).getAttribute('data-points'));

test('the whole path: paste, start, watch, change the load, stop, report, export, compare', { skip }, async () => {
  await openDashboard(page, srv);
  await waitReady(page, 'tests');
  await shot(page, 'tests');

  // A definition with a mistake is refused with the path of the bad field.
  // Pasted JSON stays a choice beside the form editor that New test opens.
  await page.getByRole('button', { name: 'Paste JSON' }).first().click();
  const bad = definition('Browser flow');
  bad.users[0].tasks[0].steps[0].request.mehtod = 'GET';
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(bad, null, 2));
  await page.getByRole('button', { name: 'Check' }).click();
  await page.locator('.error-list').waitFor();
  const errText = await page.locator('.error-list').innerText();
  assert.match(errText, /users\[0\]\.tasks\[0\]\.steps\[0\]\.request\.mehtod/);
  assert.match(errText, /did you mean 'method'/);
  await shot(page, 'new-test-errors');
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(definition('Browser flow'), null, 2));
  await page.getByRole('button', { name: 'Check' }).click();
  await page.locator('.alert-ok').waitFor();
  await page.getByRole('button', { name: 'Save test' }).click();
  await page.locator('tr', { hasText: 'Browser flow' }).waitFor();

  // Start with overrides: 2 users for 40 s (it is stopped long before).
  await page.getByRole('button', { name: 'Start Browser flow' }).click();
  await page.getByRole('dialog').getByLabel('Users', { exact: true }).fill('2');
  await page.getByRole('dialog').getByLabel('Duration', { exact: true }).fill('40s');
  await shot(page, 'start-dialog');
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  const runUrl = page.url();
  const runId = Number(runUrl.match(/#\/runs\/(\d+)/)[1]);

  // Points reach the charts and the table fills, by name.
  await page.waitForFunction(() => Number(document.querySelector('figure.chart[aria-label="Requests per second"]')?.dataset.points) >= 3, null, { timeout: 10000 });
  for (const title of ['Requests per second', 'Response time', 'Errors per second', 'Virtual users']) {
    assert.ok(await chartPoints(title) >= 3, `${title} has points`);
  }
  await page.locator('.names-table th.name-cell', { hasText: 'GET /products' }).waitFor();
  await page.locator('.names-table th.name-cell', { hasText: 'GET /categories' }).waitFor();
  const productsRow = page.locator('.names-table tr', { hasText: 'GET /products' });
  assert.ok(Number((await productsRow.locator('td').first().innerText()).replace(/,/g, '')) > 0);
  await page.locator('.count-list li', { hasText: '200' }).waitFor();
  await page.locator('.threshold.th-pass', { hasText: 'p95 < 500ms' }).waitFor();
  assert.equal(await page.locator('.conn').innerText(), 'Live');
  await shot(page, 'live');

  // The page keeps its size while points arrive: no layout jumps.
  const box1 = await page.locator('.charts').boundingBox();
  await page.waitForTimeout(1500);
  const box2 = await page.locator('.charts').boundingBox();
  assert.deepEqual(box2, box1, 'the charts did not move or resize');

  // Losing the stream: while the socket cannot come back (its address points at a closed
  // port for a while) the seconds keep coming from REST; then the page reconnects by itself.
  const url = await page.evaluate(() => window.stampedeLive.url);
  await page.evaluate(() => { window.stampedeLive.url = 'ws://127.0.0.1:9/'; window.stampedeLive.socket.close(); });
  await page.waitForFunction(() => document.querySelector('.conn').textContent === 'Reconnecting…', null, { timeout: 5000 });
  const down = await chartPoints('Requests per second');
  await page.waitForFunction((n) => Number(document.querySelector('figure.chart[aria-label="Requests per second"]').dataset.points) >= n + 2, down, { timeout: 10000 });
  assert.equal(await page.locator('.conn').innerText(), 'Reconnecting…', 'those seconds came over REST');
  await page.evaluate((u) => { window.stampedeLive.url = u; }, url);
  await page.waitForFunction(() => window.stampedeLive.reconnects === 1 && document.querySelector('.conn').textContent === 'Live', null, { timeout: 15000 });
  // The page's CSP refused the closed port, as it refuses any address but the live stream's.
  const blocked = errors.findIndex((e) => /ws:\/\/127\.0\.0\.1:9\/.*Content Security Policy/.test(e));
  assert.ok(blocked >= 0, 'the CSP blocked the other address');
  while (errors.some((e) => /ws:\/\/127\.0\.0\.1:9\//.test(e))) errors.splice(errors.findIndex((e) => /ws:\/\/127\.0\.0\.1:9\//.test(e)), 1);
  const before = await chartPoints('Requests per second');
  await page.waitForFunction((n) => Number(document.querySelector('figure.chart[aria-label="Requests per second"]').dataset.points) > n + 1, before, { timeout: 10000 });
  assert.equal(await page.locator('figure.chart[aria-label="Requests per second"]').getAttribute('data-gaps'), '0', 'no second is missing');

  // Change the load to 4 users.
  await page.getByLabel('New users').fill('4');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.locator('.toast', { hasText: 'Load changed to 4 users' }).waitFor();
  await page.waitForFunction(() => /^4 \/ 4$/.test(document.querySelector('[data-tile="vus"] .tile-value').textContent), null, { timeout: 10000 });

  // Stop: the page becomes the report.
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await waitReady(page, 'report', 20000);
  assert.match(await page.locator('.page-head .badge').first().innerText(), /Stopped/);
  assert.ok(await chartPoints('Requests per second') >= 3, 'the report draws the stored series');
  assert.match(await page.locator('.names-table').innerText(), /GET \/products[\s\S]*Total/);
  await shot(page, 'report');

  // Exports: each link downloads the run in its format.
  const expect = { html: /<html[\s\S]*Browser flow/, csv: /^name,requests,failures/, json: /"run"/, 'junit.xml': /<testsuite/ };
  for (const [ext, re] of Object.entries(expect)) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(`a[data-export="${ext}"]`).click()]);
    const file = await dl.path();
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, re, `export.${ext}`);
    assert.match(dl.suggestedFilename(), new RegExp(`${ext.replace('.', '\\.')}$`));
  }

  // Run it again from the report, to the end this time (3 s), then compare the two runs.
  await page.getByRole('button', { name: 'Run again' }).click();
  await page.getByRole('dialog').getByLabel('Users', { exact: true }).fill('2');
  await page.getByRole('dialog').getByLabel('Duration', { exact: true }).fill('3s');
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  await waitReady(page, 'report', 20000);
  assert.match(await page.locator('.page-head .badge').first().innerText(), /Passed/);
  const secondId = Number(page.url().match(/#\/runs\/(\d+)/)[1]);
  assert.ok(secondId > runId);

  // The tests list shows the last verdict and a sparkline of both runs.
  await page.getByRole('link', { name: 'Tests' }).click();
  await waitReady(page, 'tests');
  const row = page.locator('tr', { hasText: 'Browser flow' });
  assert.match(await row.innerText(), /Passed/);
  assert.equal(await row.locator('svg.spark circle').count(), 2);

  await page.getByRole('link', { name: 'History' }).click();
  await waitReady(page, 'history');
  await page.getByLabel(`Pick run ${runId} to compare`).check();
  await page.getByLabel(`Pick run ${secondId} to compare`).check();
  await shot(page, 'history');
  await page.getByRole('button', { name: 'Compare', exact: true }).click();
  await waitReady(page, 'compare');
  assert.match(page.url(), new RegExp(`#/compare\\?runs=${runId},${secondId}`));
  const cmp = await page.locator('.compare-table').innerText();
  assert.match(cmp, /Total[\s\S]*GET \/products[\s\S]*GET \/categories/);
  assert.ok(await chartPoints('Requests per second') >= 3);
  assert.equal(await page.locator('.legend-table .badge-base').count(), 1);
  await shot(page, 'compare');

  // The keyboard: from a fresh load, Tab reaches the skip link, then the navigation; a run is
  // picked with the space bar.
  await page.goto(`${srv.base}/#/runs`);
  await page.reload();
  await waitReady(page, 'history');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Tests');
  await page.getByLabel(`Pick run ${runId} to compare`).focus();
  await page.keyboard.press('Space');
  assert.equal(await page.getByLabel(`Pick run ${runId} to compare`).isChecked(), true);
  assert.deepEqual(errors, []);
});

test('an open-model run: the start dialog asks for a rate, the live page draws target and achieved rate', { skip }, async () => {
  const def = {
    name: 'Browser open model',
    base_url: shop.url,
    users: [{ name: 'u', tasks: [{ steps: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }] }],
    load: { model: 'open', max_vus: 5, rate: 2, duration: '10s' },
  };
  await page.goto(`${srv.base}/#/tests`);
  await waitReady(page, 'tests');
  await page.getByRole('button', { name: 'Paste JSON' }).first().click();
  await page.getByLabel('Definition (JSON)').fill(JSON.stringify(def));
  await page.getByRole('button', { name: 'Save test' }).click();
  await page.locator('tr', { hasText: 'Browser open model' }).waitFor();
  await page.getByRole('button', { name: 'Start Browser open model' }).click();
  await page.getByRole('dialog').getByLabel('Rate (iterations/s)').fill('4');
  await page.getByRole('dialog').getByLabel('Duration', { exact: true }).fill('4s');
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  const rate = page.locator('figure.chart[aria-label="Arrival rate (open model)"]');
  await page.waitForFunction(() => Number(document.querySelector('figure.chart[aria-label="Arrival rate (open model)"]')?.dataset.points) >= 2, null, { timeout: 10000 });
  assert.equal(await rate.isVisible(), true);
  assert.match(await page.locator('.load-form').innerText(), /New rate/);
  await shot(page, 'live-open-model');
  // The tests list shows the run going; its link leads back to the live page, which gets the
  // run so far from the stream's backlog.
  await page.getByRole('link', { name: 'Tests' }).click();
  await waitReady(page, 'tests');
  await page.locator('tr', { hasText: 'Browser open model' }).getByRole('link', { name: /watch live/ }).click();
  await page.waitForSelector('main[data-ready="live"], main[data-ready="report"]');
  await waitReady(page, 'report', 20000);
  // The report draws the live page's chart: planned rate, achieved, dropped.
  const stored = page.locator('figure.chart[aria-label="Arrival rate (open model)"]');
  assert.equal(await stored.count(), 1);
  assert.match(await stored.innerText(), /Target rate[\s\S]*Achieved[\s\S]*Dropped/);
  assert.deepEqual(errors, []);
});
