// disk_full.test.mjs - the daemon on a disk that fills up, for real: its data directory is on a
// small tmpfs this test mounts (root only; skipped with the reason elsewhere), filled with a
// file while a run goes. Health says the store cannot write (503 degraded/full), every write
// route answers 503 with the one code "disk_full", the run ends "incomplete" naming the seconds
// it lost (never passed; `stampede remote run` exits 1), writes work again once space is freed
// without a restart, and `stampede serve` on a full disk says so and exits non-zero.
// The mount is removed whatever happens: in after(), and lazily at process exit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, freePort, tempDir, startStampede, startShop, run, spawnRun, sleep } from '../lib/harness.mjs';

const SIZE = '64m';
const mnt = tempDir('stampede-full-');
let skip = false;
let mounted = false;

function unmount() {
  if (!mounted) return;
  try {
    execFileSync('umount', [mnt], { stdio: 'ignore' });
  } catch {
    // Something still holds a file there (a process being killed): detach it now, the kernel
    // frees it when the last holder is gone.
    try { execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }); } catch { /* gone already */ }
  }
  mounted = false;
}

if (typeof process.getuid === 'function' && process.getuid() !== 0) {
  skip = 'needs root to mount a tmpfs (mount -t tmpfs)';
} else {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0700`, 'tmpfs', mnt], { stdio: 'pipe' });
    mounted = true;
    process.on('exit', unmount);
  } catch (e) {
    skip = `cannot mount a tmpfs here: ${String(e.stderr || e.message).trim()}`;
  }
}

const dataDir = path.join(mnt, 'data');
const filler = path.join(mnt, 'filler');
let shop, srv, testId;

/** Fills the tmpfs: writes a file until the kernel says ENOSPC, down to its last page. */
function fillDisk() {
  const fd = fs.openSync(filler, fs.existsSync(filler) ? 'a' : 'w');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const buf = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          if (fs.writeSync(fd, buf) < size) break;
        } catch (e) {
          if (e.code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  const st = fs.statfsSync(mnt);
  assert.ok(st.bavail * st.bsize < 64 << 10, `still ${st.bavail * st.bsize} bytes free`);
}

function freeDisk() {
  fs.rmSync(filler, { force: true });
}

function definition(name, thresholds = ['error_rate < 1%']) {
  return {
    name,
    base_url: shop.url,
    users: [{ name: 'u', think: { constant: '50ms' },
      tasks: [{ steps: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }] }],
    load: { users: 2, duration: '2s' },
    thresholds,
  };
}

async function waitFor(what, fn, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Every write route, once: what each answers (status and error code). */
async function writes(tag) {
  const out = {};
  let r = await srv.api('POST', '/api/v1/tests', definition(`full ${tag}`));
  out['POST /tests'] = [r.status, r.json?.error?.code, r.json?.error?.message];
  r = await srv.api('POST', '/api/v1/tokens', { name: `full ${tag}` });
  out['POST /tokens'] = [r.status, r.json?.error?.code, r.json?.error?.message];
  r = await srv.api('PUT', `/api/v1/files/data/${tag}.csv`, { content: 'id,name\n1,a\n' });
  out['PUT /files'] = [r.status, r.json?.error?.code, r.json?.error?.message];
  r = await srv.api('POST', `/api/v1/tests/${testId}/runs`, { users: 1, duration: '1s' });
  out['POST /tests/:id/runs'] = [r.status, r.json?.error?.code, r.json?.error?.message];
  out.startedRun = r.status === 201 ? r.json.id : null;
  return out;
}

before(async () => {
  if (skip) return;
  fs.mkdirSync(dataDir, { mode: 0o700 });
  shop = await startShop(['--quiet']);
  srv = await startStampede([], { dir: dataDir });
  testId = (await srv.api('POST', '/api/v1/tests', definition('full disk'))).json.id;
  assert.ok(testId > 0);
});

after(async () => {
  try {
    if (srv) await srv.stop('SIGKILL');
    if (shop) await shop.stop();
  } finally {
    unmount();
  }
});

test('a disk that fills during a run: health, every write route, the run and its end', { skip }, async () => {
  let r = await srv.api('GET', '/api/v1/health');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.db, 'ok');
  assert.ok(r.json.disk_free_bytes > 8 << 20);

  // The run, followed by `stampede remote run` as CI would.
  const remote = spawnRun(STAMPEDE_BIN, ['remote', 'run', '--server', srv.base, '--token', srv.token,
    'full disk', '--users', '2', '--duration', '8s'], { timeoutMs: 60000 });
  const runId = await waitFor('the run to start', async () => {
    const l = await srv.api('GET', '/api/v1/runs?status=running');
    return l.json?.items?.[0]?.id;
  });
  await waitFor('a second stored', async () => (await srv.api('GET', `/api/v1/runs/${runId}`)).json.last_second >= 1);

  fillDisk();
  try {
    // Health: the store cannot write.
    r = await srv.api('GET', '/api/v1/health');
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.status, 'degraded');
    assert.equal(r.json.db, 'full');
    assert.ok(r.json.disk_free_bytes < 8 << 20);

    // Every write route: 503 with one code and one message, and reads still work.
    const w = await writes('while-full');
    const messages = new Set();
    for (const route of ['POST /tests', 'POST /tokens', 'PUT /files', 'POST /tests/:id/runs']) {
      assert.deepEqual(w[route].slice(0, 2), [503, 'disk_full'], `${route}: ${JSON.stringify(w[route])}`);
      messages.add(w[route][2]);
    }
    assert.equal(messages.size, 1, [...messages].join(' | '));
    assert.equal((await srv.api('GET', '/api/v1/tests')).status, 200);

    // The run goes on and counts the seconds it cannot store.
    await waitFor('lost seconds', async () => (await srv.api('GET', `/api/v1/runs/${runId}`)).json.live?.lost_seconds >= 2);
    // Past its planned end it is still active: its end waits for the disk.
    await waitFor('the run to wait for the disk', async () => (await srv.api('GET', `/api/v1/runs/${runId}`)).json.live?.ending === true);
    r = await srv.api('GET', `/api/v1/runs/${runId}`);
    assert.equal(r.json.status, 'running');
  } finally {
    freeDisk();
  }

  // Space is back: the run ends, incomplete, naming what it lost.
  const end = await waitFor('the run to end', async () => {
    const x = (await srv.api('GET', `/api/v1/runs/${runId}`)).json;
    return x.status !== 'running' && x;
  }, 15000);
  assert.equal(end.status, 'incomplete');
  const m = /(\d+) of (\d+) seconds were not stored \(seconds? [\d, -]+\)/.exec(end.error);
  assert.ok(m, end.error);
  assert.match(end.error, /the disk was full/);
  const lost = end.summary.lost;
  assert.equal(lost.cause, 'disk_full');
  assert.equal(lost.seconds, Number(m[1]));
  assert.equal(lost.of, Number(m[2]));
  assert.ok(lost.seconds >= 2 && lost.seconds < lost.of, JSON.stringify(lost));
  const series = (await srv.api('GET', `/api/v1/runs/${runId}/series`)).json;
  assert.equal(series.ticks.second.length + lost.seconds, lost.of);
  for (const [first, last] of lost.ranges)
    for (let sec = first; sec <= last; sec++) assert.ok(!series.ticks.second.includes(sec), `second ${sec}`);
  const listed = (await srv.api('GET', '/api/v1/runs?status=incomplete')).json;
  assert.ok(listed.items.some((x) => x.id === runId));

  // `stampede remote run` does not call it a success.
  const done = await remote.done;
  assert.equal(done.code, 1, done.stderr + done.stdout);
  assert.match(done.stdout, /full disk: incomplete/);
  assert.match(done.stdout, /seconds were not stored/);

  // No restart: health and every write route work again.
  r = await srv.api('GET', '/api/v1/health');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.db, 'ok');
  const w = await writes('after');
  assert.equal(w['POST /tests'][0], 201, JSON.stringify(w));
  assert.equal(w['POST /tokens'][0], 201, JSON.stringify(w));
  assert.equal(w['PUT /files'][0], 201, JSON.stringify(w));
  assert.equal(w['POST /tests/:id/runs'][0], 201, JSON.stringify(w));
  const next = await waitFor('the next run to end', async () => {
    const x = (await srv.api('GET', `/api/v1/runs/${w.startedRun}`)).json;
    return x.status !== 'running' && x;
  });
  assert.equal(next.status, 'passed', next.error);
});

test('stampede serve on a full disk says the disk is full and exits non-zero', { skip }, async () => {
  assert.equal(await srv.stop(), 0);
  srv = null;
  fillDisk();
  try {
    const serve = async (dir) => run(STAMPEDE_BIN, ['serve', '--listen', '127.0.0.1:0', '--live-port',
      String(await freePort()), '--data-dir', dir],
    { timeoutMs: 15000, env: { STAMPEDE_ADMIN_PASSWORD: 'disk-full-test-password' } });
    const r = await serve(dataDir);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /cannot start: the disk is full/);
    assert.match(r.stderr, /free, at least 8\.0 MiB needed/);
    // A new data directory on it: the same.
    const fresh = path.join(mnt, 'fresh');
    fs.mkdirSync(fresh);
    const r2 = await serve(fresh);
    assert.notEqual(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /the disk is full/);
  } finally {
    freeDisk();
  }
});
