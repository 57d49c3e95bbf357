// compare.test.mjs - baselines and verdicts in the dashboard: a run is pinned as its test's
// baseline from its report, the history shows every run against it (the baseline itself, a
// slower run's regressions), and the compare page says what differs at the top and, in each
// cell, the verdict with the change's interval; the CI gate's result is on the gated run's
// report. Runs of 2 s against the loopback shop, one route of a second shop 60 ms slower.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startShop, sleep } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, openDashboard, waitReady, shot, apiClient } from '../lib/browser.mjs';

const skip = skipReason() || false;
let shop, slow, srv, browser, page, api;
const errors = [];

before(async () => {
  if (skip) return;
  shop = await startShop(['--quiet', '--latency-ms', 'all=fixed:2']);
  slow = await startShop(['--quiet', '--latency-ms', 'all=fixed:2', '--latency-route', '/api/v1/categories=fixed:60']);
  srv = await startServer();
  browser = await launch();
  page = await newPage(browser, errors);
  api = await apiClient(srv);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (shop) await shop.stop();
  if (slow) await slow.stop();
});

async function runOf(testId, body) {
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, body);
  assert.equal(r.status, 201, r.text);
  for (;;) {
    const g = await api('GET', `/api/v1/runs/${r.json.id}`);
    if (!['queued', 'running'].includes(g.json.status)) return g.json;
    await sleep(150);
  }
}

test('pin a baseline from the report; history and compare show each run against it', { skip }, async () => {
  const t = await api('POST', '/api/v1/tests', {
    name: 'Baseline flow',
    base_url: shop.url,
    users: [{ name: 'u', think: { constant: '10ms' }, tasks: [{ steps: [
      { request: { url: '/api/v1/products', name: 'GET /products' } },
      { request: { url: '/api/v1/categories', name: 'GET /categories' } },
    ] }] }],
    load: { users: 2, duration: '2s' },
    thresholds: ['GET /categories: p50 < baseline * 2'],
  });
  assert.equal(t.status, 201, t.text);
  const base = await runOf(t.json.id, {});
  assert.equal(base.status, 'passed');

  // Pin it from its report.
  await openDashboard(page, srv, undefined, undefined, `#/runs/${base.id}`);
  await waitReady(page, 'report');
  assert.match(await page.locator('.baseline-card').innerText(), /no pinned baseline/);
  await page.getByRole('button', { name: 'Pin as baseline' }).click();
  await page.getByRole('button', { name: 'Pinned as baseline' }).waitFor();
  assert.match(await page.locator('.baseline-card').innerText(), /This run is its test's baseline/);
  assert.equal((await api('GET', `/api/v1/tests/${t.json.id}/baseline`)).json.run_id, base.id);

  // A slower run through the gate, and one of another duration.
  const slower = await runOf(t.json.id, { base_url: slow.url, baseline: 'pinned', fail_on_regression: true });
  assert.equal(slower.status, 'failed', JSON.stringify(slower.baseline));
  const longer = await runOf(t.json.id, { duration: '3s' });

  await page.goto(`${srv.base}/#/runs?test=${t.json.id}`);
  await waitReady(page, 'history');
  const cellOf = (id) => page.locator(`tr[data-run-id="${id}"] td.against`);
  assert.equal(await cellOf(base.id).innerText(), 'baseline');
  assert.match(await cellOf(slower.id).innerText(), /^\d+ regressions?$/);
  assert.ok(['no significant change', 'not enough data'].includes(await cellOf(longer.id).innerText()), await cellOf(longer.id).innerText());
  await shot(page, 'history-against-baseline');

  // The slower run's report tells what the gate found.
  await page.goto(`${srv.base}/#/runs/${slower.id}`);
  await waitReady(page, 'report');
  const card = await page.locator('.baseline-card').innerText();
  assert.match(card, new RegExp(`Against run #${base.id} \\(pinned\\): \\d+ regressions?`));
  assert.match(card, /GET \/categories p50: /);
  assert.match(card, /the run failed for it/);

  // From the history to the comparison: verdicts with intervals per cell.
  await page.goto(`${srv.base}/#/runs?test=${t.json.id}`);
  await waitReady(page, 'history');
  await cellOf(slower.id).locator('a').click();
  await waitReady(page, 'compare');
  assert.match(page.url(), new RegExp(`#/compare\\?runs=${base.id},${slower.id}`));
  const cat = page.locator('.compare-table tr', { hasText: `#${slower.id}` }).nth(2);
  const p50 = cat.locator('td[data-verdict]').nth(2);
  assert.equal(await p50.getAttribute('data-verdict'), 'regression');
  assert.match(await p50.innerText(), /regression/i);
  assert.match(await p50.innerText(), /\+\d+(\.\d+)? ms \[\+\d/);
  assert.match(await p50.getAttribute('title'), /^regression: p = .* on \d+ and \d+ (seconds|requests)/);
  assert.match(await page.locator('.card-note').innerText(), /Flagged when significant at 0\.01/);
  await shot(page, 'compare-verdicts');

  // Runs of different durations: said at the top.
  await page.goto(`${srv.base}/#/compare?runs=${base.id},${longer.id}`);
  await waitReady(page, 'compare');
  assert.match(await page.locator('[data-note="duration"]').innerText(), /Duration differs: These runs lasted differently/);
  assert.match(await page.locator('.compare-table').innerText(), /NOT ENOUGH DATA|NO CHANGE/);
  assert.deepEqual(errors, []);
});
