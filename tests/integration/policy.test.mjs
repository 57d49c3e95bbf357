// policy.test.mjs - the target allowlist, caps per role and secrets, on the real daemon.
//
// The allowed target is the loopback address 127.0.0.2, where the demo shop and a tiny HTTP
// server (a redirect and an echo) listen; "outside" is a plain TCP listener on 127.0.0.1 that
// counts every connection it gets. No spelling of 127.0.0.1 (decimal, hex, octal, IPv6-mapped),
// no templated host and no redirect may reach it once the allowlist holds only 127.0.0.2.
// Secrets are sent once and must never come back: not from any REST answer, export, failure
// message (even when the target echoes them) nor the daemon's log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { SHOP_API_BIN, freePort, startProcess, startStampede, sleep } from '../lib/harness.mjs';

const SECRET = 'S3cr3t-Value-9f2e71';
const SECRET2 = 'other-Secret-5521ab';
let srv, shop, outside, outsidePort, helper, helperPort;
let outsideConnections = 0;
const helperSeen = { redirect: 0, echo: 0, keys: [] };

// Access control is on: requests carry the admin's API token (srv.headers).
async function api(method, p, body) {
  const init = { method, headers: { ...srv.headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(srv.base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

async function waitEnd(runId, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/api/v1/runs/${runId}`);
    if (!['queued', 'running'].includes(r.json?.status)) return r.json;
    if (Date.now() > end) assert.fail(`run ${runId} is still ${r.json?.status}`);
    await sleep(100);
  }
}

function def(name, base, steps, extra = {}) {
  return {
    name,
    base_url: base,
    users: [{ name: 'u', think: { constant: '20ms' }, tasks: [{ steps }] }],
    load: { users: 1, duration: '1s' },
    ...extra,
  };
}

async function createTest(d) {
  const r = await api('POST', '/api/v1/tests', d);
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

before(async () => {
  outsidePort = await freePort();
  outside = net.createServer((sock) => { outsideConnections++; sock.destroy(); });
  await new Promise((res) => outside.listen(outsidePort, '127.0.0.1', res));

  helperPort = await freePort();
  helper = http.createServer((req, res) => {
    if (req.url.startsWith('/redirect')) {
      helperSeen.redirect++;
      res.writeHead(302, { Location: `http://127.0.0.1:${outsidePort}/stolen` });
      res.end();
      return;
    }
    helperSeen.echo++;
    const key = req.headers['x-api-key'] || '';
    helperSeen.keys.push(key);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ got: key, note: `you sent ${key}` }));
  });
  await new Promise((res) => helper.listen(helperPort, '127.0.0.2', res));

  const shopPort = await freePort();
  shop = await startProcess(SHOP_API_BIN, ['--port', String(shopPort), '--listen', '127.0.0.2', '--quiet'],
    { readyUrl: `http://127.0.0.2:${shopPort}/__stats` });
  shop.url = `http://127.0.0.2:${shopPort}`;

  srv = await startStampede(['--max-vus', '50', '--max-duration', '1m', '--max-runs', '4']);
});

after(async () => {
  await srv?.stop();
  await shop?.stop();
  outside?.close();
  helper?.close();
});

test('without an allowlist every target is allowed and /config says so', async () => {
  const cfg = await api('GET', '/api/v1/config');
  assert.equal(cfg.json.allowlist, false);
  const g = await api('GET', '/api/v1/settings/allowlist');
  assert.deepEqual(g.json, { entries: [] });
});

test('a bad allowlist is refused naming the entry, and nothing is stored', async () => {
  for (const [bad, why] of [['2130706433', 'four decimal parts'], ['10.0.0.0/40', 'prefix'],
    ['[::1]:99999', 'port'], ['exa mple.com', 'host name']]) {
    const r = await api('PUT', '/api/v1/settings/allowlist', { entries: ['127.0.0.2', bad] });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.error.path, 'entries[1]');
    assert.ok(r.json.error.message.includes(bad), r.text);
    assert.ok(r.json.errors[0].message.includes(why), r.text);
  }
  const r = await api('PUT', '/api/v1/settings/allowlist', { entrys: [] });
  assert.equal(r.status, 422);
  assert.deepEqual((await api('GET', '/api/v1/settings/allowlist')).json, { entries: [] });
});

test('allowlist: outside targets are refused at start with 422 naming the target', async () => {
  const put = await api('PUT', '/api/v1/settings/allowlist', { entries: ['127.0.0.2'] });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json.entries, ['127.0.0.2']);
  assert.equal((await api('GET', '/api/v1/config')).json.allowlist, true);

  const spellings = ['127.0.0.1', '2130706433', '0x7f000001', '0177.0.0.1', '127.1', '[::ffff:127.0.0.1]',
    'localhost'];
  for (const host of spellings) {
    const id = await createTest(def(`spelled ${host}`, `http://${host}:${outsidePort}`, [{ request: { url: '/x' } }]));
    const r = await api('POST', `/api/v1/tests/${id}/runs`, {});
    assert.equal(r.status, 422, `${host}: ${r.text}`);
    assert.equal(r.json.error.path, 'base_url');
    assert.ok(r.json.error.message.includes(`${outsidePort}`), r.text);
    assert.ok(r.json.error.message.includes('not in the target allowlist'), r.text);
  }
  // An absolute URL in a step, and a base_url override, are checked too.
  const id = await createTest(def('abs step', shop.url,
    [{ request: { url: '/api/v1/products' } }, { request: { url: `http://0x7f000001:${outsidePort}/y` } }]));
  const r = await api('POST', `/api/v1/tests/${id}/runs`, {});
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'users[0].tasks[0].steps[1].request.url');
  assert.ok(r.json.error.message.includes(`0x7f000001:${outsidePort} (127.0.0.1:${outsidePort})`), r.text);
  const ok = await createTest(def('override', shop.url, [{ request: { url: '/api/v1/products' } }]));
  const o = await api('POST', `/api/v1/tests/${ok}/runs`, { base_url: `http://127.0.0.1:${outsidePort}` });
  assert.equal(o.status, 422, o.text);
  assert.equal(outsideConnections, 0);
});

test('allowlist: the engine refuses spellings hidden in templates, at connection time', async () => {
  const before = outsideConnections;
  const hosts = ['2130706433', '0x7f000001', '127.0.0.1', '[::ffff:127.0.0.1]'];
  const id = await createTest({
    ...def('templated host', shop.url, [
      { let: { h: '{{random(hosts)}}' }, request: { url: `http://{{h}}:${outsidePort}/z`, name: 'outside' } },
      { request: { url: '/api/v1/products', name: 'shop' } },
    ]),
    data: { hosts },
  });
  const r = await api('POST', `/api/v1/tests/${id}/runs`, { users: 2, duration: '2s' });
  assert.equal(r.status, 201, r.text);
  const done = await waitEnd(r.json.id);
  const f = await api('GET', `/api/v1/runs/${r.json.id}/failures`);
  const msgs = f.json.items || f.json;
  assert.ok(Array.isArray(msgs), f.text);
  assert.ok(msgs.some((m) => m.message.includes(`target not in allowlist: 127.0.0.1:${outsidePort}`)), f.text);
  const series = await api('GET', `/api/v1/runs/${r.json.id}/series`);
  const out = series.json.names.find((n) => n.name === 'outside');
  const blocked = (out.error_kinds.blocked || []).reduce((a, b) => a + b, 0);
  assert.ok(blocked >= 1, JSON.stringify(out.error_kinds));
  const shopSeries = series.json.names.find((n) => n.name === 'shop');
  assert.ok(shopSeries.count.reduce((a, b) => a + b, 0) >= 1, 'the allowed target was served');
  assert.equal(shopSeries.errors.reduce((a, b) => a + b, 0), 0, JSON.stringify(shopSeries));
  assert.ok(done);
  assert.equal(outsideConnections, before, 'nothing reached the listener on 127.0.0.1');
});

test('allowlist: a redirect from an allowed target to an outside one is blocked', async () => {
  const before = outsideConnections;
  const id = await createTest(def('redirect out', `http://127.0.0.2:${helperPort}`,
    [{ request: { url: '/redirect', name: 'redirect' } }], { options: { follow_redirects: true } }));
  const r = await api('POST', `/api/v1/tests/${id}/runs`, {});
  assert.equal(r.status, 201, r.text);
  await waitEnd(r.json.id);
  const f = await api('GET', `/api/v1/runs/${r.json.id}/failures`);
  assert.ok(f.text.includes(`target not in allowlist: 127.0.0.1:${outsidePort}`), f.text);
  assert.ok(helperSeen.redirect >= 1, 'the allowed target was reached');
  assert.equal(outsideConnections, before, 'the redirect reached nothing');
});

test('allowlist: an allowed target runs, and an empty list allows everything again', async () => {
  const s0 = await (await fetch(`${shop.url}/__stats`)).json();
  const id = await createTest(def('allowed', shop.url, [{ request: { url: '/api/v1/products', name: 'p' } }]));
  const r = await api('POST', `/api/v1/tests/${id}/runs`, {});
  assert.equal(r.status, 201, r.text);
  const done = await waitEnd(r.json.id);
  assert.equal(done.status, 'passed', JSON.stringify(done));
  const s1 = await (await fetch(`${shop.url}/__stats`)).json();
  assert.notDeepEqual(s0, s1);
  assert.equal((await api('PUT', '/api/v1/settings/allowlist', { entries: [] })).status, 200);
  assert.equal((await api('GET', '/api/v1/config')).json.allowlist, false);
});

test('caps per role: a start beyond them is refused with 422 naming the cap', async () => {
  const bad = await api('PUT', '/api/v1/settings/caps', { admin: { max_vus: -1 }, testr: {} });
  assert.equal(bad.status, 422);
  assert.ok(bad.text.includes('admin.max_vus') && bad.text.includes("did you mean 'tester'"), bad.text);
  const put = await api('PUT', '/api/v1/settings/caps',
    { admin: { max_vus: 3, max_duration_s: 5, max_concurrent_runs: 1 }, tester: { max_vus: 1 } });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.admin.max_vus, 3);
  assert.equal(put.json.tester.max_vus, 1);
  assert.equal(put.json.viewer.max_vus, 0);
  assert.deepEqual((await api('GET', '/api/v1/settings/caps')).json, put.json);

  const id = await createTest(def('capped', shop.url, [{ request: { url: '/api/v1/products' } }]));
  let r = await api('POST', `/api/v1/tests/${id}/runs`, { users: 5, duration: '2s' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.cap, 'max_vus');
  assert.equal(r.json.error.message, 'users 5 exceeds the admin cap max_vus=3');
  r = await api('POST', `/api/v1/tests/${id}/runs`, { users: 2, duration: '10s' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.cap, 'max_duration_s');
  assert.ok(r.json.error.message.includes('admin cap max_duration_s=5'), r.text);
  // The server's own caps stay the outer limit.
  r = await api('POST', `/api/v1/tests/${id}/runs`, { users: 2, duration: '2m' });
  assert.equal(r.status, 422, r.text);
  const first = await api('POST', `/api/v1/tests/${id}/runs`, { users: 1, duration: '3s' });
  assert.equal(first.status, 201, first.text);
  r = await api('POST', `/api/v1/tests/${id}/runs`, { users: 1, duration: '1s' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.cap, 'max_concurrent_runs');
  assert.ok(r.json.error.message.includes('admin cap max_concurrent_runs=1'), r.text);
  // Changing a running run's load is capped too.
  const load = await api('POST', `/api/v1/runs/${first.json.id}/load`, { target: 4 });
  assert.equal(load.status, 422, load.text);
  assert.ok(load.json.error.message.includes('admin cap max_vus=3'), load.text);
  await api('POST', `/api/v1/runs/${first.json.id}/stop`, { mode: 'immediate' });
  await waitEnd(first.json.id);
  const clear = await api('PUT', '/api/v1/settings/caps', { admin: {}, tester: {} });
  assert.equal(clear.status, 200);
  assert.equal(clear.json.admin.max_vus, 0);
  // Settings changes are in the audit log, with what was set.
  const audit = (await api('GET', '/api/v1/audit?action=settings')).json.entries;
  assert.ok(audit.some((e) => e.action === 'settings.caps' && e.user === 'admin' && /"max_vus":3/.test(e.detail)));
  assert.ok(audit.some((e) => e.action === 'settings.allowlist' && e.object === 'settings/allowlist'));
});

test('secrets never appear in any answer, export, failure message or log line', async () => {
  const base = `http://127.0.0.2:${helperPort}`;
  const d = def('with secrets', base, [
    { request: { url: '/echo', name: 'echo', headers: { 'X-Api-Key': '{{secret.api_key}}' } },
      expect: { json: [{ path: 'got', equals: 'something else' }] } },
    { request: { url: '/echo', name: 'echo2', headers: { 'X-Api-Key': '{{secret.api_key}}' } },
      expect: { body_contains: 'nope {{secret.api_key}}' } },
    { request: { url: '/echo', name: 'echo3', headers: { 'X-Api-Key': '{{secret.other}}' } },
      expect: { status: 201, message: 'key {{secret.other}} refused with {{status}}' } },
  ], { secrets: { api_key: SECRET, other: SECRET2 } });
  const c = await createTest(d);
  const texts = [];
  const keep = (r) => { texts.push(r.text); return r; };

  const g = keep(await api('GET', `/api/v1/tests/${c}`));
  assert.equal(g.json.definition.secrets.api_key, '********');
  assert.equal(g.json.definition.secrets.other, '********');
  keep(await api('GET', '/api/v1/tests'));
  keep(await api('GET', `/api/v1/tests/${c}/revisions`));
  keep(await api('GET', `/api/v1/tests/${c}/revisions/1`));

  const echoed0 = helperSeen.echo;
  const start = keep(await api('POST', `/api/v1/tests/${c}/runs`, {}));
  assert.equal(start.status, 201, start.text);
  const run = await waitEnd(start.json.id);
  const echoed = helperSeen.echo - echoed0;
  assert.ok(helperSeen.keys.includes(SECRET), 'the run sent the real value');
  assert.ok(helperSeen.keys.includes(SECRET2), 'the run sent the real value');
  const id = start.json.id;
  keep(await api('GET', `/api/v1/runs/${id}`));
  const f = keep(await api('GET', `/api/v1/runs/${id}/failures`));
  assert.ok(f.text.includes('********'), f.text); // the echoed value was masked, not dropped
  assert.ok(f.text.includes('key ******** refused with 200'), f.text);
  for (const p of ['series', 'stats', 'export.json', 'export.csv', 'export.junit.xml', 'export.html']) {
    const r = keep(await api('GET', `/api/v1/runs/${id}/${p}`));
    assert.equal(r.status, 200, `${p}: ${r.text}`);
  }
  keep(await api('GET', '/api/v1/runs'));
  // Every request reached the target and failed its check (with a message that was masked):
  // as many failures as the target answered.
  assert.equal(run.status, 'passed', JSON.stringify(run.verdicts)); // no thresholds
  assert.ok(echoed >= 3, `the target answered ${echoed} requests`);
  assert.equal(run.summary.total.requests, echoed);
  assert.equal(run.summary.total.failures, echoed);
  for (const n of run.summary.names) {
    assert.equal(n.failures, n.requests, n.name);
    assert.equal(n.failure_messages.reduce((a, m) => a + m.count, 0), n.failures, n.name);
  }

  // A PUT that sends the mask back keeps the stored value; a new value replaces it.
  g.json.definition.name = 'with secrets v2';
  const put = keep(await api('PUT', `/api/v1/tests/${c}`, g.json.definition));
  assert.equal(put.status, 200, put.text);
  helperSeen.keys.length = 0;
  const again = await api('POST', `/api/v1/tests/${c}/runs`, {});
  assert.equal(again.status, 201, again.text);
  await waitEnd(again.json.id);
  assert.ok(helperSeen.keys.includes(SECRET), `kept: ${helperSeen.keys}`);

  // The mask for a secret that has no stored value is refused.
  const newName = structuredClone(g.json.definition);
  newName.secrets.fresh = '********';
  const nf = keep(await api('PUT', `/api/v1/tests/${c}`, newName));
  assert.equal(nf.status, 400, nf.text);
  assert.ok(nf.text.includes("secret 'fresh'"), nf.text);

  // Validation errors do not echo values.
  const badDef = def('bad', base, [{ request: { url: '/echo', headers: { A: '{{secret.api_ky}}' } } }],
    { secrets: { api_key: SECRET, '1x': SECRET2 } });
  const v = keep(await api('POST', '/api/v1/tests/validate', badDef));
  assert.equal(v.status, 422, v.text);
  assert.ok(v.text.includes("did you mean 'api_key'"), v.text);
  keep(await api('POST', '/api/v1/tests', badDef));

  for (const t of texts) {
    assert.ok(!t.includes(SECRET), `a response shows the secret: ${t.slice(0, 400)}`);
    assert.ok(!t.includes(SECRET2), `a response shows the secret: ${t.slice(0, 400)}`);
    assert.ok(!t.includes(SECRET.slice(0, 8)), `a response shows part of the secret: ${t.slice(0, 400)}`);
  }
  assert.ok(!srv.stderr().includes(SECRET) && !srv.stderr().includes(SECRET2), 'the log shows a secret');
});

test('openapi.json lists the settings routes as admin routes', async () => {
  const r = await api('GET', '/api/v1/openapi.json');
  for (const [m, p] of [['get', '/api/v1/settings/allowlist'], ['put', '/api/v1/settings/allowlist'],
    ['get', '/api/v1/settings/caps'], ['put', '/api/v1/settings/caps']]) {
    assert.ok(r.json.paths[p]?.[m], `${m} ${p} missing`);
    assert.equal(r.json.paths[p][m]['x-permission'], 'admin');
  }
});
