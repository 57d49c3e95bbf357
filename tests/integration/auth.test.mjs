// auth.test.mjs - access control of `stampede serve` against the real daemon: every route of
// the OpenAPI description and the live WebSocket refused without valid credentials (none, bad,
// expired, revoked) and for a viewer where it needs more than reading, each refusal with the
// right status, nothing changed and an audit entry; cross-site requests (CSRF, foreign Origin,
// foreign Host); the login rate limit; sessions ended by logout and password change; secrets
// stored hashed and the admin password in no log line, response or file; the audit log
// append-only; listening on a non-loopback address refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import WebSocket from 'ws';
import {
  STAMPEDE_BIN, SOURCE_DIR, ADMIN_PASSWORD, startStampede, startShop, startProcess, freePort, tempDir, run, sleep,
  login, createToken,
} from '../lib/harness.mjs';

let srv, shop;
const seen = []; // every response text, searched for the admin password at the end
const VIEWER_PW = 'viewer-password-1234';
const TESTER_PW = 'tester-password-1234';
let viewerToken, testerToken;

/** A request with full control over headers (and the client address, for the rate limit). */
function req(method, p, { headers = {}, body, localAddress, s = srv } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
    const r = http.request({ host: '127.0.0.1', port: s.port, method, path: p, headers: h, localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        seen.push(text);
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    r.on('error', reject);
    if (body !== undefined) r.write(typeof body === 'string' ? body : JSON.stringify(body));
    r.end();
  });
}

const bearer = (t) => ({ Authorization: `Bearer ${t}` });
const admin = () => bearer(srv.token);

function sql(dir, query, stdio) {
  return execFileSync('sqlite3', [path.join(dir, 'stampede.db'), query], { encoding: 'utf8', stdio }).trim();
}

async function audit(query = '') {
  const r = await req('GET', `/api/v1/audit?limit=1000${query}`, { headers: admin() });
  assert.equal(r.status, 200, r.text);
  return r.json.entries;
}

async function testNames() {
  const r = await req('GET', '/api/v1/tests?per_page=200', { headers: admin() });
  assert.equal(r.status, 200, r.text);
  return r.json.items.map((t) => `${t.id}:${t.name}:${t.revision}`).sort();
}

before(async () => {
  shop = await startShop(['--quiet']);
  srv = await startStampede(['--examples-dir', path.join(SOURCE_DIR, 'examples'), '--shop-url', shop.url,
    '--server-name', 'stampede.test']);
  for (const [name, role, password] of [['viewer1', 'viewer', VIEWER_PW], ['tester1', 'tester', TESTER_PW]]) {
    const r = await req('POST', '/api/v1/users', { headers: admin(), body: { name, role, password } });
    assert.equal(r.status, 201, r.text);
  }
  const v = await login(srv.base, 'viewer1', VIEWER_PW);
  viewerToken = (await createToken(srv.base, v, 'viewer automation')).token;
  const t = await login(srv.base, 'tester1', TESTER_PW);
  testerToken = (await createToken(srv.base, t, 'tester automation')).token;
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

/** The routes of the OpenAPI description, with their parameters filled in. */
async function routes() {
  const doc = (await req('GET', '/api/v1/openapi.json')).json;
  const testId = (await req('GET', '/api/v1/tests', { headers: admin() })).json.items[0].id;
  const out = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      const concrete = p.replace('{id}', p.startsWith('/api/v1/tokens') ? '999999' : String(testId))
        .replace('{rev}', '1').replace('{name}', 'viewer1').replace('{path}', 'app.js');
      out.push({ method: m.toUpperCase(), path: concrete, perm: op['x-permission'], body: op.requestBody ? {} : undefined });
    }
  }
  assert.ok(out.length > 30, 'the OpenAPI description lists the routes');
  return out;
}

test('every route refuses missing, bad, expired and revoked credentials and a viewer lacking permission', async () => {
  const expiring = await createToken(srv.base, await login(srv.base, 'admin', ADMIN_PASSWORD), 'expiring', 1);
  const revoked = await createToken(srv.base, await login(srv.base, 'admin', ADMIN_PASSWORD), 'revoked');
  const del = await req('DELETE', `/api/v1/tokens/${revoked.id}`, { headers: admin() });
  assert.equal(del.status, 204, del.text);
  await sleep(1300); // the expiring token has expired now

  const beforeTests = await testNames();
  const beforeUsers = (await req('GET', '/api/v1/users', { headers: admin() })).json.items;
  const cases = [
    ['no credentials', {}, /authentication required/],
    ['a bad token', bearer('spt_' + '0'.repeat(64)), /unknown API token/],
    ['a malformed token', bearer('not-a-token'), /malformed/],
    ['not Bearer', { Authorization: 'Basic YWRtaW46YWRtaW4=' }, /Bearer/],
    ['an expired token', bearer(expiring.token), /expired/],
    ['a revoked token', bearer(revoked.token), /revoked/],
    ['an unknown session', { Cookie: 'sp_session=' + 'a'.repeat(64) }, /session/],
  ];
  const refused = [];
  for (const r of await routes()) {
    for (const [what, headers, why] of cases) {
      const res = await req(r.method, r.path, { headers, body: r.body });
      if (r.perm === 'public') {
        assert.ok(res.status !== 401 && res.status !== 403, `${r.method} ${r.path} (public) with ${what}: ${res.status} ${res.text}`);
        continue;
      }
      assert.equal(res.status, 401, `${r.method} ${r.path} with ${what}: ${res.text}`);
      assert.equal(res.json.error.code, 'unauthorized');
      assert.match(res.json.error.message, why, `${r.method} ${r.path} with ${what}`);
      assert.match(res.headers['www-authenticate'], /^Bearer/);
      // The session probe without a token is answered, not audited (the next test).
      if (!(r.path === '/api/v1/auth/me' && !headers.Authorization)) refused.push(`${r.method} ${r.path}`);
    }
    const v = await req(r.method, r.path, { headers: bearer(viewerToken), body: r.body });
    if (r.perm === 'public' || r.perm === 'read') {
      assert.ok(v.status !== 401 && v.status !== 403, `${r.method} ${r.path} (${r.perm}) as a viewer: ${v.status} ${v.text}`);
    } else {
      assert.equal(v.status, 403, `${r.method} ${r.path} (${r.perm}) as a viewer: ${v.text}`);
      assert.match(v.json.error.message, /viewer1.*viewer/);
      refused.push(`${r.method} ${r.path}`);
    }
  }
  assert.ok(refused.length > 100);

  // Nothing changed.
  assert.deepEqual(await testNames(), beforeTests);
  assert.deepEqual((await req('GET', '/api/v1/users', { headers: admin() })).json.items, beforeUsers);
  // Every refusal is in the audit log.
  const denied = new Map();
  for (const e of await audit('&action=denied')) denied.set(e.object, (denied.get(e.object) || 0) + 1);
  const want = new Map();
  for (const o of refused) want.set(o, (want.get(o) || 0) + 1);
  for (const [o, n] of want) assert.ok((denied.get(o) || 0) >= n, `${o}: ${denied.get(o) || 0} audit entries for ${n} refusals`);
  const viewerDenied = await audit('&action=denied&user=viewer1');
  assert.ok(viewerDenied.length > 0 && viewerDenied.every((e) => e.user === 'viewer1' && e.address === '127.0.0.1'));
});

// The dashboard asks GET /auth/me on every load, the login page included: "not signed in" is
// an answer there, not an event, so visits write no audit rows. A refused token still does.
test('the session probe without credentials writes no audit row; a bad token on it does', async () => {
  const probes = async () => (await audit('&action=denied')).filter((e) => e.object === 'GET /api/v1/auth/me').length;
  const n0 = await probes();
  for (let i = 0; i < 3; i++) {
    assert.equal((await req('GET', '/api/v1/auth/me')).status, 401);
    assert.equal((await req('GET', '/api/v1/auth/me', { headers: { Cookie: 'sp_session=' + 'b'.repeat(64) } })).status, 401);
  }
  assert.equal(await probes(), n0, 'no row for a visit of the login page');
  assert.equal((await req('GET', '/api/v1/auth/me', { headers: bearer('spt_' + '1'.repeat(64)) })).status, 401);
  assert.equal(await probes(), n0 + 1, 'a refused token is audited');
  // Any other route refused without credentials still is.
  const t0 = (await audit('&action=denied')).filter((e) => e.object === 'GET /api/v1/tests').length;
  assert.equal((await req('GET', '/api/v1/tests')).status, 401);
  assert.equal((await audit('&action=denied')).filter((e) => e.object === 'GET /api/v1/tests').length, t0 + 1);
});

test('a tester writes and runs tests but manages no users; the run start is audited with its target', async () => {
  const t = bearer(testerToken);
  const def = { name: 'tester run', base_url: shop.url, users: [{ name: 'u', think: { constant: '100ms' },
    tasks: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }], load: { users: 1, duration: '1s' } };
  const c = await req('POST', '/api/v1/tests', { headers: t, body: def });
  assert.equal(c.status, 201, c.text);
  const start = await req('POST', `/api/v1/tests/${c.json.id}/runs`, { headers: t, body: {} });
  assert.equal(start.status, 201, start.text);
  assert.equal(start.json.started_by, 'tester1');
  assert.equal((await req('POST', '/api/v1/users', { headers: t, body: { name: 'x1', role: 'admin', password: 'abcdefgh12' } })).status, 403);
  assert.equal((await req('GET', '/api/v1/audit', { headers: t })).status, 403);
  for (let i = 0; i < 50; i++) {
    const r = await req('GET', `/api/v1/runs/${start.json.id}`, { headers: t });
    if (!['queued', 'running'].includes(r.json.status)) break;
    await sleep(100);
  }
  const e = (await audit('&action=run&user=tester1')).find((x) => x.action === 'run.start');
  assert.ok(e, 'run.start audited');
  assert.equal(e.object, `runs/${start.json.id}`);
  assert.match(e.detail, new RegExp(`target ${shop.url.replace(/[.]/g, '\\.')}`));
  const created = (await audit('&action=test.create&user=tester1'))[0];
  assert.equal(created.detail, 'tester run');
});

test('a cookie-authenticated change needs the session CSRF token and our Origin', async () => {
  const s = await login(srv.base, 'admin', ADMIN_PASSWORD);
  assert.equal(s.status, 200);
  assert.match(s.headers.get('set-cookie'), /^sp_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
  const before = await testNames();
  const body = { name: 'csrf', base_url: shop.url, users: [{ name: 'u', tasks: [{ request: { url: '/' } }] }], load: { users: 1, duration: '1s' } };
  const other = await login(srv.base, 'viewer1', VIEWER_PW);
  for (const [what, headers, status] of [
    ['no CSRF token', { Cookie: s.cookie }, 403],
    ['a wrong CSRF token', { Cookie: s.cookie, 'X-CSRF-Token': '0'.repeat(64) }, 403],
    ["another session's CSRF token", { Cookie: s.cookie, 'X-CSRF-Token': other.csrf }, 403],
    ['a foreign Origin', { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: 'http://evil.example' }, 403],
    ['a null Origin', { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: 'null' }, 403],
    // Our name and port, but https: this server speaks plain HTTP there, so no page of ours.
    ['an https Origin on our plain port', { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: `https://127.0.0.1:${srv.port}` }, 403],
  ]) {
    const r = await req('POST', '/api/v1/tests', { headers, body });
    assert.equal(r.status, status, `${what}: ${r.text}`);
  }
  assert.deepEqual(await testNames(), before, 'nothing was created');
  // Reading needs no CSRF token; our own page's request goes through.
  assert.equal((await req('GET', '/api/v1/tests', { headers: { Cookie: s.cookie } })).status, 200);
  const ok = await req('POST', '/api/v1/tests', { headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: srv.base }, body });
  assert.equal(ok.status, 201, ok.text);
  const me = await req('GET', '/api/v1/auth/me', { headers: { Cookie: s.cookie } });
  assert.deepEqual(me.json, { auth: true, user: { name: 'admin', role: 'admin' }, csrf_token: s.csrf });
  assert.ok((await audit('&action=denied')).some((e) => /X-CSRF-Token/.test(e.detail)));
});

test('PUT, PATCH and DELETE with a cookie need the CSRF token and our Origin as POST does', async () => {
  const s = await login(srv.base, 'admin', ADMIN_PASSWORD);
  const other = await login(srv.base, 'viewer1', VIEWER_PW);
  const def = { name: 'csrf victim', base_url: shop.url, users: [{ name: 'u', tasks: [{ request: { url: '/' } }] }], load: { users: 1, duration: '1s' } };
  const made = await req('POST', '/api/v1/tests', { headers: admin(), body: def });
  assert.equal(made.status, 201, made.text);
  const id = made.json.id;
  const beforeTests = await testNames();
  const beforeUsers = (await req('GET', '/api/v1/users', { headers: admin() })).json.items;
  const beforeTokens = (await req('GET', '/api/v1/tokens', { headers: admin() })).json;
  const cases = [
    ['no CSRF token', { Cookie: s.cookie }],
    ['a wrong CSRF token', { Cookie: s.cookie, 'X-CSRF-Token': 'f'.repeat(64) }],
    ["another session's CSRF token", { Cookie: s.cookie, 'X-CSRF-Token': other.csrf }],
    ['a foreign Origin', { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: 'http://evil.example' }],
    ['a null Origin', { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: 'null' }],
  ];
  const changed = { ...def, name: 'csrf victim changed' };
  for (const [what, headers] of cases) {
    const put = await req('PUT', `/api/v1/tests/${id}`, { headers, body: changed });
    assert.equal(put.status, 403, `PUT with ${what}: ${put.text}`);
    const del = await req('DELETE', `/api/v1/tests/${id}`, { headers });
    assert.equal(del.status, 403, `DELETE with ${what}: ${del.text}`);
    // No route takes PATCH: it is refused whatever the credentials, and changes nothing.
    const patch = await req('PATCH', `/api/v1/tests/${id}`, { headers, body: { name: 'patched' } });
    assert.ok([403, 405].includes(patch.status), `PATCH with ${what}: ${patch.status} ${patch.text}`);
  }
  // Every other route that changes something, the same way (a session, no token; a foreign Origin).
  for (const r of await routes()) {
    if (['GET', 'HEAD'].includes(r.method) || r.perm === 'public') continue;
    for (const [what, headers] of [cases[0], cases[3]]) {
      const res = await req(r.method, r.path, { headers, body: r.body });
      assert.equal(res.status, 403, `${r.method} ${r.path} with ${what}: ${res.text}`);
    }
  }
  assert.deepEqual(await testNames(), beforeTests, 'no test was changed or deleted');
  assert.deepEqual((await req('GET', '/api/v1/users', { headers: admin() })).json.items, beforeUsers);
  assert.deepEqual((await req('GET', '/api/v1/tokens', { headers: admin() })).json, beforeTokens);
  const denied = await audit('&action=denied');
  assert.ok(denied.some((e) => e.object === `DELETE /api/v1/tests/${id}` && /X-CSRF-Token/.test(e.detail)));
  assert.ok(denied.some((e) => e.object === `PUT /api/v1/tests/${id}` && /cross-origin/.test(e.detail)));
  // Our own page's requests go through: the refusals above were for the missing proof alone.
  const own = { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: srv.base };
  const put = await req('PUT', `/api/v1/tests/${id}`, { headers: own, body: changed });
  assert.equal(put.status, 200, put.text);
  const del = await req('DELETE', `/api/v1/tests/${id}`, { headers: own });
  assert.equal(del.status, 204, del.text);
});

test('a foreign Host is refused (DNS rebinding); --server-name adds a name', async () => {
  const before = await testNames();
  for (const host of [`evil.example:${srv.port}`, 'evil.example', `localhost.evil.example:${srv.port}`]) {
    const r = await req('GET', '/api/v1/tests', { headers: { ...admin(), Host: host } });
    assert.equal(r.status, 403, `${host}: ${r.text}`);
    const w = await req('DELETE', '/api/v1/tests/1', { headers: { ...admin(), Host: host } });
    assert.equal(w.status, 403);
  }
  assert.deepEqual(await testNames(), before);
  assert.equal((await req('GET', '/api/v1/tests', { headers: { ...admin(), Host: `stampede.test:${srv.port}` } })).status, 200);
  assert.equal((await req('GET', '/api/v1/tests', { headers: { ...admin(), Host: 'stampede.test' } })).status, 200);
  // The dashboard page reached by that name may open the live stream by it too.
  const page = await req('GET', '/', { headers: { Host: `stampede.test:${srv.port}` } });
  assert.match(page.headers['content-security-policy'], new RegExp(`connect-src 'self' .*ws://stampede\\.test:${srv.live} `));
  assert.ok((await audit('&action=denied')).some((e) => /Host 'evil\.example/.test(e.detail)));
});

/** Opens a WebSocket to the live stream; resolves 'open' or 'refused'. */
function wsTry(headers = {}, origin) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.live}/`, 'stampede-live-v1', { headers, origin });
    const t = setTimeout(() => { ws.terminate(); resolve('timeout'); }, 5000);
    ws.on('open', () => { clearTimeout(t); ws.close(); resolve('open'); });
    ws.on('error', () => { clearTimeout(t); resolve('refused'); });
    ws.on('unexpected-response', () => { clearTimeout(t); ws.terminate(); resolve('refused'); });
  });
}

test('the live WebSocket upgrade is authenticated and its Origin checked', async () => {
  const expiring = await createToken(srv.base, await login(srv.base, 'admin', ADMIN_PASSWORD), 'ws expiring', 1);
  const revoked = await createToken(srv.base, await login(srv.base, 'admin', ADMIN_PASSWORD), 'ws revoked');
  assert.equal((await req('DELETE', `/api/v1/tokens/${revoked.id}`, { headers: admin() })).status, 204);
  await sleep(1200);
  const s = await login(srv.base, 'viewer1', VIEWER_PW);
  const n0 = (await audit('&action=denied')).filter((e) => e.object.startsWith('WEBSOCKET')).length;
  const refusedCases = [
    ['no credentials', {}, srv.base],
    ['a bad token', bearer('spt_' + '1'.repeat(64)), srv.base],
    ['an expired token', bearer(expiring.token), srv.base],
    ['a revoked token', bearer(revoked.token), srv.base],
    ['a session from a foreign Origin', { Cookie: s.cookie }, 'http://evil.example'],
    ['a token from a foreign Origin', admin(), 'http://evil.example'],
    ['a session without Origin', { Cookie: s.cookie }, undefined],
    ['a session from our name with the wrong scheme', { Cookie: s.cookie }, `https://127.0.0.1:${srv.port}`],
  ];
  for (const [what, headers, origin] of refusedCases)
    assert.equal(await wsTry(headers, origin), 'refused', what);
  assert.equal(await wsTry({ ...admin(), Host: `evil.example:${srv.live}` }, srv.base), 'refused', 'a foreign Host');
  // The dashboard's own page with a session, and automation with a token, get in.
  assert.equal(await wsTry({ Cookie: s.cookie }, srv.base), 'open');
  assert.equal(await wsTry(bearer(viewerToken)), 'open');
  const n1 = (await audit('&action=denied')).filter((e) => e.object.startsWith('WEBSOCKET')).length;
  assert.ok(n1 - n0 >= refusedCases.length + 1, `${n1 - n0} WebSocket refusals audited`);
});

test('logins are rate limited per address and user, per address, and spaced per user', async () => {
  const from = (addr, username, password) => req('POST', '/api/v1/auth/login',
    { body: { username, password }, localAddress: addr });
  const count = (entries, action, object, address) =>
    entries.filter((e) => e.action === action && e.object === object && e.address === address).length;
  // 20 wrong logins at once for one user from one address: exactly 5 passwords are checked (a
  // check under way counts as a failure), the other 15 are refused at once. (Read before the
  // checks and counted after them, the limit let 5 to 8 through, so three bursts are made.)
  for (const [address, user] of [['127.0.0.2', 'tester1'], ['127.0.0.7', 'ghost1'], ['127.0.0.8', 'ghost2']]) {
    const burst = await Promise.all(Array.from({ length: 20 }, () => from(address, user, 'wrong-password')));
    const statuses = burst.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(15).fill(429)], `${user}: ${statuses.join(' ')}`);
    const entries = await audit('&action=login');
    assert.equal(count(entries, 'login.failed', user, address), 5);
    assert.equal(count(entries, 'login.limited', user, address), 15);
  }
  const limited = await from('127.0.0.2', 'tester1', TESTER_PW);
  assert.equal(limited.status, 429, limited.text);
  assert.equal(limited.json.error.code, 'too_many_requests');
  const ra = Number(limited.headers['retry-after']);
  assert.ok(ra >= 1 && ra <= 60, `Retry-After ${ra}`);
  assert.equal(limited.headers['set-cookie'], undefined);
  // An attacker at one address cannot lock the admin out: limited there, the admin logs in
  // from another address, and the attacker's address may still log in as someone else.
  for (let i = 0; i < 5; i++) assert.equal((await from('127.0.0.4', 'admin', 'wrong-password')).status, 401);
  assert.equal((await from('127.0.0.4', 'admin', ADMIN_PASSWORD)).status, 429);
  assert.equal((await from('127.0.0.3', 'admin', ADMIN_PASSWORD)).status, 200);
  assert.equal((await from('127.0.0.4', 'viewer1', VIEWER_PW)).status, 200);
  // One address trying many names: 20 failures, then nobody from there.
  for (let i = 0; i < 20; i++) assert.equal((await from('127.0.0.5', `nobody${i}`, 'wrong-password')).status, 401);
  assert.equal((await from('127.0.0.5', 'admin', ADMIN_PASSWORD)).status, 429);
  assert.equal((await from('127.0.0.6', 'admin', ADMIN_PASSWORD)).status, 200);
  // One user from many addresses: past 10 failures in all, one password check a second. The
  // owner waits a second, not a window.
  for (let i = 0; i < 5; i++) assert.equal((await from(`127.0.1.${i + 1}`, 'tester1', 'wrong-password')).status, 401);
  const spaced = await from('127.0.1.9', 'tester1', TESTER_PW);
  assert.equal(spaced.status, 429, spaced.text);
  assert.equal(spaced.headers['retry-after'], '1');
  await sleep(1100);
  assert.equal((await from('127.0.1.9', 'tester1', TESTER_PW)).status, 200);
  const entries = await audit('&action=login');
  assert.ok(entries.every((e) => !String(e.detail).includes('wrong-password')));
});

test('logout and a password change end sessions; the old password stops working', async () => {
  const a = await login(srv.base, 'viewer1', VIEWER_PW);
  const b = await login(srv.base, 'viewer1', VIEWER_PW);
  assert.equal((await req('POST', '/api/v1/auth/logout', { headers: { Cookie: b.cookie } })).status, 403, 'a forged logout');
  const out = await req('POST', '/api/v1/auth/logout', { headers: { Cookie: b.cookie, 'X-CSRF-Token': b.csrf } });
  assert.equal(out.status, 204);
  assert.match(out.headers['set-cookie'][0], /^sp_session=; .*Max-Age=0/);
  assert.equal((await req('GET', '/api/v1/auth/me', { headers: { Cookie: b.cookie } })).status, 401);
  // An ended cookie can still be cleared.
  assert.equal((await req('POST', '/api/v1/auth/logout', { headers: { Cookie: b.cookie } })).status, 204);
  const c = await login(srv.base, 'viewer1', VIEWER_PW);
  const wrong = await req('POST', '/api/v1/auth/password', { headers: { Cookie: a.cookie, 'X-CSRF-Token': a.csrf },
    body: { current: 'not-it-at-all', new: 'viewer-password-5678' } });
  assert.equal(wrong.status, 403);
  const ch = await req('POST', '/api/v1/auth/password', { headers: { Cookie: a.cookie, 'X-CSRF-Token': a.csrf },
    body: { current: VIEWER_PW, new: 'viewer-password-5678' } });
  assert.equal(ch.status, 204, ch.text);
  assert.equal((await req('GET', '/api/v1/auth/me', { headers: { Cookie: a.cookie } })).status, 200, 'the session that changed it stays');
  assert.equal((await req('GET', '/api/v1/auth/me', { headers: { Cookie: c.cookie } })).status, 401, 'other sessions end');
  assert.equal((await login(srv.base, 'viewer1', VIEWER_PW)).status, 401);
  assert.equal((await login(srv.base, 'viewer1', 'viewer-password-5678')).status, 200);
  // API tokens are not sessions: the viewer's token still works.
  assert.equal((await req('GET', '/api/v1/tests', { headers: bearer(viewerToken) })).status, 200);
});

test('users: roles checked, names unique, the last admin stays', async () => {
  const h = admin();
  assert.equal((await req('POST', '/api/v1/users', { headers: h, body: { name: 'viewer1', role: 'viewer', password: 'abcdefgh12' } })).status, 409);
  const bad = await req('POST', '/api/v1/users', { headers: h, body: { name: 'x2', role: 'root', password: 'abcdefgh12' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.path, 'role');
  const short = await req('POST', '/api/v1/users', { headers: h, body: { name: 'x2', role: 'viewer', password: 'short' } });
  assert.equal(short.json.error.path, 'password');
  assert.equal((await req('DELETE', '/api/v1/users/admin', { headers: h })).status, 409);
  assert.equal((await req('PUT', '/api/v1/users/admin', { headers: h, body: { role: 'viewer' } })).status, 409);
  assert.equal((await req('POST', '/api/v1/users', { headers: h, body: { name: 'gone', role: 'tester', password: 'abcdefgh12' } })).status, 201);
  const g = await login(srv.base, 'gone', 'abcdefgh12');
  const gt = (await createToken(srv.base, g, 'x')).token;
  assert.equal((await req('PUT', '/api/v1/users/gone', { headers: h, body: { role: 'viewer' } })).status, 204);
  assert.equal((await req('POST', '/api/v1/tests/1/runs', { headers: bearer(gt), body: {} })).status, 403, 'the new role applies at once');
  assert.equal((await req('DELETE', '/api/v1/users/gone', { headers: h })).status, 204);
  assert.equal((await req('GET', '/api/v1/tests', { headers: bearer(gt) })).status, 401, 'a deleted user\'s tokens stop');
  assert.equal((await req('GET', '/api/v1/tests', { headers: { Cookie: g.cookie } })).status, 401, 'and sessions');
  const acts = (await audit('&user=admin')).map((e) => e.action);
  for (const a of ['user.create', 'user.update', 'user.delete', 'token.revoke']) assert.ok(acts.includes(a), a);
});

test('tokens: own list, admin sees all, revoking another user\'s token needs admin', async () => {
  const mine = await req('GET', '/api/v1/tokens', { headers: bearer(viewerToken) });
  assert.ok(mine.json.items.length >= 1 && mine.json.items.every((t) => t.user === 'viewer1'));
  assert.ok(mine.json.items.every((t) => !('token' in t) && /^spt_[0-9a-f]{8}$/.test(t.prefix)));
  const all = await req('GET', '/api/v1/tokens', { headers: admin() });
  assert.ok(all.json.items.some((t) => t.user === 'tester1'));
  const testers = all.json.items.filter((t) => t.user === 'tester1');
  assert.equal((await req('DELETE', `/api/v1/tokens/${testers[0].id}`, { headers: bearer(viewerToken) })).status, 404);
  assert.equal((await req('GET', '/api/v1/tests', { headers: bearer(testerToken) })).status, 200);
  const bad = await req('POST', '/api/v1/tokens', { headers: bearer(viewerToken), body: { name: 'x', expires_in_s: 0 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.path, 'expires_in_s');
});

test('secrets are stored hashed, the audit log is append-only, the admin password is nowhere', async () => {
  const dir = srv.dataDir;
  // Tokens: SHA-256 of the token; sessions: SHA-256 of the cookie value; passwords: Argon2id.
  const sha = crypto.createHash('sha256').update(viewerToken).digest('hex').toUpperCase();
  assert.equal(sql(dir, `SELECT count(*) FROM tokens WHERE hex(token_hash) = '${sha}'`), '1');
  const s = await login(srv.base, 'admin', ADMIN_PASSWORD);
  const sid = s.cookie.split('=')[1];
  const ssha = crypto.createHash('sha256').update(sid).digest('hex').toUpperCase();
  assert.equal(sql(dir, `SELECT count(*) FROM sessions WHERE hex(id_hash) = '${ssha}'`), '1');
  assert.equal(sql(dir, "SELECT count(*) FROM users WHERE password_hash NOT LIKE '$argon2id$%'"), '0');
  sql(dir, 'PRAGMA wal_checkpoint(TRUNCATE)');
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('stampede.db'))) {
    const bytes = fs.readFileSync(path.join(dir, f)).toString('latin1');
    for (const secret of [ADMIN_PASSWORD, VIEWER_PW, TESTER_PW, viewerToken, testerToken, sid])
      assert.ok(!bytes.includes(secret), `${f} holds a secret in clear`);
  }
  // Append-only, even for someone with the database file.
  assert.throws(() => sql(dir, "UPDATE audit SET user = 'x'", 'pipe'), /append-only/);
  assert.throws(() => sql(dir, 'DELETE FROM audit', 'pipe'), /append-only/);
  // The admin password appears in no log line and no response.
  const logs = srv.stderr() + srv.stdout();
  for (const secret of [ADMIN_PASSWORD, VIEWER_PW, TESTER_PW, viewerToken, sid])
    assert.ok(!logs.includes(secret), 'a secret reached the log');
  assert.ok(seen.length > 100);
  assert.ok(seen.every((t) => !t.includes(ADMIN_PASSWORD) && !t.includes(VIEWER_PW)), 'a password reached a response');
  const cfg = await req('GET', '/api/v1/config');
  assert.equal(cfg.json.auth, true);
});

test('the generated first password is shown once, blocks a non-loopback listen until changed', async () => {
  const dir = tempDir();
  const s = await startStampede([], { dir, env: { STAMPEDE_ADMIN_PASSWORD: '' }, noAuth: true });
  let generated;
  try {
    generated = s.stderr().match(/^admin password: (\S+)$/m)?.[1];
    assert.ok(generated && generated.length >= 20, s.stderr());
    assert.equal((s.stderr().match(/admin password:/g) || []).length, 1);
    // --no-auth: loopback clients are "local" admins, and there is no login.
    const me = await s.api('GET', '/api/v1/auth/me');
    assert.deepEqual(me.json, { auth: false, user: { name: 'local', role: 'admin' }, csrf_token: null });
    assert.equal((await s.api('GET', '/api/v1/config')).json.auth, false);
    assert.equal((await s.api('POST', '/api/v1/auth/login', { username: 'admin', password: generated })).status, 409);
  } finally {
    await s.stop();
  }
  assert.equal(sql(dir, "SELECT password_generated FROM users WHERE name = 'admin'"), '1');
  assert.equal(sql(dir, "SELECT detail FROM audit WHERE action = 'server.start'"), 'access control off (--no-auth)');
  let r = await run(STAMPEDE_BIN, ['serve', '--listen', '0.0.0.0:0', '--data-dir', dir], { timeoutMs: 10000 });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0: the admin password is still the generated one/);
  r = await run(STAMPEDE_BIN, ['serve', '--listen', '0.0.0.0:0', '--data-dir', dir, '--no-auth'], { timeoutMs: 10000 });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /refusing --no-auth/);
  // A later start shows no password again; changing it clears the mark.
  const s2 = await startStampede([], { dir, env: { STAMPEDE_ADMIN_PASSWORD: '' }, noAuth: true });
  try {
    assert.doesNotMatch(s2.stderr(), /admin password/);
  } finally {
    await s2.stop();
  }
  const s3 = await startStampede([], { dir, env: { STAMPEDE_ADMIN_PASSWORD: '' }, password: generated });
  try {
    const sess = await login(s3.base, 'admin', generated);
    const ch = await req('POST', '/api/v1/auth/password', { s: s3, body: { current: generated, new: 'a-chosen-admin-password' },
      headers: { Cookie: sess.cookie, 'X-CSRF-Token': sess.csrf } });
    assert.equal(ch.status, 204, ch.text);
    assert.equal((await s3.api('GET', '/api/v1/users')).json.items.find((u) => u.name === 'admin').password_generated, false);
  } finally {
    await s3.stop();
  }
  assert.equal(sql(dir, "SELECT password_generated FROM users WHERE name = 'admin'"), '0');
  assert.ok(!s3.stderr().includes(generated) && !s3.stderr().includes('a-chosen-admin-password'));
});

test('--tls-cert/--tls-key serve HTTPS, with Secure cookies', async (t) => {
  const dir = tempDir();
  const gen = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'),
    '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { timeoutMs: 30000 }).catch(() => ({ code: -1 }));
  if (gen.code !== 0) {
    t.skip('openssl is not installed: no certificate to test with');
    return;
  }
  const port = await freePort();
  let live = await freePort();
  while (live === port) live = await freePort();
  const s = await startProcess(STAMPEDE_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--live-port', String(live),
    '--data-dir', path.join(dir, 'data'), '--examples-dir', dir, '--tls-cert', path.join(dir, 'cert.pem'),
    '--tls-key', path.join(dir, 'key.pem')], { env: { STAMPEDE_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  const get = (p, opts = {}) => new Promise((resolve, reject) => {
    const r = https.request({ host: '127.0.0.1', port, path: p, rejectUnauthorized: false, ...opts }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    r.on('error', reject);
    if (opts.body) r.write(opts.body);
    r.end();
  });
  try {
    let ok = null;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await get('/api/v1/health').catch(() => null);
      if (!ok) await sleep(50);
    }
    assert.equal(ok?.status, 200);
    const l = await get('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    assert.equal(l.status, 200, l.text);
    assert.match(l.headers['set-cookie'][0], /; Secure$/);
    // Plain HTTP on the TLS port gets no answer.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(3000) }));
    // The live stream speaks TLS too (a dashboard on https may only open wss://): the session
    // cookie over wss:// with the https origin opens it; plain ws:// does not.
    const cookie = l.headers['set-cookie'][0].split(';')[0];
    const origin = `https://127.0.0.1:${port}`;
    const wsOpen = (url) => new Promise((resolve) => {
      const ws = new WebSocket(url, 'stampede-live-v1', { headers: { Cookie: cookie }, origin, rejectUnauthorized: false });
      const t = setTimeout(() => { ws.terminate(); resolve('timeout'); }, 5000);
      ws.on('open', () => { clearTimeout(t); ws.close(); resolve('open'); });
      ws.on('error', () => { clearTimeout(t); resolve('refused'); });
      ws.on('unexpected-response', () => { clearTimeout(t); ws.terminate(); resolve('refused'); });
    });
    assert.equal(await wsOpen(`wss://127.0.0.1:${live}/`), 'open');
    assert.notEqual(await wsOpen(`ws://127.0.0.1:${live}/`), 'open');
    assert.match(s.stdout(), new RegExp(`running at https://127\\.0\\.0\\.1:${port}/`));
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('TLS options are checked before anything starts', async () => {
  const d = tempDir();
  let r = await run(STAMPEDE_BIN, ['serve', '--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.pem', '--data-dir', d]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--tls-cert '\/nonexistent.pem': not a readable file/);
  fs.writeFileSync(path.join(d, 'c.pem'), 'x');
  r = await run(STAMPEDE_BIN, ['serve', '--tls-cert', path.join(d, 'c.pem'), '--data-dir', d]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /go together/);
});

test('caps apply to the role of the token that starts the run', async () => {
  const caps = await req('PUT', '/api/v1/settings/caps', { headers: admin(), body: { tester: { max_vus: 1 } } });
  assert.equal(caps.status, 200, caps.text);
  try {
    const def = { name: 'capped by role', base_url: shop.url, users: [{ name: 'u', think: { constant: '100ms' },
      tasks: [{ request: { url: '/api/v1/products' } }] }], load: { users: 1, duration: '1s' } };
    const c = await req('POST', '/api/v1/tests', { headers: bearer(testerToken), body: def });
    assert.equal(c.status, 201, c.text);
    const r = await req('POST', `/api/v1/tests/${c.json.id}/runs`, { headers: bearer(testerToken), body: { users: 2, duration: '1s' } });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.cap, 'max_vus');
    assert.match(r.json.error.message, /tester cap max_vus=1/);
  } finally {
    assert.equal((await req('PUT', '/api/v1/settings/caps', { headers: admin(), body: { tester: {} } })).status, 200);
  }
});
