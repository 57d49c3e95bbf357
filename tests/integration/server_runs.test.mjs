// server_runs.test.mjs - runs on the real daemon against the real demo shop: start with
// overrides, live totals, the verdict, per-second series and stats that match what the shop
// served, stop, load changes, caps, the live WebSocket, kill -9 and SIGTERM, compare, exports
// and `stampede remote run`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import fs from 'node:fs';
import { STAMPEDE_BIN, freePort, tempDir, startStampede, startShop, run, spawnRun, sleep, junitProblems } from '../lib/harness.mjs';

let shop, srv;
const ids = {};

// The daemon with access control on; every request carries the admin's API token (s.headers).
function startServer(extra = [], { dir } = {}) {
  return startStampede(['--max-vus', '50', '--max-duration', '1m', '--max-runs', '3', '--max-rate', '25', ...extra], { dir });
}

async function api(method, p, body, s = srv) {
  const init = { method, headers: { ...s.headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(s.base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

function definition(name, { steps, thresholds = ['error_rate < 1%'], think = '50ms' } = {}) {
  return {
    name,
    base_url: shop.url,
    users: [{
      name: 'u',
      think: { constant: think },
      tasks: [{ steps: steps || [
        { request: { url: '/api/v1/products', name: 'GET /products' } },
        { request: { url: '/api/v1/categories', name: 'GET /categories' } },
      ] }],
    }],
    load: { users: 2, duration: '2s' },
    thresholds,
  };
}

async function createTest(def, s = srv) {
  const r = await api('POST', '/api/v1/tests', def, s);
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function startRun(testId, overrides = {}, s = srv) {
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, overrides, s);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.status, 'running');
  return r.json.id;
}

async function waitStatus(runId, want, timeoutMs = 15000, s = srv) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/api/v1/runs/${runId}`, undefined, s);
    if (want.includes(r.json?.status)) return r.json;
    if (Date.now() > end) assert.fail(`run ${runId} is ${r.json?.status}, not ${want}`);
    await sleep(100);
  }
}

/*
 * A live client's view of a run: the backlog's seconds, then the live points' seconds. The
 * backlog is the run from second 0 without a gap; the live points go on from its end (the last
 * second of the backlog may come again as the first point, docs/live.md), so that together they
 * are 0, 1, ... : for a run of n seconds, n of them or n + 1 (a partial last second holds the
 * requests that finished after the planned end).
 */
function assertSecondsFromZero(backlog, live, n) {
  assert.deepEqual(backlog, backlog.map((_, i) => i), `the backlog's seconds: ${backlog}`);
  const all = [...backlog];
  for (const s of live) {
    if (all.length && s === all.at(-1) && all.length === backlog.length) continue; // the overlap
    all.push(s);
  }
  assert.deepEqual(all, all.map((_, i) => i), `backlog ${backlog}, then live ${live}`);
  assert.ok(all.length === n || all.length === n + 1, `a ${n} s run: backlog ${backlog}, then live ${live}`);
}

async function shopStats() {
  return (await fetch(`${shop.url}/__stats`)).json();
}

before(async () => {
  shop = await startShop(['--quiet']);
  srv = await startServer();
  ids.basic = await createTest(definition('runs basic'));
  ids.xss = await createTest(definition('runs markup', {
    steps: [{ request: { url: '/api/v1/categories', name: 'GET /categories <b>' },
              expect: { status: [418], message: '<script>alert("x")</script> got {{status}}' } }],
    thresholds: ['error_rate < 1%', 'p95 < 5s'],
  }));
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

test('a run goes from running with live totals to passed, its counts equal what the shop served', async () => {
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const id = await startRun(ids.basic, { users: 3, duration: '3s' });
  ids.run1 = id;
  await sleep(1600);
  const mid = await api('GET', `/api/v1/runs/${id}`);
  assert.equal(mid.json.status, 'running');
  assert.ok(mid.json.live.requests > 0, mid.text);
  assert.ok(mid.json.live.vus > 0, mid.text);
  const listed = await api('GET', `/api/v1/runs?status=running&test_id=${ids.basic}`);
  assert.ok(listed.json.items.some((x) => x.id === id), listed.text);

  const done = await waitStatus(id, ['passed', 'failed']);
  assert.equal(done.status, 'passed', JSON.stringify(done.verdicts));
  assert.equal(done.live, null);
  assert.equal(done.verdicts.length, 1);
  assert.ok(done.ended_at >= done.started_at);

  const stats = await api('GET', `/api/v1/runs/${id}/stats`);
  assert.equal(stats.status, 200);
  assert.equal(stats.json.source, 'summary');
  const shopNow = await shopStats();
  const served = (route) => Object.values(shopNow.endpoints[route] || {}).reduce((a, b) => a + b, 0);
  const byName = Object.fromEntries(stats.json.names.map((n) => [n.name, n.requests]));
  assert.equal(byName['GET /products'], served('GET /api/v1/products'));
  assert.equal(byName['GET /categories'], served('GET /api/v1/categories'));
  assert.equal(stats.json.total.requests, shopNow.total);

  const series = await api('GET', `/api/v1/runs/${id}/series`);
  assert.equal(series.status, 200);
  // A 3 s run has seconds 0, 1 and 2: the requests that finished after its end are in second 2,
  // not in a short fourth one (a cliff to zero at the end of every chart).
  assert.deepEqual(series.json.ticks.second, [0, 1, 2], series.text);
  assert.equal(done.last_second, 2);
  // Each second keeps the latency of all its requests, as the live chart drew it.
  assert.ok(series.json.ticks.p95.every((v) => v > 0), series.text);
  let sum = 0;
  for (const n of series.json.names) sum += n.count.reduce((a, b) => a + b, 0);
  assert.equal(sum, shopNow.total);
  const one = await api('GET', `/api/v1/runs/${id}/series?name=${encodeURIComponent('GET /products')}&from=1&to=2`);
  assert.equal(one.json.names.length, 1);
  assert.deepEqual(one.json.names[0].second, [1]);
  assert.equal((await api('GET', `/api/v1/runs/${id}/series?name=nope`)).status, 404);
  const f = await api('GET', `/api/v1/runs/${id}/failures`);
  assert.deepEqual(f.json.items, []);
});

test('a WebSocket subscriber gets the backlog, then each second within 1.5 s of its end, then the end', async () => {
  const id = await startRun(ids.basic, { users: 2, duration: '3s' });
  const run = (await api('GET', `/api/v1/runs/${id}`)).json;
  const ws = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-live-v1', { headers: srv.headers });
  const got = [];
  const ended = new Promise((resolve, reject) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      got.push({ at: Date.now(), m });
      if (m.type === 'end') resolve(m);
    });
    ws.on('error', reject);
  });
  await new Promise((resolve) => ws.on('open', resolve));
  ws.send(JSON.stringify({ subscribe: 'run', run_id: id }));
  const end = await ended;
  ws.close();
  assert.equal(end.data.status, 'passed');
  assert.equal(got[0].m.type, 'subscribed');
  assert.equal(got[1].m.type, 'backlog');
  assert.equal(got[1].m.data.status, 'running');
  const seconds = got.filter((g) => g.m.type === 'second');
  assert.ok(seconds.length >= 2, JSON.stringify(got.map((g) => g.m.type)));
  // The backlog and the live points together are the run's seconds from 0, none missing.
  assertSecondsFromZero(got[1].m.data.seconds.map((p) => p.second), seconds.map((g) => g.m.data.second), 3);
  for (const { at, m } of seconds) {
    assert.equal(m.run_id, id);
    assert.equal(typeof m.data.count, 'number');
    assert.ok(Array.isArray(m.data.names));
    const secondEnd = run.started_at + (m.data.second + 1) * 1000;
    assert.ok(at - secondEnd <= 1500, `second ${m.data.second} arrived ${at - secondEnd} ms after its end`);
  }

  // A late subscriber to the ended run learns its status at once; an unknown run is null.
  const late = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-live-v1', { origin: srv.base, headers: srv.headers });
  const backlogs = [];
  const two = new Promise((resolve) => late.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type === 'backlog') backlogs.push(m);
    if (backlogs.length === 2) resolve();
  }));
  await new Promise((resolve) => late.on('open', resolve));
  late.send(JSON.stringify({ subscribe: 'run', run_id: id }));
  await sleep(100);
  late.send(JSON.stringify({ subscribe: 'run', run_id: 987654 }));
  await two;
  late.close();
  assert.equal(backlogs[0].data.status, 'passed');
  assert.deepEqual(backlogs[0].data.seconds, []);
  assert.equal(backlogs[1].data, null);
});

test('a late live subscriber gets the run so far from second 0, then the rest; /points from 0 too', async () => {
  const id = await startRun(ids.basic, { users: 1, duration: '4s' });
  // Subscribe once seconds 0 and 1 are out: both must come in the backlog, not live.
  for (let i = 0; ; i++) {
    const r = await api('GET', `/api/v1/runs/${id}`);
    if (r.json.live && r.json.live.second >= 1) break;
    assert.ok(i < 100 && r.json.status === 'running', `run ${id} is ${r.json.status}: ${r.text}`);
    await sleep(50);
  }
  const points = await api('GET', `/api/v1/runs/${id}/points?from=0`);
  assert.equal(points.status, 200, points.text);
  const fromPoints = points.json.seconds.map((p) => p.second);
  assert.ok(fromPoints.length >= 2, points.text);
  assert.deepEqual(fromPoints, fromPoints.map((_, i) => i), `/points from 0: ${fromPoints}`);
  const later = await api('GET', `/api/v1/runs/${id}/points?from=1`);
  assert.deepEqual(later.json.seconds.map((p) => p.second), fromPoints.slice(1));

  const ws = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-live-v1', { headers: srv.headers });
  const got = [];
  const ended = new Promise((resolve, reject) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      got.push(m);
      if (m.type === 'end') resolve(m);
    });
    ws.on('error', reject);
  });
  await new Promise((resolve) => ws.on('open', resolve));
  ws.send(JSON.stringify({ subscribe: 'run', run_id: id }));
  const end = await ended;
  ws.close();
  assert.equal(end.data.status, 'passed');
  assert.equal(got[1].type, 'backlog');
  const backlog = got[1].data.seconds.map((p) => p.second);
  assert.ok(backlog.length >= 2, `the backlog has seconds 0 and 1: ${backlog}`);
  assertSecondsFromZero(backlog, got.filter((m) => m.type === 'second').map((m) => m.data.second), 4);
});

test('an immediate stop ends the run within 2 s as stopped; a stopped run cannot be stopped again', async () => {
  const id = await startRun(ids.basic, { users: 5, duration: '30s' });
  await sleep(800);
  const t0 = Date.now();
  const r = await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
  assert.equal(r.status, 202, r.text);
  const done = await waitStatus(id, ['stopped', 'passed', 'failed'], 5000);
  assert.equal(done.status, 'stopped');
  assert.ok(Date.now() - t0 < 2000, `stop took ${Date.now() - t0} ms`);
  const again = await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
  assert.equal(again.status, 409);
  assert.equal((await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'sideways' })).status, 400);
  assert.equal((await api('POST', `/api/v1/runs/${id}/stop`, ['immediate'])).status, 400);
  assert.equal((await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate', extra: 1 })).status, 400);
  assert.equal((await api('POST', '/api/v1/runs/999999/stop', {})).status, 404);
});

test('the load of a running run changes, within the VU cap', async () => {
  const id = await startRun(ids.basic, { users: 2, duration: '30s' });
  await sleep(500);
  const r = await api('POST', `/api/v1/runs/${id}/load`, { target: 6, ramp: '0s' });
  assert.equal(r.status, 200, r.text);
  let vus = 0;
  for (let i = 0; i < 60 && vus !== 6; i++) {
    await sleep(100);
    vus = (await api('GET', `/api/v1/runs/${id}`)).json.live?.vus;
  }
  assert.equal(vus, 6);
  // The change is marked: in the live totals at once, and stored with who made it.
  const live = (await api('GET', `/api/v1/runs/${id}`)).json;
  assert.equal(live.live.load_changes.length, 1, JSON.stringify(live.live));
  assert.equal(live.live.load_changes[0].target, 6);
  assert.equal(live.load_changes.length, 1);
  assert.equal(live.load_changes[0].by, 'admin');
  assert.ok(live.load_changes[0].elapsed_ms >= 400 && live.load_changes[0].elapsed_ms < 5000);
  const over = await api('POST', `/api/v1/runs/${id}/load`, { target: 51 });
  assert.equal(over.status, 422, over.text);
  assert.equal(over.json.error.path, 'max_vus');
  assert.equal((await api('POST', `/api/v1/runs/${id}/load`, { target: -1 })).status, 400);
  assert.equal((await api('POST', `/api/v1/runs/${id}/load`, { target: 3, ramp: 'soon' })).status, 400);
  await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
  const ended = await waitStatus(id, ['stopped']);
  assert.equal(ended.load_changes.length, 1);
  assert.equal(ended.summary.load_changes[0].target, 6);
  const html = await api('GET', `/api/v1/runs/${id}/export.html`);
  assert.match(html.text, /class="load-change"/, 'the report marks the change on its charts');
});

test('starts beyond the caps or with bad overrides are refused with 422 naming the cap or the field', async () => {
  let r = await api('POST', `/api/v1/tests/${ids.basic}/runs`, { users: 51, duration: '2s' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'max_vus');
  assert.match(r.json.error.message, /max_vus/);
  r = await api('POST', `/api/v1/tests/${ids.basic}/runs`, { duration: '2m' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'max_duration');
  r = await api('POST', `/api/v1/tests/${ids.basic}/runs`, { userz: 3 });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.errors[0].path, 'overrides.userz');
  assert.match(r.json.errors[0].message, /did you mean 'users'/);
  r = await api('POST', `/api/v1/tests/${ids.basic}/runs`, { stages: [{ duration: '1s', users: 'many' }] });
  assert.equal(r.status, 422, r.text);
  assert.ok(r.json.errors.some((e) => e.path.startsWith('load.stages[0]')), r.text);
  assert.equal((await api('POST', '/api/v1/tests/987654/runs', {})).status, 404);

  // The open model: the VU pool against max_vus, the arrival rate against max_rate.
  const open = definition('runs open big pool');
  open.load = { model: 'open', rate: 5, duration: '1s', max_vus: 60 };
  r = await api('POST', `/api/v1/tests/${await createTest(open)}/runs`, {});
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'max_vus');
  open.name = 'runs open';
  open.load.max_vus = 10;
  r = await api('POST', `/api/v1/tests/${await createTest(open)}/runs`, { stages: [{ duration: '1s', rate: 30 }] });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'max_rate');

  const running = [];
  for (let i = 0; i < 3; i++) running.push(await startRun(ids.basic, { users: 1, duration: '30s' }));
  r = await api('POST', `/api/v1/tests/${ids.basic}/runs`, { users: 1, duration: '2s' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'max_runs');
  for (const id of running) await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
  for (const id of running) await waitStatus(id, ['stopped']);
});

test('markup from a test and its failures comes back as data, escaped in every export', async () => {
  const id = await startRun(ids.xss, { users: 2, duration: '2s' });
  ids.xssRun = id;
  const done = await waitStatus(id, ['passed', 'failed']);
  assert.equal(done.status, 'failed');
  assert.deepEqual(done.verdicts.map((v) => v.passed), [false, true]);
  const f = await api('GET', `/api/v1/runs/${id}/failures`);
  assert.equal(f.json.items[0].message, '<script>alert("x")</script> got 200');
  assert.equal(f.json.items[0].name, 'GET /categories <b>');

  const j = await api('GET', `/api/v1/runs/${id}/export.json`);
  assert.equal(j.status, 200);
  assert.equal(j.json.run.id, id);
  assert.ok(j.json.series.names.length >= 1);
  assert.equal(j.json.failures[0].message, '<script>alert("x")</script> got 200');

  const csv = await api('GET', `/api/v1/runs/${id}/export.csv`);
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type'), /^text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  assert.match(lines[0], /^name,requests,failures,rps,error_rate,/);
  assert.match(lines[1], /^GET \/categories <b>,\d+,\d+,/);
  assert.match(lines.at(-1), /^Total,/);

  const xml = await api('GET', `/api/v1/runs/${id}/export.junit.xml`);
  assert.equal(xml.status, 200);
  const xmlFile = path.join(tempDir(), 'export.junit.xml');
  fs.writeFileSync(xmlFile, xml.text);
  assert.equal(await junitProblems(xmlFile), '', xml.text);
  assert.equal((xml.text.match(/<testcase /g) || []).length, 2);
  assert.equal((xml.text.match(/<failure /g) || []).length, 1);
  assert.match(xml.text, /name="p95 &lt; 5s"/);

  const html = await api('GET', `/api/v1/runs/${id}/export.html`);
  assert.equal(html.status, 200);
  assert.match(html.headers.get('content-type'), /^text\/html/);
  assert.match(html.text, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; got 200/);
  assert.ok(!html.text.includes('<script>alert'), 'a failure message is never markup');
  assert.ok(!html.text.includes('<b>'), 'a request name is never markup');
  assert.match(html.text, /<svg /);
  assert.ok(!/(src|href)="?https?:/.test(html.text), 'the report loads nothing');
});

test('compare: runs of different load profiles say so, and their throughput is not judged', async () => {
  const a = ids.run1;
  const b = await startRun(ids.basic, { users: 1, duration: '2s' });
  await waitStatus(b, ['passed', 'failed']);
  const r = await api('GET', `/api/v1/compare?runs=${a},${b}&tolerance=10`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.baseline, a);
  assert.equal(r.json.runs.length, 2);
  assert.equal(r.json.tolerance_pct, 10);
  assert.equal(r.json.settings.min_change_pct, 10);
  // Three VUs for 3 s against one for 2 s: another profile and another duration, said at the top.
  assert.equal(r.json.differs.profile, true);
  assert.equal(r.json.differs.duration, true);
  assert.deepEqual(r.json.notes.map((n) => n.kind).sort(), ['duration', 'profile']);
  assert.equal(r.json.runs[1].same_profile, false);
  const products = r.json.names.find((n) => n.name === 'GET /products');
  assert.equal(products.runs[0].run_id, a);
  const ch = products.runs[1];
  assert.equal(typeof ch.rps.change_pct, 'number');
  assert.ok(ch.rps.change_pct < -10, JSON.stringify(ch.rps));
  // Far fewer requests per second, but from another load: not compared, never flagged.
  assert.equal(ch.rps.verdict, 'not compared');
  assert.equal(ch.rps.flag, null);
  assert.match(ch.rps.reason, /load profiles/);
  assert.ok(ch.count.value < products.runs[0].count);
  assert.equal(ch.count.flag, null);
  assert.equal(ch.count.verdict, undefined);
  for (const f of ['p50', 'p95', 'p99', 'error_pct'])
    assert.ok(['no significant change', 'not enough data', 'regression', 'improvement'].includes(ch[f].verdict), JSON.stringify(ch[f]));
  assert.equal(r.json.total.length, 2);
  assert.equal((await api('GET', `/api/v1/compare?runs=${a}`)).status, 400);
  assert.equal((await api('GET', '/api/v1/compare?runs=1,2,3,4,5,6,7,8,9,10,11')).status, 400);
  assert.equal((await api('GET', `/api/v1/compare?runs=${a},999999`)).status, 404);
  for (const q of ['tolerance=-3', 'alpha=0', 'alpha=0.9', 'min_seconds=2.5', 'min_change_ms=x', 'max_lag_ms=0']) {
    const bad = await api('GET', `/api/v1/compare?runs=${a},${b}&${q}`);
    assert.equal(bad.status, 400, `${q}: ${bad.text}`);
    assert.equal(bad.json.error.path, q.split('=')[0]);
  }
  const set = await api('GET', `/api/v1/compare?runs=${a},${b}&alpha=0.05&min_change_ms=2&min_seconds=3`);
  assert.equal(set.json.settings.alpha, 0.05);
  assert.equal(set.json.settings.min_change_ms, 2);
  assert.equal(set.json.settings.min_seconds, 3);
});

test('compare: a slower run is a latency regression, a faster one an improvement; the same for error %', async () => {
  // The same test against a shop that answers 60 ms late, and against a path that is not there.
  const slow = await startShop(['--quiet', '--latency-ms', 'all=fixed:60']);
  try {
    const id = await createTest(definition('runs compare', {
      steps: [{ request: { url: '/api/v1/products', name: 'GET /products' } }], think: '20ms' }));
    const runOf = async (overrides) => {
      const r = await startRun(id, { users: 1, duration: '1s', ...overrides });
      await waitStatus(r, ['passed', 'failed']);
      return r;
    };
    const fast = await runOf({});
    const late = await runOf({ base_url: slow.url });
    const missing = async () => (await shopStats()).endpoints['GET *']?.['404'] || 0;
    const missing0 = await missing();
    const broken = await runOf({ base_url: `${shop.url}/missing` });
    const missed = (await missing()) - missing0;
    const compare = async (a, b) => {
      const r = await api('GET', `/api/v1/compare?runs=${a},${b}&tolerance=10`);
      assert.equal(r.status, 200, r.text);
      return { name: r.json.names.find((n) => n.name === 'GET /products').runs, total: r.json.total };
    };
    let c = await compare(fast, late);
    for (const entries of [c.name, c.total]) {
      assert.ok(entries[0].p95 < 20, `the fast run's p95: ${entries[0].p95} ms`);
      for (const p of ['p50', 'p95', 'p99']) {
        assert.ok(entries[1][p].value >= 60, `${p} of the slow run: ${entries[1][p].value} ms`);
        assert.ok(entries[1][p].change_pct > 10, JSON.stringify(entries[1][p]));
        assert.equal(entries[1][p].flag, 'regression', `${p} of a slower run`);
      }
      assert.equal(entries[1].error_pct.flag, null, 'no errors in either run');
    }
    c = await compare(late, fast);
    for (const entries of [c.name, c.total])
      for (const p of ['p50', 'p95', 'p99']) {
        assert.ok(entries[1][p].change_pct < -10, JSON.stringify(entries[1][p]));
        assert.equal(entries[1][p].flag, 'improvement', `${p} of a faster run`);
      }

    // Every request of the broken run got a 404: 100% errors, against 0%.
    c = await compare(fast, broken);
    for (const entries of [c.name, c.total]) {
      assert.equal(entries[0].error_pct, 0);
      assert.equal(entries[1].error_pct.value, 100);
      assert.equal(entries[1].error_pct.change_pct, null, 'from 0%: no percentage');
      assert.equal(entries[1].error_pct.flag, 'regression', 'more errors');
    }
    c = await compare(broken, fast);
    for (const entries of [c.name, c.total]) {
      assert.equal(entries[0].error_pct, 100);
      assert.equal(entries[1].error_pct.value, 0);
      assert.equal(entries[1].error_pct.change_pct, -100);
      assert.equal(entries[1].error_pct.flag, 'improvement', 'fewer errors');
    }
    // The error rate is failures over requests, both as many as the 404s the shop answered.
    const stats = (await api('GET', `/api/v1/runs/${broken}/stats`)).json;
    assert.ok(missed > 0);
    assert.equal(stats.total.requests, missed);
    assert.equal(stats.total.failures, missed);
    assert.equal(stats.total.error_rate, 1);
  } finally {
    await slow.stop();
  }
});

test('a graceful stop lets requests finish and records the run as stopped', async () => {
  const id = await startRun(ids.basic, { users: 3, duration: '30s' });
  await sleep(700);
  const t0 = Date.now();
  assert.equal((await api('POST', `/api/v1/runs/${id}/stop`, {})).status, 202);
  const done = await waitStatus(id, ['stopped', 'passed', 'failed'], 12000);
  assert.equal(done.status, 'stopped');
  assert.ok(Date.now() - t0 < 3000, `graceful stop took ${Date.now() - t0} ms`);
  assert.equal(done.summary.total.failures, 0, 'no request was cut off');
});

test('runs are listed newest first, by test, status and creation time, a page at a time', async () => {
  let r = await api('GET', `/api/v1/runs?test_id=${ids.basic}&per_page=1&page=2`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.items.length, 1);
  assert.ok(r.json.total >= 3);
  const all = (await api('GET', `/api/v1/runs?test_id=${ids.basic}&per_page=200`)).json.items;
  assert.equal(r.json.items[0].id, all[1].id);
  assert.ok(all.every((x, i) => i === 0 || x.created_at <= all[i - 1].created_at));
  r = await api('GET', `/api/v1/runs?status=failed`);
  assert.ok(r.json.items.length >= 1 && r.json.items.every((x) => x.status === 'failed'));
  r = await api('GET', `/api/v1/runs?from=${Date.now() + 60000}`);
  assert.equal(r.json.total, 0);
  r = await api('GET', `/api/v1/runs?to=${all.at(-1).created_at}&test_id=${ids.basic}`);
  assert.equal(r.json.total, 0);
  assert.equal((await api('GET', '/api/v1/runs?status=bogus')).status, 400);
  assert.equal((await api('GET', '/api/v1/runs?per_page=0')).status, 400);
  assert.equal((await api('GET', '/api/v1/runs/abc')).status, 404);
  assert.equal((await api('GET', '/api/v1/runs/999999')).status, 404);
  const running = await startRun(ids.basic, { users: 1, duration: '30s' });
  assert.equal((await api('GET', `/api/v1/runs/${running}/export.csv`)).status, 409);
  const live = await api('GET', `/api/v1/runs/${running}/stats`);
  assert.equal(live.json.source, 'live');
  await api('POST', `/api/v1/runs/${running}/stop`, { mode: 'immediate' });
  await waitStatus(running, ['stopped']);
});

test('openapi.json lists every run route with its permission', async () => {
  const r = await api('GET', '/api/v1/openapi.json');
  const want = [
    ['post', '/api/v1/tests/{id}/runs', 'run'], ['get', '/api/v1/runs', 'read'],
    ['get', '/api/v1/runs/{id}', 'read'], ['post', '/api/v1/runs/{id}/stop', 'run'],
    ['post', '/api/v1/runs/{id}/load', 'run'], ['get', '/api/v1/runs/{id}/stats', 'read'],
    ['get', '/api/v1/runs/{id}/series', 'read'], ['get', '/api/v1/runs/{id}/failures', 'read'],
    ['get', '/api/v1/runs/{id}/export.json', 'read'], ['get', '/api/v1/runs/{id}/export.csv', 'read'],
    ['get', '/api/v1/runs/{id}/export.junit.xml', 'read'], ['get', '/api/v1/runs/{id}/export.html', 'read'],
    ['get', '/api/v1/compare', 'read'], ['get', '/api/v1/tests/{id}/baseline', 'read'],
    ['put', '/api/v1/tests/{id}/baseline', 'write'],
  ];
  for (const [m, p, perm] of want) {
    assert.ok(r.json.paths[p]?.[m], `${m} ${p} missing`);
    assert.equal(r.json.paths[p][m]['x-permission'], perm);
  }
  const cfg = await api('GET', '/api/v1/config');
  assert.equal(cfg.json.live_port, srv.live);
});

function sql(dir, query) {
  return execFileSync('sqlite3', [path.join(dir, 'stampede.db'), query], { encoding: 'utf8' }).trim();
}

test('kill -9 during a run: after a restart the run is aborted, its seconds kept, the database intact', async () => {
  const dir = tempDir();
  let s = await startServer([], { dir });
  const tid = await createTest(definition('crash'), s);
  const id = await startRun(tid, { users: 2, duration: '30s' }, s);
  await sleep(2600);
  const before = (await api('GET', `/api/v1/runs/${id}/series`, undefined, s)).json.ticks.second.length;
  assert.ok(before >= 2);
  await s.stop('SIGKILL');
  assert.equal(sql(dir, 'PRAGMA integrity_check;'), 'ok');
  s = await startServer([], { dir });
  try {
    const r = (await api('GET', `/api/v1/runs/${id}`, undefined, s)).json;
    assert.equal(r.status, 'aborted');
    assert.ok(r.error);
    const after = (await api('GET', `/api/v1/runs/${id}/series`, undefined, s)).json.ticks.second.length;
    assert.ok(after >= before, `${after} seconds kept of ${before}`);
  } finally {
    await s.stop();
  }
  assert.equal(sql(dir, 'PRAGMA integrity_check;'), 'ok');
});

test('SIGTERM stops a running run gracefully and records it as stopped', async () => {
  const dir = tempDir();
  let s = await startServer([], { dir });
  const tid = await createTest(definition('sigterm'), s);
  const id = await startRun(tid, { users: 2, duration: '30s' }, s);
  await sleep(1200);
  const t0 = Date.now();
  assert.equal(await s.stop('SIGTERM', 8000), 0);
  assert.ok(Date.now() - t0 < 5000);
  assert.match(s.stderr(), /stopping runs/);
  s = await startServer([], { dir });
  try {
    const r = (await api('GET', `/api/v1/runs/${id}`, undefined, s)).json;
    assert.equal(r.status, 'stopped');
    assert.ok(r.summary.total.requests > 0);
  } finally {
    await s.stop();
  }
});

test('a second SIGTERM while runs finish their requests stops them at once', async () => {
  const slow = await startShop(['--quiet', '--latency-ms', 'all=fixed:5000']);
  const dir = tempDir();
  let s = await startServer([], { dir });
  try {
    const def = definition('slow');
    def.base_url = slow.url;
    const id = await startRun(await createTest(def, s), { users: 2, duration: '30s' }, s);
    await sleep(1000);
    let code = null;
    s.exited.then((c) => { code = c; });
    s.proc.kill('SIGTERM');
    await sleep(700);
    assert.equal(code, null, 'the daemon waits for requests in flight');
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
    assert.match(s.stderr(), /stopping runs now/);
    s = await startServer([], { dir });
    assert.equal((await api('GET', `/api/v1/runs/${id}`, undefined, s)).json.status, 'stopped');
  } finally {
    await s.stop();
    await slow.stop();
  }
});

test('stampede remote run exits 0 passed, 1 failed, 2 invalid or unreachable, 130 after Ctrl-C', async () => {
  const remote = (args) => run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, '--token', srv.token, ...args], { timeoutMs: 30000 });
  // No thresholds, and requests fail: exit 1 unless --allow-failures.
  const loose = definition('runs no thresholds', {
    steps: [{ request: { url: '/api/v1/categories', name: 'GET /categories' }, expect: { status: [418] } }],
    thresholds: [],
  });
  await createTest(loose);
  // The first three at once (the server's --max-runs), each a run of its own test with a
  // client of its own: what each exits with and prints is its run's alone.
  const [passed, xss, strict] = await Promise.all([
    remote(['runs basic', '--users', '2', '--duration', '2s']),
    remote([String(ids.xss), '--duration', '2s', '--quiet']),
    remote(['runs no thresholds', '--duration', '2s', '--quiet'])]);
  let r = passed;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /runs basic: passed/);
  assert.match(r.stdout, /GET \/products/);
  assert.match(r.stdout, /PASS {2}error_rate < 1%/);
  assert.match(r.stderr, /\[ {4}1s\] vus/);

  r = xss;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /FAIL {2}error_rate < 1%/);

  r = strict;
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL: \d+ of \d+ requests failed and the test has no thresholds/);
  r = await remote(['runs no thresholds', '--duration', '2s', '--quiet', '--allow-failures']);
  assert.equal(r.code, 0, r.stdout + r.stderr);

  r = await remote(['no such test']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no test named 'no such test'/);
  r = await remote(['runs basic', '--users', '51', '--duration', '2s']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /max_vus/);
  r = await run(STAMPEDE_BIN, ['remote', 'run', '--server', `http://127.0.0.1:${await freePort()}`, '1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot reach/);
  r = await run(STAMPEDE_BIN, ['remote', 'run', 'x']);
  assert.equal(r.code, 2);
  r = await remote(['runs basic', '--token', 'a\r\nX-Injected: 1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /control character/);

  // The token from the environment this time.
  const p = spawnRun(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, 'runs basic', '--users', '2', '--duration', '30s'],
    { env: { STAMPEDE_TOKEN: srv.token } });
  for (let i = 0; i < 100 && !/started/.test(p.stderr()); i++) await sleep(50);
  await sleep(1200);
  p.proc.kill('SIGINT');
  const done = await p.done;
  assert.equal(done.code, 130, done.stderr);
  assert.match(done.stdout, /runs basic: stopped/);
});
