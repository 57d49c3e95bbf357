// A frozen generator is told, not passed off as the target's latency: the process running the
// load is stopped (SIGSTOP) for 2 s mid-run, and the seconds it spent frozen are flagged as
// generator stalls in the per-second JSON, the summary's "generator" object and the text
// summary (CLI), and in the stored run's summary and its points (server). The target is a node
// server that answers at once, so nothing there can explain a gap.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, startStampede, spawnRun, tempDir, sleep } from '../lib/harness.mjs';

let target, targetUrl, served = 0;

before(async () => {
  target = http.createServer((req, res) => { served++; res.end('{}'); });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${target.address().port}`;
});
after(() => new Promise((r) => target.close(r)));

const definition = (name) => ({
  name, base_url: targetUrl,
  users: [{ think: { constant_ms: 20 }, tasks: [{ steps: [{ request: { url: '/x', name: 'x' } }] }] }],
  load: { users: 4, duration: '6s' },
});

async function freeze(pid, ms) {
  process.kill(pid, 'SIGSTOP');
  await sleep(ms);
  process.kill(pid, 'SIGCONT');
}

test('CLI: seconds a frozen generator spent away are flagged as stalls in the JSON and the summary', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'stall.json');
  const out = path.join(dir, 'out.json');
  fs.writeFileSync(file, JSON.stringify(definition('stall')));
  const p = spawnRun(STAMPEDE_BIN, ['run', file, '--json', out], { timeoutMs: 60000 });
  await sleep(1500);
  await freeze(p.proc.pid, 2200);
  const r = await p.done;
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
  const g = doc.generator;
  assert.ok(g.stalled_seconds >= 2, `stalled seconds: ${JSON.stringify(g)}`);
  assert.ok(g.lag_ms_max >= 2000, `the longest gap is the freeze: ${g.lag_ms_max}`);
  const flagged = doc.seconds.filter((s) => s.stall).map((s) => s.t);
  assert.equal(flagged.length, g.stalled_seconds);
  assert.equal(flagged[0], g.stall_first);
  assert.equal(flagged[flagged.length - 1], g.stall_last);
  // The frozen seconds are the ones without requests; the others are not flagged.
  for (const s of doc.seconds.filter((x) => !x.stall && x.t > 0 && x.t < 5)) assert.ok(s.requests > 0);
  assert.match(r.stdout, /WARNING: the load generator stalled in \d+ seconds between second \d+ and \d+/);
  assert.match(r.stderr, /generator stall/);
});

test('server: a frozen daemon\'s stalled seconds are in the run\'s summary and its HTML report', async () => {
  const srv = await startStampede();
  try {
    const c = await srv.api('POST', '/api/v1/tests', definition('server-stall'));
    assert.equal(c.status, 201, c.text);
    const s = await srv.api('POST', `/api/v1/tests/${c.json.id}/runs`, {});
    assert.equal(s.status, 201, s.text);
    await sleep(1500);
    await freeze(srv.proc.pid, 2200);
    let run;
    for (let i = 0; i < 100; i++) {
      run = (await srv.api('GET', `/api/v1/runs/${s.json.id}`)).json;
      if (run.status !== 'running') break;
      await sleep(200);
    }
    assert.equal(run.status, 'passed');
    const g = run.summary.generator;
    assert.ok(g.stalled_seconds >= 2, JSON.stringify(g));
    const exp = await srv.fetch(`/api/v1/runs/${s.json.id}/export.html`);
    assert.equal(exp.status, 200);
    assert.match(await exp.text(), /Generator stall:/);
  } finally {
    await srv.stop();
  }
});
