// compare_noise.test.mjs - the comparison of runs, checked honestly against the demo shop: five
// runs of one unchanged test compared pairwise flag nothing; the same test against a shop whose
// /api/v1/categories is 30% slower flags that route's p50 and p95 and nothing else it should
// not; a 3 s run against a 10 s one says "not enough data" where the data cannot tell; a pinned
// baseline, relative thresholds and the CI gate (--fail-on-regression) on the API and on
// `stampede remote run`. About 60 s of runs, one at a time.
//
// This machine is shared: when its cores are busy the load generator falls behind, and the
// comparison leaves out the seconds in which it lagged over 10 ms (their latencies are partly
// the generator's). A run left with too few seconds says "not enough data", never a flag; where
// a check needs a run judged on its seconds, a run the machine disturbed so is made again (twice
// at most in the file), and the test says so in its output. When the machine is too busy
// even then, what needs undisturbed runs is skipped with the reason; that no unchanged run is
// ever flagged is checked whatever the machine does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { STAMPEDE_BIN, startStampede, startShop, run, sleep } from '../lib/harness.mjs';

let srv, shop, slowShop, slowerShop;
let testId;
const runs = {};

// Every route takes 15 to 25 ms; the slow shop takes 30% more on /api/v1/categories alone.
const LATENCY = ['--latency-ms', 'all=uniform:15-25'];
const SLOWER = ['--latency-route', '/api/v1/categories=uniform:19.5-32.5'];
const NAMES = ['GET /products', 'GET /categories', 'GET /product'];
const FIGURES = ['rps', 'error_pct', 'p50', 'p95', 'p99'];

function definition() {
  return {
    name: 'compare noise',
    base_url: shop.url,
    users: [{
      name: 'shopper',
      tasks: [
        { weight: 60, steps: [
          { request: { url: '/api/v1/products', name: 'GET /products' } },
          { request: { url: '/api/v1/categories', name: 'GET /categories' } },
          { request: { url: '/api/v1/products/101', name: 'GET /product' } },
        ] },
        // Rare: a handful of requests in 3 s, too few to judge.
        { weight: 1, steps: [{ request: { url: '/api/v1/search?q=desk', name: 'GET /search' } }] },
      ],
    }],
    // An open model: iterations arrive at a fixed rate whatever the latency, so a slower route
    // does not change the throughput (a closed model's would fall with every slower request).
    load: { model: 'open', rate: 30, duration: '6s', max_vus: 20 },
    thresholds: ['error_rate < 1%', 'GET /categories: p50 < baseline * 1.2'],
  };
}

async function startRun(body) {
  const r = await srv.api('POST', `/api/v1/tests/${testId}/runs`, body);
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function waitEnd(id, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await srv.api('GET', `/api/v1/runs/${id}`);
    if (r.json && !['queued', 'running'].includes(r.json.status)) return r.json;
    if (Date.now() > end) assert.fail(`run ${id} did not end: ${r.text}`);
    await sleep(150);
  }
}

async function runTest(body = {}) {
  const id = await startRun(body);
  return waitEnd(id);
}

/** Whole seconds of a run in which the load generator lagged at most 10 ms. */
async function cleanSeconds(r) {
  const s = await srv.api('GET', `/api/v1/runs/${r.id}/series`);
  const whole = Math.floor(r.summary.duration_s);
  const { second, lag_us_max: lag } = s.json.ticks;
  return second.filter((sec, i) => sec < whole && lag[i] <= 10000).length;
}

const redone = [];
let redoBudget = 2;
/**
 * A run with at least 5 seconds in which the generator did not lag, made again while the file's
 * budget of two lasts when the machine disturbed it. Returns [run, clean].
 */
async function cleanRun(body = {}) {
  for (;;) {
    const r = await runTest(body);
    const clean = await cleanSeconds(r);
    if (clean >= 5) return [r, true];
    if (redoBudget-- <= 0) return [r, false];
    redone.push(`run ${r.id}: ${clean} clean seconds`);
    console.log(`run ${r.id} was disturbed by the machine (${clean} seconds without generator lag): made again`);
  }
}

async function compare(a, b, query = '') {
  const r = await srv.api('GET', `/api/v1/compare?runs=${a},${b}${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** Every judged cell of the later run: [{name, figure, verdict, ...cell}]. */
function cells(cmp, index = 1) {
  const out = [];
  const add = (name, entry) => {
    for (const f of FIGURES) if (entry && entry[f] && entry[f].verdict) out.push({ name, figure: f, ...entry[f] });
  };
  add('Total', cmp.total[index]);
  for (const n of cmp.names) add(n.name, n.runs[index]);
  return out;
}

const flagged = (cs) => cs.filter((c) => c.verdict === 'regression' || c.verdict === 'improvement');
const show = (cs) => cs.map((c) => `${c.name} ${c.figure} ${c.verdict} ${c.change?.toFixed?.(2)} [${c.ci}] p=${c.p_value} ${c.basis}`).join('\n');

before(async () => {
  shop = await startShop(['--quiet', ...LATENCY]);
  slowShop = await startShop(['--quiet', ...LATENCY, ...SLOWER]);
  // For the CLI's short run, a route slower by far more than any lag of a busy machine.
  slowerShop = await startShop(['--quiet', ...LATENCY, '--latency-route', '/api/v1/categories=fixed:80']);
  srv = await startStampede(['--max-runs', '2']);
  const r = await srv.api('POST', '/api/v1/tests', definition());
  assert.equal(r.status, 201, r.text);
  testId = r.json.id;
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
  if (slowShop) await slowShop.stop();
  if (slowerShop) await slowerShop.stop();
});

test('five runs of one unchanged test, compared pairwise, flag nothing', async (t) => {
  runs.same = [];
  // The first is the baseline of what follows: pinned once it has ended.
  const [first] = await cleanRun();
  assert.equal(first.status, 'passed', JSON.stringify(first.verdicts));
  // No baseline is pinned yet: the relative threshold is not judged.
  const rel = first.verdicts.find((v) => v.threshold.includes('baseline'));
  assert.equal(rel.skipped, true, JSON.stringify(rel));
  assert.equal(rel.passed, true);
  runs.same.push(first.id);
  const pin = await srv.api('PUT', `/api/v1/tests/${testId}/baseline`, { run_id: first.id });
  assert.equal(pin.status, 200, pin.text);
  assert.equal(pin.json.run_id, first.id);
  assert.equal(pin.json.settings.alpha, 0.01);
  assert.equal(pin.json.settings.min_change_pct, 10);
  assert.equal(pin.json.settings.min_change_ms, 1);
  // What PUT refuses: no run_id, a run of no test of this id, bad settings, unknown fields.
  for (const [body, status, path] of [[{}, 400, 'run_id'], [{ run_id: 'x' }, 400, 'run_id'],
    [{ run_id: 999999 }, 400, 'run_id'], [{ run_id: first.id, settings: { alpha: 2 } }, 400, 'settings'],
    [{ run_id: first.id, settings: { nope: 1 } }, 400, 'settings'], [{ run_id: first.id, extra: 1 }, 400, 'extra']]) {
    const bad = await srv.api('PUT', `/api/v1/tests/${testId}/baseline`, body);
    assert.equal(bad.status, status, `${JSON.stringify(body)}: ${bad.text}`);
    assert.equal(bad.json.error.path, path, bad.text);
  }
  assert.equal((await srv.api('PUT', '/api/v1/tests/999999/baseline', { run_id: null })).status, 404);
  // Settings kept per test; the comparison uses them, the query overrides them.
  const tuned = await srv.api('PUT', `/api/v1/tests/${testId}/baseline`, { run_id: first.id, settings: { min_change_pct: 12 } });
  assert.equal(tuned.json.stored.min_change_pct, 12);
  assert.equal(tuned.json.settings.min_change_pct, 12);
  assert.equal((await srv.api('GET', `/api/v1/tests/${testId}/baseline`)).json.settings.min_change_pct, 12);
  const back = await srv.api('PUT', `/api/v1/tests/${testId}/baseline`, { run_id: first.id });
  assert.equal(back.json.stored, null);
  // Without a pinned baseline the gate is refused at the start, by field.
  await srv.api('PUT', `/api/v1/tests/${testId}/baseline`, { run_id: null });
  const refused = await srv.api('POST', `/api/v1/tests/${testId}/runs`, { fail_on_regression: true });
  assert.equal(refused.status, 422, refused.text);
  assert.equal(refused.json.error.path, 'baseline');
  assert.equal((await srv.api('POST', `/api/v1/tests/${testId}/runs`, { baseline: 'yesterday' })).status, 400);
  assert.equal((await srv.api('POST', `/api/v1/tests/${testId}/runs`, { baseline: 999999 })).status, 422);
  assert.equal((await srv.api('PUT', `/api/v1/tests/${testId}/baseline`, { run_id: first.id })).status, 200);
  // The next four go through the CI gate against it: unchanged runs pass it.
  for (let i = 1; i < 5; i++) {
    const r = await runTest({ baseline: 'pinned', fail_on_regression: true });
    assert.equal(r.baseline.run_id, first.id, JSON.stringify(r.baseline));
    assert.deepEqual(r.baseline.regressions, [], JSON.stringify(r.baseline));
    assert.equal(r.status, 'passed', JSON.stringify({ verdicts: r.verdicts, baseline: r.baseline }));
    const relv = r.verdicts.find((v) => v.threshold.includes('baseline'));
    assert.equal(relv.skipped, false, JSON.stringify(relv));
    assert.ok(relv.limit > 0, JSON.stringify(relv));
    runs.same.push(r.id);
  }
  const clean = [];
  for (const id of runs.same) clean.push((await cleanSeconds((await srv.api('GET', `/api/v1/runs/${id}`)).json)) >= 5);
  let judged = 0, onSeconds = 0;
  const all = [];
  for (let i = 0; i < 5; i++) {
    for (let j = i + 1; j < 5; j++) {
      const cmp = await compare(runs.same[i], runs.same[j]);
      assert.equal(cmp.differs.profile, false);
      assert.equal(cmp.differs.test, false);
      assert.deepEqual(cmp.notes, []);
      const cs = cells(cmp);
      judged += cs.filter((c) => c.verdict === 'no significant change').length;
      all.push(...flagged(cs).map((c) => ({ pair: `${runs.same[i]}-${runs.same[j]}`, ...c })));
      // Seconds carry the figures of runs the machine left alone, their throughput too.
      const products = cmp.names.find((n) => n.name === 'GET /products').runs[1];
      if (clean[i] && clean[j]) {
        onSeconds++;
        assert.equal(products.p50.basis, 'seconds', JSON.stringify(products.p50));
        assert.equal(products.rps.basis, 'seconds', JSON.stringify(products.rps));
        assert.ok(Array.isArray(products.p50.ci) && products.p50.ci[0] <= products.p50.ci[1]);
        assert.ok(products.p50.ci[0] <= products.p50.change && products.p50.change <= products.p50.ci[1]);
      } else {
        assert.ok(['seconds', null].includes(products.p50.basis), JSON.stringify(products.p50));
      }
    }
  }
  console.log(`pairwise: ${onSeconds} pairs of undisturbed runs, ${judged} cells without a significant change, ${all.length} flagged`);
  assert.equal(all.length, 0, `flags between unchanged runs:\n${show(all)}`);
  if (!onSeconds) t.skip('the machine disturbed all but one of the five runs: nothing was judged on seconds');
});

test('the same test against a shop 30% slower on one route flags that route\'s p50 and p95', async (t) => {
  const [slow, clean] = await cleanRun({ base_url: slowShop.url, baseline: 'pinned', fail_on_regression: true });
  runs.slow = slow.id;
  if (!clean || (await cleanSeconds((await srv.api('GET', `/api/v1/runs/${runs.same[0]}`)).json)) < 5) {
    // Whatever it said, it flagged nothing but the slowed route and the total holding it.
    const flags = flagged(cells(await compare(runs.same[0], slow.id)));
    assert.ok(flags.every((c) => c.verdict === 'regression' && ['GET /categories', 'Total'].includes(c.name)), show(flags));
    t.skip('the machine disturbed the runs: the generator lagged over 10 ms in too many seconds');
    return;
  }
  // The gate failed the run and says why; the relative threshold failed too.
  assert.equal(slow.status, 'failed');
  assert.equal(slow.baseline.verdict, 'regression');
  const gated = slow.baseline.regressions.map((g) => `${g.name} ${g.figure}`);
  assert.ok(gated.includes('GET /categories p50') && gated.includes('GET /categories p95'), gated.join(', '));
  const relv = slow.verdicts.find((v) => v.threshold.includes('baseline'));
  assert.equal(relv.passed, false, JSON.stringify(relv));
  const cmp = await compare(runs.same[0], slow.id);
  const cs = cells(cmp);
  const flags = flagged(cs);
  console.log(`slower /categories:\n${show(flags)}`);
  const cat = cmp.names.find((n) => n.name === 'GET /categories').runs[1];
  for (const f of ['p50', 'p95']) {
    assert.equal(cat[f].verdict, 'regression', `${f}: ${JSON.stringify(cat[f])}`);
    assert.equal(cat[f].flag, 'regression');
    // The interval is above 0; the shop was given +6 ms at the median (20 to 26), +7.3 near p95.
    assert.ok(cat[f].ci[0] > 0, JSON.stringify(cat[f]));
  }
  assert.ok(cat.p50.ci[0] <= 6 + 1.5 && cat.p50.ci[1] >= 6 - 1.5, JSON.stringify(cat.p50));
  // Nothing else: no other request name, no throughput (an open model), no error rate. The
  // total holds the slowed route, so its latency may rise too: only ever as a regression.
  const others = flags.filter((c) => !(c.name === 'GET /categories' && ['p50', 'p95', 'p99'].includes(c.figure))
    && !(c.name === 'Total' && ['p50', 'p95', 'p99'].includes(c.figure)));
  assert.deepEqual(others.map((c) => `${c.name} ${c.figure}`), [], show(flags));
  assert.ok(flags.every((c) => c.verdict === 'regression'), show(flags));
  console.log(`flags: ${flags.length} (${flags.map((c) => `${c.name} ${c.figure}`).join(', ')})`);
});

test('a 3 s run against a 10 s run says "not enough data" where it should, and says they differ', async () => {
  // The long run needs only more whole seconds than the comparison asks of each run (5): then
  // every "not enough data" below is the 3 s run's doing. 10 s has twice that.
  const long = await runTest({ duration: '10s' });
  // The newest passed run is the 10 s one.
  const short = await runTest({ duration: '3s', baseline: 'last-passed' });
  assert.equal(short.baseline.run_id, long.id, JSON.stringify(short.baseline));
  assert.equal(short.baseline.asked, 'last-passed');
  const cmp = await compare(long.id, short.id);
  assert.equal(cmp.differs.duration, true);
  assert.ok(cmp.notes.some((n) => n.kind === 'duration' && n.runs.includes(short.id)), JSON.stringify(cmp.notes));
  // One profile cut shorter: its throughput is comparable, but 3 seconds are too few.
  assert.equal(cmp.differs.profile, false, JSON.stringify(cmp.notes));
  for (const e of [cmp.total[1], ...cmp.names.map((n) => n.runs[1])]) {
    if (!e.rps) continue;
    assert.equal(e.rps.verdict, 'not enough data', JSON.stringify(e.rps));
    assert.match(e.rps.reason, /whole seconds/);
  }
  // Latency falls back to every request of the short run, where there are enough of them...
  const products = cmp.names.find((n) => n.name === 'GET /products').runs[1];
  assert.equal(products.p50.basis, 'requests', JSON.stringify(products.p50));
  // ...and the rare request name (a few requests in 3 s) has too few to say anything: fewer
  // than 5 of them, or so few that no arrangement of them could be significant.
  const search = cmp.names.find((n) => n.name === 'GET /search');
  const se = search.runs[1];
  const fewSearches = (await srv.api('GET', `/api/v1/runs/${short.id}`)).json.summary.names
    .find((n) => n.name === 'GET /search')?.requests || 0;
  if (!se.present) {
    assert.equal(se.mark, 'gone');
  } else if (fewSearches < 5) {
    for (const f of ['p50', 'p95', 'p99', 'error_pct'])
      assert.equal(se[f].verdict, 'not enough data', `${f}: ${JSON.stringify(se[f])}`);
  }
  const flags = flagged(cells(cmp));
  assert.deepEqual(flags.map((c) => `${c.name} ${c.figure}`), [], show(flags));
});

test('stampede remote run --baseline ID --fail-on-regression exits 1 and names the regressions', async () => {
  const r = await run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, '--token', srv.token, '--quiet',
    '--duration', '2s', '--base-url', slowerShop.url, '--baseline', String(runs.same[0]),
    '--fail-on-regression', 'compare noise'], { timeoutMs: 30000 });
  console.log(r.stdout);
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`Against baseline run ${runs.same[0]} \\(run\\): regression`));
  assert.match(r.stdout, /REGRESSION {2}GET \/categories p50: /);
  assert.match(r.stdout, /The run failed: \d+ regressions? against the baseline/);
  // Options it refuses before asking the server.
  const bad = await run(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, '--baseline', 'yesterday', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--baseline expects pinned, last-passed or a run id/);
  console.log(`runs made again because the machine disturbed them: ${redone.length ? redone.join('; ') : 'none'}`);
});
