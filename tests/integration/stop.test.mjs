// Stop means stop: whatever a worker is doing (waiting on a target that never answers, reading a
// response that never ends, matching a regex at its limit), an immediate stop ends the run
// within 2 s, on the CLI (a second Ctrl-C) and on the server (POST .../stop immediate), and
// SIGTERM ends the daemon within --stop-grace plus 2 s even when the test's own graceful_stop
// is a minute. The target is a small node server here that counts its open connections, so
// "ended" is checked where the load lands, not only in Stampede's own status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import {
  STAMPEDE_BIN, startStampede, spawnRun, tempDir, sleep,
} from '../lib/harness.mjs';

let target, targetUrl;
const open = new Set();
const seen = { stall: 0, huge: 0, bomb: 0 };

before(async () => {
  const bomb = Buffer.alloc(200 * 1024, 'a');
  target = http.createServer((req, res) => {
    if (req.url.startsWith('/stall')) {
      seen.stall++;
      return; // never answers
    }
    if (req.url.startsWith('/huge')) {
      seen.huge++;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 'h');
      const t = setInterval(() => res.write(chunk), 5);
      res.on('close', () => clearInterval(t));
      return;
    }
    seen.bomb++;
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(bomb);
  });
  target.on('connection', (s) => { open.add(s); s.on('close', () => open.delete(s)); });
  target.keepAliveTimeout = 60000;
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${target.address().port}`;
});

after(async () => {
  for (const s of open) s.destroy();
  await new Promise((r) => target.close(r));
});

function definition(name) {
  return {
    name, base_url: targetUrl,
    options: { graceful_stop: '60s', max_response_bytes: 67108864 },
    // One user class per kind of slowness, so that each kind always has VUs busy with it.
    users: [
      { name: 'stall', weight: 1, think: { constant_ms: 0 },
        tasks: [{ steps: [{ request: { url: '/stall', name: 'stall', timeout: '120s' } }] }] },
      { name: 'huge', weight: 1, think: { constant_ms: 0 },
        tasks: [{ steps: [{ request: { url: '/huge', name: 'huge', timeout: '120s' } }] }] },
      { name: 'bomb', weight: 1, think: { constant_ms: 0 },
        tasks: [{ steps: [{ request: { url: '/bomb', name: 'bomb' },
          extract: { v: { regex: '(a|aa)*[bc]', group: 0 } } }] }] },
    ],
    load: { users: 6, duration: '10m' },
  };
}

async function waitFor(what, cond, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what} (seen ${JSON.stringify(seen)}, ${open.size} open)`);
    await sleep(20);
  }
}

// Busy = stalled and streaming transfers in flight and regexes being matched, since `before`
// (taken before the run starts: a stalled VU sends once and then waits for good).
const snapshot = () => ({ ...seen });
async function waitBusy(before) {
  const s0 = before.stall, h0 = before.huge, b0 = before.bomb;
  await waitFor('slow requests in flight', () => seen.stall > s0 && seen.huge > h0 && seen.bomb > b0);
  await waitFor('several open connections', () => open.size >= 3);
}

test('CLI: a second Ctrl-C ends a run of stalled, endless and regex-bound requests within 2 s', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'slow.json');
  fs.writeFileSync(file, JSON.stringify(definition('cli-slow')));
  const before = snapshot();
  const p = spawnRun(STAMPEDE_BIN, ['run', file, '--threads', '1'], { timeoutMs: 120000 });
  await waitBusy(before);
  p.proc.kill('SIGINT');
  await sleep(300);
  assert.equal(p.proc.exitCode, null, 'the first Ctrl-C waits for requests in flight (graceful)');
  const t0 = Date.now();
  p.proc.kill('SIGINT');
  const r = await p.done;
  const took = Date.now() - t0;
  assert.equal(r.code, 130, r.stderr);
  assert.ok(took < 2000, `the immediate stop took ${took} ms`);
  await waitFor('the target to see every connection closed', () => open.size === 0, 2000);
  assert.match(r.stdout, /stopped/);
  assert.match(r.stdout, /regex_limit/, 'the regex at its limit is reported as such');
});

test('server: an immediate stop ends the run within 2 s; SIGTERM ends the daemon within --stop-grace + 2 s', async () => {
  const dir = tempDir();
  let srv = await startStampede(['--stop-grace', '1s'], { dir });
  try {
    const created = await srv.api('POST', '/api/v1/tests', definition('server-slow'));
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;

    let before = snapshot();
    let r = await srv.api('POST', `/api/v1/tests/${id}/runs`, {});
    assert.equal(r.status, 201, r.text);
    const run1 = r.json.id;
    await waitBusy(before);
    const t0 = Date.now();
    r = await srv.api('POST', `/api/v1/runs/${run1}/stop`, { mode: 'immediate' });
    assert.equal(r.status, 202, r.text);
    for (;;) {
      const g = await srv.api('GET', `/api/v1/runs/${run1}`);
      if (g.json.status !== 'running') {
        assert.equal(g.json.status, 'stopped');
        break;
      }
      assert.ok(Date.now() - t0 < 2000, 'the run is still running 2 s after an immediate stop');
      await sleep(50);
    }
    await waitFor('the target to see every connection closed', () => open.size === 0, 2000);

    before = snapshot();
    r = await srv.api('POST', `/api/v1/tests/${id}/runs`, {});
    assert.equal(r.status, 201, r.text);
    const run2 = r.json.id;
    await waitBusy(before);
    const t1 = Date.now();
    const code = await srv.stop('SIGTERM', 15000);
    const took = Date.now() - t1;
    assert.equal(code, 0, srv.stderr());
    assert.ok(took < 3000 + 500, `SIGTERM took ${took} ms with --stop-grace 1s`);
    assert.equal(open.size, 0, 'no connection to the target outlives the daemon');

    srv = await startStampede([], { dir });
    const g = await srv.api('GET', `/api/v1/runs/${run2}`);
    assert.equal(g.json.status, 'stopped', 'the run ended by SIGTERM is recorded as stopped');
  } finally {
    await srv.stop();
  }
});
