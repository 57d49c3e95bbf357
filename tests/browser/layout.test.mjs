// layout.test.mjs - the dashboard at every screen width, and what a run page means.
//
// Every page (login, tests, history, compare, the editor of a new and of a saved test, import,
// settings, a live run, a closed- and an open-model report) is opened at 390 px (a phone),
// 768 px (a tablet) and 1024 px (a small laptop): the page never scrolls sideways
// (document.documentElement.scrollWidth <= innerWidth), no tile's figure is cut, and a
// screenshot of each is kept in tests/artifacts/browser/layout-WIDTH-PAGE.png.
// Then the small things: New test opens the form editor (pasted JSON stays a choice), a test's
// name opens it, the allowlist notice links to Settings, the first Tab reaches the skip link
// with a visible focus ring, a page's toasts go with it. And a run's charts: the response time
// of all requests first, live and in the report, each request name a pick away, the load
// change marked, the distribution drawn, the report ending at the run's last second.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startShop, sleep } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, apiClient, openDashboard, waitReady, shot } from '../lib/browser.mjs';

const skip = skipReason() || false;
const WIDTHS = [390, 768, 1024];
let shop, srv, browser, api;
const ids = {};
const errors = [];

function definition(name, load) {
  return {
    name,
    base_url: shop.url,
    users: [{ name: 'u', think: { constant: '100ms' }, tasks: [{ steps: [
      { request: { url: '/api/v1/products', name: 'GET /products' } },
      { request: { url: '/api/v1/categories', name: 'GET /categories, with a long request name that has to wrap somewhere' } },
      { request: { url: '/api/v1/products/999', name: 'GET /products/:id (missing)' } },
    ] }] }],
    load,
    thresholds: ['p95 < 500ms', 'error_rate < 1%'],
  };
}

async function waitEnded(id) {
  for (let i = 0; i < 200; i++) {
    const r = await api('GET', `/api/v1/runs/${id}`);
    if (!['running', 'queued'].includes(r.json.status)) return r.json;
    await sleep(100);
  }
  throw new Error(`run ${id} did not end`);
}

before(async () => {
  if (skip) return;
  shop = await startShop();
  srv = await startServer(['--shop-url', shop.url]);
  browser = await launch();
  api = await apiClient(srv);
  ids.closed = (await api('POST', '/api/v1/tests', definition('Layout: a closed model', { users: 2, duration: '4s' }))).json.id;
  ids.open = (await api('POST', '/api/v1/tests', definition('Layout: an open model', { model: 'open', rate: 10, max_vus: 4, duration: '3s' }))).json.id;
  // A report with a load change in it, and an open-model report.
  ids.report = (await api('POST', `/api/v1/tests/${ids.closed}/runs`, {})).json.id;
  await sleep(1500);
  const changed = await api('POST', `/api/v1/runs/${ids.report}/load`, { target: 4 });
  assert.equal(changed.status, 200, changed.text);
  ids.openReport = (await api('POST', `/api/v1/tests/${ids.open}/runs`, {})).json.id;
  await waitEnded(ids.report);
  await waitEnded(ids.openReport);
  // A live run for the whole test; stopped at the end.
  ids.live = (await api('POST', `/api/v1/tests/${ids.closed}/runs`, { users: 2, duration: '110s' })).json.id;
});

after(async () => {
  if (api && ids.live) await api('POST', `/api/v1/runs/${ids.live}/stop`, { mode: 'immediate' }).catch(() => {});
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

/** What overflows: the page's width against the window's, and tiles whose figure is cut. */
function measure(page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    cutTiles: [...document.querySelectorAll('.tile-value, .tile-sub')]
      .filter((e) => e.scrollWidth > e.clientWidth + 1)
      .map((e) => `${e.closest('.tile').dataset.tile}: ${e.textContent}`),
  }));
}

/**
 * Resolves once every chart on the page is drawn at the width of its box: a line chart (uPlot,
 * web/assets/js/charts.js) is made at its box's width when its ResizeObserver first fires, a
 * distribution is drawn at it once it has data (an undrawn one is the SVG default, 300 px).
 */
function chartsFit(page) {
  return page.waitForFunction(() => [...document.querySelectorAll('figure.chart .chart-plot')].every((box) => {
    const w = Math.floor(box.clientWidth);
    if (w <= 0) return true; // not shown: nothing to fit
    const bars = box.querySelector(':scope > svg.bars');
    if (bars) return !bars.hasAttribute('width') || Math.abs(Number(bars.getAttribute('width')) - w) <= 1;
    const wrap = box.querySelector('.u-wrap');
    return !!wrap && Math.abs(wrap.getBoundingClientRect().width - w) <= 1;
  }), null, { timeout: 5000, polling: 'raf' });
}

async function check(page, width, name) {
  await chartsFit(page); // charts take the width of their box
  const m = await measure(page);
  await shot(page, `layout-${width}-${name}`);
  assert.ok(m.scrollWidth <= m.innerWidth, `${name} at ${width} px: the page is ${m.scrollWidth} px wide`);
  assert.deepEqual(m.cutTiles, [], `${name} at ${width} px: tiles cut`);
}

test('every page fits the screen at 390, 768 and 1024 px', { skip }, async () => {
  const pages = [
    ['tests', '#/tests', 'tests'],
    ['history', '#/runs', 'history'],
    ['compare', `#/compare?runs=${ids.report},${ids.openReport}`, 'compare'],
    ['editor-new', '#/tests/new', 'editor'],
    ['editor', `#/tests/${ids.closed}/edit`, 'editor'],
    ['import', '#/import', 'import'],
    ['settings', '#/settings', 'settings'],
    ['agents', '#/agents', 'agents'],
    ['live', `#/runs/${ids.live}`, 'live'],
    ['report', `#/runs/${ids.report}`, 'report'],
    ['report-open', `#/runs/${ids.openReport}`, 'report'],
  ];
  for (const width of WIDTHS) {
    const page = await newPage(browser, errors);
    await page.setViewportSize({ width, height: 800 });
    await page.goto(`${srv.base}/#/tests`);
    await waitReady(page, 'login');
    await check(page, width, 'login');
    await openDashboard(page, srv);
    for (const [name, hash, ready] of pages) {
      await page.goto(`${srv.base}/${hash}`);
      await waitReady(page, ready);
      if (name === 'live') await page.waitForFunction(() => Number(document.querySelector('figure.chart[aria-label="Requests per second"]')?.dataset.points) >= 2, null, { timeout: 10000 });
      await check(page, width, name);
    }
    await page.context().close();
  }
  assert.deepEqual(errors, []);
});

test('New test opens the editor, a name opens its test, the notice leads to Settings, the keyboard finds its way', { skip }, async () => {
  const page = await newPage(browser, errors);
  await openDashboard(page, srv);
  await waitReady(page, 'tests');
  // The first Tab of a page reaches the skip link, shown with a visible focus ring.
  await page.keyboard.press('Tab');
  const skipLink = await page.evaluate(() => {
    const a = document.activeElement;
    const cs = getComputedStyle(a);
    return { cls: a.className, text: a.textContent, left: a.getBoundingClientRect().left, outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
  });
  assert.equal(skipLink.cls, 'skip');
  assert.ok(skipLink.left >= 0, 'the skip link is on screen when focused');
  assert.ok(skipLink.outline !== 'none' && skipLink.width >= 2, `focus ring: ${JSON.stringify(skipLink)}`);
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  // Every control's focus ring can be seen: the next Tab lands on a link with an outline.
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => { const cs = getComputedStyle(document.activeElement); return `${cs.outlineStyle} ${cs.outlineWidth}`; });
  assert.match(ring, /^solid [2-9]/, `focus ring ${ring}`);

  // A test's name opens the test.
  await page.getByRole('link', { name: 'Layout: a closed model', exact: true }).click();
  await waitReady(page, 'editor');
  assert.match(page.url(), new RegExp(`#/tests/${ids.closed}/edit$`));

  // New test opens the form editor; pasting JSON stays a choice on the tests page.
  await page.goto(`${srv.base}/#/tests`);
  await waitReady(page, 'tests');
  await page.getByRole('link', { name: 'New test' }).click();
  await waitReady(page, 'editor');
  assert.match(page.url(), /#\/tests\/new$/);
  assert.ok(await page.getByRole('tab', { name: 'Form' }).count() > 0, 'the form editor');
  await page.goto(`${srv.base}/#/tests`);
  await waitReady(page, 'tests');
  await page.getByRole('button', { name: 'Paste JSON' }).click();
  await page.getByRole('dialog').getByLabel('Definition (JSON)').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  // Without an allowlist the admin is told, with a link to the setting itself.
  await page.locator('#notice', { hasText: 'No target allowlist is set' }).waitFor();
  assert.equal(await page.locator('#notice').innerText().then((t) => /PUT \/api/.test(t)), false, 'no API route in the notice');
  await page.locator('#notice').getByRole('link', { name: 'Set a target allowlist' }).click();
  await waitReady(page, 'settings');
  assert.equal(await page.evaluate(() => document.activeElement.closest('#set-allow') !== null), true, 'the allowlist has the focus');

  // A page's toasts go with it.
  await page.evaluate(async () => { const { toast } = await import('/assets/js/dom.js'); toast('from the settings page'); });
  await page.locator('.toast', { hasText: 'from the settings page' }).waitFor();
  await page.goto(`${srv.base}/#/runs`);
  await waitReady(page, 'history');
  assert.equal(await page.locator('.toast').count(), 0, 'the old page\'s toast went with it');
  await page.context().close();
  assert.deepEqual(errors, []);
});

test('a run\'s charts mean the same live and in the report; load changes are marked', { skip }, async () => {
  const page = await newPage(browser, errors);
  await openDashboard(page, srv);
  const latency = 'figure.chart[aria-label="Response time"]';

  // Live: all requests first; each name a pick away.
  await page.goto(`${srv.base}/#/runs/${ids.live}`);
  await waitReady(page, 'live');
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.points) >= 2, latency, { timeout: 10000 });
  const pick = page.locator(`${latency} select`);
  assert.equal(await pick.locator('option:checked').innerText(), 'All requests');
  await page.waitForFunction((sel) => document.querySelectorAll(`${sel} option`).length >= 4, latency);
  await pick.selectOption('GET /products');
  assert.equal(await page.locator(latency).getAttribute('data-gaps'), '0', 'GET /products has a value every second');

  // The report: the same first view, and the load change on every time chart.
  await page.goto(`${srv.base}/#/runs/${ids.report}`);
  await waitReady(page, 'report');
  const run = (await api('GET', `/api/v1/runs/${ids.report}`)).json;
  assert.equal(run.load_changes.length, 1);
  assert.equal(await page.locator(`${latency} select option:checked`).innerText(), 'All requests');
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.points) > 0, latency);
  for (const title of ['Requests per second', 'Response time', 'Errors per second', 'Virtual users']) {
    assert.equal(await page.locator(`figure.chart[aria-label="${title}"]`).getAttribute('data-marks'), '1', `${title} marks the load change`);
  }
  await page.locator('dl.facts', { hasText: 'Load changes' }).waitFor();
  assert.match(await page.locator('dl.facts').innerText(), /at \d+\.\ds: 4 users \(by admin\)/);
  assert.match(await page.locator('dl.facts').innerText(), /UTC[+-]\d\d:\d\d/, 'times carry their zone');
  // The run ends at its last second: a 4 s run draws 4 points, not a 5th near-empty one.
  assert.equal(await page.locator('figure.chart[aria-label="Requests per second"]').getAttribute('data-points'), '4');
  // The distribution is drawn for all requests and for each name.
  const dist = page.locator('figure.chart[aria-label="Response-time distribution"]');
  assert.ok(Number(await dist.getAttribute('data-points')) > 0);
  await dist.locator('select').selectOption('GET /products');
  assert.ok(Number(await dist.getAttribute('data-points')) > 0);
  // The thresholds read in their units.
  assert.match(await page.locator('.threshold', { hasText: 'error_rate' }).innerText(), /\d+(\.\d+)?%/);
  await shot(page, 'report-load-change');

  // The HTML report, opened as a file would be: its charts, the change, the tabs.
  const html = (await api('GET', `/api/v1/runs/${ids.report}/export.html`)).text;
  const file = await newPage(browser, errors);
  await file.setContent(html);
  assert.equal(await file.locator('.load-change').count() >= 5, true);
  assert.equal(await file.locator('input[name="lat"]:checked + label').innerText(), 'All requests');
  await file.locator('label[for="lat-1"]').click();
  assert.equal(await file.locator('input[name="lat"]:checked + label').innerText(), 'GET /products');
  assert.equal(await file.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true);
  await shot(file, 'html-report');
  await file.setViewportSize({ width: 390, height: 800 });
  assert.equal(await file.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true, 'the HTML report fits a phone');
  await shot(file, 'html-report-390');
  await file.context().close();
  await page.context().close();
  assert.deepEqual(errors, []);
});
