// The open (arrival-rate) model end to end: `stampede run` against the real demo shop.
// The shop's /__stats is the ground truth for request counts; its --stall-every/--stall-ms
// options freeze every answer for a while, which is what coordinated omission hides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { STAMPEDE_BIN, run, startShop, tempDir, sleep } from '../lib/harness.mjs';

const dir = tempDir();
let shop, stalling;

before(async () => {
  shop = await startShop();
  stalling = await startShop(['--stall-every', '2s', '--stall-ms', '500']);
});
after(async () => {
  if (shop) await shop.stop();
  if (stalling) await stalling.stop();
});

function writeDef(name, def) {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(def, null, 2));
  return file;
}

async function runJson(file, args = []) {
  const out = path.join(dir, `${path.basename(file, '.json')}-${Date.now()}.result.json`);
  const r = await run(STAMPEDE_BIN, ['run', file, '--json', out, '--threads', '2', ...args], { timeoutMs: 60000 });
  const result = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : null;
  assert.ok(result, `no JSON result; exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return { ...r, result };
}

// One request per iteration; with expect.max_latency every request slower than 100 ms is
// counted as a failure, which gives the count of slow samples exactly.
function def(baseUrl, load, think) {
  return {
    name: 'open model', base_url: baseUrl,
    users: [{ name: 'u', ...(think ? { think } : {}), tasks: [{ request: { url: '/api/v1/products/101', name: 'GET /products/:id' },
      expect: { status: 200, max_latency: '100ms' } }] }],
    load,
  };
}

test('open model: the achieved rate is within 1% of the target and counts match the shop', async () => {
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const file = writeDef('constant', def(shop.url, { model: 'open', max_vus: 50, rate: 200, duration: '4s' }));
  // A request over 100 ms is a failed expectation here, a count rather than a verdict.
  const { code, stderr, stdout, result } = await runJson(file, ['--allow-failures']);
  assert.equal(code, 0, `${stderr}\n${stdout}`);
  const om = result.open_model;
  assert.ok(om, 'the result has an open_model section');
  assert.ok(Math.abs(om.arrivals - 800) <= 8, `arrivals ${om.arrivals} (dropped ${om.dropped}, lag ${JSON.stringify(result.generator)}) vs 800 planned`);
  assert.equal(om.dropped, 0);
  assert.equal(result.total.requests, om.arrivals);
  const stats = await (await fetch(`${shop.url}/__stats`)).json();
  const served = Object.values(stats.endpoints['GET /api/v1/products/:id'] || {}).reduce((a, b) => a + b, 0);
  assert.equal(served, result.total.requests);
  // Every full second reports its target and what was achieved.
  const full = result.seconds.slice(0, 4);
  for (const s of full) {
    assert.ok(Math.abs(s.target_rate - 200) < 1e-6, `target ${s.target_rate}`);
    // A second's count may lend a few to the next when the machine is busy; the total above is
    // exact.
    assert.ok(Math.abs(s.arrivals - 200) <= 10, `second ${s.t}: ${s.arrivals} arrivals`);
    assert.equal(s.dropped, 0);
  }
  // The live lines show the rate, target and dropped arrivals.
  assert.match(stderr, /rate +\d+\.\d\/200\.0 +dropped +0/);
});

test('open model: stalls show in p99; the closed model at the same load hides them', async () => {
  const open = await runJson(writeDef('stall-open', def(stalling.url, { model: 'open', max_vus: 200, rate: 200, duration: '4s' })));
  // Two users that wait 10 ms between requests: about 200 requests/s while the shop is fast.
  const closed = await runJson(writeDef('stall-closed', def(stalling.url, { users: 2, duration: '4s' }, { constant: '10ms' })));
  const o = open.result.total, c = closed.result.total;
  const slowOpen = o.errors.assertion || 0, slowClosed = c.errors.assertion || 0;
  console.log(`open: ${o.requests} requests, p99 ${o.latency_ms.p99} ms, ${slowOpen} over 100 ms; ` +
              `closed: ${c.requests} requests, p99 ${c.latency_ms.p99} ms, ${slowClosed} over 100 ms`);
  assert.ok(o.latency_ms.p99 >= 400, `open p99 ${o.latency_ms.p99} ms reflects the 500 ms stalls`);
  assert.ok(slowOpen >= 100, `open: ${slowOpen} slow samples`);
  assert.ok(slowClosed * 10 <= slowOpen, `closed: ${slowClosed} slow samples vs open ${slowOpen}`);
  assert.equal(open.result.open_model.dropped, 0);
});

// The VUs are all busy waiting on the stalled target while the generator keeps its schedule:
// the target was saturated, and the summary says so instead of blaming the generator.
test('open model: a pool too small for a stalling target drops arrivals; the target is named', async () => {
  const file = writeDef('small-pool', def(stalling.url, { model: 'open', max_vus: 5, rate: 100, duration: '3s' }));
  const { stdout, result } = await runJson(file, ['--allow-failures']);
  const om = result.open_model;
  assert.ok(om.dropped > 0, 'arrivals were dropped during the stalls');
  assert.equal(om.target_saturated, true);
  assert.equal(om.generator_limited, false, `mean lag ${om.lag_ms_mean} ms`);
  assert.ok(Math.abs(om.arrivals + om.dropped - 300) <= 3, `${om.arrivals} + ${om.dropped} vs 300 planned`);
  assert.match(stdout, /WARNING: the target was saturated: all 5 VUs were busy/);
  assert.doesNotMatch(stdout, /the load generator, not the target/);
});

// stop_when: a stress ramp against a shop answering 20% of requests with a 500 stops as soon as
// the error rate over the window passes 5%, and the result records the load it broke at.
test('stress: stop_when ends a ramp early and records the breaking load', async () => {
  const failing = await startShop(['--error-rate', '0.2']);
  try {
    const d = {
      name: 'stress', base_url: failing.url,
      users: [{ name: 'u', think: { constant: '50ms' }, tasks: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }],
      load: { stages: [{ duration: '20s', users: 40 }], stop_when: { any: ['p95 > 2s', 'error_rate > 5%'], window: '2s' } },
    };
    const { code, stdout, result } = await runJson(writeDef('stress', d));
    // No thresholds, and requests failed: the run fails (as Locust's --exit-code-on-error).
    assert.equal(code, 1, stdout);
    assert.match(stdout, /FAIL: \d+ of \d+ requests failed and the test has no thresholds/);
    assert.ok(result.broke, 'the result records where the run broke');
    assert.equal(result.broke.condition, 'error_rate > 5%');
    assert.ok(result.broke.measured > 0.05);
    assert.equal(result.broke.load_unit, 'users');
    assert.ok(result.broke.load >= 1 && result.broke.load < 40, `broke at ${result.broke.load} users`);
    assert.ok(result.duration_s < 10, `stopped early, after ${result.duration_s}s`);
    // The summary names the same second as the JSON.
    const said = stdout.match(/Broke at \d+ users in second (\d+): error_rate > 5%/);
    assert.ok(said, stdout);
    assert.equal(Number(said[1]), result.broke.second);
    // The same ramp against the healthy shop runs to its end without breaking.
    d.base_url = shop.url;
    d.load.stages = [{ duration: '3s', users: 5 }];
    const ok = await runJson(writeDef('stress-ok', d));
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.result.broke, undefined);
    assert.ok(ok.result.duration_s >= 3);
  } finally {
    await failing.stop();
  }
});

test('stop_when in the open model records the rate it broke at', async () => {
  const failing = await startShop(['--error-rate', '0.3']);
  try {
    const d = def(failing.url, { model: 'open', max_vus: 20, stages: [{ duration: '10s', rate: 100 }],
                                 stop_when: { any: ['error_rate > 10%'], window: '1s' } });
    d.users[0].tasks[0].expect = { status: 200 };
    const { result } = await runJson(writeDef('stress-open', d));
    assert.ok(result.broke, 'broke');
    assert.equal(result.broke.load_unit, 'iterations/s');
    assert.ok(result.broke.load > 0 && result.broke.load < 100, `broke at ${result.broke.load}/s`);
  } finally {
    await failing.stop();
  }
});

// Live load changes from the keyboard: `script` gives stampede a terminal; each '+' adds 10% of
// the users (at least one), '-' removes 10%.
test('on a terminal, + and - change the load while the run goes on', async () => {
  const file = writeDef('keys', {
    name: 'keys', base_url: shop.url,
    users: [{ name: 'u', think: { constant: '100ms' }, tasks: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }],
    load: { users: 10, duration: '3s' },
  });
  const out = path.join(dir, 'keys.result.json');
  const cmd = `${STAMPEDE_BIN} run ${file} --json ${out}`;
  const proc = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout.on('data', (d) => { text += d; });
  const done = new Promise((resolve) => proc.on('exit', resolve));
  await sleep(1200);
  proc.stdin.write('+');
  await sleep(200);
  proc.stdin.write('+');
  await sleep(200);
  proc.stdin.write('-');
  const code = await done;
  assert.equal(code, 0, text);
  assert.match(text, /users 10 -> 11/);
  assert.match(text, /users 11 -> 12/);
  assert.match(text, /users 12 -> 11/);
  const result = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(result.seconds[0].target_vus, 10);
  assert.equal(result.seconds[2].target_vus, 11);
  assert.equal(result.seconds[2].vus, 11);
  // The changes are in the result, with when they came.
  assert.deepEqual(result.load_changes.map((c) => c.target), [11, 12, 11]);
  assert.ok(result.load_changes.every((c) => c.elapsed_ms > 1000 && c.elapsed_ms < 3000));
  assert.match(text, /Load changes:\s+at \d+\.\ds: 11 users/);
});

// stop_when watches the generator's side of the open model: arrivals dropped for want of a
// free VU.
test('stop_when: dropped arrivals end an open-model run', async () => {
  const d = def(stalling.url, { model: 'open', max_vus: 3, stages: [{ duration: '10s', rate: 100 }],
                                stop_when: { any: ['dropped > 20%'], window: '1s' } });
  const { result } = await runJson(writeDef('stop-dropped', d), ['--allow-failures']);
  assert.ok(result.broke, 'broke');
  assert.equal(result.broke.condition, 'dropped > 20%');
  assert.ok(result.broke.measured > 0.2, `measured ${result.broke.measured}`);
  assert.ok(result.duration_s < 8, `stopped after ${result.duration_s}s`);
});

// Shapes: a spike (0-duration jumps) in both models follows its stages second by second.
test('spike: jumps up and back down in both models', async () => {
  // Gauges describe the end of each second, so the jumps sit mid-second: 2 users until 1.5 s,
  // 8 until 2.5 s, then 2.
  const closed = def(shop.url, { stages: [{ duration: '0s', users: 2 }, { duration: '1500ms', users: 2 },
    { duration: '0s', users: 8 }, { duration: '1s', users: 8 }, { duration: '0s', users: 2 }, { duration: '1s', users: 2 }] },
  { constant: '50ms' });
  const c = (await runJson(writeDef('spike-closed', closed))).result;
  assert.deepEqual(c.seconds.slice(0, 3).map((s) => s.target_vus), [2, 8, 2]);
  assert.deepEqual(c.seconds.slice(0, 3).map((s) => s.vus), [2, 8, 2]);
  // target_rate is what each second planned, so whole-second stages show as they are.
  const open = def(shop.url, { model: 'open', max_vus: 50, stages: [{ duration: '0s', rate: 20 }, { duration: '1s', rate: 20 },
    { duration: '0s', rate: 200 }, { duration: '1s', rate: 200 }, { duration: '0s', rate: 20 }, { duration: '1s', rate: 20 }] });
  const o = (await runJson(writeDef('spike-open', open))).result;
  assert.deepEqual(o.seconds.slice(0, 3).map((s) => Math.round(s.target_rate)), [20, 200, 20]);
  assert.equal(o.open_model.arrivals + o.open_model.dropped, 240);
  assert.equal(o.open_model.dropped, 0);
});
