// webhooks.test.mjs - webhooks on the real daemon (docs/api-webhooks.md), with receivers on
// loopback in this process: one that answers 200, one that fails twice and then answers, one
// that always fails, and one that accepts the connection and never answers.
//
// Each event reaches a receiver exactly once, signed (X-Stampede-Signature-256, checked here
// with node's own HMAC) with the documented body and no secret in it; a Slack receiver gets an
// incoming-webhook body; a failing receiver gets its retries (shortened by the test hook
// STAMPEDE_TEST_WEBHOOK_RETRY) and the log shows each; a hanging receiver delays neither the
// run nor another receiver; the webhook allowlist, not the target allowlist, decides what a
// delivery may reach, after DNS; a run aborted by a kill -9 is told at the next start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStampede, startShop, tempDir, sleep, login, createToken } from '../lib/harness.mjs';

const RETRY = '200,1500'; // first retry after 200 ms, none started 1.5 s after the event
const TEST_SECRET = 'S3cr3t-in-the-definition-77f1';
let shop, srv, dir;
const recv = {};

/** A receiver on 127.0.0.1: answer(req index) gives the status, or null to never answer. */
function receiver(answer = () => 200) {
  return new Promise((resolve) => {
    const got = [];
    const hung = new Set();
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const n = got.length;
        got.push({ at: Date.now(), path: req.url, headers: req.headers, body, json: JSON.parse(body) });
        const status = answer(n);
        if (status === null) { hung.add(res); return; }
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(status === 200 ? 'ok' : 'no');
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        got, port, url: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => { for (const x of hung) x.destroy(); server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

async function call(method, p, body, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : { ...srv.headers };
  const init = { method, headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(srv.base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

async function waitFor(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function hook(body) {
  const r = await call('POST', '/api/v1/webhooks', body);
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.secret, /^whsec_[0-9a-f]{64}$|.{16,}/);
  return r.json;
}

function definition(name, { fail = false } = {}) {
  return {
    name,
    base_url: shop.url,
    secrets: { api_key: TEST_SECRET },
    users: [{ name: 'u', think: { constant: '100ms' }, tasks: [{ request: {
      url: fail ? '/api/v1/no-such-thing' : '/api/v1/products', name: 'GET /products',
      headers: { 'X-Api-Key': '{{secret.api_key}}' } } }] }],
    load: { users: 1, duration: '1s' },
    thresholds: ['error_rate < 1%'],
  };
}

async function runTest(testId) {
  const r = await call('POST', `/api/v1/tests/${testId}/runs`, {});
  assert.equal(r.status, 201, r.text);
  return waitFor(`run ${r.json.id} to end`, async () => {
    const x = await call('GET', `/api/v1/runs/${r.json.id}`);
    return ['queued', 'running'].includes(x.json.status) ? null : x.json;
  });
}

function verify(secret, delivery) {
  const want = `sha256=${crypto.createHmac('sha256', secret).update(delivery.body).digest('hex')}`;
  assert.equal(delivery.headers['x-stampede-signature-256'], want, 'the signature is HMAC-SHA256 of the body');
}

const hooks = {};
const testIds = {};

before(async () => {
  shop = await startShop(['--quiet']);
  recv.good = await receiver();
  recv.slack = await receiver();
  recv.flaky = await receiver((n) => (n < 2 ? 500 : 200));
  recv.broken = await receiver(() => 500);
  recv.hang = await receiver(() => null);
  dir = tempDir();
  srv = await startStampede([], { dir, env: { STAMPEDE_TEST_WEBHOOK_RETRY: RETRY } });
  testIds.pass = (await call('POST', '/api/v1/tests', definition('passes'))).json.id;
  testIds.fail = (await call('POST', '/api/v1/tests', definition('fails', { fail: true }))).json.id;
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
  for (const r of Object.values(recv)) await r.close();
});

test('only admins manage webhooks; bad ones are refused by field; the secret is shown once', async () => {
  const password = 'viewer-password-1234';
  assert.equal((await call('POST', '/api/v1/users', { name: 'viewer1', role: 'viewer', password })).status, 201);
  const tester = 'tester-password-1234';
  assert.equal((await call('POST', '/api/v1/users', { name: 'tester1', role: 'tester', password: tester })).status, 201);
  const vt = (await createToken(srv.base, await login(srv.base, 'viewer1', password), 'v')).token;
  const tt = (await createToken(srv.base, await login(srv.base, 'tester1', tester), 't')).token;
  for (const t of [vt, tt]) {
    assert.equal((await call('GET', '/api/v1/webhooks', undefined, t)).status, 403);
    assert.equal((await call('POST', '/api/v1/webhooks', { url: recv.good.url, events: ['run.ended'] }, t)).status, 403);
    assert.equal((await call('GET', '/api/v1/webhooks/deliveries', undefined, t)).status, 403);
  }
  const cases = [
    [{ url: 'ftp://127.0.0.1/x', events: ['run.ended'] }, 'url', /http or https/],
    [{ url: 'not a url', events: ['run.ended'] }, 'url', /absolute http/],
    [{ url: recv.good.url, events: ['run.finished'] }, 'events[0]', /unknown event \(did you mean 'run.failed'\?\)|unknown event/],
    [{ url: recv.good.url, events: ['run.ended', 'run.ended'] }, 'events[1]', /listed twice/],
    [{ url: recv.good.url, events: [] }, 'events', /1 to 8 events/],
    [{ url: recv.good.url, events: ['run.ended'], secret: 'short' }, 'secret', /16 to 256/],
    [{ url: recv.good.url, events: ['run.ended'], format: 'teams' }, 'format', /stampede.*slack/],
    [{ url: recv.good.url, events: ['run.ended'], evnts: 1 }, 'evnts', /did you mean 'events'/],
    [{ events: ['run.ended'] }, 'url', /required/],
  ];
  for (const [body, path, msg] of cases) {
    const r = await call('POST', '/api/v1/webhooks', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.path, path, r.text);
    assert.match(r.json.errors[0].message, msg);
  }
  assert.equal((await call('GET', '/api/v1/webhooks')).json.items.length, 0, 'nothing stored');

  // Every documented event name is accepted, those that nothing fires yet included.
  const all = await hook({ url: `${recv.good.url}/all`, name: 'all events', events: ['run.ended', 'run.failed', 'run.regressed', 'run.aborted', 'agent.lost'], enabled: false });
  assert.equal(all.enabled, false);
  const got = await call('GET', `/api/v1/webhooks/${all.id}`);
  assert.equal(got.json.secret, undefined, 'the secret is never shown again');
  assert.equal((await call('GET', '/api/v1/webhooks')).json.items[0].secret, undefined);
  const rot = await call('PUT', `/api/v1/webhooks/${all.id}`, { rotate_secret: true });
  assert.equal(rot.status, 200, rot.text);
  assert.match(rot.json.secret, /^whsec_[0-9a-f]{64}$/);
  assert.notEqual(rot.json.secret, all.secret);
  assert.equal((await call('DELETE', `/api/v1/webhooks/${all.id}`)).status, 204);
  const audit = (await call('GET', '/api/v1/audit?action=webhook&limit=100')).json.entries;
  assert.ok(audit.some((e) => e.action === 'webhook.create'));
  assert.ok(audit.some((e) => e.action === 'webhook.update' && /a new secret/.test(e.detail)));
  assert.ok(audit.every((e) => !/\/all/.test(e.detail ?? '') && !e.detail?.includes(all.secret)), 'the audit log names the origin only, never the path or secret');
});

test('each event reaches each receiver exactly once, signed, with the documented body', async () => {
  hooks.good = await hook({ url: `${recv.good.url}/stampede?x=1`, name: 'good', events: ['run.ended', 'run.failed'], secret: 'a-secret-the-admin-chose-0123' });
  assert.equal(hooks.good.secret, 'a-secret-the-admin-chose-0123');
  hooks.slack = await hook({ url: `${recv.slack.url}/services/T0/B0/XYZ`, name: 'slack', events: ['run.failed'], format: 'slack' });
  hooks.hang = await hook({ url: recv.hang.url, name: 'hangs', events: ['run.ended'] });

  const passed = await runTest(testIds.pass);
  assert.equal(passed.status, 'passed');
  const ended = Date.now();
  await waitFor('the passed run\'s delivery', () => recv.good.got.length >= 1);
  const failed = await runTest(testIds.fail);
  assert.equal(failed.status, 'failed');
  await waitFor('the failed run\'s deliveries', () => recv.good.got.length >= 3 && recv.slack.got.length >= 1);
  await sleep(800); // time for a duplicate to show up, if there were one

  // The hanging receiver holds up neither the run nor the other receiver.
  assert.ok(recv.hang.got.length >= 1, 'the hanging receiver was called');
  assert.ok(passed.ended_at - passed.started_at < 2500, `the run took ${passed.ended_at - passed.started_at} ms`);
  assert.ok(recv.good.got[0].at - ended < 1500, 'the other receiver was served at once');

  const events = recv.good.got.map((d) => `${d.json.run.id}:${d.json.event}`).sort();
  assert.deepEqual(events, [`${failed.id}:run.ended`, `${failed.id}:run.failed`, `${passed.id}:run.ended`].sort());
  for (const d of recv.good.got) {
    verify(hooks.good.secret, d);
    assert.equal(d.path, '/stampede?x=1');
    assert.equal(d.headers['content-type'], 'application/json');
    assert.equal(d.headers['x-stampede-event'], d.json.event);
    assert.match(d.headers['x-stampede-delivery'], /^\d+$/);
    assert.equal(d.headers['x-stampede-attempt'], '1');
    assert.match(d.headers['user-agent'], /^Stampede-Webhooks\//);
    assert.deepEqual(Object.keys(d.json).sort(), ['created_at', 'event', 'figures', 'links', 'run', 'server', 'verdicts']);
    assert.deepEqual(Object.keys(d.json.run).sort(), ['created_at', 'duration_s', 'ended_at', 'error', 'id', 'origin', 'revision',
      'schedule_id', 'started_at', 'started_by', 'status', 'test_id', 'test_name']);
    assert.equal(d.json.server, srv.base);
    assert.equal(d.json.links.report, `${srv.base}/api/v1/runs/${d.json.run.id}/export.html`);
    assert.equal(d.json.links.run, `${srv.base}/#/runs/${d.json.run.id}`);
    assert.equal(d.json.run.origin, 'manual');
    assert.ok(d.json.figures.requests > 0);
    assert.equal(typeof d.json.figures.p95_ms, 'number');
    assert.equal(d.json.verdicts[0].threshold, 'error_rate < 1%');
    assert.ok(!d.body.includes(TEST_SECRET), 'no secret of the test in a body');
    assert.ok(!d.body.includes(hooks.good.secret), 'no webhook secret in a body');
  }
  const f = recv.good.got.find((d) => d.json.event === 'run.failed');
  assert.equal(f.json.run.status, 'failed');
  assert.equal(f.json.verdicts[0].passed, false);

  // Slack: one message for the failed run only, escaped text with links to this server.
  assert.equal(recv.slack.got.length, 1);
  const s = recv.slack.got[0];
  verify(hooks.slack.secret, s);
  assert.match(s.json.text, new RegExp(`^<${srv.base}/#/runs/${failed.id}\\|Run #${failed.id}> of \\*fails\\* failed its thresholds`));
  assert.match(s.json.text, /Thresholds: 0 of 1 held/);
  assert.equal(s.json.blocks[0].type, 'section');
  assert.match(s.json.blocks[1].elements[0].text, /export\.html\|HTML report>/);

  // The log: one delivered entry per event, the hanging ones still in flight or retried.
  const log = (await call('GET', `/api/v1/webhooks/deliveries?webhook_id=${hooks.good.id}`)).json.items;
  assert.equal(log.length, 3);
  assert.ok(log.every((d) => d.state === 'delivered' && d.attempts === 1 && d.last_status === 200 && d.last_error === null));
  const one = await call('GET', `/api/v1/webhooks/deliveries/${log[0].id}`);
  assert.equal(one.json.body, recv.good.got.find((d) => d.headers['x-stampede-delivery'] === String(log[0].id)).body, 'the log keeps the bytes sent');
  // Not re-sent by anything that follows (a restart below included).
  hooks.goodCount = recv.good.got.length;
});

test('a failing receiver gets its retries with back-off, and the log shows each; an admin resends', async () => {
  hooks.flaky = await hook({ url: recv.flaky.url, name: 'flaky', events: ['run.ended'] });
  hooks.broken = await hook({ url: recv.broken.url, name: 'broken', events: ['run.ended'] });
  const run = await runTest(testIds.pass);
  const flaky = await waitFor('the flaky receiver to get it', async () => {
    const d = (await call('GET', `/api/v1/webhooks/deliveries?webhook_id=${hooks.flaky.id}`)).json.items[0];
    return d?.state === 'delivered' ? d : null;
  });
  assert.equal(flaky.attempts, 3);
  assert.equal(flaky.last_status, 200);
  assert.deepEqual(recv.flaky.got.map((d) => d.headers['x-stampede-attempt']), ['1', '2', '3']);
  assert.ok(recv.flaky.got.every((d) => d.body === recv.flaky.got[0].body), 'every attempt sends the same bytes');
  const gaps = [1, 2].map((i) => recv.flaky.got[i].at - recv.flaky.got[i - 1].at);
  assert.ok(gaps[0] >= 180 && gaps[1] >= 380 && gaps[1] > gaps[0], `back-off doubles: ${gaps}`);

  const broken = await waitFor('the broken receiver to be given up', async () => {
    const d = (await call('GET', `/api/v1/webhooks/deliveries?webhook_id=${hooks.broken.id}`)).json.items[0];
    return d?.state === 'failed' ? d : null;
  });
  assert.equal(broken.run_id, run.id);
  assert.equal(broken.attempts, 4, 'attempts until the retry window (1.5 s here) is over');
  assert.equal(recv.broken.got.length, 4);
  assert.equal(broken.last_status, 500);
  assert.equal(broken.last_error, 'the receiver answered HTTP 500');
  assert.equal(broken.next_attempt_at, null);

  const again = await call('POST', `/api/v1/webhooks/deliveries/${broken.id}/resend`);
  assert.equal(again.status, 202, again.text);
  assert.equal(again.json.redelivery_of, broken.id);
  await waitFor('the resent delivery to arrive', () => recv.broken.got.length >= 5);
  assert.equal(recv.broken.got[4].body, recv.broken.got[0].body);
  assert.equal(recv.broken.got[4].headers['x-stampede-delivery'], String(again.json.id));
  const audit = (await call('GET', '/api/v1/audit?action=webhook.resend')).json.entries;
  assert.equal(audit[0].object, `webhooks/deliveries/${broken.id}`);
  for (const h of [hooks.flaky, hooks.broken]) await call('PUT', `/api/v1/webhooks/${h.id}`, { enabled: false });
});

test('the webhook allowlist, not the target allowlist, decides what a delivery may reach (after DNS)', async () => {
  let r = await call('PUT', '/api/v1/settings/webhook-allowlist', { entries: ['10.0.0.0/8', 'localhost:1'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.entries, ['10.0.0.0/8', 'localhost:1']);
  r = await call('PUT', '/api/v1/settings/webhook-allowlist', { entries: ['10.0.0.0/40'] });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.path, 'entries[0]');
  // A ping to a receiver outside the list: refused when connecting, never received.
  const before = recv.good.got.length;
  r = await call('POST', `/api/v1/webhooks/${hooks.good.id}/ping`);
  assert.equal(r.status, 202, r.text);
  const blocked = await waitFor('the ping to be refused', async () => {
    const d = (await call('GET', `/api/v1/webhooks/deliveries/${r.json.id}`)).json;
    return d.attempts >= 1 && d.last_error ? d : null;
  });
  assert.equal(blocked.last_error, `127.0.0.1:${recv.good.port} is not in the webhook allowlist`);
  assert.equal(blocked.last_status, null);
  assert.equal(recv.good.got.length, before);
  // A host name that resolves to the receiver: judged by the address it resolves to.
  await call('PUT', `/api/v1/webhooks/${hooks.good.id}`, { url: `http://localhost:${recv.good.port}/stampede?x=1` });
  r = await call('POST', `/api/v1/webhooks/${hooks.good.id}/ping`);
  const byName = await waitFor('the ping by name to be refused', async () => {
    const d = (await call('GET', `/api/v1/webhooks/deliveries/${r.json.id}`)).json;
    return d.attempts >= 1 && d.last_error ? d : null;
  });
  assert.match(byName.last_error, /is not in the webhook allowlist/);

  // The target allowlist holds only the shop: webhooks go on, runs too.
  r = await call('PUT', '/api/v1/settings/allowlist', { entries: [`127.0.0.1:${shop.port}`] });
  assert.equal(r.status, 200, r.text);
  r = await call('PUT', '/api/v1/settings/webhook-allowlist', { entries: [`127.0.0.1:${recv.good.port}`] });
  assert.equal(r.status, 200, r.text);
  await call('PUT', `/api/v1/webhooks/${hooks.good.id}`, { url: `${recv.good.url}/stampede?x=1` });
  r = await call('POST', `/api/v1/webhooks/${hooks.good.id}/ping`);
  await waitFor('the ping to arrive', () => recv.good.got.some((d) => d.json.event === 'ping'));
  const ping = recv.good.got.find((d) => d.json.event === 'ping');
  verify(hooks.good.secret, ping);
  assert.equal(ping.json.webhook.id, hooks.good.id);
  const run = await runTest(testIds.pass);
  await waitFor('the run\'s delivery through both allowlists', () => recv.good.got.some((d) => d.json.run?.id === run.id));
  for (const p of ['/api/v1/settings/allowlist', '/api/v1/settings/webhook-allowlist'])
    assert.equal((await call('PUT', p, { entries: [] })).status, 200);
  hooks.goodCount = recv.good.got.length;
});

test('a run aborted by a kill -9 is told at the next start; nothing is delivered twice', async () => {
  hooks.aborted = await hook({ url: `${recv.good.url}/aborted`, name: 'aborted', events: ['run.aborted'] });
  const r = await call('POST', `/api/v1/tests/${testIds.pass}/runs`, { users: 1, duration: '30s' });
  assert.equal(r.status, 201, r.text);
  await sleep(1200);
  srv.proc.kill('SIGKILL');
  await srv.exited;
  srv = await startStampede([], { dir, env: { STAMPEDE_TEST_WEBHOOK_RETRY: RETRY } });
  await waitFor('the aborted run to be told', () => recv.good.got.filter((d) => d.json.run?.id === r.json.id).length >= 2);
  await sleep(800);
  const told = recv.good.got.filter((d) => d.json.run?.id === r.json.id);
  assert.deepEqual(told.map((d) => `${d.path}:${d.json.event}:${d.json.run.status}`).sort(),
    ['/aborted:run.aborted:aborted', '/stampede?x=1:run.ended:aborted']);
  // Everything before the kill was delivered once only.
  assert.equal(recv.good.got.length, hooks.goodCount + 2);
  const log = (await call('GET', `/api/v1/webhooks/deliveries?webhook_id=${hooks.aborted.id}`)).json.items;
  assert.equal(log.length, 1);
  assert.equal(log[0].event, 'run.aborted');
});

test('openapi.json describes the webhook routes as admin routes', async () => {
  const doc = (await call('GET', '/api/v1/openapi.json')).json;
  const want = [
    ['get', '/api/v1/webhooks'], ['post', '/api/v1/webhooks'], ['get', '/api/v1/webhooks/{id}'],
    ['put', '/api/v1/webhooks/{id}'], ['delete', '/api/v1/webhooks/{id}'], ['post', '/api/v1/webhooks/{id}/ping'],
    ['get', '/api/v1/webhooks/deliveries'], ['get', '/api/v1/webhooks/deliveries/{id}'],
    ['post', '/api/v1/webhooks/deliveries/{id}/resend'],
    ['get', '/api/v1/settings/webhook-allowlist'], ['put', '/api/v1/settings/webhook-allowlist'],
  ];
  for (const [m, p] of want) {
    assert.ok(doc.paths[p]?.[m], `${m} ${p} missing`);
    assert.equal(doc.paths[p][m]['x-permission'], 'admin', `${m} ${p}`);
  }
  const n = Object.entries(doc.paths).filter(([p]) => /webhook/.test(p)).reduce((k, [, i]) => k + Object.keys(i).length, 0);
  assert.equal(n, want.length);
});
