// live_stall.test.mjs - a generator stall is said on the run page while the run goes, not only
// in the report afterwards: the daemon running the load is frozen (SIGSTOP) for 2 s while
// Chromium watches the live page, and the seconds it spent frozen, flagged as stalls in the live
// points, raise the "Generator stall" note before the run ends. The target is a node server that
// answers at once. The load is 2 VUs for 12 s against loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { sleep } from '../lib/harness.mjs';
import { skipReason, launch, newPage, startServer, openDashboard, waitReady, apiClient, shot } from '../lib/browser.mjs';

const skip = skipReason() || false;
let target, srv, browser, page;
const errors = [];

before(async () => {
  if (skip) return;
  target = http.createServer((req, res) => res.end('{}'));
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  srv = await startServer();
  browser = await launch();
  page = await newPage(browser, errors);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (target) await new Promise((r) => { target.closeAllConnections(); target.close(r); });
});

test('the live page says a generator stall while the run goes', { skip }, async () => {
  const api = await apiClient(srv);
  const c = await api('POST', '/api/v1/tests', {
    name: 'Live stall', base_url: `http://127.0.0.1:${target.address().port}`,
    users: [{ think: { constant_ms: 50 }, tasks: [{ steps: [{ request: { url: '/x', name: 'x' } }] }] }],
    load: { users: 2, duration: '12s' },
  });
  assert.equal(c.status, 201, c.text);
  const s = await api('POST', `/api/v1/tests/${c.json.id}/runs`, {});
  assert.equal(s.status, 201, s.text);
  await openDashboard(page, srv, undefined, undefined, `#/runs/${s.json.id}`);
  await waitReady(page, 'live');
  const note = page.locator('main .alert', { hasText: 'Generator stall' });
  assert.equal(await note.count(), 0, 'no stall before the freeze');
  await sleep(1500);
  process.kill(srv.proc.pid, 'SIGSTOP');
  await sleep(2200);
  process.kill(srv.proc.pid, 'SIGCONT');
  await note.waitFor({ timeout: 8000 });
  // Still the live page: the note came from the points, not from the report.
  assert.equal(await page.getAttribute('main', 'data-ready'), 'live');
  assert.match(await note.innerText(), /stalled in .*longest gap/);
  await shot(page, 'live-stall');
  assert.deepEqual(errors, []);
});
