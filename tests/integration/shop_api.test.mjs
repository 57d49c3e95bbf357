// shop_api.test.mjs - the demo shop API against every request of the guide's four Locust
// scripts, its auth rules, its exact /__stats counting and its fault-injection options.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startShop, run, sleep, SHOP_API_BIN } from '../lib/harness.mjs';

const USERS = ['sarah.chen@example.com', 'marcus.lee@example.com', 'nina.patel@example.com',
  'ops.user@example.com'];
const PASSWORD = 'TestPass123!';
const CLIENT = { client_id: 'load-test-client', client_secret: 'super-secret-test-key',
  grant_type: 'client_credentials' };
const CSV = 'email,first_name,last_name,plan\n' +
  'alice@example.com,Alice,Nguyen,business\n' +
  'bob@example.com,Bob,Rivera,starter\n' +
  'carol@example.com,Carol,Kim,enterprise\n';

/** One request; returns { status, headers, body } with body parsed as JSON (it always is). */
async function call(base, method, path, { token, json, body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    h['Content-Type'] = 'application/json';
    body = typeof json === 'string' ? json : JSON.stringify(json);
  }
  const res = await fetch(base + path, { method, headers: h, body,
    signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  assert.match(res.headers.get('content-type') || '', /^application\/json/,
    `${method} ${path}: content type`);
  let parsed;
  try { parsed = JSON.parse(text); } catch { assert.fail(`${method} ${path}: not JSON: ${text}`); }
  return { status: res.status, headers: res.headers, body: parsed };
}

function assertError(r, status) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(typeof r.body.error, 'string');
  assert.equal(typeof r.body.message, 'string');
}

async function login(base, email = USERS[0]) {
  const r = await call(base, 'POST', '/api/v1/auth/login', { json: { email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

/** n sequential GETs through one keep-alive socket; returns how many reused the socket. */
async function keepAliveReuse(base, path, n, { token } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let reused = 0;
  try {
    for (let i = 0; i < n; i++) {
      await new Promise((resolve, reject) => {
        const headers = token ? { Authorization: `Bearer ${token}` } : {};
        const req = http.get(base + path, { agent, headers }, (res) => {
          res.resume();
          res.on('end', () => {
            if (req.reusedSocket) reused++;
            assert.equal(res.statusCode, 200);
            resolve();
          });
        });
        req.on('error', reject);
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      });
    }
  } finally {
    agent.destroy();
  }
  return reused;
}

function uploadForm(content = CSV, name = 'customer_import.csv') {
  const form = new FormData();
  form.append('file', new Blob([content], { type: 'text/csv' }), name);
  form.append('import_type', 'customers');
  form.append('notify_on_completion', 'true');
  return form;
}

async function stats(base) {
  const r = await call(base, 'GET', '/__stats');
  assert.equal(r.status, 200);
  return r.body;
}

describe('shop-api with default options', () => {
  let shop, base;
  before(async () => { shop = await startShop(); base = shop.url; });
  after(async () => { assert.equal(await shop.stop(), 0, 'SIGTERM ends the shop with 0'); });

  test('guide script 1: anonymous browsing', async () => {
    const list = await call(base, 'GET', '/api/v1/products?page=1&limit=20&sort=popularity_desc');
    assert.equal(list.status, 200);
    assert.deepEqual([list.body.page, list.body.limit, list.body.total], [1, 20, 9]);
    assert.equal(list.body.items.length, 9);
    const pop = list.body.items.map((p) => p.popularity);
    assert.deepEqual(pop, [...pop].sort((a, b) => b - a), 'sorted by popularity, descending');

    const plain = await call(base, 'GET', '/api/v1/products');
    assert.deepEqual(plain.body, list.body, 'the defaults are page 1, limit 20, popularity_desc');
    const periph = await call(base, 'GET', '/api/v1/products?category=peripherals&limit=20');
    assert.equal(periph.body.total, 4);
    assert.ok(periph.body.items.every((p) => p.category === 'Peripherals'));
    const names = (await call(base, 'GET', '/api/v1/products?sort=name_asc')).body.items.map((p) => p.name);
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
    const priced = await call(base, 'GET', '/api/v1/products?sort=price_asc&limit=3&page=2');
    assert.equal(priced.status, 200);
    assert.equal(priced.body.items.length, 3);
    const all = (await call(base, 'GET', '/api/v1/products?sort=price_asc')).body.items;
    assert.deepEqual(priced.body.items.map((p) => p.id), all.slice(3, 6).map((p) => p.id));

    for (const id of [101, 102, 103, 104, 105, 201, 202, 203, 204]) {
      const r = await call(base, 'GET', `/api/v1/products/${id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.id, id);
      for (const k of ['name', 'category']) assert.equal(typeof r.body[k], 'string');
      for (const k of ['price', 'popularity', 'stock']) assert.equal(typeof r.body[k], 'number');
    }
    assertError(await call(base, 'GET', '/api/v1/products/999'), 404);
    assertError(await call(base, 'GET', '/api/v1/products/abc'), 404);

    const cats = await call(base, 'GET', '/api/v1/categories');
    assert.equal(cats.status, 200);
    assert.ok(cats.body.items.length >= 3);
    assert.ok(cats.body.items.every((c) => typeof c.name === 'string'));

    for (const term of ['wireless mouse', 'mechanical keyboard', 'usb-c hub', 'monitor arm']) {
      for (const q of [term.replace(/ /g, '+'), encodeURIComponent(term)]) {
        const r = await call(base, 'GET', `/api/v1/search?q=${q}&limit=10`);
        assert.equal(r.status, 200);
        assert.equal(r.body.query, term);
        assert.ok(r.body.items.length >= 1, `"${term}" finds something`);
        for (const p of r.body.items) {
          for (const w of term.split(' ')) {
            assert.ok(`${p.name} ${p.category}`.toLowerCase().includes(w), `${p.name} has ${w}`);
          }
        }
      }
    }
    const none = await call(base, 'GET', '/api/v1/search?q=WIRELESS+toaster');
    assert.equal(none.status, 200);
    assert.equal(none.body.items.length, 0);
    assertError(await call(base, 'GET', '/api/v1/search'), 400);
    assertError(await call(base, 'GET', '/api/v1/products?limit=101'), 400);
    assertError(await call(base, 'GET', '/api/v1/products?sort=random'), 400);
  });

  test('guide script 2: authenticated shopper', async () => {
    for (const email of USERS.slice(0, 3)) {
      const r = await call(base, 'POST', '/api/v1/auth/login', { json: { email, password: PASSWORD } });
      assert.equal(r.status, 200);
      assert.match(r.body.access_token, /^[0-9a-f]{32}$/);
      assert.match(r.body.refresh_token, /^[0-9a-f]{32}$/);
      assert.equal(r.body.token_type, 'Bearer');
      assert.equal(r.body.expires_in, 900);
      const me = await call(base, 'GET', '/api/v1/users/me', { token: r.body.access_token });
      assert.equal(me.status, 200);
      assert.equal(me.body.email, email);
    }
    const token = await login(base, USERS[2]);
    // The guide's shopper may order before adding anything: an empty order is still made.
    const empty = await call(base, 'POST', '/api/v1/orders', { token, json: {
      shipping_address_id: 'addr_7845', payment_method_id: 'pm_card_visa',
      notes: 'Leave package at front desk' } });
    assert.equal(empty.status, 201);
    assert.deepEqual(empty.body.items, []);
    assert.equal(empty.body.total, 0);

    const cart0 = await call(base, 'GET', '/api/v1/cart', { token });
    assert.equal(cart0.status, 200);
    assert.deepEqual(cart0.body.items, []);
    let r = await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 201, quantity: 2 } });
    assert.equal(r.status, 201);
    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: '203', quantity: 1 } }),
      400); /* a product_id must be a JSON integer, not a string of digits */
    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 203, quantity: '1' } }),
      400);
    r = await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 203, quantity: 1 } });
    assert.equal(r.status, 201);
    r = await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 201, quantity: 3 } });
    assert.equal(r.status, 201);
    const line = r.body.items.find((i) => i.product_id === 201);
    assert.equal(line.quantity, 5);
    assert.equal(r.body.item_count, 6);
    assert.equal(r.body.subtotal, 5 * 49.99 + 329);
    assert.equal(r.body.total, r.body.subtotal);

    const order = await call(base, 'POST', '/api/v1/orders', { token, json: {
      shipping_address_id: 'addr_7845', payment_method_id: 'pm_card_visa',
      notes: 'Leave package at front desk' } });
    assert.equal(order.status, 201);
    assert.match(order.body.order_id, /^ord_\d+$/);
    assert.equal(order.body.status, 'confirmed');
    assert.equal(order.body.items.length, 2);
    assert.equal(order.body.total, r.body.subtotal);
    assert.notEqual(order.body.order_id, empty.body.order_id);
    assert.deepEqual((await call(base, 'GET', '/api/v1/cart', { token })).body.items, [],
      'ordering empties the cart');
    const orders = await call(base, 'GET', '/api/v1/orders', { token });
    assert.equal(orders.status, 200);
    assert.deepEqual(orders.body.items.map((o) => o.order_id),
      [order.body.order_id, empty.body.order_id]);

    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 999, quantity: 1 } }), 404);
    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 201, quantity: 0 } }), 400);
    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 201, quantity: 100 } }), 400);
    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: { quantity: 1 } }), 400);
    assertError(await call(base, 'POST', '/api/v1/cart/items', { token, json: '{"product_id": 201,' }), 400);
    assertError(await call(base, 'POST', '/api/v1/orders', { token, json: { notes: 'x' } }), 400);
    assertError(await call(base, 'POST', '/api/v1/orders', { token, json: '[1,2]' }), 400);
  });

  test('login failures', async () => {
    const p = '/api/v1/auth/login';
    assertError(await call(base, 'POST', p, { json: { email: USERS[0], password: 'wrong' } }), 401);
    assertError(await call(base, 'POST', p, { json: { email: 'nobody@example.com', password: PASSWORD } }), 401);
    assertError(await call(base, 'POST', p, { json: '{"email": "sarah.chen@example.com"' }), 400);
    assertError(await call(base, 'POST', p, { json: { email: USERS[0] } }), 400);
    assertError(await call(base, 'POST', p, { json: { email: USERS[0], password: 7 } }), 400);
    assertError(await call(base, 'POST', p, {}), 400);
    assertError(await call(base, 'POST', p, { json: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]' }), 400);
    assertError(await call(base, 'POST', p, { json: '{"email":"a","email":"b","password":"c"}' }), 400);
  });

  test('guide script 3: client credentials, reports and token refresh', async () => {
    let r = await call(base, 'POST', '/api/v1/auth/token', { json: CLIENT });
    assert.equal(r.status, 200);
    assert.match(r.body.access_token, /^[0-9a-f]{32}$/);
    assert.equal(typeof r.body.expires_in, 'number');
    let token = r.body.access_token;
    assertError(await call(base, 'POST', '/api/v1/auth/token', { json: { ...CLIENT, client_secret: 'nope' } }), 401);
    assertError(await call(base, 'POST', '/api/v1/auth/token', { json: { ...CLIENT, client_id: 'other' } }), 401);
    assertError(await call(base, 'POST', '/api/v1/auth/token', { json: { ...CLIENT, grant_type: 'password' } }), 400);
    assertError(await call(base, 'POST', '/api/v1/auth/token', { json: '{' }), 400);

    const end = new Date();
    const start = new Date(end.getTime() - 30 * 86400000);
    const day = (d) => d.toISOString().slice(0, 10);
    const q = `start_date=${day(start)}&end_date=${day(end)}&status=completed&page=2&page_size=50`;
    r = await call(base, 'GET', `/api/v1/reports/orders?${q}`, { token });
    assert.equal(r.status, 200);
    assert.equal(r.body.rows.length, 50);
    assert.ok(r.body.rows.every((row) => row.status === 'completed'));
    assert.deepEqual([r.body.page, r.body.page_size, r.body.start_date, r.body.end_date],
      [2, 50, day(start), day(end)]);
    assert.ok(r.body.total > 100);
    const again = await call(base, 'GET', `/api/v1/reports/orders?${q}`, { token });
    assert.deepEqual(again.body, r.body, 'reports are deterministic');
    const page1 = await call(base, 'GET', `/api/v1/reports/orders?${q.replace('page=2', 'page=1')}`, { token });
    const ids = new Set(page1.body.rows.map((x) => x.order_id));
    assert.ok(r.body.rows.every((x) => !ids.has(x.order_id)), 'pages do not overlap');
    const last = Math.ceil(r.body.total / 50);
    const tail = await call(base, 'GET', `/api/v1/reports/orders?${q.replace('page=2', `page=${last}`)}`, { token });
    assert.equal(tail.body.rows.length, r.body.total - (last - 1) * 50, 'the last page holds the rest');
    for (const bad of ['start_date=2026-02-30', 'start_date=2026-1-01', 'end_date=yesterday',
      'start_date=2026-03-02&end_date=2026-03-01', 'page_size=201', 'page_size=0', 'page=0',
      'status=lost']) {
      assertError(await call(base, 'GET', `/api/v1/reports/orders?${bad}`, { token }), 400);
    }
    r = await call(base, 'GET', '/api/v1/reports/customers?segment=enterprise&period=last_90_days', { token });
    assert.equal(r.status, 200);
    assert.equal(r.body.segment, 'enterprise');
    assert.equal(r.body.period, 'last_90_days');
    assert.equal(typeof r.body.customers.total, 'number');
    assertError(await call(base, 'GET', '/api/v1/reports/customers?segment=martians', { token }), 400);

    // The guide refreshes with a literal token that must be valid, and uses the new token.
    r = await call(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: 'static-refresh-token-for-test' } });
    assert.equal(r.status, 200);
    assert.notEqual(r.body.access_token, token);
    token = r.body.access_token;
    assert.equal((await call(base, 'GET', '/api/v1/reports/customers?segment=enterprise&period=last_90_days', { token })).status, 200);
    r = await call(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: 'static-refresh-token-for-test' } });
    assert.equal(r.status, 200, 'the static refresh token stays valid');

    // Issued refresh tokens are used up on use.
    const issued = (await call(base, 'POST', '/api/v1/auth/token', { json: CLIENT })).body.refresh_token;
    r = await call(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: issued } });
    assert.equal(r.status, 200);
    assert.equal((await call(base, 'GET', '/api/v1/reports/customers', { token: r.body.access_token })).status, 200);
    assertError(await call(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: issued } }), 401);
    assertError(await call(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: 'f'.repeat(32) } }), 401);
    assertError(await call(base, 'POST', '/api/v1/auth/refresh', { json: {} }), 400);
    assertError(await call(base, 'POST', '/api/v1/auth/refresh', { json: '{"refresh_token":' }), 400);
    const access = (await call(base, 'POST', '/api/v1/auth/token', { json: CLIENT })).body.access_token;
    assertError(await call(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: access } }), 401);
  });

  test('guide script 4: multipart import, status polling and history', async () => {
    const token = await login(base, 'ops.user@example.com');
    const up = await fetch(`${base}/api/v1/imports`, { method: 'POST', body: uploadForm(),
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
    assert.equal(up.status, 202);
    const imp = await up.json();
    assert.match(imp.import_id, /^imp_\d+$/);
    assert.equal(imp.status, 'queued');
    assert.equal(imp.rows, 3);
    assert.equal(imp.import_type, 'customers');
    assert.equal(imp.notify_on_completion, true);
    assert.equal(imp.filename, 'customer_import.csv');

    let r = await call(base, 'GET', `/api/v1/imports/${imp.import_id}`, { token });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'queued');
    const seen = new Set(['queued']);
    const deadline = Date.now() + 5000;
    while (r.body.status !== 'completed' && Date.now() < deadline) {
      await sleep(150);
      r = await call(base, 'GET', `/api/v1/imports/${imp.import_id}`, { token });
      seen.add(r.body.status);
    }
    assert.equal(r.body.status, 'completed');
    assert.ok(seen.has('processing'), 'passes through processing');
    assert.equal(r.body.rows_processed, 3);

    r = await call(base, 'GET', '/api/v1/imports?status=completed&limit=20', { token });
    assert.equal(r.status, 200);
    assert.ok(r.body.items.some((i) => i.import_id === imp.import_id));
    assert.ok(r.body.items.every((i) => i.status === 'completed'));
    r = await call(base, 'GET', '/api/v1/imports?status=queued', { token });
    assert.ok(!r.body.items.some((i) => i.import_id === imp.import_id));
    assertError(await call(base, 'GET', '/api/v1/imports?status=lost', { token }), 400);

    // Another user sees neither the import nor it in the history.
    const other = await login(base, USERS[1]);
    assertError(await call(base, 'GET', `/api/v1/imports/${imp.import_id}`, { token: other }), 404);
    assert.deepEqual((await call(base, 'GET', '/api/v1/imports', { token: other })).body.items, []);

    // Blank lines and a missing final newline: 2 data rows.
    const odd = await fetch(`${base}/api/v1/imports`, { method: 'POST',
      body: uploadForm('a,b\r\n1,2\r\n\r\n3,4'), headers: { Authorization: `Bearer ${token}` } });
    assert.equal(odd.status, 202);
    assert.equal((await odd.json()).rows, 2);

    const noFile = new FormData();
    noFile.append('import_type', 'customers');
    let bad = await fetch(`${base}/api/v1/imports`, { method: 'POST', body: noFile,
      headers: { Authorization: `Bearer ${token}` } });
    assert.equal(bad.status, 400);
    await bad.text();
    const badType = uploadForm();
    badType.set('import_type', 'spaceships');
    bad = await fetch(`${base}/api/v1/imports`, { method: 'POST', body: badType,
      headers: { Authorization: `Bearer ${token}` } });
    assert.equal(bad.status, 400);
    await bad.text();
    assertError(await call(base, 'POST', '/api/v1/imports', { token, json: { file: 'x' } }), 415);
    assertError(await call(base, 'GET', '/api/v1/imports/imp_999999', { token }), 404);
  });

  test('bodies over their cap are refused with 413', async () => {
    const token = await login(base);
    const big = JSON.stringify({ product_id: 201, quantity: 1, pad: 'x'.repeat(70 * 1024) });
    const r = await call(base, 'POST', '/api/v1/cart/items', { token, json: big });
    assertError(r, 413);
    const huge = uploadForm('a,b\n' + '1,2\n'.repeat(2.7 * 1024 * 1024));
    const res = await fetch(`${base}/api/v1/imports`, { method: 'POST', body: huge,
      headers: { Authorization: `Bearer ${token}` } }).catch((e) => e);
    // The shop may close the connection before the whole body is sent; if fetch saw the
    // answer, it must be 413.
    if (!(res instanceof Error)) {
      assert.equal(res.status, 413);
      await res.text();
    }
    assert.equal((await call(base, 'GET', '/api/v1/cart', { token })).status, 200, 'still serving');
  });

  test('401 without a token and with a bad one on every protected endpoint', async () => {
    const protectedRoutes = [['GET', '/api/v1/users/me'], ['GET', '/api/v1/cart'],
      ['POST', '/api/v1/cart/items'], ['POST', '/api/v1/orders'], ['GET', '/api/v1/orders'],
      ['GET', '/api/v1/reports/orders'], ['GET', '/api/v1/reports/customers'],
      ['GET', '/api/v1/imports'], ['POST', '/api/v1/imports'], ['GET', '/api/v1/imports/imp_000001']];
    const refresh = (await call(base, 'POST', '/api/v1/auth/login', { json: { email: USERS[0], password: PASSWORD } })).body.refresh_token;
    for (const [method, path] of protectedRoutes) {
      const json = method === 'POST' ? { product_id: 201, quantity: 1, shipping_address_id: 'a' } : undefined;
      for (const [token, why] of [[undefined, 'none'], ['0123456789abcdef0123456789abcdef', 'unknown'],
        ['not-a-token', 'malformed'], [refresh, 'a refresh token']]) {
        const r = await call(base, method, path, { token, json });
        assertError(r, 401);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer', `${method} ${path} (${why})`);
      }
    }
    const r = await call(base, 'GET', '/api/v1/cart', { headers: { Authorization: 'Basic dXNlcjpwdw==' } });
    assertError(r, 401);
  });

  test('404 for unknown paths, 405 with Allow for wrong methods', async () => {
    assertError(await call(base, 'GET', '/api/v1/nothing'), 404);
    assertError(await call(base, 'GET', '/'), 404);
    let r = await call(base, 'DELETE', '/api/v1/products/101');
    assertError(r, 405);
    assert.equal(r.headers.get('allow'), 'GET');
    r = await call(base, 'GET', '/api/v1/auth/login');
    assertError(r, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    r = await call(base, 'PUT', '/api/v1/orders', { json: {} });
    assertError(r, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST');
  });

  test('carts are per user', async () => {
    const sarah = await login(base, USERS[0]);
    const marcus = await login(base, USERS[1]);
    await call(base, 'POST', '/api/v1/orders', { token: sarah, json: { shipping_address_id: 'a' } });
    await call(base, 'POST', '/api/v1/orders', { token: marcus, json: { shipping_address_id: 'a' } });
    assert.equal((await call(base, 'POST', '/api/v1/cart/items', { token: sarah, json: { product_id: 202, quantity: 1 } })).status, 201);
    assert.equal((await call(base, 'POST', '/api/v1/cart/items', { token: marcus, json: { product_id: 104, quantity: 2 } })).status, 201);
    const s = (await call(base, 'GET', '/api/v1/cart', { token: sarah })).body;
    const m = (await call(base, 'GET', '/api/v1/cart', { token: marcus })).body;
    assert.deepEqual(s.items.map((i) => [i.product_id, i.quantity]), [[202, 1]]);
    assert.deepEqual(m.items.map((i) => [i.product_id, i.quantity]), [[104, 2]]);
    // Two sessions of one user share that user's cart.
    const sarah2 = await login(base, USERS[0]);
    assert.deepEqual((await call(base, 'GET', '/api/v1/cart', { token: sarah2 })).body.items.map((i) => i.product_id), [202]);
  });

  test('per-user state stays exact under concurrent writes', async () => {
    const token = await login(base, USERS[1]);
    const before = (await call(base, 'GET', '/api/v1/orders?limit=1', { token })).body.total;
    await call(base, 'POST', '/api/v1/orders', { token, json: { shipping_address_id: 'a' } });
    const adds = await Promise.all(Array.from({ length: 100 }, () =>
      call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 204, quantity: 1 } })));
    assert.ok(adds.every((r) => r.status === 201));
    const cart = (await call(base, 'GET', '/api/v1/cart', { token })).body;
    assert.deepEqual(cart.items.map((i) => [i.product_id, i.quantity]), [[204, 100]]);
    const orders = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 4 === 0
      ? call(base, 'GET', '/api/v1/orders?limit=100', { token })
      : call(base, 'POST', '/api/v1/orders', { token, json: { shipping_address_id: 'a' } }))));
    const made = orders.filter((r) => r.status === 201);
    assert.equal(made.length, 30);
    assert.equal(new Set(made.map((r) => r.body.order_id)).size, 30, 'order ids are unique');
    assert.equal(made.reduce((n, r) => n + r.body.item_count, 0), 100, 'the cart went into one order');
    const list = (await call(base, 'GET', '/api/v1/orders?limit=100', { token })).body;
    assert.equal(list.total, before + 31);
    const uploads = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/api/v1/imports`,
      { method: 'POST', body: uploadForm(), headers: { Authorization: `Bearer ${token}` } })));
    assert.ok(uploads.every((r) => r.status === 202));
    const ids = await Promise.all(uploads.map(async (r) => (await r.json()).import_id));
    assert.equal(new Set(ids).size, 20);
    assert.equal((await call(base, 'GET', '/api/v1/imports?limit=100', { token })).body.total, 20);
  });

  test('keep-alive connections are kept across requests', async () => {
    assert.equal(await keepAliveReuse(base, '/api/v1/products?page=1&limit=20', 10), 9);
    const token = await login(base);
    assert.equal(await keepAliveReuse(base, '/api/v1/cart', 5, { token }), 4);
  });

  test('/__stats counts exactly under concurrency and /__reset clears', async () => {
    let r = await call(base, 'POST', '/__reset');
    assert.equal(r.status, 200);
    let s = await stats(base);
    assert.equal(s.total, 0);
    assert.deepEqual(s.endpoints, {});
    await Promise.all(Array.from({ length: 200 }, (_, i) =>
      call(base, 'GET', `/api/v1/products/${[101, 102, 103, 104, 105][i % 5]}`)));
    await Promise.all(Array.from({ length: 30 }, () => call(base, 'GET', '/api/v1/products/7')));
    await Promise.all(Array.from({ length: 20 }, () => call(base, 'GET', '/api/v1/search?q=mouse')));
    await Promise.all(Array.from({ length: 7 }, () => call(base, 'GET', '/api/v1/cart')));
    await Promise.all(Array.from({ length: 3 }, () => call(base, 'GET', '/nowhere')));
    await Promise.all(Array.from({ length: 2 }, () => call(base, 'PATCH', '/api/v1/cart')));
    s = await stats(base);
    assert.deepEqual(s.endpoints, {
      'GET /api/v1/products/:id': { 200: 200, 404: 30 },
      'GET /api/v1/search': { 200: 20 },
      'GET /api/v1/cart': { 401: 7 },
      'GET *': { 404: 3 },
      'PATCH /api/v1/cart': { 405: 2 },
    });
    assert.equal(s.total, 262, '/__stats and /__reset are not counted');

    // State survives a plain reset, and goes with ?state=1 (tokens too).
    const token = await login(base, USERS[3]);
    await call(base, 'POST', '/api/v1/cart/items', { token, json: { product_id: 101, quantity: 1 } });
    await call(base, 'POST', '/__reset');
    assert.equal((await call(base, 'GET', '/api/v1/cart', { token })).body.items.length, 1);
    assert.equal((await stats(base)).total, 1);
    r = await call(base, 'POST', '/__reset?state=1');
    assert.equal(r.status, 200);
    assert.equal((await stats(base)).total, 0);
    assertError(await call(base, 'GET', '/api/v1/cart', { token }), 401);
    const fresh = await login(base, USERS[3]);
    assert.deepEqual((await call(base, 'GET', '/api/v1/cart', { token: fresh })).body.items, []);
  });
});

/** A request that may answer without a body (204), with a cookie header of its own. */
async function raw(base, method, path, { cookie, json } = {}) {
  const headers = {};
  if (cookie) headers.Cookie = cookie;
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

describe('shop-api: the catalog, sessions and checkout the journeys use', () => {
  let shop, base;
  before(async () => { shop = await startShop(); base = shop.url; });
  after(async () => { assert.equal(await shop.stop(), 0); });

  test('the catalog pages by absolute next links built from the Host header, 100 products over 5 pages', async () => {
    let url = base + '/api/v1/catalog';
    const ids = [];
    let pages = 0;
    while (url) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const page = await res.json();
      pages++;
      for (const it of page.items) {
        assert.deepEqual(Object.keys(it).sort(), ['id', 'name', 'price', 'stock']);
        assert.equal(typeof it.price, 'number');
        ids.push(it.id);
      }
      if (page.next !== null) assert.match(page.next, new RegExp('^' + base.replace(/[.]/g, '\\.') + '/api/v1/catalog\\?'));
      url = page.next;
    }
    assert.equal(pages, 5);
    assert.equal(ids.length, 100);
    assert.equal(new Set(ids).size, 100);
    const all = [];
    for (let c = 0; c < 5; c++) all.push(...(await (await fetch(`${base}/api/v1/catalog?limit=100`)).json()).items);
    assert.ok(all.some((p) => p.stock === 0), 'some products are out of stock');
    /* The Host header, not the listening address, makes the link. */
    const r = await new Promise((resolve, reject) => {
      http.get(base + '/api/v1/catalog?limit=50', { headers: { Host: 'shop.example:8443' } }, (res) => {
        let t = ''; res.on('data', (d) => { t += d; }); res.on('end', () => resolve(JSON.parse(t)));
      }).on('error', reject);
    });
    assert.equal(r.next, 'http://shop.example:8443/api/v1/catalog?limit=50&cursor=c32');
    assert.equal((await raw(base, 'GET', '/api/v1/catalog?cursor=bogus')).status, 400);
    assert.equal((await raw(base, 'GET', '/api/v1/catalog?limit=0')).status, 400);
  });

  test('a session cookie logs in, works on the cart and checkout, and ends with DELETE', async () => {
    const bad = await raw(base, 'POST', '/api/v1/session', { json: { email: USERS[1], password: 'nope' } });
    assert.equal(bad.status, 401);
    const r = await raw(base, 'POST', '/api/v1/session', { json: { email: USERS[1], password: PASSWORD } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { user: { email: USERS[1] } });
    const sc = r.headers.get('set-cookie');
    assert.match(sc, /^sid=[0-9a-f]{32}; Path=\/; HttpOnly$/);
    const cookie = sc.split(';')[0];
    assert.deepEqual((await raw(base, 'GET', '/api/v1/session', { cookie })).body, { user: { email: USERS[1] } });
    assert.equal((await raw(base, 'GET', '/api/v1/session')).status, 401);
    /* Checkout: 409 on an empty cart, 201 {order_id} once it holds something. */
    assert.equal((await raw(base, 'POST', '/api/v1/checkout', { cookie })).status, 409);
    const catalog = (await (await fetch(base + '/api/v1/catalog?limit=100')).json()).items;
    const none = catalog.find((p) => p.stock === 0), some = catalog.find((p) => p.stock > 0 && p.id > 300);
    assert.equal((await raw(base, 'POST', '/api/v1/cart/items', { cookie, json: { product_id: none.id, quantity: 1 } })).status, 409);
    assert.equal((await raw(base, 'POST', '/api/v1/cart/items', { cookie, json: { product_id: String(some.id), quantity: 1 } })).status, 400);
    const add = await raw(base, 'POST', '/api/v1/cart/items', { cookie, json: { product_id: some.id, quantity: 2 } });
    assert.equal(add.status, 201);
    const cart = await raw(base, 'GET', '/api/v1/cart', { cookie });
    assert.equal(cart.body.total, Math.round(some.price * 2 * 100) / 100);
    const co = await raw(base, 'POST', '/api/v1/checkout', { cookie });
    assert.equal(co.status, 201);
    assert.match(co.body.order_id, /^ord_\d+$/);
    assert.equal((await raw(base, 'GET', '/api/v1/cart', { cookie })).body.total, 0);
    /* A bearer token checks out its user's cart the same way. */
    const token = await login(base, USERS[2]);
    assert.equal((await call(base, 'POST', '/api/v1/checkout', { token })).status, 409);
    /* Logging out ends the session: the cookie no longer works anywhere. */
    const del = await raw(base, 'DELETE', '/api/v1/session', { cookie });
    assert.equal(del.status, 204);
    assert.equal((await raw(base, 'GET', '/api/v1/session', { cookie })).status, 401);
    assert.equal((await raw(base, 'GET', '/api/v1/cart', { cookie })).status, 401);
    assert.equal((await raw(base, 'DELETE', '/api/v1/session', { cookie })).status, 401);
    const stats = (await raw(base, 'GET', '/__stats')).body;
    assert.ok(stats.sessions.created >= 1 && stats.sessions.deleted >= 1);
    assert.ok(stats.string_product_ids >= 1);
  });

  test('each session has a cart of its own, even for one user', async () => {
    const cookies = [];
    for (let i = 0; i < 2; i++) {
      const r = await raw(base, 'POST', '/api/v1/session', { json: { email: USERS[3], password: PASSWORD } });
      cookies.push(r.headers.get('set-cookie').split(';')[0]);
    }
    assert.notEqual(cookies[0], cookies[1]);
    await raw(base, 'POST', '/api/v1/cart/items', { cookie: cookies[0], json: { product_id: 101, quantity: 1 } });
    assert.equal((await raw(base, 'GET', '/api/v1/cart', { cookie: cookies[1] })).body.items.length, 0);
    assert.equal((await raw(base, 'GET', '/api/v1/cart', { cookie: cookies[0] })).body.items.length, 1);
  });
});

describe('shop-api options', () => {
  test('expired access tokens are refused (--token-ttl 1)', async () => {
    const shop = await startShop(['--token-ttl', '1']);
    try {
      const r = await call(shop.url, 'POST', '/api/v1/auth/login', { json: { email: USERS[0], password: PASSWORD } });
      assert.equal(r.body.expires_in, 1);
      assert.equal((await call(shop.url, 'GET', '/api/v1/users/me', { token: r.body.access_token })).status, 200);
      await sleep(2000);
      assertError(await call(shop.url, 'GET', '/api/v1/users/me', { token: r.body.access_token }), 401);
      // The refresh token lives longer and gives a working access token.
      const n = await call(shop.url, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: r.body.refresh_token } });
      assert.equal(n.status, 200);
      assert.equal((await call(shop.url, 'GET', '/api/v1/users/me', { token: n.body.access_token })).status, 200);
    } finally {
      await shop.stop();
    }
  });

  test('--latency-ms delays its group from arrival, without blocking others', async () => {
    const shop = await startShop(['--latency-ms', 'catalog=fixed:50', '--latency-ms', 'all=uniform:30-40',
      '--threads', '1']);
    try {
      // Groups without their own setting take the one of "all".
      const t = performance.now();
      await login(shop.url);
      assert.ok(performance.now() - t >= 30, `login took ${performance.now() - t} ms`);
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = await call(shop.url, 'GET', '/api/v1/products?page=1&limit=20&sort=popularity_desc');
        assert.equal(r.status, 200);
        assert.ok(performance.now() - t0 >= 50, `took ${performance.now() - t0} ms`);
      }
      // 40 concurrent delayed requests on a single request thread: each still waits its
      // 50 ms, and all are counted.
      await call(shop.url, 'POST', '/__reset');
      const t0 = performance.now();
      const times = await Promise.all(Array.from({ length: 40 }, async () => {
        const s = performance.now();
        const r = await call(shop.url, 'GET', '/api/v1/products/101');
        assert.equal(r.status, 200);
        return performance.now() - s;
      }));
      assert.ok(Math.min(...times) >= 50, `fastest took ${Math.min(...times)} ms`);
      assert.ok(performance.now() - t0 >= 50);
      const s = await stats(shop.url);
      assert.equal(s.endpoints['GET /api/v1/products/:id']['200'], 40);
      // A held answer keeps its connection too.
      assert.equal(await keepAliveReuse(shop.url, '/api/v1/categories', 4), 3);
    } finally {
      assert.equal(await shop.stop(), 0);
    }
  });

  test('--latency-route delays one route only, over its group and "all"', async () => {
    const shop = await startShop(['--latency-ms', 'all=fixed:5', '--latency-ms', 'catalog=fixed:10',
      '--latency-route', '/api/v1/categories=fixed:60', '--latency-route', '/api/v1/products/:id=fixed:40']);
    try {
      const time = async (p) => {
        const t0 = performance.now();
        const r = await call(shop.url, 'GET', p);
        assert.equal(r.status, 200, p);
        return performance.now() - t0;
      };
      const cat = await time('/api/v1/categories');
      assert.ok(cat >= 60, `categories took ${cat} ms`);
      const one = await time('/api/v1/products/101');
      assert.ok(one >= 40 && one < 60, `a product took ${one} ms`);
      // The rest of the catalog keeps its group's 10 ms.
      const list = await time('/api/v1/products');
      assert.ok(list >= 10 && list < 40, `products took ${list} ms`);
    } finally {
      assert.equal(await shop.stop(), 0);
    }
  });

  test('a held answer does not hold up others on the same thread', async () => {
    const shop = await startShop(['--latency-ms', 'catalog=fixed:1000', '--threads', '1']);
    try {
      const order = [];
      const slow = call(shop.url, 'GET', '/api/v1/categories').then((r) => order.push(['slow', r.status]));
      await sleep(50);
      const fast = call(shop.url, 'POST', '/api/v1/auth/login', { json: { email: USERS[0], password: PASSWORD } })
        .then((r) => order.push(['fast', r.status]));
      await Promise.all([slow, fast]);
      assert.deepEqual(order, [['fast', 200], ['slow', 200]]);
    } finally {
      await shop.stop();
    }
  });

  test('--error-rate 1 answers every request with a JSON 500', async () => {
    const shop = await startShop(['--error-rate', '1']);
    try {
      assertError(await call(shop.url, 'GET', '/api/v1/products'), 500);
      assertError(await call(shop.url, 'POST', '/api/v1/auth/login', { json: { email: USERS[0], password: PASSWORD } }), 500);
      const s = await stats(shop.url);
      assert.equal(s.total, 2);
      assert.equal(s.endpoints['GET /api/v1/products']['500'], 1);
      assert.equal(s.endpoints['POST /api/v1/auth/login']['500'], 1);
    } finally {
      assert.equal(await shop.stop('SIGINT'), 0, 'SIGINT ends the shop with 0');
    }
  });

  test('--error-rate 0.3: /__stats agrees exactly with what the clients saw', async () => {
    const shop = await startShop(['--error-rate', '0.3', '--seed', '7']);
    try {
      const seen = {};
      await Promise.all(Array.from({ length: 300 }, async (_, i) => {
        const r = await call(shop.url, 'GET', `/api/v1/products/${101 + (i % 5)}`);
        seen[r.status] = (seen[r.status] || 0) + 1;
      }));
      assert.deepEqual(Object.keys(seen).sort(), ['200', '500']);
      assert.ok(seen[500] >= 45 && seen[500] <= 135, `${seen[500]} of 300 failed`);
      const s = await stats(shop.url);
      assert.deepEqual(s.endpoints, { 'GET /api/v1/products/:id': seen });
      assert.equal(s.total, 300);
    } finally {
      await shop.stop();
    }
  });

  test('--stall-every 1s --stall-ms 300 holds answers during the stall', async () => {
    const shop = await startShop(['--stall-every', '1s', '--stall-ms', '300']);
    try {
      let worst = 0;
      const until = performance.now() + 1600;
      while (performance.now() < until) {
        const t0 = performance.now();
        assert.equal((await call(shop.url, 'GET', '/api/v1/categories')).status, 200);
        worst = Math.max(worst, performance.now() - t0);
        await sleep(20);
      }
      assert.ok(worst >= 250, `the slowest answer took ${worst} ms`);
    } finally {
      await shop.stop();
    }
  });

  test('bad options exit 2 with a message; --help lists every option', async () => {
    for (const args of [['--port', 'abc'], ['--port', '70000'], ['--latency-ms', 'search=fixed:1'],
      ['--latency-ms', 'catalog=fixed:-1'], ['--latency-ms', 'catalog=uniform:5-1'],
      ['--latency-ms', 'catalog=gauss:3'], ['--error-rate', '2'], ['--stall-every', '1s'],
      ['--stall-every', '1s', '--stall-ms', '2000'], ['--stall-every', 'soon', '--stall-ms', '5'],
      ['--token-ttl', '0'], ['--listen', 'example.com'], ['--bogus'], ['--threads'], ['extra'],
      ['--latency-route', '/api/v1/nope=fixed:1'], ['--latency-route', '/api/v1/categories'],
      ['--latency-route', '/api/v1/categories=fixed:-2']]) {
      const r = await run(SHOP_API_BIN, args, { timeoutMs: 5000 });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^shop-api: .+/, args.join(' '));
    }
    const h = await run(SHOP_API_BIN, ['--help'], { timeoutMs: 5000 });
    assert.equal(h.code, 0);
    for (const o of ['--port', '--listen', '--threads', '--latency-ms', '--latency-route', '--error-rate',
      '--stall-every', '--stall-ms', '--seed', '--token-ttl', '--quiet', '--help']) {
      assert.ok(h.stdout.includes(o), o);
    }
  });
});
