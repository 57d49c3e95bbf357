// schedules.test.mjs - schedules and webhooks in Chromium against the real daemon: on a test's
// page, a mistyped cron expression is named by its field as it is typed, a schedule is added
// (its next five fire times shown on saving, on the clock of its zone) and paused; in
// Settings, a webhook is added (its secret shown once), pinged at a receiver that fails, and
// the delivery log shows the attempts and the error, and sends it again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { skipReason, launch, newPage, startServer, hasAuth, apiClient, openDashboard, waitReady, shot } from '../lib/browser.mjs';

let skip = skipReason() || false;
let srv, browser, page, api, receiver, receiverPort;
const errors = [];
const got = [];

before(async () => {
  if (skip) return;
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { got.push({ headers: req.headers, body }); res.writeHead(500); res.end('no'); });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  receiverPort = receiver.address().port;
  // Retries after 400 ms, then 800 ms (at 0.4 s and 1.2 s), none started after 2 s (the fourth
  // would be at 2.8 s): three attempts, then given up, with 0.8 s to spare for a busy machine.
  srv = await startServer([], { env: { STAMPEDE_TEST_WEBHOOK_RETRY: '400,2000' } });
  if (!(await hasAuth(srv))) { skip = 'this build has no access control'; return; }
  api = await apiClient(srv);
  browser = await launch();
  page = await newPage(browser, errors);
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (receiver) await new Promise((r) => receiver.close(r));
});

test('a schedule is added on the test page, with its next fire times, and paused', async (t) => {
  if (skip) { t.skip(skip); return; }
  const created = await api('POST', '/api/v1/tests', {
    name: 'Nightly checkout', base_url: 'http://127.0.0.1:9',
    users: [{ name: 'u', tasks: [{ request: { url: '/', name: 'GET /' } }] }],
    load: { users: 2, duration: '10s' },
  });
  assert.equal(created.status, 201, created.text);
  const id = created.json.id;
  await openDashboard(page, srv, 'admin', undefined, `#/tests/${id}/edit`);
  await waitReady(page, 'editor');
  await page.getByRole('tab', { name: 'Schedules' }).click();
  const panel = page.locator('#panel-schedules');
  await panel.getByText('No schedules').waitFor();

  // A mistake is named by its field while typing; the fix shows the next fire times.
  await panel.getByLabel('Time zone').fill('Europe/Berlin');
  await panel.getByLabel('Cron expression').fill('0 25 * * 1-5');
  await panel.locator('.schedule-preview [role="alert"]', { hasText: "cron: hour: '25' is out of range 0-23" }).waitFor();
  await panel.getByLabel('Cron expression').fill('0 2 * * 1-5');
  await panel.locator('.schedule-preview li').nth(4).waitFor();
  const previewed = await panel.locator('.schedule-preview li').allTextContents();
  assert.equal(previewed.length, 5);
  for (const p of previewed) assert.match(p, /^(Mon|Tue|Wed|Thu|Fri) \d+ \w{3} \d{4}, 02:00 \(\+0[12]:00\)$/);
  await panel.getByLabel('Users (optional)').fill('3');
  await panel.getByLabel('Duration (optional)').fill('1m');
  await panel.getByLabel('If a run of this test is still going').selectOption('queue');
  await panel.getByRole('button', { name: 'Add schedule' }).click();

  // Saved: the next five fire times, as the server computed them, and the schedule's card.
  const saved = panel.locator('.schedule-saved');
  await saved.waitFor();
  assert.match(await saved.textContent(), /Schedule saved: “0 2 \* \* 1-5” in Europe\/Berlin/);
  assert.equal(await saved.locator('li').count(), 5);
  const card = panel.locator('article.schedule');
  await card.waitFor();
  assert.match(await card.textContent(), /Active/);
  assert.match(await card.textContent(), /Runs 3 users, 1m\. If a run of this test is still going: wait for it, then run\./);
  assert.equal(await card.locator('.next-fires li').count(), 5);
  assert.match(await card.locator('.last-fires, p.muted').last().textContent(), /Not fired yet/);
  await shot(page, 'schedules-added');

  const sid = await card.getAttribute('data-schedule-id');
  await card.getByRole('button', { name: `Pause schedule ${sid}` }).click();
  await page.locator('.toast', { hasText: 'Schedule paused.' }).waitFor();
  await panel.locator('.schedule-paused-mark').waitFor();
  await card.getByRole('button', { name: `Resume schedule ${sid}` }).waitFor();
  await shot(page, 'schedules-paused');
  const s = await api('GET', `/api/v1/schedules/${sid}`);
  assert.equal(s.json.paused, true);
  assert.equal(s.json.cron, '0 2 * * 1-5');
  assert.equal(s.json.timezone, 'Europe/Berlin');
  assert.deepEqual(s.json.overrides, { users: 3, duration: '1m' });
  assert.equal(s.json.if_running, 'queue');
  assert.equal(s.json.owner, 'admin');
  const audit = await api('GET', '/api/v1/audit?action=schedule');
  assert.deepEqual(audit.json.entries.map((e) => e.action).sort(), ['schedule.create', 'schedule.pause']);

  // Reloading the page with ?tab=schedules shows it paused.
  await page.goto(`${srv.base}/#/tests/${id}/edit?tab=schedules`);
  await waitReady(page, 'editor');
  await page.locator('#panel-schedules .schedule-paused-mark').waitFor();
  assert.deepEqual(errors, []);
});

test('the webhook log in Settings shows the attempts and the error, and sends a delivery again', async (t) => {
  if (skip) { t.skip(skip); return; }
  await page.goto(`${srv.base}/#/settings`);
  await waitReady(page, 'settings');
  const hooks = page.getByRole('region', { name: 'Webhooks' });
  await hooks.getByLabel('Receiver URL').fill(`http://127.0.0.1:${receiverPort}/hook`);
  await hooks.getByLabel('Name (optional)').fill('ops channel');
  await hooks.getByRole('button', { name: 'Add webhook' }).click();
  const secret = hooks.getByLabel('The secret of ops channel');
  await secret.waitFor();
  assert.match(await secret.inputValue(), /^whsec_[0-9a-f]{64}$/);
  const row = hooks.locator('tr[data-webhook]', { hasText: 'ops channel' });
  await row.waitFor();
  assert.match(await row.textContent(), /run\.ended, run\.failed/);

  await hooks.getByRole('button', { name: 'Send a test delivery to ops channel' }).click();
  await page.locator('.toast', { hasText: 'Test delivery to ops channel sent.' }).waitFor();
  // Three attempts (400 ms, then 800 ms apart), then given up: the log says so.
  const log = hooks.locator('.deliveries-table');
  for (let i = 0; i < 50; i++) {
    await hooks.getByRole('button', { name: 'Refresh' }).click();
    if (await log.locator('tr[data-delivery] .badge', { hasText: 'failed' }).count()) break;
    await page.waitForTimeout(200);
  }
  const first = log.locator('tr[data-delivery]').first();
  assert.match(await first.textContent(), /ping/);
  assert.match(await first.textContent(), /failed/);
  assert.match(await first.textContent(), /HTTP 500/);
  assert.match(await first.textContent(), /the receiver answered HTTP 500/);
  assert.equal((await first.locator('td.num').textContent()).trim(), '3');
  assert.equal(got.length, 3);
  await shot(page, 'webhooks-log');

  const id = await first.getAttribute('data-delivery');
  await first.getByRole('button', { name: `Resend delivery ${id}` }).click();
  await page.locator('.toast', { hasText: /Sent again as delivery #\d+/ }).waitFor();
  await log.locator('tr[data-delivery]', { hasText: `resent #${id}` }).waitFor({ timeout: 5000 }).catch(async () => {
    await hooks.getByRole('button', { name: 'Refresh' }).click();
    await log.locator('tr[data-delivery]', { hasText: `resent #${id}` }).waitFor();
  });
  assert.ok(got.length >= 4, 'the resent delivery reached the receiver');
  assert.equal(got[3].body, got[0].body, 'with the same body');
  assert.deepEqual(errors, []);
});
