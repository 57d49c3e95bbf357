// schedules.test.mjs - schedules on the real daemon (docs/api-schedules.md).
//
// The scheduler's clock is moved with the test hook STAMPEDE_TEST_CLOCK="+SECONDS", an exact
// offset, so a test knows which wall-clock instant each fire time is and reaches one in
// seconds: a schedule every minute fires within 2 s of its minute (and once more on a server
// with the real clock, waited for in the background while the other tests run), `skip` and
// `queue` meet a run of the test that is still going, a restart across a fire time follows
// `on_missed`, and a daylight-saving gap in Berlin is crossed for real (computed transitions
// are checked through the preview for both changes). A viewer cannot create a schedule, a
// tester cannot change another's, the owner's role caps apply at the fire time, and scheduled
// runs are marked in the run, the history filter and the exports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStampede, startShop, tempDir, sleep, login, createToken } from '../lib/harness.mjs';

const MIN = 60000;
let shop, A, D;
const tokens = {};
const ids = {};
let realTime; // the real-clock server's schedule: { sched, test, created }

async function call(s, method, p, body, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : { ...s.headers };
  const init = { method, headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(s.base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

function def(name, extra = {}) {
  return {
    name,
    base_url: shop.url,
    users: [{ name: 'u', think: { constant: '100ms' }, tasks: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }],
    load: { users: 1, duration: '1s' },
    thresholds: ['error_rate < 1%'],
    ...extra,
  };
}

async function createTest(s, name, extra) {
  const r = await call(s, 'POST', '/api/v1/tests', def(name, extra));
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function schedule(s, testId, body, token) {
  const r = await call(s, 'POST', `/api/v1/tests/${testId}/schedules`, body, token);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function addUser(s, name, role) {
  const password = `${name}-password-1234`;
  const r = await call(s, 'POST', '/api/v1/users', { name, role, password });
  assert.equal(r.status, 201, r.text);
  return (await createToken(s.base, await login(s.base, name, password), 'schedules')).token;
}

/** The offset in whole seconds that puts the scheduler's clock `leadMs` before `targetMs` now. */
function offsetFor(targetMs, leadMs) {
  return Math.round((targetMs - leadMs - Date.now()) / 1000);
}

/** Waits until the scheduler's clock (wall + offset) has passed atMs. */
async function untilSched(offsetS, atMs) {
  const wait = atMs - (Date.now() + offsetS * 1000);
  if (wait > 0) await sleep(wait);
}

async function waitFor(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function lastFire(s, id) {
  const r = await call(s, 'GET', `/api/v1/schedules/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json.last_fires[0];
}

async function waitEnd(s, runId) {
  return waitFor(`run ${runId} to end`, async () => {
    const r = await call(s, 'GET', `/api/v1/runs/${runId}`);
    return ['queued', 'running'].includes(r.json.status) ? null : r.json;
  });
}

before(async () => {
  shop = await startShop(['--quiet']);
  // The real-time case: a server on the real clock, whose first fire is checked last.
  D = await startStampede();
  const dTest = await createTest(D, 'real time');
  const dSched = await schedule(D, dTest, { cron: '* * * * *', timezone: 'UTC' });
  realTime = { sched: dSched.id, test: dTest, created: Date.now() };
});

after(async () => {
  for (const s of [A, D]) if (s) await s.stop();
  if (shop) await shop.stop();
});

test('a schedule every minute fires within 2 s of its minute; skip, queue, owners and their caps', async () => {
  // The scheduler's clock reaches a minute 14 s after the start: time enough to set up.
  const leadMs = 14000;
  const now = Date.now();
  const S = Math.ceil((Math.ceil((now + leadMs) / MIN) * MIN - leadMs - now) / 1000);
  A = await startStampede([], { env: { STAMPEDE_TEST_CLOCK: `+${S}` } });
  const boundary = Math.ceil((Date.now() + S * 1000) / MIN) * MIN;
  tokens.tester1 = await addUser(A, 'tester1', 'tester');
  tokens.tester2 = await addUser(A, 'tester2', 'tester');
  tokens.viewer = await addUser(A, 'viewer1', 'viewer');
  ids.quick = await createTest(A, 'quick');
  ids.long = await createTest(A, 'long', { load: { users: 1, duration: '40s' } });
  ids.capped = await createTest(A, 'capped');

  const every = await schedule(A, ids.quick, { cron: '* * * * *', timezone: 'Europe/Berlin', overrides: { users: 1, duration: '1s' } }, tokens.tester1);
  assert.equal(every.owner, 'tester1');
  assert.equal(every.next_fires.length, 5);
  assert.equal(every.next_fires[0].at, boundary, 'the next fire time is the coming minute');
  assert.match(every.next_fires[0].local, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\+0[12]:00$/);
  for (let i = 1; i < 5; i++) assert.equal(every.next_fires[i].at - every.next_fires[i - 1].at, MIN);
  const skip = await schedule(A, ids.long, { cron: '* * * * *', if_running: 'skip' }, tokens.tester1);
  const queue = await schedule(A, ids.long, { cron: '* * * * *', if_running: 'queue' }, tokens.tester2);
  const capped = await schedule(A, ids.capped, { cron: '* * * * *', overrides: { users: 2, duration: '1s' } }, tokens.tester1);
  // The owner's caps as they are at the fire time: lowered after the schedule was saved.
  let r = await call(A, 'PUT', '/api/v1/settings/caps', { tester: { max_vus: 1 } });
  assert.equal(r.status, 200, r.text);
  // A run of the long test is going when the minute comes.
  r = await call(A, 'POST', `/api/v1/tests/${ids.long}/runs`, {});
  assert.equal(r.status, 201, r.text);
  const manual = r.json.id;
  assert.ok(Date.now() + S * 1000 < boundary - 1000, 'the set-up finished before the minute');

  await untilSched(S, boundary + 2500);
  // Every minute: started within 2 s, as its owner, marked scheduled.
  const f = await waitFor('the quick schedule to fire', () => lastFire(A, every.id));
  assert.equal(f.outcome, 'started', JSON.stringify(f));
  assert.equal(f.fire_at, boundary);
  const run = (await call(A, 'GET', `/api/v1/runs/${f.run_id}`)).json;
  const late = run.created_at + S * 1000 - boundary;
  assert.ok(late >= 0 && late <= 2000, `started ${late} ms after its minute`);
  assert.equal(run.origin, 'scheduled');
  assert.equal(run.schedule_id, every.id);
  assert.equal(run.fire_at, boundary);
  assert.equal(run.fire_missed, false);
  assert.equal(run.started_by, 'tester1');
  assert.deepEqual(run.overrides, { users: 1, duration: '1s' });
  // skip and queue while the long test's run goes.
  const sk = await lastFire(A, skip.id);
  assert.equal(sk.outcome, 'skipped', JSON.stringify(sk));
  assert.match(sk.detail, /still going/);
  const qu = await lastFire(A, queue.id);
  assert.equal(qu.outcome, 'queued', JSON.stringify(qu));
  assert.equal((await call(A, 'GET', `/api/v1/schedules/${queue.id}`)).json.queued_at, boundary);
  // The owner's caps at the fire time refuse the capped run.
  const ca = await lastFire(A, capped.id);
  assert.equal(ca.outcome, 'failed', JSON.stringify(ca));
  assert.match(ca.detail, /max_vus/);
  assert.equal(ca.run_id, null);
  // The queued run starts when the long run ends.
  r = await call(A, 'POST', `/api/v1/runs/${manual}/stop`, { mode: 'immediate' });
  assert.equal(r.status, 202, r.text);
  const started = await waitFor('the queued fire to start', async () => {
    const x = await lastFire(A, queue.id);
    return x.outcome === 'queued' ? null : x;
  });
  assert.equal(started.outcome, 'started', JSON.stringify(started));
  assert.equal(started.fire_at, boundary);
  assert.match(started.detail, /waited/);
  const qrun = (await call(A, 'GET', `/api/v1/runs/${started.run_id}`)).json;
  assert.equal(qrun.started_by, 'tester2');
  assert.equal(qrun.fire_at, boundary);
  assert.equal((await call(A, 'GET', `/api/v1/schedules/${queue.id}`)).json.queued_at, null);
  r = await call(A, 'POST', `/api/v1/runs/${started.run_id}/stop`, { mode: 'immediate' });
  assert.equal(r.status, 202, r.text);
  ids.scheduledRun = run.id;
  ids.manualRun = manual;
  ids.every = every.id;
  await waitEnd(A, run.id);
  // Quiet from here on: no more fires while the next tests run.
  for (const s of [every, skip, queue, capped]) {
    r = await call(A, 'POST', `/api/v1/schedules/${s.id}/pause`, undefined);
    assert.equal(r.status, 200, r.text);
  }
});

test('scheduled runs are marked in the history filter, the exports and the audit log', async () => {
  const sched = await call(A, 'GET', '/api/v1/runs?origin=scheduled');
  assert.equal(sched.status, 200, sched.text);
  assert.ok(sched.json.items.length >= 2);
  assert.ok(sched.json.items.every((x) => x.origin === 'scheduled'));
  assert.ok(sched.json.items.some((x) => x.id === ids.scheduledRun));
  const manual = await call(A, 'GET', '/api/v1/runs?origin=manual');
  assert.ok(manual.json.items.some((x) => x.id === ids.manualRun));
  assert.ok(manual.json.items.every((x) => x.origin === 'manual'));
  const bad = await call(A, 'GET', '/api/v1/runs?origin=cron');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.path, 'origin');

  const json = await call(A, 'GET', `/api/v1/runs/${ids.scheduledRun}/export.json`);
  assert.equal(json.json.run.origin, 'scheduled');
  assert.equal(json.json.run.schedule_id, ids.every);
  const xml = await call(A, 'GET', `/api/v1/runs/${ids.scheduledRun}/export.junit.xml`);
  assert.match(xml.text, /<property name="origin" value="scheduled"\/>/);
  const html = await call(A, 'GET', `/api/v1/runs/${ids.scheduledRun}/export.html`);
  assert.match(html.text, /<span class="origin">scheduled<\/span> \(schedule \d+, fire time /);

  const audit = (await call(A, 'GET', '/api/v1/audit?limit=1000')).json.entries;
  const start = audit.find((e) => e.action === 'run.start' && e.object === `runs/${ids.scheduledRun}`);
  assert.ok(start, 'the scheduled start is audited');
  assert.equal(start.user, 'tester1');
  assert.match(start.detail, new RegExp(`schedule ${ids.every} at `));
  assert.ok(audit.some((e) => e.action === 'schedule.create' && e.user === 'tester1'));
  assert.ok(audit.some((e) => e.action === 'schedule.pause'));
});

test('a viewer sees schedules but cannot make one; a tester changes only their own; an admin any', async () => {
  const [v, t1, t2] = [tokens.viewer, tokens.tester1, tokens.tester2];
  let r = await call(A, 'POST', `/api/v1/tests/${ids.quick}/schedules`, { cron: '0 2 * * *' }, v);
  assert.equal(r.status, 403, r.text);
  r = await call(A, 'GET', `/api/v1/tests/${ids.quick}/schedules`, undefined, v);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.items.some((x) => x.id === ids.every && x.owner === 'tester1'));
  r = await call(A, 'GET', `/api/v1/schedules/${ids.every}`, undefined, v);
  assert.equal(r.status, 200);
  const before = r.json;
  for (const [m, p, b] of [['PUT', '', { cron: '5 * * * *' }], ['POST', '/resume', undefined], ['DELETE', '', undefined]]) {
    r = await call(A, m, `/api/v1/schedules/${ids.every}${p}`, b, t2);
    assert.equal(r.status, 403, `${m} ${p} by another tester: ${r.text}`);
    assert.match(r.json.error.message, /belongs to tester1/);
    r = await call(A, m, `/api/v1/schedules/${ids.every}${p}`, b, v);
    assert.equal(r.status, 403, `${m} ${p} by a viewer: ${r.text}`);
  }
  r = await call(A, 'GET', `/api/v1/schedules/${ids.every}`);
  assert.equal(r.json.cron, before.cron, 'nothing changed');
  r = await call(A, 'PUT', `/api/v1/schedules/${ids.every}`, { cron: '5 * * * *', if_running: 'queue' }, t1);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.cron, '5 * * * *');
  assert.equal(r.json.if_running, 'queue');
  assert.equal(r.json.paused, true);
  r = await call(A, 'PUT', `/api/v1/schedules/${ids.every}`, { on_missed: 'run_once' });
  assert.equal(r.status, 200, 'an admin changes anyone\'s');
  assert.equal(r.json.owner, 'tester1', 'the owner stays');
  r = await call(A, 'DELETE', `/api/v1/schedules/${ids.every}`, undefined, t1);
  assert.equal(r.status, 204, r.text);
  r = await call(A, 'GET', `/api/v1/schedules/${ids.every}`);
  assert.equal(r.status, 404);
  r = await call(A, 'GET', `/api/v1/runs/${ids.scheduledRun}`);
  assert.equal(r.json.schedule_id, ids.every, 'its runs keep its number');
});

test('invalid schedules are refused with the field and the reason; nothing is stored', async () => {
  const cases = [
    [{ cron: '0 25 * * *' }, 'cron', /hour: '25' is out of range 0-23/],
    [{ cron: '*/0 * * * *' }, 'cron', /minute: step 0/],
    [{ cron: '0 2 * * 1-9' }, 'cron', /day of week: '9' is out of range 0-7/],
    [{ cron: '0 2 * *' }, 'cron', /expected 5 fields/],
    [{ cron: '0 0 30 2 *' }, 'cron', /never fires/],
    [{ cron: '0 2 * * *', timezone: 'Mars/Olympus' }, 'timezone', /unknown time zone/],
    [{ cron: '0 2 * * *', timezone: '../../etc/passwd' }, 'timezone', /not a time zone name/],
    [{ cron: '0 2 * * *', if_running: 'wait' }, 'if_running', /skip.*queue/],
    [{ cron: '0 2 * * *', on_missed: 'catch_up' }, 'on_missed', /run_once/],
    [{ cron: '0 2 * * *', overrides: { userz: 1 } }, 'overrides.userz', /did you mean 'users'/],
    [{ cron: '0 2 * * *', overrides: { locations: ['eu'] } }, 'overrides.locations', /agents/],
    [{ cron: '0 2 * * *', overrides: { users: 2, duration: '1s' }, timezon: 'UTC' }, 'timezon', /did you mean 'timezone'/],
    [{ timezone: 'UTC' }, 'cron', /required/],
  ];
  const count = async () => (await call(A, 'GET', `/api/v1/tests/${ids.quick}/schedules`)).json.items.length;
  const n0 = await count();
  for (const [body, path, msg] of cases) {
    const r = await call(A, 'POST', `/api/v1/tests/${ids.quick}/schedules`, body, tokens.tester1);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.path, path, r.text);
    assert.match(r.json.errors[0].message, msg, r.text);
  }
  // Beyond the owner's role caps (tester max_vus 1), refused when saved.
  let r = await call(A, 'POST', `/api/v1/tests/${ids.quick}/schedules`, { cron: '0 2 * * *', overrides: { users: 5, duration: '1s' } }, tokens.tester1);
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.error.message, /max_vus/);
  r = await call(A, 'POST', '/api/v1/tests/999999/schedules', { cron: '0 2 * * *' });
  assert.equal(r.status, 404, r.text);
  assert.equal(await count(), n0, 'nothing was stored');
  r = await call(A, 'POST', '/api/v1/schedules/preview', { cron: '0 2 * * 1-5', timezone: 'Europe/Berlin', count: 3 }, tokens.viewer);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.next_fires.length, 3);
  assert.match(r.json.next_fires[0].local, /T02:00:00\+0[12]:00$/);
});

test('daylight-saving changes neither skip nor double a run (computed for Berlin and New York)', async () => {
  const preview = async (cron, timezone, from, count = 4) => {
    const r = await call(A, 'POST', '/api/v1/schedules/preview', { cron, timezone, from: Date.parse(from), count });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  // Berlin, spring: 02:30 does not exist on 2026-03-29; it fires once, at 03:00 CEST.
  let p = await preview('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z');
  assert.equal(p.follows_clock, false);
  assert.deepEqual(p.next_fires.map((x) => x.local), ['2026-03-28T02:30:00+01:00', '2026-03-29T03:00:00+02:00',
    '2026-03-30T02:30:00+02:00', '2026-03-31T02:30:00+02:00']);
  // Several fire times in the gap and one at its end are one run.
  p = await preview('0,30 2-3 * * *', 'Europe/Berlin', '2026-03-28T23:00:00Z', 3);
  assert.deepEqual(p.next_fires.map((x) => x.local), ['2026-03-29T03:00:00+02:00', '2026-03-29T03:30:00+02:00', '2026-03-30T02:00:00+02:00']);
  // Berlin, autumn: 02:30 happens twice on 2026-10-25; it fires at the first, in summer time.
  p = await preview('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2);
  assert.deepEqual(p.next_fires.map((x) => x.local), ['2026-10-25T02:30:00+02:00', '2026-10-26T02:30:00+01:00']);
  // An expression over every hour follows the clock: every half hour of real time.
  p = await preview('0,30 * * * *', 'Europe/Berlin', '2026-10-24T23:45:00Z', 6);
  assert.equal(p.follows_clock, true);
  assert.deepEqual(p.next_fires.map((x) => x.at), [0, 1, 2, 3, 4, 5].map((i) => Date.parse('2026-10-25T00:00:00Z') + i * 1800000));
  assert.deepEqual(p.next_fires.map((x) => x.local.slice(11)), ['02:00:00+02:00', '02:30:00+02:00', '02:00:00+01:00', '02:30:00+01:00', '03:00:00+01:00', '03:30:00+01:00']);
  // New York, spring: 02:30 on 2026-03-08 runs at 03:00 EDT.
  p = await preview('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2);
  assert.deepEqual(p.next_fires.map((x) => x.local), ['2026-03-08T03:00:00-04:00', '2026-03-09T02:30:00-04:00']);
});

test('crossing the Berlin gap for real: 02:30 and 03:00 each run once at 03:00 CEST', async () => {
  const gapEnd = Date.parse('2026-03-29T01:00:00Z');
  const S = offsetFor(gapEnd, 9000);
  const C = await startStampede([], { env: { STAMPEDE_TEST_CLOCK: `${S >= 0 ? '+' : ''}${S}` } });
  try {
    const t1 = await createTest(C, 'gap 02:30');
    const t2 = await createTest(C, 'gap 03:00');
    const t3 = await createTest(C, 'gap half hours');
    const a = await schedule(C, t1, { cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    const b = await schedule(C, t2, { cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    const c = await schedule(C, t3, { cron: '0,30 2-3 * * *', timezone: 'Europe/Berlin' });
    assert.equal(a.next_fires[0].at, gapEnd);
    assert.equal(a.next_fires[0].local, '2026-03-29T03:00:00+02:00');
    assert.equal(a.next_fires[1].local, '2026-03-30T02:30:00+02:00');
    assert.equal(c.next_fires[0].at, gapEnd);
    assert.equal(c.next_fires[1].local, '2026-03-29T03:30:00+02:00');
    await untilSched(S, gapEnd + 2500);
    for (const s of [a, b, c]) {
      const r = await call(C, 'GET', `/api/v1/schedules/${s.id}`);
      assert.equal(r.json.last_fires.length, 1, `${s.cron}: one fire, not more: ${JSON.stringify(r.json.last_fires)}`);
      assert.equal(r.json.last_fires[0].outcome, 'started');
      assert.equal(r.json.last_fires[0].fire_at, gapEnd);
      const run = (await call(C, 'GET', `/api/v1/runs/${r.json.last_fires[0].run_id}`)).json;
      assert.equal(run.fire_at, gapEnd);
      const late = run.created_at + S * 1000 - gapEnd;
      assert.ok(late >= 0 && late <= 2000, `${s.cron}: started ${late} ms after the gap's end`);
    }
    const after = await call(C, 'GET', `/api/v1/schedules/${c.id}`);
    assert.equal(after.json.next_fires[0].local, '2026-03-29T03:30:00+02:00');
  } finally {
    await C.stop();
  }
});

test('a restart across a fire time follows on_missed: skipped, or run once at the start', async () => {
  const dir = tempDir();
  const leadMs = 9000;
  const now = Date.now();
  const S1 = Math.ceil((Math.ceil((now + leadMs) / MIN) * MIN - leadMs - now) / 1000);
  let B = await startStampede([], { dir, env: { STAMPEDE_TEST_CLOCK: `+${S1}` } });
  const boundary = Math.ceil((Date.now() + S1 * 1000) / MIN) * MIN;
  let skipped, once, t1, t2;
  try {
    t1 = await createTest(B, 'missed and skipped');
    t2 = await createTest(B, 'missed and run once');
    skipped = await schedule(B, t1, { cron: '* * * * *', on_missed: 'skip' });
    once = await schedule(B, t2, { cron: '* * * * *', on_missed: 'run_once' });
    assert.ok(Date.now() + S1 * 1000 < boundary - 1500, 'stopped before the fire time');
  } finally {
    assert.equal(await B.stop(), 0);
  }
  // The server comes back 25 s after the fire time, by its clock.
  const S2 = offsetFor(boundary + 25000, 0);
  B = await startStampede([], { dir, env: { STAMPEDE_TEST_CLOCK: `${S2 >= 0 ? '+' : ''}${S2}` } });
  try {
    const sk = await waitFor('the missed fire to be recorded', () => lastFire(B, skipped.id));
    assert.equal(sk.outcome, 'missed', JSON.stringify(sk));
    assert.equal(sk.fire_at, boundary);
    assert.equal(sk.run_id, null);
    assert.match(sk.detail, /passed while the server was down: skipped/);
    const on = await waitFor('the missed fire to run', () => lastFire(B, once.id));
    assert.equal(on.outcome, 'started', JSON.stringify(on));
    assert.equal(on.fire_at, boundary);
    assert.match(on.detail, /passed while the server was down: run once at the start/);
    const run = (await call(B, 'GET', `/api/v1/runs/${on.run_id}`)).json;
    assert.equal(run.origin, 'scheduled');
    assert.equal(run.fire_missed, true, 'the run records that it was missed');
    assert.equal(run.fire_at, boundary);
    const all = (await call(B, 'GET', '/api/v1/runs?origin=scheduled')).json;
    assert.equal(all.total, 1, 'one run for the missed fire time, none for the skipped one');
    await waitEnd(B, run.id);
  } finally {
    await B.stop();
  }
});

test('openapi.json describes the schedule routes with their permissions', async () => {
  const doc = (await call(A, 'GET', '/api/v1/openapi.json')).json;
  const want = [
    ['get', '/api/v1/tests/{id}/schedules', 'read'], ['post', '/api/v1/tests/{id}/schedules', 'run'],
    ['get', '/api/v1/schedules/{id}', 'read'], ['put', '/api/v1/schedules/{id}', 'run'],
    ['delete', '/api/v1/schedules/{id}', 'run'], ['post', '/api/v1/schedules/{id}/pause', 'run'],
    ['post', '/api/v1/schedules/{id}/resume', 'run'], ['post', '/api/v1/schedules/preview', 'read'],
  ];
  for (const [m, p, perm] of want) {
    assert.ok(doc.paths[p]?.[m], `${m} ${p} missing`);
    assert.equal(doc.paths[p][m]['x-permission'], perm, `${m} ${p}`);
  }
  const n = Object.entries(doc.paths).filter(([p]) => /schedules/.test(p)).reduce((k, [, i]) => k + Object.keys(i).length, 0);
  assert.equal(n, want.length);
});

test('on the real clock, a schedule every minute fires within 2 s of the minute', async () => {
  const f = await waitFor('the real-time schedule to fire', () => lastFire(D, realTime.sched), 75000 - (Date.now() - realTime.created));
  assert.equal(f.outcome, 'started', JSON.stringify(f));
  assert.equal(f.fire_at % MIN, 0);
  const run = (await call(D, 'GET', `/api/v1/runs/${f.run_id}`)).json;
  const late = run.created_at - f.fire_at;
  assert.ok(late >= 0 && late <= 2000, `started ${late} ms after its minute`);
  assert.equal(run.origin, 'scheduled');
});
