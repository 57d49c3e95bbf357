// escaping.test.mjs - everything a target or a user writes is shown as text. A small target
// answers with <script> and <img onerror> in its bodies, headers and JSON; the test's name,
// request names and failure message template carry markup too. Every page that shows them
// (tests list, live run, report, history, compare, the editor and its Try it) must show the
// characters, run nothing and open no dialog.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { skipReason, launch, newPage, startServer, apiClient, openDashboard, waitReady, shot } from '../lib/browser.mjs';

const skip = skipReason() || false;
const SCRIPT = '<script>window.__pwned=1</script>';
const IMG = '<img src=x onerror=window.__pwned=2>';
let target, targetUrl, srv, browser, page, api;
const errors = [];
const dialogs = [];

before(async () => {
  if (skip) return;
  // The hostile target, on loopback.
  target = http.createServer((req, res) => {
    if (req.url.startsWith('/header')) {
      res.writeHead(200, { 'Content-Type': 'text/html', 'X-Evil': SCRIPT });
      res.end(`<html>${SCRIPT}</html>`);
    } else if (req.url.startsWith('/json')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ msg: IMG }));
    } else {
      res.writeHead(500, { 'Content-Type': 'text/html' });
      res.end(SCRIPT);
    }
  });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${target.address().port}`;
  srv = await startServer();
  api = await apiClient(srv);
  browser = await launch();
  page = await newPage(browser, errors);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (target) target.close();
});

async function assertInert(where) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, `${where}: nothing ran`);
  assert.equal(await page.locator('main script, main img:not([src^="/assets/"])').count(), 0, `${where}: no element made from data`);
  assert.deepEqual(dialogs, [], `${where}: no dialog`);
}

test('markup from a target or a user is shown as text on every page', { skip }, async () => {
  const name = `${SCRIPT} escaping`;
  const def = {
    name,
    base_url: targetUrl,
    users: [{ name: 'u', think: { constant: '200ms' }, tasks: [{ steps: [
      { request: { url: '/header', name: `GET /header ${IMG}` }, extract: { evil: { header: 'X-Evil' } } },
      { request: { url: '/json', name: 'GET /json' }, expect: { json: [{ path: 'msg', equals: 'ok' }] } },
      { request: { url: '/fail', name: 'GET /fail' }, expect: { status: [200], message: 'target said {{evil}} with {{status}}' } },
    ] }] }],
    load: { users: 1, duration: '3s' },
    thresholds: ['error_rate < 1%'],
  };
  const created = await api('POST', '/api/v1/tests', def);
  assert.equal(created.status, 201, created.text);

  await openDashboard(page, srv);
  await waitReady(page, 'tests');
  assert.ok((await page.locator('.tests-table').innerText()).includes(name), 'the name is shown as written');
  await assertInert('tests list');

  await page.getByRole('button', { name: `Start ${name}` }).click();
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitReady(page, 'live');
  await page.locator('.failures-table').waitFor({ timeout: 10000 });
  await assertInert('live run');
  await waitReady(page, 'report', 20000);
  const runId = page.url().match(/#\/runs\/(\d+)/)[1];
  await page.locator('.failures-table').waitFor();
  const failures = await page.locator('.failures-table').innerText();
  assert.ok(failures.includes(`target said ${SCRIPT} with 500`), `header text in a failure message: ${failures}`);
  assert.ok(failures.includes(IMG), `body text in a failure message: ${failures}`);
  assert.ok((await page.locator('.names-table').innerText()).includes(`GET /header ${IMG}`));
  assert.ok((await page.locator('.page-head h1').innerText()).includes(SCRIPT));
  await shot(page, 'escaping-report');
  await assertInert('report');

  await page.getByRole('link', { name: 'History' }).click();
  await waitReady(page, 'history');
  assert.ok((await page.locator('.runs-table').innerText()).includes(name));
  await assertInert('history');
  // The HTML export (made by the server) escapes the same texts.
  const exp = await api('GET', `/api/v1/runs/${runId}/export.html`);
  assert.equal(exp.status, 200);
  assert.ok(!exp.text.includes(SCRIPT), 'the HTML export escapes the target\'s text');

  // The editor and Try it: names in fields, the target's headers and bodies as text.
  await page.goto(`${srv.base}/#/tests/${created.json.id}/edit`);
  await waitReady(page, 'editor');
  assert.equal(await page.locator('[data-path="name"] input').inputValue(), name);
  assert.equal(await page.locator('[data-path="users[0].tasks[0].steps[0].request.name"] input').inputValue(), `GET /header ${IMG}`);
  await assertInert('editor');
  await page.getByRole('button', { name: 'Try it', exact: true }).first().click();
  await page.locator('.try-item').nth(2).waitFor({ timeout: 15000 });
  await page.locator('.try-item').first().locator('summary', { hasText: 'Response' }).click();
  const first = await page.locator('.try-item').first().innerText();
  assert.ok(first.includes(`X-Evil\n${SCRIPT}`) || first.includes(`X-Evil\t${SCRIPT}`), `a header as text: ${first}`);
  assert.ok(first.includes(`<html>${SCRIPT}</html>`), 'a body as text');
  assert.ok((await page.locator('.try-item').nth(1).innerText()).includes(IMG));
  await shot(page, 'escaping-try');
  await assertInert('try it');
  assert.deepEqual(errors, []);
});
