// journeys.test.mjs - the journeys of examples/journeys/ against the demo shop, checked where the
// load lands: per request name and per group, the counts Stampede reports equal what the shop
// served (/__stats); the choose split follows its weights; each catalog page is fetched once per
// journey; no product_id ever goes out as a string; each VU keeps its own session cookie; on_stop
// runs on a graceful stop and not on a hard one; a loop without a bound is refused and a loop
// that never ends is bounded. Try it shows the loops, the branch taken, the group and cookies.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  STAMPEDE_BIN, SOURCE_DIR, startShop, startStampede, run, tempDir, sleep,
} from '../lib/harness.mjs';

const JOURNEYS = path.join(SOURCE_DIR, 'examples/journeys');
const load = (name) => JSON.parse(fs.readFileSync(path.join(JOURNEYS, name), 'utf8'));

let shop;
before(async () => { shop = await startShop(); });
after(async () => { await shop.stop(); });

async function shopStats() {
  return (await fetch(shop.url + '/__stats')).json();
}

async function shopReset() {
  await fetch(shop.url + '/__reset?state=1', { method: 'POST' });
}

/** The shop's count of one endpoint ("GET /api/v1/cart"), every status together. */
function served(stats, key) {
  return Object.values(stats.endpoints[key] || {}).reduce((a, b) => a + b, 0);
}

/** A request name of the examples ("POST /cart/items") as the shop's endpoint key. */
const endpoint = (name) => name.replace(' /', ' /api/v1/');

/** Runs file (or a definition object) with the CLI against the shop; the JSON result. */
async function runCli(file, args, { expectCode = 0 } = {}) {
  const dir = tempDir();
  if (typeof file !== 'string') {
    const f = path.join(dir, 'test.json');
    fs.writeFileSync(f, JSON.stringify(file));
    fs.mkdirSync(path.join(dir, 'data'));
    fs.copyFileSync(path.join(JOURNEYS, 'data/customers.csv'), path.join(dir, 'data/customers.csv'));
    file = f;
  }
  const out = path.join(dir, 'result.json');
  const r = await run(STAMPEDE_BIN, ['run', file, '-b', shop.url, '-q', '--json', out, ...args],
    { timeoutMs: 180000 });
  assert.equal(r.code, expectCode, r.stdout + r.stderr);
  return { result: JSON.parse(fs.readFileSync(out, 'utf8')), stdout: r.stdout };
}

const byName = (result) => Object.fromEntries(result.names.map((n) => [n.name, n]));

/** Every request name's count equals what the shop served under it; no group is a request. */
function assertCountsMatch(result, stats) {
  let requests = 0;
  for (const n of result.names) {
    if (n.kind === 'group') continue;
    assert.equal(n.kind, 'request');
    assert.equal(n.requests, served(stats, endpoint(n.name)), `${n.name}: requests vs the shop`);
    requests += n.requests;
  }
  assert.equal(result.total.requests, requests, 'groups are not in the run total');
  assert.equal(result.total.requests, stats.total, 'every request the shop served is counted once');
}

describe('examples/journeys against the demo shop', () => {
  test('catalog-checkout: counts per name and per group equal the shop\'s; pages once per journey; sessions per VU', async () => {
    await shopReset();
    const vus = 6;
    const { result, stdout } = await runCli(path.join(JOURNEYS, 'catalog-checkout.json'),
      ['-u', String(vus), '-d', '8s', '--seed', '11']);
    const stats = await shopStats();
    assert.equal(result.status, 'passed', stdout);
    assert.equal(result.total.failures, 0);
    assertCountsMatch(result, stats);
    const names = byName(result);
    assert.equal(names.purchase.kind, 'group');
    assert.equal(names.purchase.failures, 0);
    assert.ok(names.purchase.requests > 20, `purchases: ${names.purchase.requests}`);
    /* A purchase is recorded when its last step, the checkout, is done: one for one. */
    assert.equal(names.purchase.requests, stats.endpoints['POST /api/v1/checkout']['201']);
    assert.match(stdout, /group: purchase/);
    /* Every journey follows next to the end: the five pages, each once per journey (a journey
     * cut by the end of the run has fetched a prefix of them). */
    const pages = stats.catalog_pages;
    assert.deepEqual(Object.keys(pages).map(Number).sort((a, b) => a - b), [0, 20, 40, 60, 80]);
    for (const k of ['20', '40', '60', '80']) {
      assert.ok(pages[k] <= pages[k === '20' ? '0' : String(Number(k) - 20)], `page ${k} fetched more often than the page before it`);
    }
    assert.ok(pages['80'] >= names.purchase.requests, 'every purchase followed the last page');
    assert.ok(pages['0'] - pages['80'] <= vus, 'at most one journey per VU was cut between pages');
    assert.equal(served(stats, 'GET /api/v1/catalog'), Object.values(pages).reduce((a, b) => a + b, 0));
    /* Typed values: the product id went out as a number every time. */
    assert.equal(stats.string_product_ids, 0);
    assert.equal(served(stats, 'POST /api/v1/cart/items'), stats.endpoints['POST /api/v1/cart/items']['201']);
    /* One session per VU, each used by its own VU only (a shared jar would leave sessions
     * unused), and every one logged out by on_stop when the run ended. */
    assert.equal(stats.sessions.created, vus);
    assert.equal(stats.sessions.used, vus);
    assert.equal(stats.sessions.deleted, vus);
    assert.equal(names['DELETE /session'].requests, vus);
  });

  test('weighted-flows: the choose split follows 3:1 over 2,000+ choices; groups count their runs', async () => {
    await shopReset();
    const { result, stdout } = await runCli(path.join(JOURNEYS, 'weighted-flows.json'),
      ['-u', '25', '-d', '14s', '--seed', '5']);
    const stats = await shopStats();
    assert.equal(result.status, 'passed', stdout);
    assert.equal(result.total.failures, 0);
    assertCountsMatch(result, stats);
    const names = byName(result);
    const browse = names['browse flow'].requests, buy = names['buy flow'].requests;
    assert.equal(names['buy flow'].kind, 'group');
    /* Each group is recorded when its last request is done. */
    assert.equal(buy, served(stats, 'POST /api/v1/orders'));
    assert.equal(browse, served(stats, 'GET /api/v1/products/:id'));
    assert.ok(browse + buy >= 2000, `only ${browse + buy} choices`);
    const share = browse / (browse + buy);
    assert.ok(Math.abs(share - 0.75) <= 0.05, `browse share ${share.toFixed(3)} for weights 3:1`);
    /* page + 1 walked three report pages per browse flow. */
    assert.ok(Math.abs(served(stats, 'GET /api/v1/reports/orders') - 3 * browse) <= 25 * 2);
    assert.equal(stats.string_product_ids, 0);
    const th = Object.fromEntries(result.thresholds.map((t) => [t.threshold, t]));
    assert.equal(th['buy flow: p95 < 1s'].passed, true);
    assert.equal(th['buy flow: p95 < 1s'].name, 'buy flow');
  });

  test('cookies: false turns the jar off, so the session cookie is never sent back', async () => {
    await shopReset();
    const def = load('catalog-checkout.json');
    def.options = { cookies: false };
    const { result } = await runCli(def, ['-u', '2', '-d', '2s'], { expectCode: 1 });
    const names = byName(result);
    assert.ok(names['POST /cart/items'].failures > 0);
    assert.equal(names['POST /cart/items'].status['401'], names['POST /cart/items'].requests);
    const stats = await shopStats();
    assert.equal(stats.sessions.used, 0);
  });

  test('a repeat without max is refused; a while that never ends is bounded and does not spin the worker', async () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({
      name: 'unbounded', base_url: shop.url,
      users: [{ tasks: [{ steps: [{ repeat: { while: 'true', steps: [{ let: { x: 1 } }] } }] }] }],
      load: { users: 1, duration: '1s' },
    }));
    let r = await run(STAMPEDE_BIN, ['run', bad, '--check']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /users\[0\]\.tasks\[0\]\.steps\[0\]\.repeat: a repeat with 'while' needs 'max'/);
    await shopReset();
    const spin = path.join(dir, 'spin.json');
    fs.writeFileSync(spin, JSON.stringify({
      name: 'spinner', base_url: shop.url,
      users: [
        { name: 'spinner', tasks: [{ steps: [
          { repeat: { while: 'true', max: 1000000, index: 'i', steps: [{ let: { x: '{{i * 2}}' } }] } },
        ] }] },
        { name: 'browser', think: { constant: '10ms' }, tasks: [{ request: { url: '/api/v1/categories' } }] },
      ],
      load: { users: 2, duration: '3s' },
    }));
    const t0 = Date.now();
    r = await run(STAMPEDE_BIN, ['run', spin, '-q', '--threads', '1'], { timeoutMs: 60000 });
    const took = Date.now() - t0;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(took < 8000, `a run of 3 s took ${took} ms`);
    /* The other VU on the same worker kept sending: ~100 requests a second. */
    const served3 = served(await shopStats(), 'GET /api/v1/categories');
    assert.ok(served3 > 100, `the browsing VU made only ${served3} requests beside the spinner`);
  });
});

describe('journeys on the server: Try it, and on_stop on graceful and hard stops', () => {
  let srv;
  before(async () => {
    srv = await startStampede();
    const csv = fs.readFileSync(path.join(JOURNEYS, 'data/customers.csv'), 'utf8');
    const r = await srv.api('PUT', '/api/v1/files/data/customers.csv', { content: csv });
    assert.ok(r.status === 200 || r.status === 201, r.text);
  });
  after(async () => { await srv.stop(); });

  test('Try it traces the loop pass by pass, the group, on_stop and the cookie jar', async () => {
    const def = { ...load('catalog-checkout.json'), base_url: shop.url };
    const r = await srv.api('POST', '/api/v1/tests/try', def);
    assert.equal(r.status, 200, r.text);
    const entries = r.json.requests;
    const reqs = entries.filter((e) => e.kind === 'request');
    assert.ok(reqs.every((e) => e.passed), JSON.stringify(reqs.filter((e) => !e.passed)));
    const pages = reqs.filter((e) => e.name === 'GET /catalog');
    assert.equal(pages.length, 5, 'five pages, each once');
    assert.equal(new Set(pages.map((e) => e.url)).size, 5);
    assert.match(pages[1].url, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/catalog\?limit=20&cursor=c14$/,
      'the next link is followed as an absolute URL');
    assert.deepEqual(pages.map((e) => e.passes), [[0], [1], [2], [3], [4]]);
    assert.equal(pages[2].at, 'tasks[0].steps[1].repeat.steps[0]');
    const flow = entries.filter((e) => e.kind === 'flow');
    assert.deepEqual(flow.filter((e) => e.event === 'repeat').map((e) => e.pass), [0, 1, 2, 3, 4]);
    const end = flow.find((e) => e.event === 'repeat_end');
    assert.equal(end.passes, 5);
    assert.equal(end.stopped_at_max, false);
    const group = flow.find((e) => e.event === 'group');
    assert.equal(group.name, 'purchase');
    assert.equal(group.passed, true);
    const add = reqs.find((e) => e.name === 'POST /cart/items');
    const sent = JSON.parse(add.request.body.text);
    assert.equal(typeof sent.product_id, 'number', 'the product id goes out as a number');
    assert.ok(Number.isInteger(sent.quantity) && sent.quantity >= 1 && sent.quantity <= 3);
    /* The session cookie: set by the login, in the jar, and sent back. */
    const login = reqs.find((e) => e.name === 'POST /session');
    assert.ok(login.cookies.some((c) => c.name === 'sid'), JSON.stringify(login.cookies));
    const cart = reqs.find((e) => e.name === 'GET /cart');
    assert.ok(cart.request.headers.some((h) => h.name.toLowerCase() === 'cookie' && /sid=/.test(h.value)));
    const logout = reqs[reqs.length - 1];
    assert.equal(logout.name, 'DELETE /session');
    assert.equal(logout.phase, 'on_stop');
    assert.equal(logout.response.status, 204);
  });

  test('Try it shows the branch chosen and the header computed from an earlier response', async () => {
    const def = { ...load('weighted-flows.json'), base_url: shop.url };
    const r = await srv.api('POST', '/api/v1/tests/try', def);
    assert.equal(r.status, 200, r.text);
    const entries = r.json.requests;
    const choose = entries.find((e) => e.kind === 'flow' && e.event === 'choose');
    assert.ok(choose && ['browse', 'buy'].includes(choose.branch_name), JSON.stringify(choose));
    const later = entries.filter((e) => e.kind === 'request' && e.phase === 'task');
    assert.ok(later.length > 0);
    for (const e of later) {
      const h = e.request.headers.find((x) => x.name === 'X-Customer');
      assert.ok(h && /@example\.com$/.test(h.value), JSON.stringify(e.request.headers));
    }
    if (choose.branch_name === 'browse') {
      const urls = later.filter((e) => e.name === 'GET /reports/orders').map((e) => new URL(e.url).searchParams.get('page'));
      assert.deepEqual(urls, ['1', '2', '3']);
    }
  });

  let runs = 0;
  async function startRun(users) {
    const def = { ...load('catalog-checkout.json'), name: `Catalog checkout ${++runs}`, base_url: shop.url,
      load: { users, duration: '5m' } };
    const created = await srv.api('POST', '/api/v1/tests', def);
    assert.equal(created.status, 201, created.text);
    const r = await srv.api('POST', `/api/v1/tests/${created.json.id}/runs`, {});
    assert.equal(r.status, 201, r.text);
    const end = Date.now() + 15000;
    while ((await shopStats()).sessions.used < users) {
      assert.ok(Date.now() < end, 'the VUs did not all log in');
      await sleep(50);
    }
    return r.json.id;
  }

  async function waitEnded(id) {
    const end = Date.now() + 20000;
    for (;;) {
      const g = await srv.api('GET', `/api/v1/runs/${id}`);
      if (g.json.status !== 'running') return g.json;
      assert.ok(Date.now() < end, 'the run did not end');
      await sleep(50);
    }
  }

  test('a group flows through the server: stored, marked, in series, exports and thresholds, never in totals', async () => {
    await shopReset();
    const def = { ...load('catalog-checkout.json'), name: 'Catalog checkout groups', base_url: shop.url,
      load: { users: 2, duration: '3s' } };
    const created = await srv.api('POST', '/api/v1/tests', def);
    assert.equal(created.status, 201, created.text);
    let r = await srv.api('POST', `/api/v1/tests/${created.json.id}/runs`, {});
    assert.equal(r.status, 201, r.text);
    const run = await waitEnded(r.json.id);
    assert.equal(run.status, 'passed', JSON.stringify(run.verdicts));
    assert.deepEqual(run.groups, ['purchase']);
    assert.ok(run.names.includes('purchase'));
    const names = Object.fromEntries(run.summary.names.map((n) => [n.name, n]));
    assert.equal(names.purchase.kind, 'group');
    assert.equal(names['GET /cart'].kind, 'request');
    const requests = run.summary.names.filter((n) => n.kind === 'request').reduce((a, n) => a + n.requests, 0);
    assert.equal(run.summary.total.requests, requests);
    assert.equal(run.summary.total.requests, (await shopStats()).total);
    const v = run.verdicts.find((x) => x.threshold === 'purchase: p95 < 2s');
    assert.equal(v.passed, true);
    const series = (await srv.api('GET', `/api/v1/runs/${run.id}/series`)).json;
    assert.equal(series.names.find((n) => n.name === 'purchase').kind, 'group');
    assert.equal(series.names.find((n) => n.name === 'POST /checkout').kind, 'request');
    const csv = await (await srv.fetch(`/api/v1/runs/${run.id}/export.csv`)).text();
    assert.match(csv.split('\r\n')[0], /,kind$/);
    assert.ok(csv.split('\r\n').some((l) => /^purchase,.*,group$/.test(l)), csv);
    const html = await (await srv.fetch(`/api/v1/runs/${run.id}/export.html`)).text();
    assert.match(html, /<i class="group">group<\/i> purchase/);
  });

  test('on_stop runs on a graceful stop, within graceful_stop, and not on a hard stop', async () => {
    await shopReset();
    let id = await startRun(4);
    let r = await srv.api('POST', `/api/v1/runs/${id}/stop`, { mode: 'graceful' });
    assert.equal(r.status, 202, r.text);
    await waitEnded(id);
    let stats = await shopStats();
    assert.equal(served(stats, 'DELETE /api/v1/session'), 4, 'each VU logged out');
    assert.equal(stats.sessions.deleted, 4);

    await shopReset();
    id = await startRun(4);
    r = await srv.api('POST', `/api/v1/runs/${id}/stop`, { mode: 'immediate' });
    assert.equal(r.status, 202, r.text);
    await waitEnded(id);
    await sleep(300);
    stats = await shopStats();
    assert.equal(served(stats, 'DELETE /api/v1/session'), 0, 'a hard stop runs no on_stop');
    assert.equal(stats.sessions.live, 4);
  });
});
