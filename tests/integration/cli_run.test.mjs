// `stampede run` end to end: the real binary against the real demo shop API.
// The shop's /__stats is the ground truth for request counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, SOURCE_DIR, run, spawnRun, startShop, tempDir, freePort, sleep, junitProblems } from '../lib/harness.mjs';

let shop;
const dir = tempDir();

before(async () => { shop = await startShop(); });
after(async () => { if (shop) await shop.stop(); });

async function shopStats() {
  return (await fetch(`${shop.url}/__stats`)).json();
}
async function shopReset() {
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
}

function writeDef(name, def) {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(def, null, 2));
  return file;
}

async function runJson(file, args = [], opts = {}) {
  const out = path.join(dir, `${path.basename(file, '.json')}-${Date.now()}.result.json`);
  const r = await run(STAMPEDE_BIN, ['run', file, '--quiet', '--json', out, ...args], { timeoutMs: 60000, ...opts });
  const result = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : null;
  return { ...r, result };
}

// Request name in the examples -> the shop's route key in /__stats.
const ROUTES = {
  'GET /products': 'GET /api/v1/products',
  'GET /products/:id': 'GET /api/v1/products/:id',
  'GET /categories': 'GET /api/v1/categories',
  'GET /search': 'GET /api/v1/search',
  'POST /auth/login': 'POST /api/v1/auth/login',
  'GET /users/me': 'GET /api/v1/users/me',
  'GET /cart': 'GET /api/v1/cart',
  'POST /cart/items': 'POST /api/v1/cart/items',
  'POST /orders': 'POST /api/v1/orders',
  'POST /auth/token': 'POST /api/v1/auth/token',
  'POST /auth/refresh': 'POST /api/v1/auth/refresh',
  'GET /reports/orders': 'GET /api/v1/reports/orders',
  'GET /reports/customers': 'GET /api/v1/reports/customers',
  'POST /imports': 'POST /api/v1/imports',
  'GET /imports/:id': 'GET /api/v1/imports/:id',
  'GET /imports': 'GET /api/v1/imports',
};

function shopCount(stats, route) {
  const e = stats.endpoints[route];
  if (!e) return 0;
  return Object.values(e).reduce((a, b) => a + b, 0);
}

// The four examples run at the same time, each against a shop of its own, so that each one's
// checks below are on its run and on what its own shop served alone. With the examples' think
// times (1 to 6 s) 12 VUs send a few requests a second: four such runs side by side are far
// from slowing one another, and take 6 s instead of 24.
const EXAMPLES = ['browse', 'shopper', 'reporting', 'upload'];
let exampleRuns;
function exampleRun(example) {
  exampleRuns ??= Object.fromEntries(EXAMPLES.map((e) => [e, (async () => {
    const own = await startShop();
    try {
      const file = path.join(SOURCE_DIR, 'examples', `${e}.json`);
      // Zero-ish think time is not what the examples use; a short run with more users still
      // gives every task a chance: the examples' own think times apply.
      const r = await runJson(file, ['--base-url', own.url, '--users', '12', '--duration', '6s', '--seed', '7']);
      return { ...r, stats: await (await fetch(`${own.url}/__stats`)).json() };
    } finally {
      await own.stop();
    }
  })().catch((error) => ({ error }))]));
  return exampleRuns[example];
}

for (const example of EXAMPLES) {
  test(`example ${example} runs against the shop with no failures and counts match the shop's`, async () => {
    const { error, code, stderr, stdout, result, stats } = await exampleRun(example);
    if (error) throw error;
    assert.ok(result, `no JSON result; exit ${code}\n${stderr}\n${stdout}`);
    let total = 0;
    for (const n of result.names) {
      assert.ok(n.requests > 0, `${example}: ${n.name} was never requested`);
      assert.equal(n.failures, 0, `${example}: ${n.name} failed: ${JSON.stringify(n.failure_messages)}`);
      const route = ROUTES[n.name];
      assert.ok(route, `unexpected request name ${n.name}`);
      assert.equal(n.requests, shopCount(stats, route), `${example}: ${n.name} engine vs shop`);
      total += n.requests;
    }
    assert.ok(total > 0, 'some requests were sent');
    assert.equal(total, stats.total, `${example}: engine total vs shop total`);
    assert.equal(result.total.failures, 0);
    assert.equal(code, 0, `exit code (thresholds): ${stdout}`);
  });
}

test('task weights 4/2/1/2 are respected within 15%', async () => {
  await shopReset();
  const file = writeDef('weights', {
    name: 'weights', base_url: shop.url,
    users: [{ name: 'u', think: { constant_ms: 0 }, tasks: [
      { weight: 4, steps: [{ request: { url: '/api/v1/products', name: 'a' } }] },
      { weight: 2, steps: [{ request: { url: '/api/v1/categories', name: 'b' } }] },
      { weight: 1, steps: [{ request: { url: '/api/v1/products/101', name: 'c' } }] },
      { weight: 2, steps: [{ request: { url: '/api/v1/search?q=mouse', name: 'd' } }] },
    ] }],
    load: { stages: [{ duration: '3s', users: 4 }] },
  });
  const { result, stderr } = await runJson(file, ['--seed', '3']);
  assert.ok(result, stderr);
  const by = Object.fromEntries(result.names.map((n) => [n.name, n.requests]));
  const total = by.a + by.b + by.c + by.d;
  assert.ok(total > 900, `enough samples: ${total}`);
  for (const [k, w] of Object.entries({ a: 4, b: 2, c: 1, d: 2 })) {
    const share = by[k] / total, want = w / 9;
    assert.ok(Math.abs(share - want) <= 0.15 * want, `${k}: share ${share.toFixed(3)} vs ${want.toFixed(3)}`);
  }
});

test('think time bounds the iterations of each VU', async () => {
  await shopReset();
  const file = writeDef('think', {
    name: 'think', base_url: shop.url,
    users: [{ think: { constant_ms: 250 }, tasks: [{ steps: [{ request: { url: '/api/v1/categories' } }] }] }],
    load: { stages: [{ duration: 0, users: 4 }, { duration: '3s', users: 4 }] },
  });
  const { result, stderr } = await runJson(file);
  assert.ok(result, stderr);
  // 4 VUs x (3 s / 250 ms) = 48 at most (+4 for the first iteration before any wait).
  assert.ok(result.iterations <= 52, `iterations ${result.iterations} <= 52`);
  assert.ok(result.iterations >= 24, `iterations ${result.iterations} >= 24`);
});

test('failures are classified: refused, DNS, timeout, assertion', async () => {
  const closed = await freePort();
  const file = writeDef('failures', {
    name: 'failures', base_url: shop.url,
    options: { timeout: '300ms' },
    users: [{ think: { constant_ms: 200 }, tasks: [{ steps: [
      { request: { url: `http://127.0.0.1:${closed}/x`, name: 'refused' } },
      { request: { url: 'http://nothing.invalid/x', name: 'dns' } },
      { request: { url: '/api/v1/products', name: 'slow' } },
      { request: { url: '/api/v1/categories', name: 'assert' }, expect: { status: 201 } },
    ] }] }],
    load: { stages: [{ duration: 0, users: 1 }, { duration: '2s', users: 1 }] },
  });
  const slowShop = await startShop(['--latency-ms', 'catalog=fixed:800']);
  try {
    // The slow route is on a shop that delays catalog requests beyond the 300 ms timeout.
    const def = JSON.parse(fs.readFileSync(file, 'utf8'));
    def.users[0].tasks[0].steps[2].request.url = `${slowShop.url}/api/v1/products`;
    fs.writeFileSync(file, JSON.stringify(def));
    const { result, stderr } = await runJson(file);
    assert.ok(result, stderr);
    const by = Object.fromEntries(result.names.map((n) => [n.name, n]));
    assert.ok(by.refused.errors.connect_refused >= 1, JSON.stringify(by.refused));
    assert.equal(by.refused.failures, by.refused.requests);
    assert.ok(by.dns.errors.dns >= 1, JSON.stringify(by.dns));
    assert.ok(by.slow.errors.timeout >= 1, JSON.stringify(by.slow));
    assert.ok(by.assert.errors.assertion >= 1, JSON.stringify(by.assert));
    assert.equal(by.assert.status['200'], by.assert.requests);
  } finally {
    await slowShop.stop();
  }
});

test('failures are classified: HTTP status, response too large', async () => {
  const file = writeDef('failures2', {
    name: 'failures2', base_url: shop.url,
    options: { max_response_bytes: 512 },
    users: [{ think: { constant_ms: 200 }, tasks: [{ steps: [
      { request: { url: '/api/v1/products/999', name: 'missing' } },
      { request: { url: '/api/v1/products?limit=50', name: 'big' } },
      { request: { url: '/api/v1/products/101', name: 'fine' } },
    ] }] }],
    load: { stages: [{ duration: 0, users: 1 }, { duration: '1s', users: 1 }] },
  });
  const junit = path.join(dir, 'failures2.xml');
  const { code, stdout, result, stderr } = await runJson(file, ['--junit', junit]);
  assert.ok(result, stderr);
  // No thresholds and failed requests: the run fails, in the exit code, the summary, the JSON
  // and the JUnit file (a valid one).
  assert.equal(code, 1, stdout + stderr);
  assert.equal(result.status, 'failed');
  assert.match(stdout, /FAIL: \d+ of \d+ requests failed and the test has no thresholds \(--allow-failures accepts them\)/);
  const xml = fs.readFileSync(junit, 'utf8');
  assert.equal(await junitProblems(junit), '', xml);
  assert.match(xml, /<testcase classname="stampede" name="run"[^>]*><failure type="failed_requests" message="\d+ of \d+ requests failed">/);
  // --allow-failures: the same run passes.
  const allowed = await runJson(file, ['--allow-failures']);
  assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
  assert.equal(allowed.result.status, 'passed');
  assert.doesNotMatch(allowed.stdout, /FAIL:/);
  const by = Object.fromEntries(result.names.map((n) => [n.name, n]));
  assert.ok(by.missing.requests >= 1);
  assert.equal(by.missing.errors.http_status, by.missing.requests, JSON.stringify(by.missing));
  assert.equal(by.missing.status['404'], by.missing.requests);
  assert.equal(by.big.errors.too_large, by.big.requests, JSON.stringify(by.big));
  assert.equal(by.fine.failures, 0, JSON.stringify(by.fine));
});

test('exit code 1 when a threshold fails, with a JUnit file naming it', async () => {
  const file = writeDef('threshold', {
    name: 'threshold', base_url: shop.url,
    users: [{ think: { constant_ms: 100 }, tasks: [{ steps: [{ request: { url: '/api/v1/categories' } }] }] }],
    load: { stages: [{ duration: 0, users: 2 }, { duration: '2s', users: 2 }] },
    thresholds: ['rps > 100000', 'error_rate < 1%'],
  });
  const junit = path.join(dir, 'threshold.xml');
  const r = await run(STAMPEDE_BIN, ['run', file, '--quiet', '--junit', junit], { timeoutMs: 30000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+rps > 100000/);
  assert.match(r.stdout, /PASS\s+error_rate < 1%/);
  const xml = fs.readFileSync(junit, 'utf8');
  assert.equal(await junitProblems(junit), '', xml);
  assert.match(xml, /<testsuite name="threshold" tests="2" failures="1" errors="0" skipped="0" time="[0-9.]+" timestamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" hostname="[^"]+"/);
  assert.match(xml, /<testcase classname="stampede.thresholds" name="rps &gt; 100000"[^>]*><failure type="threshold" message="measured [^"]+\/s"/);
});

test('--baseline FILE judges relative thresholds against an earlier run; without it they are skipped', async () => {
  const slow = await startShop(['--latency-route', '/api/v1/categories=fixed:40']);
  try {
    const def = (url) => ({
      name: 'relative', base_url: url,
      users: [{ think: { constant_ms: 20 }, tasks: [{ steps: [{ request: { url: '/api/v1/categories', name: 'GET /categories' } }] }] }],
      load: { stages: [{ duration: 0, users: 1 }, { duration: '1s', users: 1 }] },
      thresholds: ['GET /categories: p50 < baseline * 2', 'error_rate <= baseline'],
    });
    const base = await runJson(writeDef('relative-base', def(shop.url)));
    assert.equal(base.code, 0, base.stdout + base.stderr);
    assert.match(base.stdout, /SKIP\s+GET \/categories: p50 < baseline \* 2\s+measured .*no baseline run/);
    assert.equal(base.result.thresholds[0].skipped, true);
    const baseFile = path.join(dir, 'relative-base.result.json');
    fs.writeFileSync(baseFile, JSON.stringify(base.result));
    // The same shop: within twice the baseline's p50.
    const same = await runJson(writeDef('relative-same', def(shop.url)), ['--baseline', baseFile]);
    assert.equal(same.code, 0, same.stdout);
    assert.match(same.stdout, /PASS\s+GET \/categories: p50 < baseline \* 2\s+measured .*\(limit /);
    assert.equal(same.result.thresholds[0].skipped, false);
    assert.ok(same.result.thresholds[0].limit > 0);
    // A route 40 ms slower: beyond it.
    const slower = await runJson(writeDef('relative-slow', def(slow.url)), ['--baseline', baseFile]);
    assert.equal(slower.code, 1, slower.stdout);
    assert.match(slower.stdout, /FAIL\s+GET \/categories: p50 < baseline \* 2/);
    // A file that is not a run's result is refused before anything is sent.
    const bad = await run(STAMPEDE_BIN, ['run', writeDef('relative-bad', def(shop.url)), '--baseline', writeDef('not-a-result', { x: 1 })]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--baseline .*expected the --json result of a run/);
  } finally {
    await slow.stop();
  }
});

test('exit code 2 and the field path for an invalid definition; nothing is sent', async () => {
  await shopReset();
  const file = writeDef('invalid', {
    name: 'invalid', base_url: shop.url,
    users: [{ tasks: [{ steps: [{ request: { mehtod: 'GET', url: '/api/v1/categories' } }] }] }],
    load: { stages: [{ duration: '1s', users: 1 }] },
  });
  const r = await run(STAMPEDE_BIN, ['run', file], { timeoutMs: 30000 });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /users\[0\]\.tasks\[0\]\.steps\[0\]\.request/);
  assert.match(r.stderr, /did you mean 'method'/);
  assert.equal((await shopStats()).total, 0);
  const missing = await run(STAMPEDE_BIN, ['run', path.join(dir, 'no-such-file.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no-such-file\.json/);
  const badOpt = await run(STAMPEDE_BIN, ['run', file, '--users', 'many']);
  assert.equal(badOpt.code, 2);
  assert.match(badOpt.stderr, /--users/);
});

test('Ctrl-C stops gracefully, prints the summary and exits 130', async () => {
  const file = writeDef('interrupt', {
    name: 'interrupt', base_url: shop.url,
    users: [{ think: { constant_ms: 50 }, tasks: [{ steps: [{ request: { url: '/api/v1/categories', name: 'cats' } }] }] }],
    load: { stages: [{ duration: 0, users: 3 }, { duration: '60s', users: 3 }] },
  });
  const junit = path.join(dir, 'interrupt.xml');
  const p = spawnRun(STAMPEDE_BIN, ['run', file, '--junit', junit], { timeoutMs: 30000 });
  await sleep(1500);
  const t0 = Date.now();
  p.proc.kill('SIGINT');
  const r = await p.done;
  assert.equal(r.code, 130, r.stdout + r.stderr);
  assert.ok(Date.now() - t0 < 15000, 'stopped well before the planned minute');
  assert.match(r.stdout, /interrupt: stopped/);
  assert.match(r.stdout, /cats\s+\d+/);
  // A run that did not finish is an error in JUnit, with its own element.
  const xml = fs.readFileSync(junit, 'utf8');
  assert.equal(await junitProblems(junit), '', xml);
  assert.match(xml, /errors="1"/);
  assert.match(xml, /<error type="stopped" message="stopped before the end">/);
});

test('each VU keeps its own keep-alive connection while it thinks', async () => {
  const file = writeDef('connections', {
    name: 'connections', base_url: shop.url,
    // VUs start one by one and think for a random time, so their requests rarely overlap: a
    // shared connection cache would let them take turns on one or two connections.
    users: [{ think: { between_ms: [1000, 2000] }, tasks: [{ steps: [{ request: { url: '/api/v1/categories' } }] }] }],
    load: { stages: [{ duration: '2s', users: 20 }, { duration: '3s', users: 20 }] },
  });
  const p = spawnRun(STAMPEDE_BIN, ['run', file, '--quiet'], { timeoutMs: 30000 });
  await sleep(3500);
  // TCP connections of the stampede process to the shop: its socket inodes, matched against
  // the established connections whose remote port is the shop's.
  const fdDir = `/proc/${p.proc.pid}/fd`;
  const inodes = new Set();
  for (const fd of fs.readdirSync(fdDir)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`${fdDir}/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const portHex = shop.port.toString(16).toUpperCase().padStart(4, '0');
  const sockets = fs.readFileSync(`/proc/${p.proc.pid}/net/tcp`, 'utf8').split('\n').slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[2].endsWith(`:${portHex}`) && f[3] === '01' && inodes.has(f[9]))
    .length;
  const r = await p.done;
  assert.equal(r.code, 0, r.stderr);
  // 20 VUs, each between requests: one connection each (not a few shared ones).
  assert.equal(sockets, 20, 'open connections to the shop');
});

test('live lines are printed once a second when not on a terminal', async () => {
  const file = writeDef('live', {
    name: 'live', base_url: shop.url,
    users: [{ think: { constant_ms: 100 }, tasks: [{ steps: [{ request: { url: '/api/v1/categories' } }] }] }],
    load: { stages: [{ duration: 0, users: 1 }, { duration: '3s', users: 1 }] },
  });
  const r = await run(STAMPEDE_BIN, ['run', file], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => /^\[\s*\d+s\] vus/.test(l));
  assert.ok(lines.length >= 2 && lines.length <= 5, `live lines: ${lines.length}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\r/);
});
