// live.test.mjs - the live stream (server/live/live.c) against tests/tools/live_pub, which publishes
// {"run_id":R,"seq":K,"sent_ms":T,"pad":"..."} for runs 1 and 2 every --interval-ms and answers
// backlogs with {"run_id":N,"backlog":true,"points":[1,2,3],"fill":"..."} (none for run 99).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import WebSocket from 'ws';
import { startProcess, sleep, SOURCE_DIR } from '../lib/harness.mjs';

const LIVE_PUB_BIN = process.env.LIVE_PUB_BIN || path.join(SOURCE_DIR, 'build/dev/tests/live_pub');
const PROTOCOL = 'stampede-live-v1';

/** Starts live_pub on a free port; resolves once it listens. events() parses its stdout. */
async function startPub(args = []) {
  const h = await startProcess(LIVE_PUB_BIN, ['--port', '0', '--seconds', '60', ...args]);
  const events = () => h.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const deadline = Date.now() + 10000;
  for (;;) {
    const ev = events().find((e) => e.event === 'listening');
    if (ev) return Object.assign(h, { port: ev.port, url: `ws://127.0.0.1:${ev.port}/`, events });
    if (h.stderr().includes('Sanitizer')) throw new Error(h.stderr());
    if (Date.now() > deadline) throw new Error(`live_pub did not start:\n${h.stderr()}`);
    await sleep(20);
  }
}

/** Stops live_pub (SIGTERM, so sanitizer builds get to report) and fails on any report. */
async function stopPub(pub) {
  await pub.stop('SIGTERM');
  assert.doesNotMatch(pub.stderr(), /Sanitizer|runtime error/, pub.stderr());
}

function lastStats(pub) {
  return pub.events().filter((e) => e.event === 'stats').pop() || {};
}

/** Waits until pred() is true (polling), or fails with what. */
async function until(pred, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Opens a client. Resolves to { ws, msgs, closed } once open, or rejects when the upgrade is
 * refused. msgs collects parsed messages with their arrival time in .at (ms since the epoch).
 */
function connect(url, { protocol = PROTOCOL, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const ws = protocol ? new WebSocket(url, protocol, opts) : new WebSocket(url, opts);
    const c = { ws, msgs: [], close: null };
    c.closed = new Promise((res) => ws.on('close', (code, reason) => {
      c.close = { code, reason: reason.toString() };
      res(c.close);
    }));
    ws.on('message', (d, isBinary) => {
      assert.equal(isBinary, false, 'the server sends text messages');
      const m = JSON.parse(d.toString());
      m.at = Date.now();
      c.msgs.push(m);
    });
    ws.on('open', () => resolve(c));
    ws.on('error', reject);
    ws.on('unexpected-response', (req, res) => reject(new Error(`refused with ${res.statusCode}`)));
  });
}

const seconds = (c, runId) => c.msgs.filter((m) => m.type === 'second' && (runId === undefined || m.run_id === runId));

test('a run subscriber gets subscribed, the backlog, then only that run\'s points', async (t) => {
  const pub = await startPub();
  t.after(() => stopPub(pub));
  const c = await connect(pub.url);
  assert.equal(c.ws.protocol, PROTOCOL);
  c.ws.send(JSON.stringify({ subscribe: 'run', run_id: 1 }));
  await until(() => seconds(c).length >= 5, 'five points of run 1');
  assert.deepEqual(c.msgs[0].type, 'subscribed');
  assert.equal(c.msgs[0].subscribe, 'run');
  assert.equal(c.msgs[0].run_id, 1);
  assert.equal(c.msgs[1].type, 'backlog');
  assert.equal(c.msgs[1].run_id, 1);
  assert.deepEqual(c.msgs[1].data, { run_id: 1, backlog: true, points: [1, 2, 3], fill: '' });
  const pts = c.msgs.slice(2);
  assert.ok(pts.every((m) => m.type === 'second' && m.run_id === 1 && m.data.run_id === 1),
            JSON.stringify(pts.slice(0, 3)));
  for (let i = 1; i < pts.length; i++) assert.equal(pts[i].data.seq, pts[i - 1].data.seq + 1, 'no gap, no repeat');
  c.ws.close();
});

test('a "runs" subscriber gets every run\'s points; no subprotocol is accepted too', async (t) => {
  const pub = await startPub();
  t.after(() => stopPub(pub));
  const c = await connect(pub.url, { protocol: null });
  // Sent as two frames of one message: the server reassembles them.
  c.ws.send('{"subscribe":', { fin: false });
  c.ws.send('"runs"}', { fin: true });
  await until(() => seconds(c, 1).length >= 3 && seconds(c, 2).length >= 3, 'points of runs 1 and 2');
  assert.deepEqual(c.msgs[0], { type: 'subscribed', subscribe: 'runs', at: c.msgs[0].at });
  assert.equal(c.msgs.filter((m) => m.type === 'backlog').length, 0);
  c.ws.close();
});

test('a late subscriber gets the run so far first; a run without one gets null', async (t) => {
  const pub = await startPub();
  t.after(() => stopPub(pub));
  await until(() => pub.events().filter((e) => e.event === 'publish').length >= 10, 'ten publishes');
  const c = await connect(pub.url);
  c.ws.send(JSON.stringify({ subscribe: 'run', run_id: 2 }));
  await until(() => seconds(c).length >= 2, 'points of run 2');
  assert.deepEqual(c.msgs.map((m) => m.type).slice(0, 3), ['subscribed', 'backlog', 'second']);
  assert.deepEqual(c.msgs[1].data, { run_id: 2, backlog: true, points: [1, 2, 3], fill: '' });
  assert.ok(seconds(c)[0].data.seq >= 10, 'live points follow the backlog, not the start of the run');

  const d = await connect(pub.url);
  d.ws.send(JSON.stringify({ subscribe: 'run', run_id: 99 }));
  await until(() => d.msgs.length >= 2, 'the backlog of run 99');
  assert.equal(d.msgs[1].type, 'backlog');
  assert.equal(d.msgs[1].data, null);
  await sleep(300);
  assert.equal(seconds(d).length, 0, 'nothing is published for run 99');
  c.ws.close();
  d.ws.close();
});

test('bad input gets an error message, and repeated bad input closes the connection', async (t) => {
  const pub = await startPub();
  t.after(() => stopPub(pub));
  const c = await connect(pub.url);
  c.ws.send('{"subscribe": ');
  await until(() => c.msgs.length >= 1, 'an error');
  assert.equal(c.msgs[0].type, 'error');
  assert.equal(c.msgs[0].error.code, 'bad_json');
  c.ws.send(JSON.stringify({ subscribe: 'run', run_id: 'seven' }));
  await until(() => c.msgs.length >= 2, 'a second error');
  assert.equal(c.msgs[1].error.code, 'bad_request');
  // A good message between bad ones still works.
  c.ws.send(JSON.stringify({ subscribe: 'runs' }));
  await until(() => c.msgs.some((m) => m.type === 'subscribed'), 'subscribed');
  c.ws.send(JSON.stringify({ subscribe: 'runs', extra: 1 }));
  const close = await c.closed;
  assert.equal(close.code, 1008);
  assert.match(close.reason, /bad messages/);
  assert.equal(c.msgs.filter((m) => m.type === 'error').length, 3);

  // A message far larger than a subscribe is refused and the connection closed (1009).
  const big = await connect(pub.url);
  big.ws.send(JSON.stringify({ subscribe: 'runs', junk: 'x'.repeat(4096) }));
  const bigClose = await big.closed;
  assert.equal(bigClose.code, 1009);

  // Binary frames are not subscribe messages.
  const bin = await connect(pub.url);
  bin.ws.send(Buffer.from('{"subscribe":"runs"}'));
  await until(() => bin.msgs.length >= 1, 'an error for a binary frame');
  assert.equal(bin.msgs[0].type, 'error');
  bin.ws.close();
  await until(() => lastStats(pub).bad_input >= 5, 'bad_input counted');

  // Text frames must be UTF-8 (libwebsockets checks, LWS_SERVER_OPTION_VALIDATE_UTF8).
  const utf = await connect(pub.url);
  utf.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
  const utfClose = await utf.closed;
  assert.equal(utfClose.code, 1007);
});

test('a foreign Origin or Host is refused; a listed Origin or none is accepted', async (t) => {
  const pub = await startPub(['--origin', 'http://127.0.0.1:8484', '--max-subscribers', '3']);
  t.after(() => stopPub(pub));
  await assert.rejects(connect(pub.url, { origin: 'http://evil.example' }));
  await assert.rejects(connect(pub.url, { origin: 'null' }));
  await assert.rejects(connect(pub.url, { headers: { Host: 'evil.example' } }), 'DNS rebinding');
  const ok = await connect(pub.url, { origin: 'http://127.0.0.1:8484' });
  const noOrigin = await connect(pub.url);
  const viaName = await connect(`ws://localhost:${pub.port}/`, { family: 4 });
  // The fourth connection is over --max-subscribers.
  await assert.rejects(connect(pub.url));
  for (const c of [ok, noOrigin, viaName]) c.ws.close();
  await until(() => lastStats(pub).refused >= 4, 'refusals counted');
  // Plain HTTP is not served here.
  const res = await fetch(`http://127.0.0.1:${pub.port}/`);
  assert.equal(res.status, 404);
});

test('large backlogs and points arrive whole; an oversized backlog becomes an error', async (t) => {
  // Both are far above one 16 KiB write, so they go out in several fragments.
  const pub = await startPub(['--pad', '40000', '--backlog-fill', '300000']);
  t.after(() => stopPub(pub));
  const c = await connect(pub.url);
  c.ws.send(JSON.stringify({ subscribe: 'run', run_id: 2 }));
  await until(() => seconds(c).length >= 3, 'points of run 2');
  const fill = c.msgs[1].data.fill;
  assert.equal(fill.length, 300000);
  assert.equal(fill, Array.from({ length: 300000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
  for (const m of seconds(c)) assert.equal(m.data.pad, 'x'.repeat(40000));

  const d = await connect(pub.url);
  d.ws.send(JSON.stringify({ subscribe: 'run', run_id: 98 }));
  await until(() => d.msgs.length >= 2, 'the answer for run 98');
  assert.equal(d.msgs[1].type, 'error');
  assert.equal(d.msgs[1].error.code, 'backlog_too_large');
  c.ws.close();
  d.ws.close();
});

test('the auth hook sees Authorization and Cookie and decides', async (t) => {
  const pub = await startPub(['--token', 's3cret']);
  t.after(() => stopPub(pub));
  await assert.rejects(connect(pub.url), 'no credentials');
  await assert.rejects(connect(pub.url, { headers: { Authorization: 'Bearer wrong' } }), 'bad token');
  await assert.rejects(connect(pub.url, { headers: { Cookie: 'sp_session=s3cre' } }), 'bad cookie');
  const a = await connect(pub.url, { headers: { Authorization: 'Bearer s3cret' } });
  const b = await connect(pub.url, { headers: { Cookie: 'theme=dark; sp_session=s3cret' } });
  a.ws.send(JSON.stringify({ subscribe: 'runs' }));
  await until(() => seconds(a).length >= 1, 'a point for the authenticated client');
  a.ws.close();
  b.ws.close();
  await until(() => lastStats(pub).refused >= 3, 'refusals counted');
});

test('a client that never reads is dropped; the others and the publisher keep their pace', async (t) => {
  // Run 2's points carry 16 KB every 50 ms and the queue cap is 256 KB: once the kernel's
  // socket buffers are full, the silent "runs" client passes the cap within seconds. The
  // reading client follows run 1, whose points are small, so that even a test process starved
  // of CPU for seconds (two shared cores, tests in parallel) stays far below the cap.
  const pub = await startPub(['--interval-ms', '50', '--pad', '16000', '--queue-bytes', '262144']);
  t.after(() => stopPub(pub));
  const slow = await connect(pub.url);
  slow.ws.send(JSON.stringify({ subscribe: 'runs' }));
  await until(() => slow.msgs.length >= 1, 'the slow client subscribed');
  slow.ws._socket.pause();
  const good = await connect(pub.url);
  good.ws.send(JSON.stringify({ subscribe: 'run', run_id: 1 }));

  await until(() => lastStats(pub).dropped_slow >= 1, 'the slow client dropped', 30000);
  const droppedAt = Date.now();
  const before = seconds(good).length;
  await until(() => seconds(good).length >= before + 20 || good.close, 'points after the drop');
  assert.equal(good.close, null, 'the reading client is still connected');
  assert.equal(lastStats(pub).dropped_slow, 1, 'only the silent client was dropped');

  // The reading client saw every point, in order, soon after it was published. The arrival
  // time is taken in this process, so a starved test process shows up in the maximum: only
  // the median is held to a bound (the product's target is 1.5 s for the slowest).
  const pts = seconds(good);
  for (let i = 1; i < pts.length; i++) assert.equal(pts[i].data.seq, pts[i - 1].data.seq + 1);
  const lat = pts.map((m) => m.at - m.data.sent_ms).sort((a, b) => a - b);
  t.diagnostic(`delivery latency ms: median ${lat[lat.length >> 1]}, max ${lat[lat.length - 1]}`);
  assert.ok(lat[lat.length >> 1] < 250, `median delivery ${lat[lat.length >> 1]} ms`);

  // Reading again, the dropped client finds its connection closed (with 1008 when the close
  // frame got through the full buffers, 1006 when only the socket close did).
  slow.ws._socket.resume();
  const close = await Promise.race([slow.closed, sleep(15000).then(() => null)]);
  assert.ok(close, 'the dropped client is closed');
  assert.ok([1006, 1008].includes(close.code), `close code ${close.code}`);
  t.diagnostic(`dropped ${Date.now() - droppedAt} ms ago, closed with ${close.code} ${close.reason}`);

  // Publishing never waited for a client. A publish held up by the silent client would take
  // seconds, and would do so on every call once the buffers were full; one that appends under
  // a mutex and wakes a thread takes microseconds. Single slow calls happen when the machine
  // preempts the publisher, so the bounds are: 90% of calls under 5 ms, none over a second.
  const us = pub.events().filter((e) => e.event === 'publish').flatMap((e) => e.us).sort((a, b) => a - b);
  const p90 = us[Math.floor(us.length * 0.9)];
  t.diagnostic(`publish us: median ${us[us.length >> 1]}, p90 ${p90}, max ${us[us.length - 1]} (${us.length} calls)`);
  assert.ok(p90 < 5000, `p90 publish ${p90} us`);
  assert.ok(us[us.length - 1] < 1000000, `slowest publish ${us[us.length - 1]} us`);
  good.ws.close();
});

test('SIGTERM closes every client with 1001 and exits cleanly', async (t) => {
  const pub = await startPub();
  t.after(() => stopPub(pub));
  const a = await connect(pub.url);
  const b = await connect(pub.url, { protocol: null });
  a.ws.send(JSON.stringify({ subscribe: 'runs' }));
  b.ws.send(JSON.stringify({ subscribe: 'run', run_id: 1 }));
  await until(() => seconds(a).length >= 2 && seconds(b).length >= 1, 'points');
  const code = await pub.stop('SIGTERM');
  assert.equal(code, 0, pub.stderr());
  const [ca, cb] = await Promise.all([a.closed, b.closed]);
  assert.equal(ca.code, 1001);
  assert.equal(ca.reason, 'server stopping');
  assert.equal(cb.code, 1001);
  const stopped = pub.events().find((e) => e.event === 'stopped');
  assert.ok(stopped, 'live_pub reported it stopped');
  assert.ok(stopped.free_ms < 2000, `sp_live_free took ${stopped.free_ms} ms`);
  assert.equal(pub.stderr(), '');
});
