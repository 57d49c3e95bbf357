// server_api.test.mjs - the REST API of `stampede serve`, against the real daemon on a free
// port with a temporary data directory: service endpoints, the error format, body limits,
// validation, tests CRUD with revisions, static files, options and signals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { STAMPEDE_BIN, SOURCE_DIR, freePort, tempDir, startProcess, startStampede, run, sleep } from '../lib/harness.mjs';

const SHOP_URL = 'http://127.0.0.1:8090';
const EXAMPLES = path.join(SOURCE_DIR, 'examples');

let srv, base, port, dataDir;
let emptyDir;
// Access control is on: every request below carries the admin's token (auth) unless it is
// about a public resource; auth.test.mjs covers the refusals.
let auth = {};

/** The daemon with access control on, and an admin token (tests/lib/harness.mjs). */
const startServer = (extra = [], { dir } = {}) => startStampede(extra, { dir });

before(async () => {
  emptyDir = tempDir();
  srv = await startServer(['--shop-url', SHOP_URL, '--examples-dir', EXAMPLES]);
  ({ base, port, dataDir } = srv);
  auth = srv.headers;
});

after(async () => {
  if (srv) await srv.stop();
});

/** A request with full control over path and headers (no URL normalisation). */
function raw(method, p, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path: p, headers: { ...auth, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    r.on('error', reject);
    if (body !== undefined) r.write(body);
    r.end();
  });
}

async function api(method, p, body, headers = {}) {
  const init = { method, headers: { ...auth, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!('Content-Type' in init.headers)) init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

function assertError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers['content-type'] ?? r.headers.get('content-type'), /^application\/json/);
  assert.equal(typeof r.json?.error, 'object', r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 0);
  assert.equal(typeof r.json.error.path, 'string');
}

function definition(name, extra = {}) {
  return {
    name,
    base_url: 'http://127.0.0.1:8090',
    users: [{ name: 'u', tasks: [{ request: { method: 'GET', url: '/api/v1/products', name: 'GET /products' } }] }],
    load: { stages: [{ duration: '10s', users: 2 }] },
    ...extra,
  };
}

test('health answers ok with the database', async () => {
  const r = await api('GET', '/api/v1/health');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ok');
  assert.equal(r.json.db, 'ok');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('cache-control'), 'no-store');
});

test('config names the version, the live port and the API prefix', async () => {
  const r = await api('GET', '/api/v1/config');
  assert.equal(r.status, 200);
  assert.match(r.json.version, /^stampede /);
  assert.equal(r.json.live_port, srv.live);
  assert.equal(r.json.api, '/api/v1');
});

test('openapi.json is OpenAPI 3 and lists every route', async () => {
  const r = await api('GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200);
  assert.match(r.json.openapi, /^3\./);
  const want = [
    ['get', '/'], ['get', '/assets/{path}'],
    ['get', '/api/v1/health'], ['get', '/api/v1/config'], ['get', '/api/v1/openapi.json'],
    ['post', '/api/v1/tests/validate'], ['post', '/api/v1/tests/import/curl'],
    ['get', '/api/v1/tests'], ['post', '/api/v1/tests'],
    ['get', '/api/v1/tests/{id}'], ['put', '/api/v1/tests/{id}'], ['delete', '/api/v1/tests/{id}'],
    ['get', '/api/v1/tests/{id}/revisions'], ['get', '/api/v1/tests/{id}/revisions/{rev}'],
    ['get', '/api/v1/tests/{id}/baseline'], ['put', '/api/v1/tests/{id}/baseline'],
    ['post', '/api/v1/auth/login'], ['post', '/api/v1/auth/logout'], ['get', '/api/v1/auth/me'],
    ['post', '/api/v1/auth/password'], ['get', '/api/v1/tokens'], ['post', '/api/v1/tokens'],
    ['delete', '/api/v1/tokens/{id}'], ['get', '/api/v1/users'], ['post', '/api/v1/users'],
    ['put', '/api/v1/users/{name}'], ['delete', '/api/v1/users/{name}'], ['get', '/api/v1/audit'],
  ];
  for (const [m, p] of want) {
    assert.ok(r.json.paths[p]?.[m], `${m} ${p} missing from openapi.json`);
    assert.ok(r.json.paths[p][m].summary);
  }
  // Run routes (/runs, /compare, /tests/{id}/runs) are checked by server_runs.test.mjs, the
  // settings routes by policy.test.mjs, the HAR and OpenAPI imports by imports.test.mjs and
  // the try routes by try_it.test.mjs, the data files by server_data_files.test.mjs, the
  // schedules by schedules.test.mjs, the webhooks by webhooks.test.mjs and the agents (/agents,
  // /agent-tokens) by agents.test.mjs.
  const count = Object.entries(r.json.paths)
    .filter(([p]) => !/\/runs|\/compare|\/settings\/|\/import\/(har|openapi)$|\/try$|\/files|\/schedules|\/webhooks|\/agent/.test(p))
    .reduce((n, [, item]) => n + Object.keys(item).length, 0);
  assert.equal(count, want.length, 'openapi.json lists a route this test does not know');
  const ids = new Set();
  for (const item of Object.values(r.json.paths)) {
    for (const op of Object.values(item)) {
      assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
    }
  }
  assert.deepEqual(r.json.paths['/api/v1/tests/{id}'].get.parameters.map((p) => p.name), ['id', 'revision']);
  // How to authenticate: a token or a session, on every route that is not public.
  assert.deepEqual(Object.keys(r.json.components.securitySchemes).sort(), ['bearer', 'session']);
  assert.deepEqual(r.json.paths['/api/v1/tests'].get.security, [{ bearer: [] }, { session: [] }]);
  assert.equal(r.json.paths['/api/v1/health'].get.security, undefined);
});

test('openapi.json passes an OpenAPI 3 validator', async () => {
  // @apidevtools/swagger-parser (tests/package.json) checks the document against the OpenAPI
  // 3.0/3.1 schema and resolves every $ref.
  const { default: SwaggerParser } = await import('@apidevtools/swagger-parser');
  const doc = await (await fetch(base + '/api/v1/openapi.json')).json();
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.match(api.openapi, /^3\./);
  assert.equal(Object.keys(api.paths).length, Object.keys(doc.paths).length);
});

test('unknown routes are 404 JSON; a known path with a wrong method is 405 with Allow', async () => {
  assertError(await api('GET', '/api/v1/nope'), 404, 'not_found');
  assertError(await api('GET', '/api/v2/tests'), 404, 'not_found');
  const r = await api('DELETE', '/api/v1/tests');
  assertError(r, 405, 'method_not_allowed');
  assert.equal(r.headers.get('allow'), 'GET, HEAD, POST');
  const v = await api('GET', '/api/v1/tests/validate');
  assertError(v, 405, 'method_not_allowed');
  assert.equal(v.headers.get('allow'), 'POST');
  const p = await api('PATCH', '/api/v1/tests/1', {});
  assertError(p, 405, 'method_not_allowed');
  assert.equal(p.headers.get('allow'), 'GET, HEAD, PUT, DELETE');
});

test('HEAD is answered for GET routes without a body', async () => {
  const r = await fetch(base + '/api/v1/health', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '');
});

test('malformed JSON and duplicate keys are 400 invalid_json', async () => {
  for (const body of ['{"name": ', '{"a": 1} trailing', '[1, 2,]', '"just a string"', '{"a": 1, "a": 2}', '']) {
    const r = await api('POST', '/api/v1/tests/validate', body);
    assertError(r, 400, 'invalid_json');
  }
  const r = await api('POST', '/api/v1/tests/validate', '{"a": 1, "a": 2}');
  assert.match(r.json.error.message, /duplicate/);
});

test('nesting deeper than the limit is 400 and names the problem', async () => {
  const deep = '['.repeat(33) + ']'.repeat(33);
  const r = await api('POST', '/api/v1/tests/validate', deep);
  assertError(r, 400, 'invalid_json');
  assert.match(r.json.error.message, /nested deeper than 32/);
  // Brackets inside strings are data, not nesting.
  const ok = await api('POST', '/api/v1/tests/validate', JSON.stringify({ name: '['.repeat(100) }));
  assert.equal(ok.status, 422);
  // Very deep input (beyond Jansson's own limit) is refused the same way.
  const huge = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
  assertError(await api('POST', '/api/v1/tests', huge), 400, 'invalid_json');
});

test('a body announced larger than the cap is refused with 413 before it is sent', async () => {
  const reply = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST /api/v1/tests HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
              `Authorization: ${auth.Authorization}\r\n` +
              'Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"name":');
    });
    let data = '';
    s.on('data', (d) => { data += d; if (data.includes('}}')) s.end(); });
    s.on('end', () => resolve(data));
    s.on('error', reject);
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('no answer: ' + data)); });
  });
  assert.match(reply, /^HTTP\/1\.1 413 /);
  const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
  assert.equal(body.error.code, 'too_large');
});

test('a chunked body growing past the cap is 413', async () => {
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/tests',
      headers: { ...auth, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    for (let i = 0; i < 20; i++) req.write(chunk); // 5 MiB of spaces
    req.end();
  });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'too_large');
  // The server is still fine afterwards.
  assert.equal((await api('GET', '/api/v1/health')).status, 200);
});

test('a JSON endpoint refuses other content types with 415', async () => {
  const body = JSON.stringify(definition('ct'));
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp',
    'application/json; charset=latin1']) {
    assertError(await api('POST', '/api/v1/tests/validate', body, { 'Content-Type': ct }), 415,
      'unsupported_media_type');
  }
  const r = await fetch(base + '/api/v1/tests', { method: 'POST', body, headers: auth });
  assert.equal(r.status, 415);
  const ok = await api('POST', '/api/v1/tests/validate', body, { 'Content-Type': 'Application/JSON; charset=UTF-8' });
  assert.equal(ok.status, 200, ok.text);
});

test('validate: a valid definition gives its request names', async () => {
  const doc = fs.readFileSync(path.join(EXAMPLES, 'shopper.json'), 'utf8');
  const r = await api('POST', '/api/v1/tests/validate', doc);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.valid, true);
  assert.ok(r.json.names.includes('POST /orders'), r.text);
});

test('validate: an invalid definition is 422 with every error and its path', async () => {
  const bad = definition('bad');
  bad.users[0].tasks[0].request.mehtod = 'GET';
  delete bad.load;
  const r = await api('POST', '/api/v1/tests/validate', bad);
  assertError(r, 422, 'invalid_definition');
  assert.equal(r.json.valid, false);
  assert.ok(Array.isArray(r.json.errors) && r.json.errors.length >= 2, r.text);
  const paths = r.json.errors.map((e) => e.path);
  assert.ok(paths.includes('users[0].tasks[0].request.mehtod'), r.text);
  const typo = r.json.errors.find((e) => e.path === 'users[0].tasks[0].request.mehtod');
  assert.match(typo.message, /did you mean 'method'/);
  for (const e of r.json.errors) assert.equal(typeof e.message, 'string');
});

test('first start seeds the example tests pointed at --shop-url', async () => {
  const r = await api('GET', '/api/v1/tests?q=' + encodeURIComponent('Authenticated shopper'));
  assert.equal(r.status, 200);
  assert.equal(r.json.items.length, 1, r.text);
  const t = await api('GET', `/api/v1/tests/${r.json.items[0].id}`);
  assert.equal(t.json.definition.base_url, SHOP_URL);
  const all = await api('GET', '/api/v1/tests?per_page=200');
  const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
  const seeded = all.json.items.filter((i) => i.revision === 1 && ['Anonymous browsing', 'Authenticated shopper'].includes(i.name));
  assert.equal(seeded.length, 2);
  assert.ok(all.json.total >= files.length);
});

test('tests CRUD with revisions, markup and SQL metacharacters kept as data', async () => {
  const name = `x'); DROP TABLE tests; -- <script>alert(1)</script> "%_ ${Date.now()}`;
  const created = await api('POST', '/api/v1/tests', definition(name));
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.revision, 1);
  assert.equal(created.json.name, name);
  const id = created.json.id;
  assert.equal(created.headers.get('location'), `/api/v1/tests/${id}`);

  const got = await api('GET', `/api/v1/tests/${id}`);
  assert.equal(got.status, 200);
  assert.equal(got.json.name, name);
  assert.equal(got.json.definition.name, name);
  assert.match(got.headers.get('content-type'), /^application\/json/);
  assert.equal(got.headers.get('x-content-type-options'), 'nosniff');

  // The filter takes % and _ literally and finds the test by its markup.
  const found = await api('GET', '/api/v1/tests?q=' + encodeURIComponent('<script>alert(1)</script> "%_'));
  assert.equal(found.json.total, 1, found.text);
  assert.equal(found.json.items[0].name, name);
  const none = await api('GET', '/api/v1/tests?q=' + encodeURIComponent('%'));
  assert.ok(none.json.items.every((i) => i.name.includes('%')), none.text);

  // The same name again is a conflict.
  assertError(await api('POST', '/api/v1/tests', definition(name)), 409, 'conflict');

  // An update makes revision 2; an invalid update is refused and changes nothing.
  const renamed = name + ' v2';
  const up = await api('PUT', `/api/v1/tests/${id}`, definition(renamed, { headers: { 'X-A': '1' } }));
  assert.equal(up.status, 200, up.text);
  assert.equal(up.json.revision, 2);
  const badUp = await api('PUT', `/api/v1/tests/${id}`, { name: renamed });
  assertError(badUp, 422, 'invalid_definition');

  const revs = await api('GET', `/api/v1/tests/${id}/revisions`);
  assert.equal(revs.status, 200);
  assert.deepEqual(revs.json.items.map((r) => r.revision), [2, 1]);
  assert.equal(revs.json.items[1].name, name);
  const r1 = await api('GET', `/api/v1/tests/${id}?revision=1`);
  assert.equal(r1.json.definition.name, name);
  const r1b = await api('GET', `/api/v1/tests/${id}/revisions/1`);
  assert.equal(r1b.json.revision, 1);
  const cur = await api('GET', `/api/v1/tests/${id}`);
  assert.equal(cur.json.revision, 2);
  assert.equal(cur.json.definition.headers['X-A'], '1');
  assertError(await api('GET', `/api/v1/tests/${id}?revision=9`), 404, 'not_found');
  assertError(await api('GET', `/api/v1/tests/${id}?revision=x`), 400, 'bad_request');

  // Delete: 204, then 404 everywhere, and the name is free again.
  const del = await api('DELETE', `/api/v1/tests/${id}`);
  assert.equal(del.status, 204);
  assertError(await api('GET', `/api/v1/tests/${id}`), 404, 'not_found');
  assertError(await api('GET', `/api/v1/tests/${id}/revisions`), 404, 'not_found');
  assertError(await api('DELETE', `/api/v1/tests/${id}`), 404, 'not_found');
  assertError(await api('PUT', `/api/v1/tests/${id}`, definition(renamed)), 404, 'not_found');
  const again = await api('POST', '/api/v1/tests', definition(renamed));
  assert.equal(again.status, 201, again.text);
  assert.notEqual(again.json.id, id);
});

test('ids that are not ids are 404, never 500', async () => {
  for (const id of ['abc', '0', '-1', '1.5', '99999999999999999999', '007', "1'OR'1'='1"]) {
    const r = await api('GET', `/api/v1/tests/${encodeURIComponent(id)}`);
    assertError(r, 404, 'not_found');
  }
  assertError(await api('GET', '/api/v1/tests/424242'), 404, 'not_found');
});

test('list pagination and its parameters', async () => {
  const stamp = Date.now();
  for (let i = 0; i < 3; i++) {
    const r = await api('POST', '/api/v1/tests', definition(`page-${stamp}-${i}`));
    assert.equal(r.status, 201, r.text);
  }
  const p1 = await api('GET', `/api/v1/tests?q=page-${stamp}&per_page=2&page=1`);
  assert.equal(p1.json.total, 3);
  assert.equal(p1.json.items.length, 2);
  assert.equal(p1.json.page, 1);
  assert.equal(p1.json.per_page, 2);
  assert.equal(p1.json.items[0].name, `page-${stamp}-2`); // newest first
  const p2 = await api('GET', `/api/v1/tests?q=page-${stamp}&per_page=2&page=2`);
  assert.deepEqual(p2.json.items.map((i) => i.name), [`page-${stamp}-0`]);
  for (const q of ['page=0', 'page=-1', 'page=x', 'per_page=0', 'per_page=100000', 'per_page=1e3']) {
    const r = await api('GET', `/api/v1/tests?${q}`);
    assertError(r, 400, 'bad_request');
    assert.equal(r.json.error.path, q.split('=')[0]);
  }
});

test('100 concurrent clients are all served', async () => {
  const agents = Array.from({ length: 100 }, async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(base + '/api/v1/tests?per_page=5', { headers: auth });
      assert.equal(r.status, 200);
      await r.json();
    }
  });
  await Promise.all(agents);
});

test('renaming a test to a name in use is 409 and changes nothing', async () => {
  const stamp = Date.now();
  const a = await api('POST', '/api/v1/tests', definition(`a-${stamp}`));
  const b = await api('POST', '/api/v1/tests', definition(`b-${stamp}`));
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  const r = await api('PUT', `/api/v1/tests/${b.json.id}`, definition(`a-${stamp}`));
  assertError(r, 409, 'conflict');
  assert.equal(r.json.error.path, 'name');
  const got = await api('GET', `/api/v1/tests/${b.json.id}`);
  assert.equal(got.json.name, `b-${stamp}`);
  assert.equal(got.json.revision, 1);
});

test('requests naming another host or from another origin are refused (DNS rebinding, CSRF)', async () => {
  assertError(await raw('GET', '/api/v1/tests', { headers: { Host: `evil.example:${port}` } }), 403, 'forbidden');
  assertError(await raw('GET', '/api/v1/tests', { headers: { Host: 'localhost:1' } }), 403, 'forbidden');
  const ok = await raw('GET', '/api/v1/tests', { headers: { Host: `localhost:${port}` } });
  assert.equal(ok.status, 200);
  const body = JSON.stringify(definition('csrf'));
  const r = await api('POST', '/api/v1/tests', body, { Origin: 'http://evil.example' });
  assertError(r, 403, 'forbidden');
  assertError(await api('POST', '/api/v1/tests', body, { Origin: 'null' }), 403, 'forbidden');
  const list = await api('GET', '/api/v1/tests?q=csrf');
  assert.equal(list.json.total, 0, 'a refused request changed nothing');
});

test('the built-in dashboard is served with a strict CSP and revalidated by ETag', async () => {
  const r = await fetch(base + '/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  assert.match(html, /<script type="module" src="\/assets\/app.js"><\/script>/);
  assert.doesNotMatch(html, /<script>|style=/, 'no inline script or style');
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{20}"$/);
  const again = await fetch(base + '/', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
  for (const [p, type] of [['/assets/app.js', /^text\/javascript/], ['/assets/app.css', /^text\/css/],
    ['/assets/vendor/uPlot.esm.js', /^text\/javascript/], ['/assets/vendor/uPlot.min.css', /^text\/css/],
    ['/assets/js/pages/run.js', /^text\/javascript/]]) {
    const a = await fetch(base + p);
    assert.equal(a.status, 200, p);
    assert.match(a.headers.get('content-type'), type, p);
    assert.ok((await a.text()).length > 100, p);
  }
  assertError(await api('GET', '/assets/nothing-here.js'), 404, 'not_found');
});

test('--web-root serves the dashboard files and refuses path traversal', async () => {
  const root = tempDir();
  const outside = tempDir();
  fs.mkdirSync(path.join(root, 'assets'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>dash</title>');
  fs.writeFileSync(path.join(root, 'assets', 'app.js'), 'console.log(1);');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'root secret');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside secret');
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'assets', 'link.txt'));
  const w = await startServer(['--web-root', root]);
  try {
    const idx = await fetch(w.base + '/');
    assert.equal(await idx.text(), '<!doctype html><title>dash</title>');
    // A file the folder lacks (uPlot, from npm) comes from the binary.
    const vendor = await fetch(w.base + '/assets/vendor/uPlot.esm.js');
    assert.equal(vendor.status, 200);
    assert.ok(vendor.headers.get('etag'));
    const js = await fetch(w.base + '/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    assert.equal(await js.text(), 'console.log(1);');
    const probe = (p) => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: w.port, path: p }, (res) => {
        let t = '';
        res.on('data', (d) => { t += d; });
        res.on('end', () => resolve({ status: res.statusCode, text: t }));
      }).on('error', reject);
    });
    for (const p of ['/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/..%2fsecret.txt',
      '/assets/link.txt', '/assets/.hidden', '/assets/', '/assets//app.js', '/assets/app.js%00.png',
      `/assets/..%2f..%2f..%2f..%2f..%2f..%2f${outside.slice(1)}/secret.txt`]) {
      const r = await probe(p);
      assert.equal(r.status, 404, `${p}: ${r.status} ${r.text}`);
      assert.doesNotMatch(r.text, /secret/);
    }
  } finally {
    assert.equal(await w.stop(), 0);
  }
});

test('a restart keeps the tests and does not seed again', async () => {
  const dir = tempDir();
  const a = await startServer(['--examples-dir', EXAMPLES], { dir });
  let n1;
  try {
    n1 = (await (await a.fetch('/api/v1/tests')).json()).total;
    assert.ok(n1 >= 4);
  } finally {
    assert.equal(await a.stop(), 0);
  }
  const b = await startServer(['--examples-dir', EXAMPLES], { dir });
  try {
    const n2 = (await (await b.fetch('/api/v1/tests')).json()).total;
    assert.equal(n2, n1);
  } finally {
    await b.stop();
  }
});

test('SIGTERM and SIGINT stop the server with exit code 0', async () => {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    const s = await startServer(['--examples-dir', emptyDir]);
    try {
      // The server answers a moment before its start-up line reaches us.
      for (let i = 0; i < 100 && !s.stdout().includes('running at'); i++) await sleep(20);
      assert.match(s.stdout(), new RegExp(`running at http://127\\.0\\.0\\.1:${s.port}/`));
    } finally {
      assert.equal(await s.stop(sig), 0, s.stderr());
    }
    assert.match(s.stderr(), /level=info msg=stopped/);
  }
});

test('log lines are one per event, key=value, and cannot be forged by a path', async () => {
  await raw('GET', '/api/v1/x%0Alevel=error%20msg=forged');
  await sleep(100);
  const lines = srv.stderr().split('\n').filter(Boolean);
  for (const l of lines) assert.match(l, /^level=(info|warn|error) msg=/);
  assert.ok(!lines.some((l) => l.startsWith('level=error msg=forged')));
  assert.ok(lines.some((l) => l.includes('msg=request') && l.includes('status=404')));
});

test('listening on a non-loopback address is refused without access control or with the generated password', async () => {
  for (const addr of ['0.0.0.0:8484', '192.168.1.10:8484', '[::]:8484', ':8484']) {
    const d = tempDir();
    let r = await run(STAMPEDE_BIN, ['serve', '--listen', addr, '--data-dir', d, '--no-auth'], { timeoutMs: 5000 });
    assert.equal(r.code, 2, addr);
    assert.match(r.stderr, /refusing --no-auth/);
    // Access control on, but a first start would make a password nobody chose.
    r = await run(STAMPEDE_BIN, ['serve', '--listen', addr, '--data-dir', d],
      { timeoutMs: 5000, env: { STAMPEDE_ADMIN_PASSWORD: '' } });
    assert.equal(r.code, 2, addr);
    assert.match(r.stderr, /generated/);
    assert.ok(!fs.existsSync(path.join(d, 'stampede.db')), 'nothing was created');
  }
});

test('bad options exit with 2 and say why', async () => {
  const cases = [
    [['--bogus'], /unknown option/],
    [['--listn', '127.0.0.1:1'], /did you mean '--listen'/],
    [['--listen'], /needs a value/],
    [['--listen', 'localhost'], /ADDRESS:PORT/],
    [['--listen', '127.0.0.1:70000'], /port/],
    [['--listen', 'example.com:80'], /numeric/],
    [['--live-port', '0'], /live-port/],
    [['--shop-url', 'ftp://x'], /http/],
    [['--web-root', '/nonexistent/dir'], /not a directory/],
    [['--config', '/nonexistent/file.json'], /config/],
    [['extra'], /unexpected argument/],
    [['--server-name', 'bad name!'], /--server-name/],
    [['--no-auth=yes'], /takes no value/],
    [['--tls-key', '/nonexistent/key.pem'], /not a readable file/],
  ];
  for (const [args, re] of cases) {
    const r = await run(STAMPEDE_BIN, ['serve', ...args], { timeoutMs: 5000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const cfg = path.join(tempDir(), 'c.json');
  fs.writeFileSync(cfg, '{"listen": "127.0.0.1:1", "live_prot": 2}');
  const r = await run(STAMPEDE_BIN, ['serve', '--config', cfg], { timeoutMs: 5000 });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /did you mean 'live_port'/);
});

test('--config supplies options and the command line overrides them', async () => {
  const p = await freePort();
  const d = tempDir();
  const cfg = path.join(d, 'stampede.json');
  fs.writeFileSync(cfg, JSON.stringify({ listen: '127.0.0.1:1', live_port: 9999, data_dir: path.join(d, 'data') }));
  const s = await startProcess(STAMPEDE_BIN, ['serve', '--config', cfg, '--listen', `127.0.0.1:${p}`,
    '--examples-dir', emptyDir], { readyUrl: `http://127.0.0.1:${p}/api/v1/health` });
  try {
    const c = await (await fetch(`http://127.0.0.1:${p}/api/v1/config`)).json();
    assert.equal(c.auth, true);
    assert.equal(c.live_port, 9999);
    assert.ok(fs.existsSync(path.join(d, 'data', 'stampede.db')));
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('--help prints the options and exits 0', async () => {
  const r = await run(STAMPEDE_BIN, ['serve', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--listen/);
  assert.match(r.stdout, /--examples-dir/);
});

test('a port in use is a clear start-up failure', async () => {
  const r = await run(STAMPEDE_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', tempDir(),
    '--live-port', '1'], { timeoutMs: 5000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot listen/);
});
