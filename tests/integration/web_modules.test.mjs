// web_modules.test.mjs - the dashboard's DOM-free modules under node: duration and number
// formats, and the threshold reader that judges thresholds against live totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
});
