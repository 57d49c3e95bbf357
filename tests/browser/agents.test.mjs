// agents.test.mjs - the dashboard's side of distributed load (issue 17) in Chromium, against a
// real daemon with access control, real `stampede agent` processes on loopback and the real
// demo shop. An admin creates an agent token in Settings (shown once, with Copy); two agents
// (near, far) connect with it and the Agents page lists them, refreshing itself; the start
// dialog takes shares per location (refused with the reason unless they add up to 100) and
// sends them as "locations"; the run page breaks the figures down by location and names the
// agents' health; a live run page draws the total and one line per location; revoking the token on the Agents page drops the agents. Pages fit 390 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipReason, launch, newPage, startServer, hasAuth, apiClient, openDashboard, waitReady, shot } from '../lib/browser.mjs';
import { STAMPEDE_BIN, startShop, startProcess, sleep, waitFor as waitForHarness } from '../lib/harness.mjs';

let skip = skipReason() || false;
let srv, shop, browser, page, api, testId;
const agents = [];
const errors = [];

before(async () => {
  if (skip) return;
  srv = await startServer();
  if (!(await hasAuth(srv))) { skip = 'this build has no access control (GET /api/v1/auth/me is 404)'; return; }
  shop = await startShop(['--quiet']);
  api = await apiClient(srv);
  const r = await api('POST', '/api/v1/tests', {
    name: 'across locations', base_url: shop.url,
    users: [{ name: 'u', think: { constant: '50ms' }, tasks: [{ steps: [
      { request: { url: '/api/v1/products', name: 'GET /products' } },
      { request: { url: '/api/v1/categories', name: 'GET /categories' } }] }] }],
    load: { users: 4, duration: '3s' },
  });
  assert.equal(r.status, 201, r.text);
  testId = r.json.id;
  browser = await launch();
  page = await newPage(browser, errors);
});

after(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

const waitFor = (what, cond, timeoutMs = 15000) => waitForHarness(what, cond, timeoutMs, 100);

const agentList = async () => (await api('GET', '/api/v1/agents')).json.agents;
const digits = (s) => Number(String(s).replace(/[^0-9]/g, ''));
const shopCount = async (route) => Object.values((await (await fetch(`${shop.url}/__stats`)).json()).endpoints[route] || {}).reduce((a, b) => a + b, 0);

test('agent tokens, the Agents page, a start across locations and its run page', async (t) => {
  if (skip) { t.skip(skip); return; }
  await openDashboard(page, srv);

  // Settings: an agent token, shown once with a Copy button, listed without its secret.
  await page.goto(`${srv.base}/#/settings`);
  await waitReady(page, 'settings');
  const sect = page.getByRole('region', { name: 'Agent tokens' });
  await sect.getByLabel('Agent token name').fill('loopback agents');
  await sect.getByRole('button', { name: 'Create agent token' }).click();
  const shown = sect.getByLabel('The agent token loopback agents');
  await shown.waitFor();
  const token = await shown.inputValue();
  assert.ok(token.length >= 20, token);
  await sect.getByRole('button', { name: 'Copy' }).waitFor();
  const listed = (await api('GET', '/api/v1/agent-tokens')).json.items;
  assert.equal(listed.length, 1);
  assert.equal(listed[0].name, 'loopback agents');
  assert.equal(await sect.locator(`tr[data-agent-token="${listed[0].id}"]`).count(), 1);
  assert.ok(!(await sect.locator('table').innerText()).includes(token), 'the list never shows the secret');

  // Two agents with it; the Agents page, already open, finds them by itself.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents', exact: true }).click();
  await waitReady(page, 'agents');
  for (const [name, loc] of [['ag-near', 'near'], ['ag-far', 'far']]) {
    agents.push(await startProcess(STAMPEDE_BIN, ['agent', '--server', srv.base, '--token', token,
      '--location', loc, '--name', name, '--threads', '1']));
  }
  const near = page.locator('tr[data-agent="ag-near"]');
  await near.waitFor({ timeout: 15000 });
  await page.locator('tr[data-agent="ag-far"]').waitFor({ timeout: 15000 });
  const cells = await near.locator('td').allInnerTexts();
  assert.equal(cells[1], 'near');
  assert.match(cells[2], /idle/);
  assert.match(cells[3], /^\d+\.\d+/);
  assert.ok(Number(cells[4]) >= 1, cells[4]);
  assert.match(cells[5], /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
  assert.equal(cells[7], '–', 'no CPU outside a run');

  // The start dialog: shares must add up to 100, and the dialog says why not.
  await page.goto(`${srv.base}/#/tests`);
  await waitReady(page, 'tests');
  await page.getByRole('button', { name: 'Start' }).first().click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('near (%)').fill('70');
  await dlg.getByLabel('far (%)').fill('20');
  await dlg.locator('.share-sum', { hasText: 'add up to 90%' }).waitFor();
  await dlg.getByRole('button', { name: 'Start run' }).click();
  await dlg.getByRole('alert').filter({ hasText: 'locations: the shares add up to 90%, not 100%' }).waitFor();
  assert.equal((await api('GET', '/api/v1/runs')).json.items.length, 0, 'nothing was started');
  await dlg.getByLabel('far (%)').fill('30');
  const before = await shopCount('GET /api/v1/products');
  const sent = page.waitForRequest((r) => r.method() === 'POST' && /\/api\/v1\/tests\/\d+\/runs$/.test(r.url()));
  await dlg.getByRole('button', { name: 'Start run' }).click();
  assert.deepEqual((await sent).postDataJSON().locations, { near: 70, far: 30 });
  await page.waitForURL(/#\/runs\/\d+$/);
  const runId = Number(page.url().split('/').pop());

  // While it runs, the Agents page shows the run linked; then the run page's breakdown.
  await page.goto(`${srv.base}/#/agents`);
  await waitReady(page, 'agents');
  await near.getByRole('link', { name: `run ${runId}` }).waitFor({ timeout: 10000 }).catch(() => { /* a 3 s run may end first */ });
  await page.goto(`${srv.base}/#/runs/${runId}`);
  await waitReady(page, 'report', 30000);
  const ended = (await api('GET', `/api/v1/runs/${runId}`)).json;
  const locs = ended.summary.locations;
  assert.deepEqual(Object.keys(locs).sort(), ['far', 'near']);
  const served = (await shopCount('GET /api/v1/products')) - before;
  assert.equal(locs.near.names['GET /products'].requests + locs.far.names['GET /products'].requests, served);
  const table = page.getByRole('table', { name: 'Figures per location' });
  for (const loc of ['near', 'far']) {
    const cellsL = await table.locator(`tr[data-location="${loc}"] td`).allInnerTexts();
    assert.equal(cellsL[0], loc);
    assert.equal(digits(cellsL[1]), locs[loc].requests);
    const nameRow = await table.locator(`tr[data-location="${loc}"][data-name="GET /products"] td`).allInnerTexts();
    assert.equal(digits(nameRow[1]), locs[loc].names['GET /products'].requests);
  }
  // The finished page draws the stored per-location seconds as the live one did.
  for (const chart of ['Requests per second', 'Response time']) {
    const fig = page.locator(`figure.chart[aria-label="${chart}"][data-series="3"]`);
    await fig.waitFor({ timeout: 5000 });
    const labels = await fig.locator('.u-legend .u-series .u-label').allInnerTexts();
    assert.ok(labels.includes('near') || labels.includes('near p95'), labels.join('|'));
  }
  const health = page.getByRole('table', { name: 'Agents of the run' });
  await health.locator('tr[data-agent="ag-far"]').waitFor();
  await page.setViewportSize({ width: 390, height: 800 });
  await sleep(300);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'the run page fits 390 px');
  await shot(page, 'agents-run-390');

  // Compare: per-location rows when both runs went across locations.
  await page.setViewportSize({ width: 1280, height: 800 });
  await waitFor('the agents idle', async () => (await agentList()).every((a) => a.state === 'idle'));
  const second = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 50, far: 50 }, duration: '6s' });
  assert.equal(second.status, 201, second.text);
  // Its live charts: the total and one line per location, the legend named by location.
  await page.goto(`${srv.base}/#/runs/${second.json.id}`);
  await waitReady(page, 'live');
  for (const [chart, want] of [['Requests per second', ['Total', 'far', 'near']], ['Response time', ['Total p95', 'far p95', 'near p95']]]) {
    const fig = page.locator(`figure.chart[aria-label="${chart}"]`);
    const labels = await waitFor(`${chart}: one line per location`, async () => {
      const l = await fig.locator('.u-legend .u-series .u-label').allInnerTexts();
      return l.length === 4 && (await fig.getAttribute('data-series')) === '3' && l;
    }, 8000);
    assert.deepEqual(labels.slice(1), want, `${chart}: ${labels.join('|')}`);
  }
  const run2 = await waitFor('the second run to end', async () => {
    const g = (await api('GET', `/api/v1/runs/${second.json.id}`)).json;
    return !['queued', 'running'].includes(g.status) && g;
  }, 30000);
  await page.goto(`${srv.base}/#/compare?runs=${runId},${run2.id}`);
  await waitReady(page, 'compare');
  const cmpTable = page.getByRole('table', { name: 'Per location against the baseline' });
  for (const loc of ['near', 'far']) {
    const r1 = await cmpTable.locator(`tr[data-location="${loc}"][data-run="${runId}"] td`).allInnerTexts();
    const r2 = await cmpTable.locator(`tr[data-location="${loc}"][data-run="${run2.id}"] td`).allInnerTexts();
    assert.equal(digits(r1[1]), locs[loc].requests, r1.join('|'));
    assert.equal(digits(r2[1]), run2.summary.locations[loc].requests, r2.join('|'));
  }

  // An agent killed mid-run: the run ends degraded and its page names the agent, its location
  // and the second it was lost.
  await waitFor('the agents idle', async () => (await agentList()).every((a) => a.state === 'idle'));
  const third = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 50, far: 50 }, duration: '5s' });
  assert.equal(third.status, 201, third.text);
  await waitFor('the run under way', async () => (await agentList()).every((a) => a.state === 'running'));
  await sleep(1500);
  await agents[1].stop('SIGKILL'); // ag-far
  const run3 = await waitFor('the third run to end', async () => {
    const g = (await api('GET', `/api/v1/runs/${third.json.id}`)).json;
    return !['queued', 'running'].includes(g.status) && g;
  }, 30000);
  assert.equal(run3.status, 'degraded', JSON.stringify(run3.summary?.agents_lost));
  const lost = run3.agents_lost.find((l) => l.name === 'ag-far');
  await page.goto(`${srv.base}/#/runs/${run3.id}`);
  await waitReady(page, 'report');
  assert.equal(await page.locator('.badge.st-degraded').first().innerText(), 'Degraded');
  assert.equal(await page.locator('.agents-lost li[data-agent="ag-far"]').innerText(), `ag-far (far) at second ${lost.second}`);

  // Revoking the token from the Agents page drops the agents at once.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${srv.base}/#/agents`);
  await waitReady(page, 'agents');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'the Agents page fits 390 px');
  await shot(page, 'agents-390');
  await page.setViewportSize({ width: 1280, height: 800 });
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Revoke agent token loopback agents' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click().catch(() => {});
  await page.locator('.toast', { hasText: 'Revoked “loopback agents”' }).waitFor();
  await waitFor('the agents dropped', async () => (await agentList()).every((a) => a.state === 'lost'), 5000);
  await waitFor('the page to show them gone', async () =>
    (await page.locator('tr[data-agent]').count()) === 0 || (await page.locator('tr[data-agent] .agent-state').allInnerTexts()).every((s) => /lost/.test(s)), 6000);
  assert.deepEqual(errors, []);
});
