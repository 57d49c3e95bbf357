// dashboard_api.test.mjs - the REST fields the dashboard reads, on the real daemon and shop:
// the live totals' status codes, error kinds, failure messages, model and planned time; live
// points over REST (the gap fill after a lost stream); the runs list's headline figures; the
// tests list's last run and recent p95s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { STAMPEDE_BIN, freePort, tempDir, startProcess, startShop, sleep } from '../lib/harness.mjs';

let shop, srv;

before(async () => {
  shop = await startShop();
  const port = await freePort();
  srv = await startProcess(STAMPEDE_BIN, ['serve', '--no-auth', '--listen', `127.0.0.1:${port}`, '--data-dir', tempDir(),
    '--live-port', String(await freePort())], { readyUrl: `http://127.0.0.1:${port}/api/v1/health` });
  srv.base = `http://127.0.0.1:${port}`;
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

async function api(method, p, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  const r = await fetch(srv.base + p, init);
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, text };
}

test('live totals, points, and the list figures the dashboard shows', async () => {
  const def = {
    name: 'Dashboard fields', base_url: shop.url,
    users: [{ name: 'u', think: { constant: '100ms' }, tasks: [{ steps: [
      { request: { url: '/api/v1/products', name: 'GET /products' } },
      { request: { url: '/api/v1/no-such-thing', name: 'GET /missing' }, expect: { status: [200], message: 'missing: {{status}}' } },
    ] }] }],
    load: { users: 2, duration: '3s' },
    thresholds: ['p95 < 1s'],
  };
  const created = await api('POST', '/api/v1/tests', def);
  assert.equal(created.status, 201, created.text);
  const id = created.json.id;
  let list = await api('GET', '/api/v1/tests?q=Dashboard');
  assert.equal(list.json.items[0].last_run, null);
  assert.deepEqual(list.json.items[0].recent, []);

  const started = await api('POST', `/api/v1/tests/${id}/runs`, {});
  assert.equal(started.status, 201, started.text);
  const runId = started.json.id;
  await sleep(1800);
  const live = (await api('GET', `/api/v1/runs/${runId}`)).json.live;
  assert.equal(live.model, 'closed');
  assert.equal(live.planned_s, 3);
  assert.ok(live.status['200'] > 0, JSON.stringify(live.status));
  assert.ok(live.status['404'] > 0, JSON.stringify(live.status));
  assert.ok(live.error_kinds.assertion > 0, JSON.stringify(live.error_kinds));
  assert.ok(live.failure_messages.some((f) => f.name === 'GET /missing' && f.message === 'missing: 404' && f.count > 0),
    JSON.stringify(live.failure_messages));
  assert.equal(typeof live.failures, 'number');

  const all = await api('GET', `/api/v1/runs/${runId}/points`);
  assert.equal(all.status, 200);
  assert.equal(all.json.status, 'running');
  assert.ok(all.json.seconds.length >= 1);
  const later = await api('GET', `/api/v1/runs/${runId}/points?from=1`);
  assert.ok(later.json.seconds.every((p) => p.second >= 1));
  assert.equal((await api('GET', `/api/v1/runs/${runId}/points?from=x`)).status, 400);
  assert.equal((await api('GET', '/api/v1/runs/999/points')).status, 404);

  for (let i = 0; i < 100; i++) {
    const r = await api('GET', `/api/v1/runs/${runId}`);
    if (!['running', 'queued'].includes(r.json.status)) break;
    await sleep(100);
  }
  const ended = await api('GET', `/api/v1/runs/${runId}/points`);
  assert.deepEqual(ended.json.seconds, []);
  assert.notEqual(ended.json.status, 'running');

  const runs = await api('GET', `/api/v1/runs?test_id=${id}`);
  const item = runs.json.items[0];
  assert.equal(item.id, runId);
  assert.ok(item.requests > 0);
  assert.ok(item.rps > 0);
  assert.ok(item.error_rate > 0 && item.error_rate < 1);
  assert.ok(item.p95 > 0);
  assert.ok(item.duration_s >= 2.5);
  assert.equal(item.summary, undefined, 'the list does not carry whole summaries');

  list = await api('GET', '/api/v1/tests?q=Dashboard');
  const t = list.json.items[0];
  assert.equal(t.last_run.id, runId);
  assert.equal(t.last_run.status, item.status);
  assert.equal(t.last_run.p95, item.p95);
  assert.deepEqual(t.recent, [{ id: runId, status: item.status, p95: item.p95 }]);
});

test('the page CSP lets the dashboard reach the live stream at the listen address, and is valid CSP', async () => {
  const port = await freePort();
  const live = await freePort();
  const s = await startProcess(STAMPEDE_BIN, ['serve', '--no-auth', '--listen', `127.0.0.2:${port}`, '--data-dir', tempDir(),
    '--live-port', String(live)], { readyUrl: `http://127.0.0.2:${port}/api/v1/health` });
  try {
    const csp = (await fetch(`http://127.0.0.2:${port}/`)).headers.get('content-security-policy');
    assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${live} ws://localhost:${live} ws://127\\.0\\.0\\.2:${live};`));
    assert.doesNotMatch(csp, /\[::1\]/, 'no IPv6 literal: browsers refuse it as a CSP source');
    const api = (await fetch(`http://127.0.0.2:${port}/api/v1/health`)).headers.get('content-security-policy');
    assert.equal(api, "default-src 'none'; frame-ancestors 'none'; sandbox");
  } finally {
    await s.stop();
  }
});
