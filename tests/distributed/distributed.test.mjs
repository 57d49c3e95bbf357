// distributed.test.mjs - issue 17's distributed run, end to end, with real processes on a
// network of namespaces (tests/lib/netns.mjs): the server in one namespace, the demo shop in
// another, two agents of location `near` and one of `far` in three more. The shop gives the far
// agent's address 20 ms more latency (--latency-from: this kernel has no netem qdisc). Agents
// reach the server over the network, so they use an agent token made by the admin.
//
// Checks the contract of issue 17 (docs/distributed.md); registered in tests/CMakeLists.txt
// (label distributed, as root). Every load is bounded: open-model runs of at most 100
// arrivals/s for at most 20 s, to the shop's namespace only. Timings other than the issue's
// bounds (the agents' start spread, the clock-offset error, how soon a stop reaches the agents)
// are reported as diagnostics, not asserted: docs/distributed.md gives the measured figures.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { STAMPEDE_BIN, SHOP_API_BIN, ADMIN_PASSWORD, tempDir, userToken, sleep } from '../lib/harness.mjs';
import { createNetwork, netnsUnavailable } from '../lib/netns.mjs';

const why = netnsUnavailable();
const RATE = 100; // arrivals/s of the whole run
const SHARES = { near: 60, far: 40 };
const PER_NEAR_AGENT = (RATE * SHARES.near) / 100 / 2; // two near agents
const NAMES = { 'GET /categories': 'GET /api/v1/categories', 'GET /products/:id': 'GET /api/v1/products/:id' };

let tests = 0; // test names are unique on a server: one per subtest
const definition = (shopUrl, duration) => ({
  name: `distributed ${++tests}`,
  base_url: shopUrl,
  users: [{
    name: 'client',
    tasks: [
      { name: 'categories', weight: 1, request: { url: '/api/v1/categories', name: 'GET /categories' } },
      { name: 'product', weight: 1, request: { url: '/api/v1/products/101', name: 'GET /products/:id' } },
    ],
  }],
  load: { model: 'open', rate: RATE, duration, max_vus: 200 },
});

describe('distributed runs across locations', { skip: why || false, timeout: 540000 }, () => {
  let net, server, base, admin, shopUrl, agentToken, agentTokenId, serverDir;
  const agents = {};

  async function api(method, path, body, token = admin) {
    const init = { method, headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10000) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(base + path, init);
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text };
  }

  async function startServer() {
    server = await net.start('server', STAMPEDE_BIN, ['serve', '--listen', `${net.addr('server')}:8484`,
      '--live-port', '8485', '--data-dir', serverDir],
    { readyUrl: `${base}/api/v1/health`, env: { STAMPEDE_ADMIN_PASSWORD: ADMIN_PASSWORD }, timeoutMs: 20000 });
  }

  async function startAgent(host, location) {
    agents[host] = await net.start(host, STAMPEDE_BIN, ['agent', '--server', base, '--location', location,
      '--name', host, '--threads', '1'], { env: { STAMPEDE_AGENT_TOKEN: agentToken } });
  }

  /** Waits until GET /api/v1/agents shows want(agents) true; returns the list. */
  async function waitAgents(want, what, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      const r = await api('GET', '/api/v1/agents');
      last = r.json?.agents;
      if (r.status === 200 && want(last)) return last;
      if (Date.now() > deadline) assert.fail(`${what}: agents ${JSON.stringify(last)}`);
      await sleep(200);
    }
  }

  const idle = (names) => (list) => names.every((n) => list?.some((a) => a.name === n && a.state === 'idle'));

  async function shopStats() {
    const res = await fetch(`${shopUrl}/__stats`, { signal: AbortSignal.timeout(5000) });
    return res.json();
  }
  const served = (stats, name) => Object.values(stats.endpoints[NAMES[name]] || {}).reduce((a, b) => a + b, 0);

  async function startRun(testId, body) {
    const r = await api('POST', `/api/v1/tests/${testId}/runs`, body);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.status, 'running', r.text);
    return r.json.id;
  }

  async function waitEnd(runId, timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await api('GET', `/api/v1/runs/${runId}`);
      if (r.json && r.json.status !== 'running' && r.json.summary) return r.json;
      if (Date.now() > deadline) assert.fail(`run ${runId} did not end: ${r.text.slice(0, 500)}`);
      await sleep(250);
    }
  }

  /** The run's second (from its start) now, from the live figures. */
  async function runSecond(runId) {
    const r = await api('GET', `/api/v1/runs/${runId}`);
    return r.json?.live?.elapsed_s ?? 0;
  }

  async function makeTest(duration) {
    const r = await api('POST', '/api/v1/tests', definition(shopUrl, duration));
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  }

  before(async () => {
    net = createNetwork({ hosts: ['server', 'shop', 'near1', 'near2', 'far'] });
    shopUrl = `http://${net.addr('shop')}:8090`;
    base = `http://${net.addr('server')}:8484`;
    serverDir = tempDir('stampede-distributed-');
    await net.start('shop', SHOP_API_BIN, ['--listen', net.addr('shop'), '--port', '8090', '--quiet',
      '--latency-ms', 'all=fixed:5', '--latency-from', `${net.addr('far')}/32=fixed:20`],
    { readyUrl: `${shopUrl}/__stats` });
    await startServer();
    admin = await userToken(base);
    const t = await api('POST', '/api/v1/agent-tokens', { name: 'distributed test' });
    assert.equal(t.status, 201, t.text);
    assert.equal(typeof t.json.token, 'string');
    agentToken = t.json.token;
    agentTokenId = t.json.id;
    await startAgent('near1', 'near');
    await startAgent('near2', 'near');
    await startAgent('far', 'far');
    await waitAgents(idle(['near1', 'near2', 'far']), 'three idle agents');
  });

  after(async () => {
    if (net) await net.destroy();
  });

  test('agents register with what they are; agent tokens are listed without secrets and refused on REST', async (t) => {
    const list = await waitAgents(idle(['near1', 'near2', 'far']), 'three idle agents');
    for (const a of list) {
      assert.equal(a.protocol, 2);
      assert.equal(a.run_id, null);
      assert.ok(Number.isInteger(a.cores) && a.cores >= 1, JSON.stringify(a));
      assert.equal(a.threads, 1);
      assert.ok(!Number.isNaN(Date.parse(a.last_heartbeat)), a.last_heartbeat);
      assert.ok(Date.now() - Date.parse(a.last_heartbeat) < 5000, 'a heartbeat within the last seconds');
      assert.equal(typeof a.clock_offset_ms, 'number');
      // One machine, one clock: the true offset is 0, so this is the estimate's error.
      assert.ok(Math.abs(a.clock_offset_ms) < 50, `one machine: offset ${a.clock_offset_ms} ms`);
      assert.equal(typeof a.version, 'string');
    }
    t.diagnostic(`clock offset error: ${Math.max(...list.map((a) => Math.abs(a.clock_offset_ms))).toFixed(3)} ms at most`);
    assert.deepEqual(list.filter((a) => a.location === 'near').map((a) => a.name).sort(), ['near1', 'near2']);
    assert.deepEqual(list.filter((a) => a.location === 'far').map((a) => a.name), ['far']);

    const tokens = await api('GET', '/api/v1/agent-tokens');
    assert.equal(tokens.status, 200);
    assert.ok(!tokens.text.includes(agentToken), 'the list never shows the secret');
    for (const p of ['/api/v1/tests', '/api/v1/agents', '/api/v1/agent-tokens']) {
      const r = await api('GET', p, undefined, agentToken);
      assert.equal(r.status, 403, `${p} with an agent token: ${r.status}`);
    }
  });

  test('a location without a connected agent is refused with 422 naming it', async () => {
    const id = await makeTest('5s');
    const r = await api('POST', `/api/v1/tests/${id}/runs`, { locations: { near: 50, mars: 50 } });
    assert.equal(r.status, 422, r.text);
    assert.match(r.text, /mars/);
  });

  test('a 20 s run at 60/40: counts equal the shop\'s, far is 20 ms slower than near', async (t) => {
    await fetch(`${shopUrl}/__reset`, { method: 'POST' });
    const id = await makeTest('20s');
    const runId = await startRun(id, { locations: SHARES });
    const run = await waitEnd(runId);
    assert.equal(run.status, 'passed', `${run.status}: ${run.error}`);
    const stats = await shopStats();
    let total = 0;
    for (const name of Object.keys(NAMES)) {
      const rec = run.summary.names.find((n) => n.name === name);
      assert.ok(rec, `${name} in summary.names`);
      assert.equal(rec.requests, served(stats, name), `${name}: merged count = the shop's count`);
      total += rec.requests;
    }
    // About RATE/s for 20 s (arrivals are exact in the open model; allow for the first second).
    assert.ok(total > RATE * 20 * 0.9 && total <= RATE * 20 + 2, `total ${total}`);

    const loc = run.summary.locations;
    assert.deepEqual(Object.keys(loc).sort(), ['far', 'near']);
    assert.equal(loc.near.requests + loc.far.requests, total, 'the locations add up to the total');
    // 60/40 of the arrivals.
    assert.ok(Math.abs(loc.near.requests / total - 0.6) < 0.03, `near's share ${loc.near.requests / total}`);
    const diff = loc.far.p50_ms - loc.near.p50_ms;
    assert.ok(Math.abs(diff - 20) <= 2, `far p50 ${loc.far.p50_ms} - near p50 ${loc.near.p50_ms} = ${diff}, want 20 ± 2`);
    for (const name of Object.keys(NAMES)) {
      const d = loc.far.names[name].p50_ms - loc.near.names[name].p50_ms;
      assert.ok(Math.abs(d - 20) <= 2, `${name}: far - near p50 = ${d}`);
      assert.equal(loc.far.names[name].requests + loc.near.names[name].requests,
        run.summary.names.find((n) => n.name === name).requests);
    }
    // How closely the agents' seconds line up: each logs the instant its engine started
    // (its seconds count from it). The namespaces share one clock, so the instants compare
    // directly; reported, not asserted (a shared machine's scheduling is noisy).
    const starts = ['near1', 'near2', 'far'].map((h) => {
      const m = [...agents[h].stderr().matchAll(new RegExp(`run ${runId} starting (-?[0-9.]+) ms after its instant \\(agent clock (\\d+) ns\\)`, 'g'))];
      assert.equal(m.length, 1, `${h} logs its start once: ${agents[h].stderr().slice(-500)}`);
      return { late: Number(m[0][1]), at: BigInt(m[0][2]) };
    });
    const ats = starts.map((x) => x.at);
    const spread = Number(ats.reduce((a, b) => (a > b ? a : b)) - ats.reduce((a, b) => (a < b ? a : b))) / 1e6;
    t.diagnostic(`start spread ${spread.toFixed(3)} ms; late after the instant: ${starts.map((x) => x.late.toFixed(3)).join(', ')} ms`);
    // Generator health, per agent.
    assert.deepEqual(run.summary.agents.map((a) => a.name).sort(), ['far', 'near1', 'near2']);
    for (const a of run.summary.agents) {
      assert.ok(['near', 'far'].includes(a.location));
      assert.equal(typeof a.cpu, 'number');
      assert.equal(typeof a.lag_ms_max, 'number');
      assert.equal(a.dropped, 0, `${a.name} dropped arrivals`);
    }
  });

  test('kill -9 of one near agent at second 10: degraded, named, and the gap at most its last two seconds', async (t) => {
    await fetch(`${shopUrl}/__reset`, { method: 'POST' });
    const id = await makeTest('20s');
    const runId = await startRun(id, { locations: SHARES });
    while (await runSecond(runId) < 10) await sleep(100);
    agents.near1.proc.kill('SIGKILL');
    const run = await waitEnd(runId);
    assert.equal(run.status, 'degraded', `${run.status}: ${run.error}`);
    assert.equal(run.agents_lost.length, 1, JSON.stringify(run.agents_lost));
    const lost = run.agents_lost[0];
    assert.equal(lost.name, 'near1');
    assert.equal(lost.location, 'near');
    // The second of its last word (it spoke at least every second until the kill at 10.0-10.2),
    // not of when the server noticed, 3 s (SP_AGENTS_LOST_MS) later: 13 or more.
    assert.ok(lost.second >= 9 && lost.second <= 11, `lost at second ${lost.second}`);
    const stats = await shopStats();
    let gap = 0;
    for (const name of Object.keys(NAMES)) {
      const rec = run.summary.names.find((n) => n.name === name).requests;
      const srv = served(stats, name);
      assert.ok(rec <= srv, `${name}: recorded ${rec} > served ${srv}`);
      gap += srv - rec;
    }
    t.diagnostic(`near1 lost at second ${lost.second}: served - recorded = ${gap}`);
    // The agent's last two seconds of arrivals, plus what it had in flight (a few, at 5 ms).
    assert.ok(gap <= 2 * PER_NEAR_AGENT + 3, `served - recorded = ${gap}, more than near1's last two seconds (${2 * PER_NEAR_AGENT})`);
    await waitAgents((list) => list.some((a) => a.name === 'near1' && a.state === 'lost'), 'near1 shown lost');
  });

  test('stop during a run ends the traffic at the shop within 1 s', async (t) => {
    await waitAgents(idle(['near2', 'far']), 'near2 and far idle again');
    const id = await makeTest('20s');
    const runId = await startRun(id, { locations: SHARES });
    // A whole second in, every agent is sending (checked below: traffic was flowing).
    while (await runSecond(runId) < 1) await sleep(100);
    const before = (await shopStats()).total;
    const askedNs = BigInt(Date.now()) * 1000000n;
    const stop = await api('POST', `/api/v1/runs/${runId}/stop`, {});
    const stoppedAt = Date.now();
    assert.equal(stop.status, 202, stop.text);
    assert.ok(before > 0, 'traffic was flowing');
    await sleep(1000 - (Date.now() - stoppedAt));
    const at1s = (await shopStats()).total;
    await sleep(1500);
    const at2s = (await shopStats()).total;
    assert.equal(at2s, at1s, `the shop still got ${at2s - at1s} requests more than 1 s after the stop`);
    const run = await waitEnd(runId);
    assert.equal(run.status, 'stopped');
    // How long the stop took to reach each agent (one clock; reported, not asserted).
    const reached = ['near2', 'far'].map((h) => {
      const m = agents[h].stderr().match(new RegExp(`run ${runId}: stop \\([a-z]+; agent clock (\\d+) ns\\)`));
      assert.ok(m, `${h} logs the stop: ${agents[h].stderr().slice(-500)}`);
      return Number(BigInt(m[1]) - askedNs) / 1e6;
    });
    t.diagnostic(`stop reached the agents ${reached.map((x) => x.toFixed(1)).join(', ')} ms after it was asked for`);
  });

  test('the server killed mid-run: no agent sends load 5 s later', async () => {
    await waitAgents(idle(['near2', 'far']), 'near2 and far idle again');
    const id = await makeTest('20s');
    const runId = await startRun(id, { locations: SHARES });
    while (await runSecond(runId) < 1) await sleep(100);
    const t0 = (await shopStats()).total;
    await sleep(500);
    assert.ok((await shopStats()).total > t0, 'traffic was flowing');
    server.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await server.exited;
    await sleep(5000 - (Date.now() - killedAt));
    const at5s = (await shopStats()).total;
    await sleep(1500);
    const later = (await shopStats()).total;
    assert.equal(later, at5s, `agents sent ${later - at5s} requests more than 5 s after the server died`);
    // They stopped it themselves, for want of a word from the server (not because the run ended).
    assert.match(agents.near2.stderr() + agents.far.stderr(), /no word from the server/);
    // The agents themselves keep running, trying to reconnect.
    for (const h of ['near2', 'far']) assert.equal(agents[h].proc.exitCode, null, `${h} exited`);
  });

  test('agents reconnect to a restarted server; revoking their token drops them at once', async () => {
    await startServer();
    admin = await userToken(base);
    await waitAgents(idle(['near2', 'far']), 'near2 and far reconnected', 60000);
    const r = await api('DELETE', `/api/v1/agent-tokens/${agentTokenId}`);
    assert.ok(r.status === 200 || r.status === 204, r.text);
    const list = await waitAgents((l) => !l.some((a) => a.state === 'idle' || a.state === 'running'),
      'no agent connected after the revocation', 2000);
    assert.ok(!list.some((a) => a.state === 'idle'));
    const start = await api('POST', `/api/v1/tests/${await makeTest('5s')}/runs`, { locations: SHARES });
    assert.equal(start.status, 422, 'no location has an agent left');
  });
});
