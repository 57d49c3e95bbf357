// imports.test.mjs - POST /api/v1/tests/import/har and /api/v1/tests/import/openapi against the
// real daemon and the real demo shop API, each on a free port: a recorded browser session (HAR)
// and an OpenAPI description of the shop become tests that validate, "Try it" without a
// failure and run against the shop without a failure; bad documents are refused with an error
// naming the field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, startStampede, startShop, userToken, sleep } from '../lib/harness.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests/fixtures');
const HAR = fs.readFileSync(path.join(FIXTURES, 'shop-recording.har'), 'utf8');
const OAS = fs.readFileSync(path.join(FIXTURES, 'shop-openapi.json'), 'utf8');

let shop, srv, base;

before(async () => {
  shop = await startShop(['--quiet']);
  // Access control on; requests carry the admin's token unless a test says otherwise.
  srv = await startStampede(['--max-vus', '5', '--max-duration', '30s']);
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

const q = (o) => '?' + new URLSearchParams(o).toString();

async function assertValid(def) {
  const r = await api('POST', '/api/v1/tests/validate', def);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.valid, true);
  return r.json;
}

/** Tries a definition: every request must have passed. Returns the report. */
async function tryPasses(def) {
  const r = await api('POST', '/api/v1/tests/try', def);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.complete, true, r.text);
  for (const x of r.json.requests) {
    assert.equal(x.passed, true, `${x.name}: ${JSON.stringify(x.error)} ${x.response?.body?.text}`);
  }
  return r.json;
}

/** Saves def, runs it with one VU for a short while against the shop, returns the finished run. */
async function runOnce(def) {
  const c = await api('POST', '/api/v1/tests', def);
  assert.equal(c.status, 201, c.text);
  const s = await api('POST', `/api/v1/tests/${c.json.id}/runs`, { users: 1, duration: '2s' });
  assert.equal(s.status, 201, s.text);
  const end = Date.now() + 20000;
  for (;;) {
    const r = await api('GET', `/api/v1/runs/${s.json.id}`);
    if (['passed', 'failed', 'stopped', 'aborted', 'error'].includes(r.json?.status)) return r.json;
    if (Date.now() > end) assert.fail(`run ${s.json.id} did not end: ${r.text}`);
    await sleep(100);
  }
}

function allSteps(def) {
  return def.users.flatMap((u) => [...(u.on_start || []), ...u.tasks.flatMap((t) => t.steps || [t])]);
}

// ---- HAR ----

test('a recorded browser session becomes a test that runs against the shop without a failure', async () => {
  const r = await api('POST', '/api/v1/tests/import/har' + q({ base_url: shop.url, name: 'recorded shop' }), HAR);
  assert.equal(r.status, 200, r.text);
  const def = r.json.definition;
  assert.equal(def.name, 'recorded shop');
  assert.equal(def.base_url, shop.url);
  assert.equal(def.users.length, 1);
  assert.equal(def.users[0].tasks.length, 1, 'one task holds the session');
  const steps = def.users[0].tasks[0].steps;

  // Left out: the page and its assets on the front end's origin, an image and the favicon on the
  // API's own origin (by type), and the analytics ping (another origin).
  const reasons = Object.fromEntries(r.json.skipped.map((s) => [new URL(s.url).pathname, s.reason]));
  assert.match(reasons['/assets/index-4f3a2b9c.js'], /static asset/);
  assert.match(reasons['/assets/index-9c1d77e0.css'], /static asset/);
  assert.match(reasons['/fonts/inter-var.woff2'], /static asset/);
  assert.match(reasons['/static/products/201.webp'], /static asset/);
  assert.match(reasons['/favicon.ico'], /static asset/);
  assert.match(reasons['/g/collect'], /another origin/);
  assert.match(reasons['/products'], /another origin/);
  assert.equal(r.json.skipped.length, 7, r.text);

  // One step per API request, in order, named by path pattern.
  const names = steps.map((s) => s.request.name);
  assert.deepEqual(names, [
    'GET /api/v1/products', 'GET /api/v1/categories', 'GET /api/v1/products/:id',
    'GET /api/v1/products/:id', 'GET /api/v1/search', 'POST /api/v1/auth/login',
    'GET /api/v1/users/me', 'POST /api/v1/cart/items', 'GET /api/v1/cart', 'POST /api/v1/orders',
    'GET /api/v1/orders']);
  assert.equal(steps[2].request.url, '/api/v1/products/201');
  assert.equal(steps[3].request.url, '/api/v1/products/202');
  assert.equal(steps[0].request.url, '/api/v1/products?page=1&limit=20&sort=popularity_desc');

  // Volatile headers are gone; the ones that describe the request stay.
  const volatile = /^(cookie|content-length|host|user-agent|accept-encoding|connection|sec-.*|if-none-match|if-modified-since|x-request-id|referer|traceparent|:.*)$/i;
  for (const s of steps) {
    for (const h of Object.keys(s.request.headers || {})) assert.doesNotMatch(h, volatile, `${s.request.name}: ${h}`);
    assert.equal(s.request.headers.Accept, 'application/json, text/plain, */*');
  }

  // Bodies are kept as JSON; a Content-Type the body kind implies is dropped; text that would
  // read as a template is escaped.
  const login = steps[5];
  assert.deepEqual(login.request.json, { email: 'sarah.chen@example.com', password: 'TestPass123!' });
  assert.deepEqual(steps[7].request.json, { product_id: 201, quantity: 2 });
  assert.equal(steps[7].request.headers['Content-Type'], undefined);
  assert.equal(steps[9].request.json.notes, 'Leave at the {{"{{"}}door}}');

  // The recorded token is not replayed: the login extracts a fresh one and later requests send it.
  assert.deepEqual(login.extract, { access_token: { json: 'access_token' } });
  for (const i of [6, 7, 8, 9, 10]) assert.equal(steps[i].request.headers.Authorization, 'Bearer {{access_token}}');
  assert.ok(r.json.notes.some((n) => /cookies, which were dropped/.test(n)), r.text);
  assert.ok(r.json.notes.some((n) => /extracted into variables/.test(n)), r.text);
  assert.ok(!r.json.notes.some((n) => /may have expired/.test(n)), 'every recorded token was explained');

  await assertValid(def);
  const tried = await tryPasses(def);
  assert.equal(tried.requests.length, 11);
  const order = tried.requests.find((x) => x.name === 'POST /api/v1/orders');
  assert.equal(order.response.status, 201);
  assert.match(order.request.body.text, /Leave at the \{\{door\}\}/, 'sent as recorded');

  const run = await runOnce(def);
  assert.equal(run.status, 'passed', JSON.stringify(run.summary));
  assert.ok(run.summary.total.requests >= 11, JSON.stringify(run.summary.total));
  assert.equal(run.summary.total.failures, 0, JSON.stringify(run.summary));
});

test('a HAR document may come as text inside {"document"}, with options beside it', async () => {
  const r = await api('POST', '/api/v1/tests/import/har',
    { document: HAR, base_url: shop.url, other_origins: 'keep' });
  assert.equal(r.status, 200, r.text);
  const steps = r.json.definition.users[0].tasks[0].steps;
  // With other origins kept, the page and the ping come back with absolute URLs.
  assert.ok(steps.some((s) => s.request.url.startsWith('https://www.google-analytics.com/g/collect')), r.text);
  assert.ok(steps.some((s) => s.request.name === 'GET http://localhost:3000/products'), r.text);
  assert.equal(r.json.definition.users[0].tasks[0].steps.length, 13);
  await assertValid(r.json.definition);
});

test('forms, multipart bodies, raw bodies and pseudo-headers from a HAR', async () => {
  const hdr = (name, value) => ({ name, value });
  const entry = (method, url, headers, postData) => ({
    startedDateTime: '2026-03-14T09:26:00.000Z', time: 1,
    request: { method, url, httpVersion: 'h2', headers, queryString: [], cookies: [], headersSize: -1, bodySize: 0, postData },
    response: { status: 200, statusText: 'OK', httpVersion: 'h2', headers: [], cookies: [],
      content: { size: 2, mimeType: 'application/json', text: '{}' }, redirectURL: '', headersSize: -1, bodySize: 2 },
    cache: {}, timings: { send: 0, wait: 1, receive: 0 },
  });
  const har = { log: { version: '1.2', creator: { name: 'Firefox', version: '124' }, entries: [
    entry('POST', 'https://api.example.com/v2/sessions', [hdr(':method', 'POST'), hdr(':path', '/v2/sessions'),
      hdr(':authority', 'api.example.com'), hdr('content-type', 'application/x-www-form-urlencoded'), hdr('x-api-key', 'k1')],
    { mimeType: 'application/x-www-form-urlencoded', text: 'user=ann%40example.com&pass=a+b%26c', params: [] }),
    entry('POST', 'https://api.example.com/v2/imports', [hdr('Content-Type', 'multipart/form-data; boundary=----x')],
      { mimeType: 'multipart/form-data; boundary=----x', params: [
        { name: 'file', fileName: 'customers.csv', contentType: 'text/csv', value: 'email\nann@example.com\n' },
        { name: 'import_type', value: 'customers' }] }),
    entry('PUT', 'https://api.example.com/v2/notes/3fa85f64-5717-4562-b3fc-2c963f66afa6', [hdr('Content-Type', 'text/plain')],
      { mimeType: 'text/plain', text: 'hello {{name}}' }),
    entry('GET', 'https://api.example.com/v2/files/9f86d081884c7d659a2feaa0c55ad015', []),
  ] } };
  const r = await api('POST', '/api/v1/tests/import/har', har);
  assert.equal(r.status, 200, r.text);
  const def = r.json.definition;
  assert.equal(def.base_url, 'https://api.example.com');
  assert.equal(def.name, 'Recorded: api.example.com');
  const [form, multi, raw, hex] = def.users[0].tasks[0].steps.map((s) => s.request);
  assert.deepEqual(form.form, { user: 'ann@example.com', pass: 'a b&c' });
  assert.deepEqual(form.headers, { 'x-api-key': 'k1' }, 'pseudo-headers and the implied Content-Type are dropped');
  assert.deepEqual(multi.multipart, [
    { name: 'file', filename: 'customers.csv', content: 'email\nann@example.com\n', content_type: 'text/csv' },
    { name: 'import_type', value: 'customers' }]);
  assert.equal(multi.headers, undefined);
  assert.equal(raw.body, 'hello {{"{{"}}name}}');
  assert.equal(raw.headers['Content-Type'], 'text/plain');
  assert.equal(raw.name, 'PUT /v2/notes/:id');
  assert.equal(hex.name, 'GET /v2/files/:id');
  assert.deepEqual(r.json.notes, []);
  await assertValid(def);
});

test('a bad HAR document is refused with an error naming the field', async () => {
  const bad = async (doc, wantPath, wantMsg, status = 422) => {
    const r = await api('POST', '/api/v1/tests/import/har', doc);
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.error.path, wantPath, r.text);
    assert.match(r.json.error.message, wantMsg);
    if (status === 422) {
      assert.equal(r.json.errors[0].path, wantPath);
      assert.match(r.json.errors[0].message, wantMsg);
    }
  };
  const e = (url, extra = {}) => ({ request: { method: 'GET', url, headers: [], ...extra }, response: { status: 200, content: {} } });
  await bad({ logs: {} }, 'log', /missing/);
  await bad({ log: { entries: {} } }, 'log.entries', /must be an array/);
  await bad({ log: { entries: [e('http://a.example/x'), e('http://a.example/y'), e('/relative/z'), e('ftp://a.example/f')] } },
    'log.entries[2].request.url', /not an absolute http\(s\) URL/);
  await bad({ log: { entries: [e('http://a.example/x', { method: 'GE T' })] } }, 'log.entries[0].request.method', /HTTP method/);
  await bad({ log: { entries: [e('http://a.example/x', { headers: [{ name: 'bad name', value: 'v' }] })] } },
    'log.entries[0].request.headers[0]', /not a valid header name/);
  await bad({ log: { entries: [e('http://a.example/x', { headers: [{ name: 'X-A', value: 'a\r\nX-B: b' }] })] } },
    'log.entries[0].request.headers[0]', /line break/);
  await bad({ log: { entries: [e('http://a.example/logo.png'), e('data:image/png;base64,AAAA')] } }, 'log.entries', /no request left/);
  await bad({ document: 'log:\n  entries: []\n' }, 'document', /not JSON/, 400);
  await bad({ document: '{"log": {"entries": [' }, 'document', /malformed JSON/, 400);
  // The body cap holds before anything is parsed.
  // (The server answers 413 from Content-Length and may close before the client has sent it all.)
  try {
    const big = await api('POST', '/api/v1/tests/import/har', JSON.stringify({ log: { entries: [], pad: 'x'.repeat(5 << 20) } }));
    assert.equal(big.status, 413, big.text);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.match(String(e.cause?.code), /EPIPE|ECONNRESET/, String(e));
  }
});

// ---- OpenAPI ----

test('an OpenAPI description of the shop becomes a test with one named step per operation', async () => {
  const r = await api('POST', '/api/v1/tests/import/openapi' + q({ base_url: shop.url }), OAS);
  assert.equal(r.status, 200, r.text);
  const def = r.json.definition;
  assert.equal(def.name, 'Demo shop API');
  assert.equal(def.base_url, shop.url);
  const reqs = Object.fromEntries(def.users[0].tasks.map((t) => [t.name, t.steps[0].request]));
  assert.deepEqual(Object.keys(reqs), ['listProducts', 'getProduct', 'GET /api/v1/categories', 'searchProducts',
    'login', 'getProfile', 'addCartItem']);
  assert.deepEqual(reqs.listProducts.query, { page: '1' }, 'a parameter with an example is sent');
  assert.equal(reqs.getProduct.url, '/api/v1/products/201', 'path parameter from its schema examples');
  assert.deepEqual(reqs.searchProducts.query, { q: 'wireless mouse' }, 'a required parameter from its examples');
  assert.deepEqual(reqs.login.json, { email: 'sarah.chen@example.com', password: 'TestPass123!' },
    'a body from a referenced request body and schema');
  assert.deepEqual(reqs.addCartItem.json, { product_id: 201, quantity: 1 }, 'allOf merged, enum[0], minimum');
  assert.ok(r.json.notes.some((n) => /getProfile needs authentication/.test(n)), r.text);
  await assertValid(def);

  // What needs no token passes as imported; the rest, once a login is added as the notes say.
  const open = structuredClone(def);
  open.users[0].tasks = open.users[0].tasks.filter((t) => !['getProfile', 'addCartItem'].includes(t.name));
  await tryPasses(open);
  const authed = structuredClone(def);
  authed.users[0].on_start = [{
    request: { method: 'POST', url: '/api/v1/auth/login', json: { email: 'sarah.chen@example.com', password: 'TestPass123!' } },
    extract: { token: { json: 'access_token' } },
    set_headers: { Authorization: 'Bearer {{token}}' },
  }];
  const tried = await tryPasses(authed);
  assert.equal(tried.requests.length, 8);
  const run = await runOnce(authed);
  assert.equal(run.status, 'passed', JSON.stringify(run.summary));
  assert.equal(run.summary.total.failures, 0, JSON.stringify(run.summary));
});

test('schemas that refer to themselves, servers and Stampede\'s own description', async () => {
  const doc = {
    openapi: '3.0.3', info: { title: 'tree', version: '1' }, servers: [{ url: '/api' }],
    paths: { '/nodes/{nodeId}': { put: {
      parameters: [{ name: 'nodeId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        { name: 'X-Tenant', in: 'header', required: true, schema: { type: 'string', enum: ['acme'] } }],
      requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } } },
      responses: { 200: { description: 'ok' } } } } },
    components: { schemas: { Node: { type: 'object', properties: {
      name: { type: 'string' }, when: { type: 'string', format: 'date-time' },
      parent: { $ref: '#/components/schemas/Node' }, children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } } } } },
  };
  let r = await api('POST', '/api/v1/tests/import/openapi', doc);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.path, 'servers[0].url');
  assert.match(r.json.error.message, /relative: give base_url/);
  r = await api('POST', '/api/v1/tests/import/openapi' + q({ base_url: 'http://127.0.0.1:9/' }), doc);
  assert.equal(r.status, 200, r.text);
  const req = r.json.definition.users[0].tasks[0].steps[0].request;
  assert.equal(r.json.definition.base_url, 'http://127.0.0.1:9/api');
  assert.equal(req.name, 'PUT /nodes/{nodeId}');
  assert.equal(req.url, '/nodes/3fa85f64-5717-4562-b3fc-2c963f66afa6');
  assert.deepEqual(req.headers, { 'X-Tenant': 'acme' });
  assert.deepEqual(req.json, { name: 'string', when: '2024-01-15T10:00:00Z', parent: null, children: [null] },
    'the cycle ends in null');
  await assertValid(r.json.definition);

  // The daemon's own API description imports too.
  const own = await api('GET', '/api/v1/openapi.json');
  r = await api('POST', '/api/v1/tests/import/openapi' + q({ base_url: base }), own.json);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.definition.users[0].tasks.length > 20);
  await assertValid(r.json.definition);
});

test('a bad OpenAPI document is refused with an error naming the field', async () => {
  const bad = async (doc, wantPath, wantMsg, status = 422, query = '') => {
    const r = await api('POST', '/api/v1/tests/import/openapi' + query, doc);
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.error.path, wantPath, r.text);
    assert.match(r.json.error.message, wantMsg);
  };
  await bad({ document: 'openapi: 3.0.3\ninfo:\n  title: x\n' }, 'document', /looks like YAML.*send it as JSON/, 400);
  await bad({ swagger: '2.0', paths: {} }, 'openapi', /Swagger 2\.0/);
  await bad({ openapi: '2.9' }, 'openapi', /not supported/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'http://h' }] }, 'paths', /missing/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'ftp://h' }], paths: { '/a': { get: {} } } }, 'servers[0].url', /not an http\(s\) URL/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'http://{region}.h' }], paths: {} }, 'servers[0].variables', /'region' of the URL has no default/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'http://h' }], paths: { 'a': { get: {} } } }, 'paths.a', /must start with '\/'/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'http://h' }], paths: { '/a': { get: { parameters: [{ in: 'query' }] } } } },
    'paths./a.get', /parameters\[0\]: needs a string "name"/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'http://h' }], paths: { '/a': { get: 'x' } } }, 'paths./a.get', /must be an object/);
  await bad({ openapi: '3.0.0', servers: [{ url: 'http://h' }], paths: {} }, 'paths', /no operation/);
});

test('importing needs the write permission: a viewer is refused, a tester may', async () => {
  for (const [name, role] of [['vera', 'viewer'], ['tom', 'tester']]) {
    const u = await api('POST', '/api/v1/users', { name, password: `pw-${name}-0123456789`, role });
    assert.equal(u.status, 201, u.text);
  }
  const viewer = { Authorization: `Bearer ${await userToken(base, 'vera', 'pw-vera-0123456789')}` };
  const tester = { Authorization: `Bearer ${await userToken(base, 'tom', 'pw-tom-0123456789')}` };
  for (const [route, doc] of [['har', HAR], ['openapi', OAS]]) {
    const path = `/api/v1/tests/import/${route}?base_url=${encodeURIComponent(shop.url)}`;
    assert.equal((await api('POST', path, doc, {})).status, 401, 'no credentials');
    assert.equal((await api('POST', path, doc, viewer)).status, 403, 'a viewer');
    const r = await api('POST', path, doc, tester);
    assert.equal(r.status, 200, r.text);
  }
});

test('the import routes are in the API description', async () => {
  const r = await api('GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200);
  const har = r.json.paths['/api/v1/tests/import/har']?.post;
  const oas = r.json.paths['/api/v1/tests/import/openapi']?.post;
  assert.ok(har && oas, Object.keys(r.json.paths).join(' '));
  assert.equal(har['x-permission'], 'write');
  assert.deepEqual(har.parameters.map((p) => [p.name, p.schema.type]), [['name', 'string'], ['base_url', 'string'], ['other_origins', 'string']]);
  assert.equal(har.requestBody.content['application/json'].schema.type, 'object', 'a HAR body is not a test definition');
});
