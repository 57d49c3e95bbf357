// agents_merge_offline.test.mjs - issue 17: "the merged percentiles equal an offline merge of
// the agents' histograms". Three real `stampede agent` processes (two in "near", one in "far",
// each with --record DIR) run a test across locations against the real demo shop through a real
// daemon (--no-auth, loopback). Each agent's recording holds every second exactly as it sent it;
// tests/tools/wire_merge decodes them with engine/wire.c and merges them bucket by bucket with
// its own sums (engine/histogram.c only reads the percentiles), not with the server's code. The
// server's figures must equal that merge exactly, for the run, per request name, per location and
// per location and name: the same counts, and the same bucket hence the same value for min, p50,
// p90, p95, p99 and max. And the counts must equal what the shop served.
//
// What it catches, for instance: one agent's second merged twice into the run or into its
// location (the counts differ from the recordings and the shop); a histogram bucket shifted by
// one, or the range merge dropping the last bucket, in the server's merge (a percentile or the
// max lands elsewhere); two locations' figures swapped (near has two agents and twice far's VUs,
// so its counts differ); a second lost between an agent and the run (counts short of the shop).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  STAMPEDE_BIN, startStampede, startShop, startProcess, run, tempDir, apiCall, waitFor,
} from '../lib/harness.mjs';

const WIRE_MERGE_BIN = process.env.WIRE_MERGE_BIN || 'build/dev/tests/wire_merge';
const AGENTS = [['m-n1', 'near'], ['m-n2', 'near'], ['m-f1', 'far']];
const NAMES = { 'GET /products': 'GET /api/v1/products', 'GET /categories': 'GET /api/v1/categories',
  'GET /products/missing': 'GET /api/v1/products/:id' };

let shop, srv, dir, def, testId;
const agents = [];

const api = (method, p, body) => apiCall(srv, method, p, body);


before(async () => {
  // Latencies spread over many buckets (1 us each below 256 us, then 128 per power of two), so a
  // shifted bucket moves a percentile.
  shop = await startShop(['--quiet', '--latency-ms', 'catalog=uniform:1-15']);
  srv = await startStampede([], { noAuth: true });
  dir = tempDir('stampede-record-');
  for (const [name, loc] of AGENTS) {
    agents.push(await startProcess(STAMPEDE_BIN, ['agent', '--server', srv.base, '--location', loc,
      '--name', name, '--threads', '1', '--record', dir]));
  }
  def = {
    name: 'offline merge',
    base_url: shop.url,
    users: [{
      name: 'u',
      think: { constant: '5ms' },
      tasks: [{ steps: [
        { request: { url: '/api/v1/products', name: 'GET /products' } },
        { request: { url: '/api/v1/categories', name: 'GET /categories' } },
        // A 404: failures are counted and merged too.
        { request: { url: '/api/v1/products/999999', name: 'GET /products/missing' } },
      ] }],
    }],
    load: { users: 6, duration: '3s' },
  };
  const r = await api('POST', '/api/v1/tests', def);
  assert.equal(r.status, 201, r.text);
  testId = r.json.id;
});

after(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

const us = (ms) => Math.round(ms * 1000);

// The server's figures of one scope against the offline merge's: counts, and every percentile
// to the microsecond (the server reports ms = us / 1000).
function sameFigures(where, server, offline, pct) {
  assert.ok(offline, `${where}: not in the offline merge`);
  assert.equal(server.requests, offline.requests, `${where}: requests`);
  assert.equal(server.failures, offline.failures, `${where}: failures`);
  for (const [k, ms] of Object.entries(pct)) assert.equal(us(ms), offline[`${k}_us`], `${where}: ${k}`);
}

test('the server\'s merged figures equal an offline merge of the agents\' recordings, and the shop', async () => {
  await waitFor('agents idle', async () => {
    const list = (await api('GET', '/api/v1/agents')).json.agents;
    return AGENTS.every(([n]) => list.some((a) => a.name === n && a.state === 'idle'));
  });
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, { locations: { near: 60, far: 40 } });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  const done = await waitFor('the run to end', async () => {
    const g = await api('GET', `/api/v1/runs/${id}`);
    return ['passed', 'failed', 'stopped', 'degraded', 'error'].includes(g.json?.status) && g.json;
  }, 30000);
  assert.ok(['passed', 'failed'].includes(done.status), JSON.stringify(done.error));
  assert.deepEqual(done.summary.agents_lost, []);

  // Every agent kept its run's seconds; wire_merge reads them with the location each agent has.
  const defFile = path.join(dir, 'definition.json');
  fs.writeFileSync(defFile, JSON.stringify(def));
  const args = [defFile];
  for (const [name, loc] of AGENTS) {
    const f = path.join(dir, `${name}-run${id}.wire`);
    assert.ok(fs.existsSync(f), `${name} recorded nothing: ${fs.readdirSync(dir)}`);
    args.push(`${loc}=${f}`);
  }
  const m = await run(WIRE_MERGE_BIN, args, { timeoutMs: 30000 });
  assert.equal(m.code, 0, m.stderr);
  const off = JSON.parse(m.stdout);
  assert.equal(off.run, id);
  // A 3 s run is 3 or 4 seconds per agent (a graceful end's tail may make one more).
  for (const n of Object.values(off.files)) assert.ok(n >= 3 && n <= 5, JSON.stringify(off.files));

  // The run and each request name.
  const s = done.summary;
  const lat = (l) => ({ min: l.min, p50: l.p50, p90: l.p90, p95: l.p95, p99: l.p99, max: l.max });
  sameFigures('total', s.total, off.total, lat(s.total.latency_ms));
  const names = s.names.filter((n) => n.kind !== 'group');
  assert.deepEqual(names.map((n) => n.name).sort(), Object.keys(NAMES).sort());
  for (const n of names) sameFigures(n.name, n, off.total.names[n.name], lat(n.latency_ms));

  // Each location, and each name in it.
  assert.deepEqual(Object.keys(s.locations).sort(), Object.keys(off.locations).sort());
  for (const [loc, l] of Object.entries(s.locations)) {
    const pct = (x) => ({ p50: x.p50_ms, p95: x.p95_ms, p99: x.p99_ms });
    sameFigures(loc, l, off.locations[loc], pct(l));
    assert.deepEqual(Object.keys(l.names).sort(), Object.keys(off.locations[loc].names).sort(), loc);
    for (const [name, f] of Object.entries(l.names)) sameFigures(`${loc} ${name}`, f, off.locations[loc].names[name], pct(f));
  }
  // 6 VUs at 60/40 over 2 + 1 agents: 2 each, so near (two agents) has about twice far's.
  assert.ok(off.locations.near.requests > off.locations.far.requests, JSON.stringify(s.locations));

  // The counts are what the shop served, name by name (the 404s too).
  const stats = await (await fetch(`${shop.url}/__stats`)).json();
  for (const [name, route] of Object.entries(NAMES)) {
    const servedN = Object.values(stats.endpoints[route] || {}).reduce((a, b) => a + b, 0);
    assert.ok(servedN > 0, `${route} was never requested`);
    assert.equal(off.total.names[name].requests, servedN, `${name}: recorded vs served`);
  }
  assert.equal(off.total.requests, stats.total);
  assert.equal(off.total.names['GET /products/missing'].failures, off.total.names['GET /products/missing'].requests);
});

test('--record refuses a directory it cannot write, naming the flag', async () => {
  const r = await run(STAMPEDE_BIN, ['agent', '--server', srv.base, '--location', 'near', '--record', path.join(dir, 'none')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--record: '.*none' is not a writable directory/);
});
