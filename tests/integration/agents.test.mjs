// Agents on loopback (issue 17): three real `stampede agent` processes (two in "near", one in
// "far") connect out to a real daemon (--no-auth, so loopback agents need no token), and runs
// across locations send their load to the real demo shop. What the run reports is checked
// against what the shop served (/__stats), per request name; the per-location figures add up to
// the totals; a start naming a location without an agent is refused naming it; a stop ends the
// traffic at the shop within 1 s; an agent killed mid-run leaves a run that names it. That a
// server killed mid-run leaves no agent sending load 5 s later, and that the agents say why, is
// tests/distributed/distributed.test.mjs's (agents and server in namespaces of their own).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import {
  STAMPEDE_BIN, startStampede, startShop, startProcess, run, sleep, apiCall, waitFor,
} from '../lib/harness.mjs';

let shop, srv;
const agents = {};
let testId;

const api = (method, p, body, s = srv) => apiCall(s, method, p, body);

function startAgent(name, location, s = srv) {
  return startProcess(STAMPEDE_BIN, ['agent', '--server', s.base, '--location', location,
    '--name', name, '--threads', '1']);
}


async function agentList(s = srv) {
  const r = await api('GET', '/api/v1/agents', undefined, s);
  assert.equal(r.status, 200, r.text);
  return r.json.agents;
}

async function waitIdle(names, s = srv) {
  return waitFor(`agents ${names} idle`, async () => {
    const list = await agentList(s);
    return names.every((n) => list.some((a) => a.name === n && a.state === 'idle')) && list;
  });
}

async function waitStatus(runId, want, timeoutMs = 30000, s = srv) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/api/v1/runs/${runId}`, undefined, s);
    if (want.includes(r.json?.status)) return r.json;
    if (Date.now() > end) assert.fail(`run ${runId} is ${r.json?.status}, not ${want}: ${r.text}`);
    await sleep(100);
  }
}

const shopStats = async () => (await fetch(`${shop.url}/__stats`)).json();
const served = (stats, route) => Object.values(stats.endpoints[route] || {}).reduce((a, b) => a + b, 0);

function definition(name, load) {
  return {
    name,
    base_url: shop.url,
    users: [{
      name: 'u',
      think: { constant: '20ms' },
      tasks: [{ steps: [
        { request: { url: '/api/v1/products', name: 'GET /products' } },
        { request: { url: '/api/v1/categories', name: 'GET /categories' } },
      ] }],
    }],
    load,
    thresholds: ['error_rate < 1%'],
  };
}

before(async () => {
  shop = await startShop(['--quiet']);
  srv = await startStampede([], { noAuth: true });
  agents.n1 = await startAgent('n1', 'near');
  agents.n2 = await startAgent('n2', 'near');
  agents.f1 = await startAgent('f1', 'far');
  const r = await api('POST', '/api/v1/tests', definition('agents basic', { users: 6, duration: '3s' }));
  assert.equal(r.status, 201, r.text);
  testId = r.json.id;
});

after(async () => {
  for (const a of Object.values(agents)) await a.stop('SIGKILL');
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

test('agents register and are listed with their location, state and capacity', async () => {
  const list = await waitIdle(['n1', 'n2', 'f1']);
  const n1 = list.find((a) => a.name === 'n1');
  assert.equal(n1.location, 'near');
  assert.equal(n1.protocol, 2);
  assert.equal(n1.threads, 1);
  assert.ok(n1.cores >= 1);
  assert.equal(n1.run_id, null);
  assert.ok(!Number.isNaN(Date.parse(n1.last_heartbeat)), n1.last_heartbeat);
  // An agent is listed once its clock offset is known: always a number; on one machine, small.
  for (const a of list) {
    assert.equal(typeof a.clock_offset_ms, 'number', JSON.stringify(a));
    assert.ok(Math.abs(a.clock_offset_ms) < 50, JSON.stringify(a));
  }
  const doc = (await api('GET', '/api/v1/openapi.json')).json;
  const agentRoutes = Object.entries(doc.paths).filter(([p]) => /\/agent/.test(p))
    .flatMap(([p, item]) => Object.keys(item).map((m) => `${m} ${p}`)).sort();
  assert.deepEqual(agentRoutes, ['delete /api/v1/agent-tokens/{id}', 'get /api/v1/agent-tokens',
    'get /api/v1/agents', 'post /api/v1/agent-tokens']);
});

// The agent's loop sleeps until its next deadline (a heartbeat, a start instant, the orphan
// check, a reconnect) or until lws has something for it; a fixed 50 ms tick made 20 wake-ups a
// second in every agent, each some 40 us of CPU on this VM. Idle and connected, the loop thread
// wakes for its heartbeat, the server's and the clock samples: a few times a second.
test('an idle agent\'s loop wakes a few times a second, its heartbeats still every second', async () => {
  await waitIdle(['n1']);
  const pid = agents.n1.proc.pid;
  const wakes = () => Number(/voluntary_ctxt_switches:\s+(\d+)/
    .exec(fs.readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))[1]);
  const beat = async () => Date.parse((await agentList()).find((a) => a.name === 'n1').last_heartbeat);
  const w0 = wakes();
  const b0 = await beat();
  await sleep(3000);
  const w1 = wakes();
  const b1 = await beat();
  assert.ok(w1 - w0 <= 30, `the loop thread woke ${w1 - w0} times in 3 s`);
  assert.ok(b1 - b0 >= 2000, `heartbeats ${b0} then ${b1}`);
});

test('bad flags exit 2 naming the flag', async () => {
  const r = await run(STAMPEDE_BIN, ['agent', '--server', srv.base, '--location', 'x y']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--location/);
  const r2 = await run(STAMPEDE_BIN, ['agent', '--location', 'near']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--server is required/);
});

test('a location without a connected agent is refused with 422 naming it', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 60, mars: 40 } });
  assert.equal(r.status, 422, r.text);
  assert.match(r.text, /mars/);
  const bad = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 60, far: 30 } });
  assert.equal(bad.status, 422, bad.text);
  assert.match(bad.text, /100/);
});

test('a run across locations: merged counts equal what the shop served, locations add up', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 60, far: 40 } });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  const during = await waitFor('agents running', async () => {
    const list = await agentList();
    return list.filter((a) => a.run_id === id && a.state === 'running').length === 3 && list;
  });
  assert.ok(during);
  const done = await waitStatus(id, ['passed', 'failed', 'stopped']);
  assert.equal(done.status, 'passed', JSON.stringify(done));
  const stats = await shopStats();
  const runStats = await api('GET', `/api/v1/runs/${id}/stats`);
  const byName = Object.fromEntries(runStats.json.names.map((n) => [n.name, n.requests]));
  assert.ok(byName['GET /products'] > 0);
  assert.equal(byName['GET /products'], served(stats, 'GET /api/v1/products'));
  assert.equal(byName['GET /categories'], served(stats, 'GET /api/v1/categories'));
  assert.equal(runStats.json.total.requests, stats.total);
  // Per location, beside the merged totals: they add up to them, name by name.
  const locs = done.summary.locations;
  assert.deepEqual(Object.keys(locs).sort(), ['far', 'near']);
  assert.equal(locs.near.requests + locs.far.requests, stats.total);
  for (const name of ['GET /products', 'GET /categories'])
    assert.equal(locs.near.names[name].requests + locs.far.names[name].requests, byName[name]);
  assert.ok(locs.near.p95_ms > 0);
  // 6 VUs at 60/40: near has 4 (2 + 2), far 2; near sends about twice as much.
  assert.ok(locs.near.requests > locs.far.requests, JSON.stringify(locs));
  assert.equal(done.summary.agents.length, 3);
  assert.deepEqual(done.summary.agents_lost, []);
  for (const a of done.summary.agents) assert.ok(a.cpu > 0 && a.lag_ms_max >= 0, JSON.stringify(a));
  // The JSON export carries the same breakdown.
  const exp = await api('GET', `/api/v1/runs/${id}/export.json`);
  assert.deepEqual(exp.json.run.summary.locations, locs);
  await waitIdle(['n1', 'n2', 'f1']);
});

test('a stop reaches every agent: the traffic at the shop ends within 1 s', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const r = await api('POST', `/api/v1/tests/${testId}/runs`,
    { locations: { near: 50, far: 50 }, duration: '60s' });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  await waitFor('traffic', async () => (await shopStats()).total > 50);
  const stop = await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
  assert.ok(stop.status === 200 || stop.status === 202, stop.text);
  const t0 = Date.now();
  await sleep(1000);
  const a = (await shopStats()).total;
  await sleep(1000);
  const b = (await shopStats()).total;
  assert.equal(b, a, `the shop still got ${b - a} requests between 1 s and 2 s after the stop`);
  const done = await waitStatus(id, ['stopped', 'passed', 'failed']);
  assert.equal(done.status, 'stopped');
  assert.ok(Date.now() - t0 < 15000);
  await waitIdle(['n1', 'n2', 'f1']);
});

test('data files travel with the definition; unique rows are partitioned, none sent twice', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  fs.mkdirSync(path.join(srv.dataDir, 'files', 'agents'), { recursive: true });
  const rows = Array.from({ length: 30 }, (_, i) => `${i + 1}`);
  fs.writeFileSync(path.join(srv.dataDir, 'files', 'agents', 'ids.csv'), `id\n${rows.join('\n')}\n`);
  const def = {
    name: 'agents csv', base_url: shop.url,
    users: [{ name: 'u', think: { constant: '10ms' },
      data_file: { csv: 'agents/ids.csv', mode: 'unique', on_exhausted: 'stop' },
      tasks: [{ steps: [{ request: { url: '/api/v1/products/{{row.id}}', name: 'GET /products/:id' } }] }] }],
    // 30 rows at a request each 10 ms or so are gone in the first second.
    load: { users: 6, duration: '2s' },
  };
  const t = await api('POST', '/api/v1/tests', def);
  assert.equal(t.status, 201, t.text);
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const r = await api('POST', `/api/v1/tests/${t.json.id}/runs`, { locations: { near: 60, far: 40 } });
  assert.equal(r.status, 201, r.text);
  const done = await waitStatus(r.json.id, ['passed', 'failed', 'stopped', 'degraded']);
  // 30 rows over 3 agents: each row once, so 30 requests in all (each agent alone would send 30).
  const stats = await shopStats();
  assert.equal(stats.total, 30, JSON.stringify(stats.endpoints));
  const recorded = (await api('GET', `/api/v1/runs/${r.json.id}/stats`)).json.total.requests;
  assert.equal(recorded, 30, JSON.stringify(done.summary));
  await waitIdle(['n1', 'n2', 'f1']);
});

test('a load change reaches every agent, split as the start was', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const r = await api('POST', `/api/v1/tests/${testId}/runs`,
    { locations: { near: 60, far: 40 }, users: 2, duration: '30s' });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  await sleep(1500);
  const t0 = Date.now();
  const ch = await api('POST', `/api/v1/runs/${id}/load`, { target: 9, ramp: '0s' });
  assert.equal(ch.status, 200, ch.text);
  // Every agent has its part within 1 s: 9 VUs at 60/40 are near 5 (3 and 2) and far 4.
  const told = (n) => (agents[n].stderr().match(new RegExp(`run ${id}: target (\\d+) over 0 ms`)) || [])[1];
  await waitFor('every agent told', async () => ['n1', 'n2', 'f1'].every(told), 1000)
    .catch((e) => { throw new Error(`${e.message}: ${['n1', 'n2', 'f1'].map((n) => agents[n].stderr()).join('\n')}`); });
  assert.deepEqual([told('n1'), told('n2')].map(Number).sort(), [2, 3]);
  assert.equal(Number(told('f1')), 4);
  // The VUs gauge is the sum of the agents' own, sent with each second.
  let vus = 0;
  while (vus !== 9 && Date.now() - t0 < 5000) {
    await sleep(100);
    vus = (await api('GET', `/api/v1/runs/${id}`)).json.live?.vus;
  }
  assert.equal(vus, 9, `${Date.now() - t0} ms after the change`);
  await api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
  await waitStatus(id, ['stopped']);
  await waitIdle(['n1', 'n2', 'f1']);
});

test('thresholds may name a location: judged on that location\'s agents alone', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const def = definition('agents thresholds', { users: 4, duration: '2s', locations: { near: 50, far: 50 } });
  def.thresholds = ['near: p95 < 10s', 'far: GET /products: p95 < 1us', 'error_rate < 1%'];
  const t = await api('POST', '/api/v1/tests', def);
  assert.equal(t.status, 201, t.text);
  const bad = await api('POST', '/api/v1/tests', { ...def, thresholds: ['mars: p95 < 1s'] });
  assert.equal(bad.status, 422, bad.text);
  assert.match(bad.text, /mars/);
  const r = await api('POST', `/api/v1/tests/${t.json.id}/runs`, {});
  assert.equal(r.status, 201, r.text);
  const done = await waitStatus(r.json.id, ['passed', 'failed', 'stopped', 'degraded']);
  assert.equal(done.status, 'failed', JSON.stringify(done.verdicts));
  assert.deepEqual(done.verdicts.map((x) => x.threshold), def.thresholds);
  const near = done.verdicts[0], far = done.verdicts[1];
  assert.equal(near.passed, true, JSON.stringify(near));
  assert.equal(far.passed, false, JSON.stringify(far));
  // far's figure is far's own: the p95 of its GET /products, as summary.locations has it.
  const farP95 = done.summary.locations.far.names['GET /products'].p95_ms;
  assert.ok(Math.abs(far.measured - farP95) < 0.01, `${JSON.stringify(far)} vs ${farP95}`);
  await waitIdle(['n1', 'n2', 'f1']);
});

test('load.stop_when judged on the merged seconds stops every agent', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const def = definition('agents stop_when', { users: 3, duration: '60s', locations: { near: 50, far: 50 },
    stop_when: { any: ['error_rate > 50%'], window: '1s' } });
  def.users[0].tasks[0].steps = [{ request: { url: '/api/v1/nowhere', name: 'GET /nowhere' } }];
  def.thresholds = [];
  const t = await api('POST', '/api/v1/tests', def);
  assert.equal(t.status, 201, t.text);
  const t0 = Date.now();
  const r = await api('POST', `/api/v1/tests/${t.json.id}/runs`, {});
  assert.equal(r.status, 201, r.text);
  const done = await waitStatus(r.json.id, ['passed', 'failed', 'stopped', 'degraded'], 20000);
  assert.ok(Date.now() - t0 < 15000, `ended after ${Date.now() - t0} ms of a 60 s run`);
  assert.equal(done.summary.broke?.condition, 'error_rate > 50%', JSON.stringify(done.summary));
  const a = (await shopStats()).total;
  await sleep(1000);
  assert.equal((await shopStats()).total, a, 'an agent still sends after the run ended');
  await waitIdle(['n1', 'n2', 'f1']);
});

test('stampede remote run --locations runs across agents from CI', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const bad = await run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, 'agents basic',
    '--locations', 'near']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--locations expects NAME=PERCENT/);
  const none = await run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, 'agents basic',
    '--locations', 'near=50,moon=50', '-q']);
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /moon/);
  const r = await run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, 'agents basic',
    '--locations', 'near=60,far=40', '--duration', '2s', '-q'], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const runs = await api('GET', `/api/v1/runs?test_id=${testId}`);
  const last = (await api('GET', `/api/v1/runs/${runs.json.items[0].id}`)).json;
  assert.deepEqual(Object.keys(last.summary.locations).sort(), ['far', 'near']);
  await waitIdle(['n1', 'n2', 'f1']);
});

// A network cut between one agent and the server, made by a TCP proxy that the agent is
// pointed at (its /api/v1/config names the proxy's port as the stream's).
async function cuttableAgent(name, location) {
  const conns = new Set();
  const tcp = net.createServer((c) => {
    const up = net.connect(srv.live, '127.0.0.1');
    conns.add(c); conns.add(up);
    c.pipe(up); up.pipe(c);
    const end = () => { c.destroy(); up.destroy(); conns.delete(c); conns.delete(up); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  });
  await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
  const web = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ live_port: tcp.address().port }));
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  const proc = await startProcess(STAMPEDE_BIN, ['agent', '--server', `http://127.0.0.1:${web.address().port}`,
    '--location', location, '--name', name, '--threads', '1']);
  return {
    proc,
    cut() { for (const c of conns) c.destroy(); },
    async close() { await proc.stop('SIGKILL'); tcp.close(); web.close(); },
  };
}

test('an agent cut off for a moment reconnects and resumes: nothing lost, nothing counted twice', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const c1 = await cuttableAgent('c1', 'cut');
  try {
    await waitIdle(['c1']);
    await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
    const r = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 50, cut: 50 }, duration: '6s' });
    assert.equal(r.status, 201, r.text);
    await sleep(2500);
    c1.cut();
    const done = await waitStatus(r.json.id, ['passed', 'failed', 'stopped', 'degraded']);
    assert.match(c1.proc.stderr(), /disconnected/);
    assert.equal(c1.proc.stderr().match(/registered with the server/g).length, 2, c1.proc.stderr());
    assert.equal(done.status, 'passed', JSON.stringify(done));
    const stats = await shopStats();
    const runStats = (await api('GET', `/api/v1/runs/${r.json.id}/stats`)).json;
    assert.equal(runStats.total.requests, stats.total);
    assert.equal(done.summary.locations.cut.requests + done.summary.locations.near.requests, stats.total);
  } finally {
    await c1.close();
  }
});

test('an agent killed mid-run: the run goes on and names it, its location and the second', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const r = await api('POST', `/api/v1/tests/${testId}/runs`,
    { locations: { near: 60, far: 40 }, duration: '8s' });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  await sleep(2500);
  await agents.n2.stop('SIGKILL');
  delete agents.n2;
  const done = await waitStatus(id, ['passed', 'failed', 'stopped', 'degraded']);
  assert.equal(done.status, 'degraded', JSON.stringify(done));
  const lost = done.agents_lost;
  assert.equal(lost.length, 1, JSON.stringify(done.summary));
  assert.match(done.error, /agent n2 \(near\) was lost at second \d+: the run went on without it/);
  // Recorded never exceeds served: what n2 sent in its last moments may be missing, never more.
  const stats = await shopStats();
  const recorded = (await api('GET', `/api/v1/runs/${id}/stats`)).json.total.requests;
  assert.ok(recorded > 0 && recorded <= stats.total, `recorded ${recorded}, served ${stats.total}`);
  assert.equal(lost[0].name, 'n2');
  assert.equal(lost[0].location, 'near');
  assert.ok(lost[0].second >= 2 && lost[0].second <= 7, JSON.stringify(lost));
  const list = await agentList();
  assert.equal(list.find((a) => a.name === 'n2').state, 'lost');
  agents.n2 = await startAgent('n2', 'near');
  await waitIdle(['n1', 'n2', 'f1']);
});

test('load.locations in the definition, and on_agent_loss "abort" stops the run at the loss', async () => {
  await waitIdle(['n1', 'n2', 'f1']);
  const def = definition('agents abort', { users: 4, duration: '30s', locations: { near: 50, far: 50 },
    on_agent_loss: 'abort' });
  const t = await api('POST', '/api/v1/tests', def);
  assert.equal(t.status, 201, t.text);
  const bad = await api('POST', '/api/v1/tests', definition('agents bad', { users: 4, duration: '3s',
    locations: { near: 50, far: 40 } }));
  assert.equal(bad.status, 422, bad.text);
  assert.match(bad.text, /load\.locations.*100/);
  const r = await api('POST', `/api/v1/tests/${t.json.id}/runs`, {});
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  await waitFor('all three running', async () =>
    (await agentList()).filter((a) => a.run_id === id).length === 3);
  await sleep(1500);
  await agents.f1.stop('SIGKILL');
  delete agents.f1;
  const t0 = Date.now();
  const done = await waitStatus(id, ['stopped', 'degraded', 'passed', 'failed']);
  assert.equal(done.status, 'stopped', JSON.stringify(done));
  assert.match(done.error, /agent f1 \(far\) was lost at second \d+: the run was stopped/);
  // Lost after 3 s without a word, then stopped at once: far from its 30 s.
  assert.ok(Date.now() - t0 < 10000);
  agents.f1 = await startAgent('f1', 'far');
  await waitIdle(['n1', 'n2', 'f1']);
});

test('a hostile agent: another protocol is refused naming both; bad messages never hurt a run', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-agent-v1');
  const got = [];
  const closed = new Promise((resolve) => ws.on('close', resolve));
  ws.on('message', (d) => got.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  // An agent of protocol 1 (seconds as JSON) meets this server of protocol 2 (seconds packed).
  ws.send(JSON.stringify({ type: 'hello', v: 1, version: '0.0.9', name: 'old', location: 'near',
    cores: 1, threads: 1, max_vus: 1 }));
  await closed;
  assert.equal(got[0]?.type, 'refuse', JSON.stringify(got));
  assert.match(got[0].reason, /protocol 1 \(stampede 0\.0\.9\).*protocol 2/);

  // Garbage, oversized names and a forged second from an agent in no run: refused and logged.
  const evil = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-agent-v1');
  await new Promise((resolve, reject) => { evil.on('open', resolve); evil.on('error', reject); });
  evil.send(JSON.stringify({ type: 'hello', v: 2, version: '1', name: 'evil', location: 'near',
    cores: 1, threads: 1, max_vus: 1 }));
  evil.send('{"type":');
  evil.send('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[');
  evil.send(JSON.stringify({ type: 'second', v: 2, run: 1, second: 0, stats: { names: [{ i: 99 }] } }));
  evil.send('second 2 1 0\ns 1 0 1 1 0 0 0 0 0\nn 99 0 1 0 0 0 0 5 5 5 200:1 - 5:1\n');
  evil.send('second 2 1 99999999999999999999999\n');
  evil.send(JSON.stringify({ type: 'end', v: 2, run: 1, last_second: 0 }));
  await sleep(300);
  evil.close();
  assert.match(srv.stderr(), /agent message refused/);
  // The server still serves, and a run across the real agents still counts exactly.
  await waitIdle(['n1', 'n2', 'f1']);
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 50, far: 50 }, duration: '2s' });
  assert.equal(r.status, 201, r.text);
  const done = await waitStatus(r.json.id, ['passed', 'failed', 'stopped', 'degraded']);
  assert.equal(done.status, 'passed');
  assert.equal((await api('GET', `/api/v1/runs/${r.json.id}/stats`)).json.total.requests,
    (await shopStats()).total);
});

test('agent tokens: admin-made, shown once, register an agent and nothing else, revoked at once', async () => {
  const s = await startStampede();
  const spawned = [];
  try {
    const made = await api('POST', '/api/v1/agent-tokens', { name: 'eu pool' }, s);
    assert.equal(made.status, 201, made.text);
    assert.match(made.json.token, /^spa_[0-9a-f]{64}$/);
    assert.equal(made.json.prefix, made.json.token.slice(0, 12));
    const listed = await api('GET', '/api/v1/agent-tokens', undefined, s);
    assert.equal(listed.status, 200);
    assert.equal(listed.json.items.length, 1);
    assert.ok(!listed.text.includes(made.json.token), 'the list shows the secret');
    assert.equal((await api('POST', '/api/v1/agent-tokens', { name: 'x', extra: 1 }, s)).status, 400);
    // An agent token on any REST call: 403.
    const rest = await fetch(`${s.base}/api/v1/tests`, { headers: { Authorization: `Bearer ${made.json.token}` } });
    assert.equal(rest.status, 403);
    assert.match(await rest.text(), /agent token/);
    // With the token (from the environment, as a Kubernetes Secret gives it): registered.
    const good = await startProcess(STAMPEDE_BIN, ['agent', '--server', s.base, '--location', 'eu',
      '--name', 'tok1', '--threads', '1'], { env: { STAMPEDE_AGENT_TOKEN: made.json.token } });
    spawned.push(good);
    // Without one, or with a made-up one: refused at the upgrade, never listed.
    const none = await startProcess(STAMPEDE_BIN, ['agent', '--server', s.base, '--location', 'eu',
      '--name', 'notok', '--threads', '1']);
    spawned.push(none);
    const forged = await startProcess(STAMPEDE_BIN, ['agent', '--server', s.base, '--location', 'eu',
      '--name', 'forged', '--token', `spa_${'0'.repeat(64)}`, '--threads', '1']);
    spawned.push(forged);
    await waitIdle(['tok1'], s);
    await sleep(1500);
    let names = (await agentList(s)).map((a) => a.name);
    assert.deepEqual(names, ['tok1']);
    assert.match(none.stderr(), /retrying/);
    // Revoked: dropped at once, and it cannot come back.
    const del = await api('DELETE', `/api/v1/agent-tokens/${made.json.id}`, undefined, s);
    assert.equal(del.status, 204, del.text);
    const t0 = Date.now();
    await waitFor('the agent dropped', async () =>
      (await agentList(s)).find((a) => a.name === 'tok1')?.state === 'lost', 2000);
    assert.ok(Date.now() - t0 < 2000);
    await sleep(2500);
    names = (await agentList(s)).filter((a) => a.state !== 'lost').map((a) => a.name);
    assert.deepEqual(names, []);
    const after = await api('GET', '/api/v1/agent-tokens', undefined, s);
    assert.equal(after.json.items[0].state, 'revoked');
  } finally {
    for (const p of spawned) await p.stop('SIGKILL');
    await s.stop();
  }
});
