// history_load.test.mjs - the dashboard stays fast with a long history: 1,000 finished runs of
// 20 tests, written through the store as real runs write them, then the history, the tests
// list (with each test's verdict and sparkline) and a later page of the history are loaded in
// Chromium and timed from the navigation's start to the page's first data on screen. The
// target is under 1 s; the assertion allows 5 s so that a busy machine does not fail it, and
// the measured figures are printed and saved (tests/artifacts/browser/load-times.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { run, tempDir } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, openDashboard, waitReady, shot, SHOTS } from '../lib/browser.mjs';

const SEED = process.env.SEED_RUNS_BIN || 'build/tests/seed_runs';
const skip = skipReason() || (!fs.existsSync(SEED) && `no seed_runs tool at ${SEED}`) || false;
let srv, browser, page;
const errors = [];

before(async () => {
  if (skip) return;
  // 1,000 runs are some 5,000 committed transactions: on a RAM disk when there is one, so the
  // seeding (which is not what is measured) takes a second instead of many on a busy disk.
  const dir = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/stampede-history-') : tempDir('stampede-history-');
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const seeded = await run(SEED, [path.join(dir, 'stampede.db'), '20', '1000', 'http://127.0.0.1:9']);
  assert.equal(seeded.code, 0, seeded.stderr);
  srv = await startServer([], { dir });
  browser = await launch();
  page = await newPage(browser, errors);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function readyMs(name) {
  await waitReady(page, name);
  return Number(await page.getAttribute('main', 'data-ready-ms'));
}

test('with 1,000 runs the history and the tests list are ready well within a second', { skip }, async () => {
  await openDashboard(page, srv, undefined, undefined, '#/runs');
  const times = {};
  // Fresh loads (the cache revalidates each file, as for a user opening the page).
  await page.goto(`${srv.base}/#/runs`);
  await page.reload();
  times.history = await readyMs('history');
  assert.match(await page.locator('.pager').innerText(), /Page 1 of 20 · 1,000 runs/);
  assert.equal(await page.locator('.runs-table tbody tr').count(), 50);
  await shot(page, 'history-1000');

  const t0 = Date.now();
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.waitForFunction(() => /Page 2 of 20/.test(document.querySelector('.pager')?.textContent || ''));
  times.history_page_2 = Date.now() - t0;

  await page.goto(`${srv.base}/#/tests`);
  await page.reload();
  times.tests = await readyMs('tests');
  assert.equal(await page.locator('.tests-table tbody tr').count(), 20);
  assert.equal(await page.locator('.tests-table tbody tr').first().locator('svg.spark circle').count(), 20, 'a sparkline of the 20 most recent runs');
  await shot(page, 'tests-1000');

  await page.goto(`${srv.base}/#/runs?status=failed`);
  await page.reload();
  times.history_filtered = await readyMs('history');
  assert.match(await page.locator('.pager').innerText(), /· 143 runs/);

  console.log(`dashboard load times with 1,000 runs (ms): ${JSON.stringify(times)}`);
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.writeFileSync(path.join(SHOTS, 'load-times.json'), `${JSON.stringify(times, null, 2)}\n`);
  for (const [k, v] of Object.entries(times)) assert.ok(v > 0 && v < 5000, `${k}: ${v} ms`);
  assert.deepEqual(errors, []);
});
