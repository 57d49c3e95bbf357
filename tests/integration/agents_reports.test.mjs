// agents_reports.test.mjs - a run across locations in the reports (issue 17): the text summary
// of `stampede remote run`, the HTML export and the comparison break the figures down by
// location, and agree with the run's summary.locations (itself checked against the demo shop
// in agents.test.mjs). A run on the server's own engine shows none of it. The live stream's
// points of a run across locations carry each location's second, adding up to the point and,
// over the run, to what the shop served. Real daemon (--no-auth), two real `stampede agent`
// processes on loopback, the real demo shop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { STAMPEDE_BIN, startStampede, startShop, startProcess, run, sleep, apiCall } from '../lib/harness.mjs';

let shop, srv, testId;
const agents = [];
const ids = {};

const api = (method, p, body) => apiCall(srv, method, p, body);

async function waitIdle(names) {
  const end = Date.now() + 15000;
  for (;;) {
    const list = (await api('GET', '/api/v1/agents')).json.agents;
    if (names.every((n) => list.some((a) => a.name === n && a.state === 'idle'))) return;
    if (Date.now() > end) assert.fail(`agents ${names} not idle: ${JSON.stringify(list)}`);
    await sleep(50);
  }
}

async function remoteRun(extra) {
  await waitIdle(['r-near', 'r-far']);
  const r = await run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, 'reports', '--duration', '2s', '-q', ...extra], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const items = (await api('GET', `/api/v1/runs?test_id=${testId}`)).json.items;
  const last = (await api('GET', `/api/v1/runs/${items[0].id}`)).json;
  return { out: r.stdout, run: last };
}

before(async () => {
  shop = await startShop(['--quiet']);
  srv = await startStampede([], { noAuth: true });
  for (const [name, loc] of [['r-near', 'near'], ['r-far', 'far']]) {
    agents.push(await startProcess(STAMPEDE_BIN, ['agent', '--server', srv.base, '--location', loc, '--name', name, '--threads', '1']));
  }
  const r = await api('POST', '/api/v1/tests', {
    name: 'reports', base_url: shop.url,
    users: [{ name: 'u', think: { constant: '20ms' }, tasks: [{ steps: [
      { request: { url: '/api/v1/products', name: 'GET /products' } },
      { request: { url: '/api/v1/categories', name: 'GET /categories' } }] }] }],
    load: { users: 4, duration: '2s' },
  });
  assert.equal(r.status, 201, r.text);
  testId = r.json.id;
});

after(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

const digits = (s) => Number(String(s).replace(/[^0-9]/g, ''));

test('the text summary of remote run breaks the figures down by location and agent', async () => {
  const { out, run: r } = await remoteRun(['--locations', 'near=50,far=50']);
  ids.a = r.id;
  const locs = r.summary.locations;
  assert.ok(locs.near.requests > 0 && locs.far.requests > 0, JSON.stringify(locs));
  const section = out.slice(out.indexOf('Per location:'));
  assert.ok(out.includes('Per location:'), out);
  for (const loc of ['far', 'near']) {
    const line = section.split('\n').find((l) => l.startsWith(`${loc} `));
    assert.ok(line, `no line for ${loc} in\n${section}`);
    assert.equal(Number(line.trim().split(/\s+/)[1]), locs[loc].requests, line);
    const idx = section.split('\n').indexOf(line);
    const nameLines = section.split('\n').slice(idx + 1, idx + 3);
    assert.deepEqual(nameLines.map((l) => l.trim().split(/\s{2,}/)[0]), ['GET /categories', 'GET /products']);
    assert.equal(Number(nameLines[1].trim().split(/\s+/)[2]), locs[loc].names['GET /products'].requests, nameLines[1]);
  }
  assert.match(section, /Agents:\n.*\nr-(near|far) +(near|far) /);
  // A run on the server's own engine prints no location section.
  const plain = await remoteRun([]);
  ids.plain = plain.run.id;
  assert.equal(plain.run.summary.locations, undefined);
  assert.ok(!plain.out.includes('Per location:'), plain.out);
});

test('the HTML export has the per-location table and the agents', async () => {
  const r = (await api('GET', `/api/v1/runs/${ids.a}`)).json;
  const page = (await api('GET', `/api/v1/runs/${ids.a}/export.html`)).text;
  assert.ok(page.includes('<h2>Per location</h2>'), 'no per-location section');
  for (const loc of ['near', 'far']) {
    const m = page.match(new RegExp(`<tr class="loc"><td><strong>${loc}</strong></td><td>([^<]+)</td><td>([^<]+)</td>`));
    assert.ok(m, `no row for ${loc}`);
    assert.equal(digits(m[1]), r.summary.locations[loc].requests);
    assert.equal(digits(m[2]), r.summary.locations[loc].failures);
  }
  assert.equal((page.match(/<tr class="loc-name">/g) || []).length, 4, 'two names in each of two locations');
  assert.match(page, /<table class="agents">[\s\S]*<td>r-near<\/td><td>near<\/td>/);
  const plain = (await api('GET', `/api/v1/runs/${ids.plain}/export.html`)).text;
  assert.ok(!plain.includes('Per location'), 'a run without locations has no such section');
});

test('compare shows per-location rows when both runs went across locations', async () => {
  const { run: b } = await remoteRun(['--locations', 'near=50,far=50']);
  const a = (await api('GET', `/api/v1/runs/${ids.a}`)).json;
  const c = await api('GET', `/api/v1/compare?runs=${ids.a},${b.id}`);
  assert.equal(c.status, 200, c.text);
  const locs = c.json.locations;
  assert.deepEqual(locs.map((l) => l.location).sort(), ['far', 'near']);
  for (const l of locs) {
    const [e0, e1] = l.runs;
    assert.equal(e0.run_id, ids.a);
    assert.equal(e0.requests, a.summary.locations[l.location].requests);
    assert.equal(e1.requests, b.summary.locations[l.location].requests);
    const want = 100 * (b.summary.locations[l.location].p95_ms - a.summary.locations[l.location].p95_ms) / a.summary.locations[l.location].p95_ms;
    assert.ok(Math.abs(e1.p95_change_pct - want) < 1e-6, `${e1.p95_change_pct} vs ${want}`);
    assert.equal(e0.p95_change_pct, undefined, 'the baseline has no change');
  }
  const mixed = await api('GET', `/api/v1/compare?runs=${ids.a},${ids.plain}`);
  assert.equal(mixed.status, 200, mixed.text);
  assert.equal(mixed.json.locations, undefined, 'no per-location rows unless both runs have locations');
});

const shopTotal = async (route) => {
  const st = await (await fetch(`${shop.url}/__stats`)).json();
  return Object.values(st.endpoints[route] || {}).reduce((a, b) => a + b, 0);
};

test('every live point of a run across locations carries each location, adding up to the point and to the shop', async () => {
  await waitIdle(['r-near', 'r-far']);
  const routes = ['GET /api/v1/products', 'GET /api/v1/categories'];
  const before0 = await Promise.all(routes.map(shopTotal));
  const ws = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-live-v1');
  const msgs = [];
  ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
  await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  ws.send(JSON.stringify({ subscribe: 'runs' }));
  const subscribed = Date.now() + 5000;
  while (!msgs.some((m) => m.type === 'subscribed')) {
    assert.ok(Date.now() < subscribed, 'no subscribed message');
    await sleep(20);
  }
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 50, far: 50 }, duration: '3s' });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  const end = Date.now() + 30000;
  let final;
  for (;;) {
    final = (await api('GET', `/api/v1/runs/${id}`)).json;
    if (!['queued', 'starting', 'running', 'stopping'].includes(final.status)) break;
    assert.ok(Date.now() < end, `run ${id} still ${final.status}`);
    await sleep(100);
  }
  await sleep(300); // the last point is published before the run's status changes; let it arrive
  ws.close();
  // The latest value per second (a second is never sent twice to a "runs" subscriber).
  const points = new Map();
  for (const m of msgs) if (m.type === 'second' && m.run_id === id) points.set(m.data.second, m.data);
  assert.ok(points.size >= 3, `${points.size} points`);
  const sum = { near: 0, far: 0 };
  for (const p of points.values()) {
    assert.deepEqual(Object.keys(p.locations).sort(), ['far', 'near'], JSON.stringify(p));
    let n = 0, e = 0;
    for (const [loc, f] of Object.entries(p.locations)) {
      for (const k of ['requests', 'errors', 'p50_ms', 'p95_ms', 'p99_ms']) assert.equal(typeof f[k], 'number', `${loc}.${k}`);
      assert.ok(f.p50_ms <= f.p95_ms && f.p95_ms <= f.p99_ms, JSON.stringify(f));
      n += f.requests; e += f.errors; sum[loc] += f.requests;
      assert.equal(f.names, undefined, 'no per-name breakdown in a point');
    }
    assert.equal(n, p.count, `second ${p.second}: locations ${n} vs point ${p.count}`);
    assert.equal(e, p.errors, `second ${p.second}: errors`);
  }
  const after0 = await Promise.all(routes.map(shopTotal));
  const served = after0[0] - before0[0] + after0[1] - before0[1];
  assert.ok(sum.near > 0 && sum.far > 0, JSON.stringify(sum));
  assert.equal(sum.near + sum.far, served, `live per-location ${JSON.stringify(sum)} vs the shop's ${served}`);
  assert.equal(sum.near, final.summary.locations.near.requests);
  assert.equal(sum.far, final.summary.locations.far.requests);
  // Stored with the run's seconds: the series answers the same figures for the finished page.
  const series = (await api('GET', `/api/v1/runs/${id}/series`)).json;
  const stored = new Map(series.ticks.second.map((s, i) => [s, series.ticks.locations[i]]));
  for (const [s, p] of points) assert.deepEqual(stored.get(s), p.locations, `stored second ${s}`);
  // A run on the server's own engine stores none.
  const plain = (await api('GET', `/api/v1/runs/${ids.plain}/series`)).json;
  assert.ok(plain.ticks.second.length > 0);
  assert.equal(plain.ticks.locations, undefined);
});
