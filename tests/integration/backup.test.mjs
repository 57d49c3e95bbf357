// backup.test.mjs - `stampede backup` taken while a run writes its seconds, against the real
// daemon and the real demo shop, and `stampede restore` of it: the copy passes PRAGMA
// integrity_check, holds every run that had finished before it was taken (rows and all), and
// the server starts on the restored database. Restore refuses while the server runs, and
// refuses corrupt files and newer schemas without touching the current database. A backup killed
// mid-way (kill -9, again and again) leaves temporaries that the next backup removes, while the
// temporary of a backup still running is left alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as harness from '../lib/harness.mjs';

const { STAMPEDE_BIN, freePort, tempDir, startProcess, startShop, run, spawnRun, sleep } = harness;
let shop, srv, dir, testId;

/** The daemon on dir: through the harness's startStampede (an admin token on every request)
 *  where the harness has it, else started here on an open loopback server. */
async function startServer() {
  const extra = ['--max-vus', '10', '--max-duration', '30s'];
  if (harness.startStampede) return harness.startStampede(extra, { dir });
  const port = await freePort();
  const live = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const h = await startProcess(STAMPEDE_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir,
    '--live-port', String(live), ...extra], { readyUrl: `${base}/api/v1/health` });
  async function api(method, p, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(base + p, init);
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, text, json };
  }
  return Object.assign(h, { base, api });
}

const api = (method, p, body) => srv.api(method, p, body);

async function startRun(overrides) {
  const r = await api('POST', `/api/v1/tests/${testId}/runs`, overrides);
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function waitStatus(id, want, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/api/v1/runs/${id}`);
    if (want.includes(r.json?.status)) return r.json;
    if (Date.now() > end) assert.fail(`run ${id} is ${r.json?.status}, not ${want}`);
    await sleep(100);
  }
}

/** One query on a database file with the sqlite3 shell, read-only; rows as arrays. */
function sql(file, query) {
  const out = execFileSync('sqlite3', ['-readonly', '-json', file, query], { encoding: 'utf8' }).trim();
  return out ? JSON.parse(out) : [];
}

before(async () => {
  shop = await startShop(['--quiet']);
  dir = tempDir('stampede-backup-');
  srv = await startServer();
  const r = await api('POST', '/api/v1/tests', {
    name: 'backup load',
    base_url: shop.url,
    users: [{ name: 'u', think: { constant: '50ms' },
      tasks: [{ steps: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }] }],
    load: { users: 2, duration: '2s' },
  });
  assert.equal(r.status, 201, r.text);
  testId = r.json.id;
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

test('a backup taken mid-run restores every finished run, and the server starts on it', async () => {
  const db = path.join(dir, 'stampede.db');
  // Two runs finish before the backup.
  const done = [];
  for (let i = 0; i < 2; i++) {
    const id = await startRun({ users: 2, duration: '1s' });
    const r = await waitStatus(id, ['passed', 'failed']);
    assert.equal(r.status, 'passed');
    done.push(id);
  }
  // A third is writing its seconds while the backup is taken.
  const going = await startRun({ users: 3, duration: '4s' });
  await waitStatus(going, ['running']);
  await sleep(1500);
  const file = path.join(tempDir('stampede-backup-out-'), 'copy.db');
  const b = await run(STAMPEDE_BIN, ['backup', '--data-dir', dir, file]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /schema version \d+, \d+ tests, 3 runs/);
  assert.equal((await api('GET', `/api/v1/runs/${going}`)).json.status, 'running',
    'the backup was taken while the run was going');

  // The copy: sound, one self-contained file, every finished run with all of its rows.
  assert.deepEqual(sql(file, 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  assert.deepEqual(sql(file, 'PRAGMA journal_mode'), [{ journal_mode: 'delete' }]);
  assert.equal(fs.statSync(file).mode & 0o077, 0, 'the backup is readable by its owner only');
  const rows = (f, id) => sql(f, `SELECT r.status, r.summary, r.verdicts,
      (SELECT count(*) FROM run_seconds WHERE run_id = r.id) AS seconds,
      (SELECT sum(count) FROM run_seconds WHERE run_id = r.id) AS requests,
      (SELECT count(*) FROM run_ticks WHERE run_id = r.id) AS ticks
    FROM runs r WHERE r.id = ${Number(id)}`)[0];
  for (const id of done) {
    const copy = rows(file, id);
    assert.ok(copy, `run ${id} is missing from the backup`);
    assert.equal(copy.status, 'passed');
    assert.ok(copy.seconds > 0 && copy.requests > 0, JSON.stringify(copy));
    assert.deepEqual(copy, rows(db, id), `run ${id} differs between the database and the backup`);
  }
  const mid = rows(file, going);
  assert.equal(mid.status, 'running', 'the run going is in the copy as it was then');

  await waitStatus(going, ['passed', 'failed']);

  // Restore is refused while the server runs on the directory, and changes nothing.
  const before = fs.statSync(db);
  const refused = await run(STAMPEDE_BIN, ['restore', '--data-dir', dir, file]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /in use by another stampede \(serve pid \d+\); stop it before restoring/);
  assert.equal(fs.statSync(db).ino, before.ino);

  assert.equal(await srv.stop(), 0, srv.stderr());
  srv = null;
  const r = await run(STAMPEDE_BIN, ['restore', '--data-dir', dir, file]);
  assert.equal(r.code, 0, r.stderr);
  const aside = /the previous database is at (.*)$/m.exec(r.stdout);
  assert.ok(aside && fs.existsSync(aside[1]), r.stdout);
  assert.equal(sql(aside[1], `SELECT status FROM runs WHERE id = ${going}`)[0].status, 'passed',
    'the previous database is kept as it was');

  // The server starts on the restored database: the finished runs are there, and the run
  // that was going when the copy was taken is marked aborted, as after a crash.
  srv = await startServer();
  for (const id of done) {
    const got = await api('GET', `/api/v1/runs/${id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.status, 'passed');
  }
  assert.equal((await api('GET', `/api/v1/runs/${going}`)).json.status, 'aborted');
  assert.match(srv.stderr(), /runs left running by a previous process marked aborted/);
});

test('restore refuses a corrupt file, another program\'s database and a newer schema', async () => {
  const db = path.join(dir, 'stampede.db');
  if (srv) { await srv.stop(); srv = null; }
  const out = tempDir('stampede-backup-bad-');
  const good = path.join(out, 'good.db');
  const b = await run(STAMPEDE_BIN, ['backup', '--data-dir', dir, good]);
  assert.equal(b.code, 0, b.stderr);
  const again = await run(STAMPEDE_BIN, ['backup', '--data-dir', dir, good]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);

  const corrupt = path.join(out, 'corrupt.db');
  const bytes = fs.readFileSync(good);
  for (let i = 4096; i < bytes.length; i += 97) bytes[i] ^= 0x5a; // every page after the first
  fs.writeFileSync(corrupt, bytes);
  const foreign = path.join(out, 'foreign.db');
  execFileSync('sqlite3', [foreign, 'CREATE TABLE t (x); INSERT INTO t VALUES (1);']);
  const newer = path.join(out, 'newer.db');
  fs.copyFileSync(good, newer);
  execFileSync('sqlite3', [newer, "INSERT INTO schema_version VALUES (9999, '9999_future', 0);"]);
  const garbage = path.join(out, 'garbage.db');
  fs.writeFileSync(garbage, 'this is not a database\n'.repeat(200));

  const inode = fs.statSync(db).ino;
  for (const [file, why] of [[corrupt, /integrity|malformed|cannot be read|not a database/],
    [foreign, /not a stampede database/], [newer, /schema version 9999, newer than this stampede/],
    [garbage, /not a database|cannot be read/], [path.join(out, 'missing.db'), /No such file/]]) {
    const r = await run(STAMPEDE_BIN, ['restore', '--data-dir', dir, file]);
    assert.equal(r.code, 1, `${path.basename(file)} was restored: ${r.stdout}`);
    assert.match(r.stderr, why, path.basename(file));
    assert.equal(fs.statSync(db).ino, inode, `${path.basename(file)}: the database was replaced`);
  }
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.restore-')), [], 'no temporary file left');
  const usage = await run(STAMPEDE_BIN, ['restore', '--data-dir', dir]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /FILE is missing/);
});

test('temporaries of killed backups are removed by the next backup, a running backup\'s never', async () => {
  // A database large enough that a backup takes a while: kills land mid-way, as in the report
  // (9 kills of 10 left NAME.tmp-PID and its -journal behind, and no later backup removed them).
  const src = tempDir('stampede-backup-big-');
  const db = path.join(src, 'stampede.db');
  const seeded = await run(process.env.SEED_RUNS_BIN || 'build/tests/seed_runs', [db, '2', '10', 'http://127.0.0.1:9']);
  assert.equal(seeded.code, 0, seeded.stderr);
  execFileSync('sqlite3', [db, 'CREATE TABLE filler (b BLOB); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL'
    + ' SELECT i + 1 FROM c WHERE i < 96) INSERT INTO filler SELECT randomblob(1048576) FROM c;'
    + ' PRAGMA wal_checkpoint(TRUNCATE);']);
  const out = tempDir('stampede-backup-kills-');
  const temps = () => fs.readdirSync(out).filter((f) => /\.tmp-\d+(-journal|-wal|-shm)?$/.test(f));

  let took = 0;
  for (const name of ['whole.db', 'warm.db']) {
    const t0 = Date.now();
    const whole = await run(STAMPEDE_BIN, ['backup', '--data-dir', src, path.join(out, name)]);
    assert.equal(whole.code, 0, whole.stderr);
    took = Date.now() - t0;
  }

  // A backup that is still going (stopped, so that it cannot finish first) while backups are
  // killed around it and the next one sweeps the directory: its temporary must stay.
  const going = spawnRun(STAMPEDE_BIN, ['backup', '--data-dir', src, path.join(out, 'going.db')]);
  const mine = path.join(out, `going.db.tmp-${going.proc.pid}`);
  // Stopped while it copies pages (then it holds only a shared read lock on the source), not
  // while SQLite sets up the source's WAL index, which would hold up every other reader.
  const size = (f) => { try { return fs.statSync(f).size; } catch { return 0; } };
  for (let i = 0; i < 5000 && size(mine) < 1 << 20; i++) await sleep(1);
  going.proc.kill('SIGSTOP');
  try {
    assert.ok(fs.existsSync(mine), 'the running backup made its temporary');

    // Ten backups killed at random moments once they have made their temporary.
    const killed = new Set();
    let leaving = 0;
    for (let i = 0; i < 10; i++) {
      const p = spawnRun(STAMPEDE_BIN, ['backup', '--data-dir', src, path.join(out, `killed-${i}.db`)]);
      const own = path.join(out, `killed-${i}.db.tmp-${p.proc.pid}`);
      // Until it has made its temporary (a deadline, not a count of sleeps: on a busy machine a
      // start can take seconds, and a kill before it proves nothing).
      for (const end = Date.now() + 30000; Date.now() < end && !fs.existsSync(own);) await sleep(2);
      await sleep(Math.floor(took * 0.5 * Math.random()));
      p.proc.kill('SIGKILL');
      const r = await p.done;
      if (r.signal !== 'SIGKILL') continue;
      killed.add(p.proc.pid);
      leaving += fs.existsSync(own);
      assert.ok(fs.existsSync(mine), `killed backup ${i} removed the running backup's temporary`);
    }
    const left = temps().filter((f) => !f.startsWith('going.db.tmp-'));
    assert.ok(leaving >= 5 && left.length > 0, `${leaving} of 10 kills left a temporary (a backup takes ${took} ms)`);
    for (const f of left) assert.ok(killed.has(Number(/\.tmp-(\d+)/.exec(f)[1])), f);

    const next = await run(STAMPEDE_BIN, ['backup', '--data-dir', src, path.join(out, 'next.db')]);
    assert.equal(next.code, 0, next.stderr);
    const said = /removed (\d+) temporary files? left by killed backups/.exec(next.stderr);
    assert.equal(Number(said?.[1]), left.length, `left: ${left.join(' ')}; now: ${temps().join(' ')}; ${next.stderr}`);
    assert.deepEqual(temps().filter((f) => !f.startsWith('going.db.tmp-')), [], 'a dead backup\'s temporary is left');
    assert.ok(fs.existsSync(mine), 'the running backup\'s temporary was removed');
    assert.deepEqual(sql(path.join(out, 'next.db'), 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  } finally {
    going.proc.kill('SIGCONT');
  }
  const g = await going.done;
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual(sql(path.join(out, 'going.db'), 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  assert.deepEqual(temps(), []);
});
