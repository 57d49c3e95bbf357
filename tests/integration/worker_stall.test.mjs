// A worker stuck on its own, while the rest of the process runs, is a generator stall too: the
// aggregator, which sends a second a worker owes 900 ms after it ended, flags that second (its
// lag is at least how long the worker has been away) instead of sending it as an innocent empty
// second. The worker thread alone is frozen for 2.2 s with the cgroup v1 freezer (which freezes
// single threads); the test is skipped where that is not available. The target is a node server
// that answers at once; the load is 2 VUs for 6 s on one engine thread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, spawnRun, tempDir, sleep } from '../lib/harness.mjs';

const FREEZER = '/sys/fs/cgroup/freezer';
function skipReason() {
  try {
    fs.accessSync(path.join(FREEZER, 'tasks'), fs.constants.W_OK);
    return false;
  } catch {
    return `no writable cgroup v1 freezer at ${FREEZER}`;
  }
}
const skip = skipReason();

let target, targetUrl;
before(async () => {
  target = http.createServer((req, res) => res.end('{}'));
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${target.address().port}`;
});
after(() => new Promise((r) => { target.closeAllConnections(); target.close(r); }));

// The thread of pid that used the most CPU: the only engine worker, the others wait.
function busiestThread(pid) {
  let best = null, most = -1;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = Number(f[11]) + Number(f[12]); // utime + stime
    if (cpu > most) { most = cpu; best = tid; }
  }
  return best;
}

async function freezeThread(tid, ms) {
  const dir = path.join(FREEZER, `stampede-test-${process.pid}-${tid}`);
  fs.mkdirSync(dir);
  try {
    fs.writeFileSync(path.join(dir, 'tasks'), tid);
    fs.writeFileSync(path.join(dir, 'freezer.state'), 'FROZEN');
    await sleep(ms);
    fs.writeFileSync(path.join(dir, 'freezer.state'), 'THAWED');
    fs.writeFileSync(path.join(FREEZER, 'tasks'), tid);
  } finally {
    fs.rmdirSync(dir);
  }
}

test('CLI: seconds a frozen worker owes are flagged as stalls, not sent as empty seconds', { skip }, async () => {
  const dir = tempDir();
  const file = path.join(dir, 'stall.json');
  const out = path.join(dir, 'out.json');
  fs.writeFileSync(file, JSON.stringify({
    name: 'worker stall', base_url: targetUrl,
    users: [{ think: { constant_ms: 5 }, tasks: [{ steps: [{ request: { url: '/x', name: 'x' } }] }] }],
    load: { users: 2, duration: '6s' },
  }));
  const p = spawnRun(STAMPEDE_BIN, ['run', file, '--threads', '1', '--quiet', '--json', out], { timeoutMs: 60000 });
  await sleep(1500);
  await freezeThread(busiestThread(p.proc.pid), 2200);
  const r = await p.done;
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
  const g = doc.generator;
  assert.ok(g.stalled_seconds >= 2, `stalled seconds: ${JSON.stringify(g)}`);
  // The seconds the worker spent frozen reached the aggregator without its requests: each of
  // them is flagged, with a lag that says so.
  const empty = doc.seconds.filter((s) => s.requests === 0 && s.t < 5);
  assert.ok(empty.length >= 1, `a second went by without the worker: ${JSON.stringify(doc.seconds.map((s) => [s.t, s.requests, s.lag_ms]))}`);
  for (const s of empty) {
    assert.equal(s.stall, true, `second ${s.t} sent empty and not flagged: ${JSON.stringify(s)}`);
    assert.ok(s.lag_ms >= 900, `second ${s.t}: lag ${s.lag_ms}`);
  }
  assert.match(r.stdout, /WARNING: the load generator stalled/);
});
