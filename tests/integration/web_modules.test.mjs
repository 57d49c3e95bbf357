// web_modules.test.mjs - the dashboard's DOM-free modules under node: duration and number
// formats, the threshold reader that judges thresholds against live totals, and the editor's
// definition paths, load profile points and line diff; and the module graph of web/assets:
// every import names a file that is there, and no module imports itself through others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR } from '../lib/harness.mjs';

const js = (p) => import(path.join(SOURCE_DIR, 'web/assets/js', p));

test('durations and numbers', async () => {
  const f = await js('format.js');
  assert.equal(f.parseDuration('30s'), 30);
  assert.equal(f.parseDuration('2m'), 120);
  assert.equal(f.parseDuration('1h30m'), 5400);
  assert.equal(f.parseDuration('500ms'), 0.5);
  assert.equal(f.parseDuration('12'), 12);
  for (const bad of ['', 'abc', '10x', '5 m', 'm5', '1h30']) assert.ok(Number.isNaN(f.parseDuration(bad)), bad);
  assert.equal(f.duration(0), '0s');
  assert.equal(f.duration(65), '1m 05s');
  assert.equal(f.duration(3725), '1h 02m 05s');
  assert.equal(f.ms(0.256), '0.26 ms');
  assert.equal(f.ms(12.34), '12.3 ms');
  assert.equal(f.ms(250), '250 ms');
  assert.equal(f.ms(12500), '12.5 s');
  assert.equal(f.ms(null), '–');
  assert.equal(f.pct(0), '0%');
  assert.equal(f.pct(0.0005), '<0.1%');
  assert.equal(f.pct(0.1234), '12.34%');
  assert.equal(f.int(1234567), '1,234,567');
});

// One date style on every page (and in the HTML report): 2026-05-04 16:03, the seconds and the
// zone where a moment matters.
test('dates have one style, with the zone where it matters', async () => {
  const f = await js('format.js');
  const prev = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    const t = Date.UTC(2026, 4, 4, 14, 3, 12);
    assert.equal(f.when(t), '2026-05-04 16:03');
    assert.equal(f.whenFull(t), '2026-05-04 16:03:12 UTC+02:00');
    assert.equal(f.when(null), '–');
    assert.equal(f.elapsed(12.46), '12.5s');
    assert.equal(f.elapsed(75), '1m 15s');
  } finally {
    if (prev === undefined) delete process.env.TZ; else process.env.TZ = prev;
  }
});

test('Try it shows JSON bodies pretty-printed, anything else as it came', async () => {
  const d = await js('defpath.js');
  assert.deepEqual(d.prettyBody('{"a":1,"b":[2]}'), { text: '{\n  "a": 1,\n  "b": [\n    2\n  ]\n}', pretty: true });
  assert.deepEqual(d.prettyBody('{"a":1', false), { text: '{"a":1', pretty: false });
  assert.deepEqual(d.prettyBody('{"a":1}', true), { text: '{"a":1}', pretty: false }, 'a body cut short stays as it came');
  assert.deepEqual(d.prettyBody('<b>hi</b>'), { text: '<b>hi</b>', pretty: false });
});

test('thresholds are judged against live totals as they stand', async () => {
  const t = await js('thresholds.js');
  const live = { p95: 120, p99: 400, rps: 50, error_rate: 0.02, names: [{ name: 'POST /orders: v2', p99: 900 }] };
  const cases = [
    ['p95 < 300ms', true], ['p95 < 0.1s', false], ['error_rate < 1%', false], ['error_rate <= 2%', true],
    ['rps > 10', true], ['rps >= 60', false], ['POST /orders: v2: p99 < 800ms', false],
  ];
  for (const [text, want] of cases) {
    const th = t.parseThreshold(text);
    assert.ok(th, text);
    assert.equal(t.holds(th, t.measure(th, live)), want, text);
  }
  assert.equal(t.parseThreshold('POST /orders: v2: p99 < 800ms').name, 'POST /orders: v2');
  assert.equal(t.measure(t.parseThreshold('p90 < 1s'), live), null, 'p90 is judged at the end');
  assert.equal(t.measure(t.parseThreshold('GET /x: p95 < 1s'), live), null, 'a name with no requests yet');
  assert.equal(t.parseThreshold('latency is fine'), null);
  // The open model's metrics parse, in their units, and wait for the end (live totals count
  // dropped arrivals, not the share of planned ones).
  const dropped = t.parseThreshold('dropped > 1%');
  assert.equal(dropped.value, 0.01);
  assert.equal(t.measure(dropped, { ...live, dropped: 3 }), null);
  assert.equal(t.parseThreshold('achieved_rate < 450/s').value, 450);
  assert.equal(t.parseThreshold('p99 < 800us').value, 0.8);
});

test('verdicts read as words, changes with their intervals, briefs of a run against its baseline', async () => {
  const v = await js('verdicts.js');
  assert.equal(v.shortVerdict('no significant change'), 'no change');
  assert.equal(v.verdictClass('not enough data'), 'v-not-enough-data');
  assert.equal(v.verdictClass(undefined), '');
  const cell = { change: 4.521, ci: [3.9, 5.2], p_value: 0.0022, basis: 'seconds', samples: [6, 6] };
  assert.equal(v.changeText('p95', cell), '+4.52 ms [+3.90, +5.20]');
  assert.equal(v.changeText('rps', { change: -12.34, ci: null }), '−12.3/s');
  assert.equal(v.changeText('p50', { change: null }), '');
  assert.equal(v.basisText(cell, 0.01), 'p = 0.002 on 6 and 6 seconds; 99% interval');
  assert.equal(v.basisText({ basis: null, reason: 'needs 5 whole seconds in each run (has 3)' }), 'needs 5 whole seconds in each run (has 3)');
  assert.match(v.basisText({ p_value: 1e-9, basis: 'requests', samples: [300, 280] }), /^p = 1\.0e-9 on 300 and 280 requests/);
  assert.equal(v.briefText({ is_baseline: true }), 'baseline');
  assert.equal(v.briefText({ verdict: 'regression', regressions: 1, improvements: 0 }), '1 regression');
  assert.equal(v.briefText({ verdict: 'regression', regressions: [{}, {}] }), '2 regressions');
  assert.equal(v.briefText({ verdict: 'improvement', regressions: 0, improvements: 3 }), '3 improvements');
  assert.equal(v.briefText({ verdict: 'not enough data' }), 'not enough data');
  assert.match(v.ruleText({ alpha: 0.01, min_change_pct: 10, min_change_tail_pct: 20, min_change_ms: 1, min_change_error_pct: 0.5, min_change_rps: 1, max_lag_ms: 10 }),
    /significant at 0\.01 and beyond both 10% of the baseline \(p95, p99: 20%\) and 1 ms/);
});

test('the editor: paths, edits that keep the rest, load points, line diff', async () => {
  const d = await js('defpath.js');
  assert.equal(d.pathStr(['users', 0, 'tasks', 2, 'steps', 0, 'request', 'url']), 'users[0].tasks[2].steps[0].request.url');
  const def = { name: 'x', users: [{ tasks: [{ request: { url: '/', x_keep: 1 } }] }] };
  d.setAt(def, ['users', 0, 'tasks', 0, 'expect', 'status'], 200);
  assert.deepEqual(def.users[0].tasks[0].expect, { status: 200 });
  d.delAt(def, ['users', 0, 'tasks', 0, 'expect', 'status']);
  assert.equal('expect' in def.users[0].tasks[0], false, 'an emptied object goes');
  d.delAt(def, ['users', 0, 'tasks', 0, 'request', 'url']);
  assert.deepEqual(def.users[0].tasks[0], { request: { x_keep: 1 } }, 'what the form does not show stays');
  d.delAt(def, ['users', 0, 'tasks', 0, 'request', 'x_keep']);
  assert.deepEqual(def.users[0].tasks, [{}], 'an array item is never removed by emptying it');
  assert.equal(d.getAt(def, ['users', 5, 'name']), undefined);

  assert.equal(d.durationSeconds('1m30s'), 90);
  assert.equal(d.durationSeconds('500ms'), 0.5);
  assert.equal(d.durationSeconds(1500), 1.5);
  assert.equal(d.durationSeconds('0'), 0);
  assert.ok(Number.isNaN(d.durationSeconds('10')));
  assert.deepEqual(d.loadPoints({ users: 10, duration: '1m' }), [[0, 0, 60], [0, 10, 10]]);
  assert.deepEqual(d.loadPoints({ model: 'open', max_vus: 5, stages: [{ duration: '30s', rate: 20 }, { duration: '1m', rate: 20 }, { duration: '10s', rate: 0 }] }),
    [[0, 30, 90, 100], [0, 20, 20, 0]]);

  const diff = d.lineDiff('a\nb\nc', 'a\nB\nc\nd');
  assert.deepEqual(diff, [{ op: ' ', text: 'a' }, { op: '-', text: 'b' }, { op: '+', text: 'B' }, { op: ' ', text: 'c' }, { op: '+', text: 'd' }]);
  assert.deepEqual(d.lineDiff('same', 'same'), [{ op: ' ', text: 'same' }]);
});

/*
 * The dashboard's import graph, read from the sources (the modules need a browser to load).
 * Imports are written one per statement at the start of a line, as in every module here;
 * '/assets/...' is web/assets, and '/assets/vendor/' holds uPlot, copied in at build time.
 */
function importGraph(webDir) {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (e.name !== 'vendor') walk(p); } else if (/\.m?js$/.test(e.name)) files.push(p);
    }
  };
  walk(path.join(webDir, 'assets'));
  const patterns = [
    /^\s*(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import x from '…', export { y } from '…'
    /^\s*import\s*['"]([^'"]+)['"]/gm, // import '…' (for its effects)
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('…')
  ];
  const graph = new Map();
  const missing = [];
  for (const f of files) {
    const src = fs.readFileSync(f, 'utf8');
    const deps = new Set();
    for (const re of patterns) {
      for (const m of src.matchAll(re)) {
        const spec = m[1];
        if (spec.startsWith('/assets/vendor/')) continue;
        const to = spec.startsWith('/') ? path.join(webDir, spec) : path.resolve(path.dirname(f), spec);
        if (!fs.existsSync(to)) missing.push(`${path.relative(webDir, f)}: ${spec}`);
        else deps.add(to);
      }
    }
    graph.set(f, [...deps]);
  }
  return { graph, missing };
}

/** Every cycle met by a depth-first walk, each as the list of files around it. */
function importCycles(graph) {
  const state = new Map(); // file -> 'open' while on the walk's stack, 'done' after
  const stack = [];
  const cycles = [];
  const visit = (f) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) || []) {
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return cycles;
}

test('the dashboard modules: every import is there, and none imports itself through others', () => {
  const webDir = path.join(SOURCE_DIR, 'web');
  const { graph, missing } = importGraph(webDir);
  assert.ok(graph.size > 10, `only ${graph.size} modules found under ${webDir}/assets`);
  assert.ok([...graph.values()].some((d) => d.length), 'no imports were read at all');
  assert.deepEqual(missing, [], 'imports that name no file');
  const rel = (f) => path.relative(webDir, f);
  assert.deepEqual(importCycles(graph).map((c) => c.map(rel).join(' -> ')), [], 'import cycles');
});
