// try_it.test.mjs - "Try it" (POST /api/v1/tests/:id/try and /api/v1/tests/try) against the real
// daemon and the real demo shop API, each on a free port: the example shopper logs in, extracts
// its token and sends it on every later request; failing expectations, refused connections,
// and timeouts are reported per request (body caps and the try's time cap: tests/unit/engine/
// test_trace.c); bad input is refused naming the field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SOURCE_DIR, freePort, startStampede, startShop, userToken } from '../lib/harness.mjs';

let shop, srv, base;

before(async () => {
  shop = await startShop(['--quiet']);
  // Access control on; requests carry the admin's token unless a test says otherwise.
  srv = await startStampede(['--shop-url', shop.url, '--examples-dir', path.join(SOURCE_DIR, 'examples')]);
  base = srv.base;
});

after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

async function api(method, p, body, headers = srv.headers) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

const header = (list, name) => list.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

async function shopStats() {
  return (await fetch(`${shop.url}/__stats`)).json();
}

test('trying the example shopper shows the login, the extracted token and every later request with it', async () => {
  const tests = await api('GET', '/api/v1/tests?q=shopper');
  const shopper = tests.json.items.find((t) => t.name === 'Authenticated shopper');
  assert.ok(shopper, tests.text);
  const before = (await shopStats()).total;
  const t0 = Date.now();
  const r = await api('POST', `/api/v1/tests/${shopper.id}/try`, {});
  assert.equal(r.status, 200, r.text);
  assert.ok(Date.now() - t0 < 5000, 'no think time in a try');
  assert.equal(r.json.complete, true);
  assert.deepEqual(r.json.test, { id: shopper.id, revision: 1 });
  const reqs = r.json.requests;
  // on_start's login, then each of the four tasks once, in order: one VU, one pass.
  assert.deepEqual(reqs.map((x) => [x.phase, x.name]), [
    ['on_start', 'POST /auth/login'], ['task', 'GET /users/me'], ['task', 'GET /cart'],
    ['task', 'POST /cart/items'], ['task', 'POST /orders']]);
  assert.deepEqual(reqs.map((x) => x.task_name ?? null), [null, 'view profile', 'view cart', 'add to cart', 'create order']);
  assert.equal((await shopStats()).total - before, 5, 'the shop saw exactly the five requests');

  const login = reqs[0];
  assert.equal(login.method, 'POST');
  assert.equal(login.url, `${shop.url}/api/v1/auth/login`);
  assert.equal(login.request.line, 'POST /api/v1/auth/login HTTP/1.1');
  assert.equal(header(login.request.headers, 'Content-Type'), 'application/json');
  assert.equal(header(login.request.headers, 'Accept'), 'application/json');
  assert.match(JSON.parse(login.request.body.text).email, /@example\.com$/);
  assert.equal(login.response.status, 200);
  assert.equal(login.response.line, 'HTTP/1.1 200 OK');
  assert.equal(header(login.response.headers, 'Content-Type'), 'application/json');
  const token = JSON.parse(login.response.body.text).access_token;
  assert.match(token, /^[0-9a-f]{32}$/);
  assert.deepEqual(login.extracted, { token });
  assert.deepEqual(login.expect, [{ check: 'status is 200', passed: true }, { check: 'JSON access_token exists', passed: true }]);
  assert.equal(login.passed, true);
  assert.equal(login.error, null);
  assert.ok(login.time_ms > 0 && login.time_ms < 5000);

  for (const x of reqs.slice(1)) {
    assert.equal(header(x.request.headers, 'Authorization'), `Bearer ${token}`, x.name);
    assert.equal(x.passed, true, `${x.name}: ${JSON.stringify(x.error)}`);
    assert.ok(x.response.status === 200 || x.response.status === 201, x.name);
  }
  const order = reqs[4];
  assert.deepEqual(order.expect, [{ check: 'status is 200 or 201', passed: true }]);
  assert.equal(order.response.status, 201);
  assert.equal(JSON.parse(order.response.body.text).status, 'confirmed');
  assert.equal(order.response.body.truncated, false);
});

test('failures are results: a failed expectation, a refused connection, a timeout', async () => {
  const closed = await freePort();
  const def = {
    name: 'try failures', base_url: shop.url,
    users: [{ name: 'a', tasks: [{ steps: [
      { request: { url: '/api/v1/products/201', name: 'GET /products/:id' },
        expect: { status: 418, json: [{ path: 'id', equals: 201 }, { path: 'nope', exists: true }], body_contains: 'no such text' },
        extract: { pid: { json: 'id' } } },
      { request: { url: '/api/v1/cart', name: 'GET /cart' } },
      { request: { url: `http://127.0.0.1:${closed}/x`, name: 'GET closed' } },
    ] }] },
    { name: 'b', on_start: [{ request: { url: '/api/v1/categories', name: 'GET /categories' }, extract: { first: { json: 'items[0].name' } } }],
      tasks: [{ steps: [{ request: { url: '/api/v1/products', name: 'GET /products', timeout: '200ms' } }] }] }],
    load: { users: 1, duration: '10s' },
  };
  const r = await api('POST', '/api/v1/tests/try', def);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.complete, true);
  const [product, cart, refused, cats, products] = r.json.requests;
  assert.equal(r.json.requests.length, 5);
  assert.equal(product.user, 'a');
  assert.equal(product.passed, false);
  assert.equal(product.error.kind, 'assertion');
  assert.match(product.error.message, /expected status 418, got 200/);
  assert.deepEqual(product.expect.map((c) => c.passed), [false, true, false, false]);
  assert.deepEqual(product.extracted, {}, 'nothing is extracted from a failed response');
  assert.equal(cart.response.status, 401);
  assert.equal(cart.error.kind, 'http_status');
  assert.equal(header(cart.response.headers, 'WWW-Authenticate'), 'Bearer');
  assert.equal(refused.response, null);
  assert.equal(refused.passed, false);
  assert.match(refused.error.kind, /refused/);
  // The second class runs after the first, with its own on_start.
  assert.equal(cats.user, 'b');
  assert.equal(cats.phase, 'on_start');
  assert.equal(typeof cats.extracted.first, 'string');
  assert.equal(products.user, 'b');
  assert.equal(products.passed, true, JSON.stringify(products.error));
});

test('a slow response times out as its step says, and the try still ends', async () => {
  const slow = await startShop(['--quiet', '--latency-ms', 'all=fixed:3000']);
  try {
    const r = await api('POST', '/api/v1/tests/try', {
      name: 'slow', base_url: slow.url,
      users: [{ tasks: [{ request: { url: '/api/v1/products', timeout: '300ms' } }] }],
      load: { users: 1, duration: '5s' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.requests.length, 1);
    assert.equal(r.json.requests[0].error.kind, 'timeout');
    assert.ok(r.json.elapsed_ms < 2500, `${r.json.elapsed_ms} ms`);
  } finally {
    await slow.stop();
  }
});

test('bad input to a try is refused naming the field', async () => {
  let r = await api('POST', '/api/v1/tests/999999/try', {});
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json.error.path, 'id');
  const tests = await api('GET', '/api/v1/tests');
  const id = tests.json.items[0].id;
  r = await api('POST', `/api/v1/tests/${id}/try`, { revison: 1 });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.path, 'revison');
  r = await api('POST', `/api/v1/tests/${id}/try`, { revision: 99 });
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json.error.path, 'revision');
  r = await api('POST', `/api/v1/tests/${id}/try`, { base_url: 'ftp://x' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'base_url');
  r = await api('POST', '/api/v1/tests/try', { name: 'x', base_url: shop.url, users: [{ tasks: [{ request: {} }] }], load: { users: 1, duration: '1s' } });
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.error.path, /^users\[0\]\.tasks\[0\]\.request/);
  assert.match(r.json.error.message, /url/);
  // A base_url override points a saved test elsewhere: here at nothing, so the login is refused.
  const closed = await freePort();
  const shopper = (await api('GET', '/api/v1/tests?q=shopper')).json.items[0];
  r = await api('POST', `/api/v1/tests/${shopper.id}/try`, { base_url: `http://127.0.0.1:${closed}` });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.requests[0].url, `http://127.0.0.1:${closed}/api/v1/auth/login`);
  assert.match(r.json.requests[0].error.kind, /refused/);
});

test('secrets are put back for a saved test and masked in everything a try shows', async () => {
  const def = {
    name: 'try secrets', base_url: shop.url,
    secrets: { pw: 'TestPass123!', key: 'k-93f1c0de77' },
    users: [{ name: 'u', on_start: [{
      request: { method: 'POST', url: '/api/v1/auth/login', name: 'login',
        headers: { 'X-Api-Key': '{{secret.key}}' },
        json: { email: 'sarah.chen@example.com', password: '{{secret.pw}}' } },
      expect: { status: 200 }, extract: { echoed: { regex: 'k-93f1c0de77|x' } } }],
    tasks: [{ request: { url: '/api/v1/products?k={{secret.key}}', name: 'GET /products' } }] }],
    load: { users: 1, duration: '5s' },
  };
  const c = await api('POST', '/api/v1/tests', def);
  assert.equal(c.status, 201, c.text);
  const r = await api('POST', `/api/v1/tests/${c.json.id}/try`, {});
  assert.equal(r.status, 200, r.text);
  const [login, products] = r.json.requests;
  assert.equal(login.passed, true, 'the stored mask was replaced by the value: the login worked');
  assert.equal(JSON.parse(login.request.body.text).password, '********');
  assert.equal(header(login.request.headers, 'X-Api-Key'), '********');
  assert.match(products.url, /k=\*{8}$/);
  assert.match(products.request.line, /k=\*{8} HTTP/);
  assert.doesNotMatch(r.text, /TestPass123!|k-93f1c0de77/);
  // The same for a definition sent with its values.
  const d = await api('POST', '/api/v1/tests/try', def);
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.requests[0].passed, true);
  assert.doesNotMatch(d.text, /TestPass123!|k-93f1c0de77/);
});

test('a try keeps to the target allowlist', async () => {
  const closed = await freePort();
  let r = await api('PUT', '/api/v1/settings/allowlist', { entries: [`127.0.0.1:${closed}`] });
  assert.equal(r.status, 200, r.text);
  try {
    const shopper = (await api('GET', '/api/v1/tests?q=shopper')).json.items[0];
    const before = (await shopStats()).total;
    r = await api('POST', `/api/v1/tests/${shopper.id}/try`, {});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.requests[0].error.kind, 'blocked', r.text);
    assert.equal(r.json.requests[0].response, null);
    assert.equal((await shopStats()).total, before, 'nothing reached the shop');
  } finally {
    r = await api('PUT', '/api/v1/settings/allowlist', { entries: [] });
    assert.equal(r.status, 200, r.text);
  }
});

test('trying needs the run permission, and every try is in the audit log with its target', async () => {
  const u = await api('POST', '/api/v1/users', { name: 'val', password: 'pw-val-0123456789', role: 'viewer' });
  assert.equal(u.status, 201, u.text);
  const viewer = { Authorization: `Bearer ${await userToken(base, 'val', 'pw-val-0123456789')}` };
  const shopper = (await api('GET', '/api/v1/tests?q=shopper')).json.items[0];
  assert.equal((await api('POST', `/api/v1/tests/${shopper.id}/try`, {}, {})).status, 401);
  assert.equal((await api('POST', `/api/v1/tests/${shopper.id}/try`, {}, viewer)).status, 403);
  assert.equal((await api('POST', '/api/v1/tests/try', { name: 'x' }, viewer)).status, 403);
  const r = await api('POST', `/api/v1/tests/${shopper.id}/try`, {});
  assert.equal(r.status, 200, r.text);
  const audit = await api('GET', '/api/v1/audit?action=test.try&limit=1000');
  assert.equal(audit.status, 200, audit.text);
  const mine = audit.json.entries.filter((e) => e.object === `tests/${shopper.id}`);
  assert.ok(mine.length >= 1, audit.text);
  assert.equal(mine[0].user, 'admin');
  assert.equal(mine[0].detail, `target ${shop.url}`);
  assert.ok(audit.json.entries.some((e) => e.object === 'tests'), 'a try of a definition sent is audited too');
});

test('the try routes are in the API description with the run permission', async () => {
  const r = await api('GET', '/api/v1/openapi.json');
  assert.equal(r.json.paths['/api/v1/tests/{id}/try'].post['x-permission'], 'run');
  assert.equal(r.json.paths['/api/v1/tests/try'].post['x-permission'], 'run');
  assert.equal(r.json.paths['/api/v1/tests/try'].post.requestBody.content['application/json'].schema.$ref,
    '#/components/schemas/TestDefinition');
});
