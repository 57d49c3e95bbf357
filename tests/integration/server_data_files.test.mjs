// CSV data files of tests stored on the server: read only from DATA_DIR/files, by relative
// paths. The real daemon (access control on) and the real demo shop; the shop's /__stats is the
// ground truth for what was sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { SOURCE_DIR, sleep, startShop, startStampede, tempDir } from '../lib/harness.mjs';

let shop, srv;
const outside = tempDir('stampede-outside-');

before(async () => {
  shop = await startShop();
  srv = await startStampede(['--examples-dir', path.join(SOURCE_DIR, 'examples'), '--shop-url', shop.url]);
  // A file outside the data files directory that a definition must never read.
  fs.writeFileSync(path.join(outside, 'secret.csv'), 'sku\nTOP-SECRET-1\n');
});
after(async () => {
  if (srv) await srv.stop();
  if (shop) await shop.stop();
});

const productsDef = (csv) => ({
  name: `csv ${csv}`, base_url: shop.url,
  users: [{ name: 'u', data_file: { csv }, think: { constant: '50ms' },
    tasks: [{ request: { url: '/api/v1/products/{{row.sku}}', name: 'GET /products/:id' } }] }],
  load: { stages: [{ duration: '1s', users: 1 }] },
});

async function served(route) {
  const stats = await (await fetch(`${shop.url}/__stats`)).json();
  return Object.values(stats.endpoints[route] || {}).reduce((a, b) => a + b, 0);
}

async function waitEnded(id) {
  for (let i = 0; i < 100; i++) {
    const r = await srv.api('GET', `/api/v1/runs/${id}`);
    if (r.json && r.json.status !== 'running' && r.json.status !== 'queued') return r.json;
    await sleep(200);
  }
  throw new Error(`run ${id} did not end`);
}

test('a path outside the data files directory is refused without reading it', async () => {
  const before = await served('GET /api/v1/products/:id');
  for (const csv of [path.join(outside, 'secret.csv'), '/etc/passwd', '../stampede.db',
    'data/../../stampede.db', `../../${path.basename(outside)}/secret.csv`, './data/customers.csv']) {
    const r = await srv.api('POST', '/api/v1/tests/validate', productsDef(csv));
    assert.equal(r.status, 422, `${csv}: ${r.text}`);
    const err = r.json.errors.find((e) => e.path === 'users[0].data_file.csv');
    assert.ok(err, `${csv}: ${r.text}`);
    // Nothing of the file, nor of the server's own paths, comes back.
    assert.doesNotMatch(r.text, /TOP-SECRET|root:|SQLite/);
    assert.ok(!r.text.includes(srv.dataDir), r.text);
    const c = await srv.api('POST', '/api/v1/tests', productsDef(csv));
    assert.equal(c.status, 422, c.text);
  }
  assert.equal(await served('GET /api/v1/products/:id'), before);
});

test('a symbolic link out of the data files directory is refused', async () => {
  fs.symlinkSync(path.join(outside, 'secret.csv'), path.join(srv.dataDir, 'files', 'link.csv'));
  const r = await srv.api('POST', '/api/v1/tests/validate', productsDef('link.csv'));
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.errors[0].message, /no such file among the server's data files/);
  assert.doesNotMatch(r.text, /TOP-SECRET/);
});

test('a file in the data files directory is read, and its rows are sent', async () => {
  fs.mkdirSync(path.join(srv.dataDir, 'files', 'catalog'), { recursive: true });
  fs.writeFileSync(path.join(srv.dataDir, 'files', 'catalog', 'skus.csv'), 'sku\n7001\n7002\n');
  const c = await srv.api('POST', '/api/v1/tests', productsDef('catalog/skus.csv'));
  assert.equal(c.status, 201, c.text);
  const before = await served('GET /api/v1/products/:id');
  const r = await srv.api('POST', `/api/v1/tests/${c.json.id}/runs`, {});
  assert.equal(r.status, 201, r.text);
  const run = await waitEnded(r.json.id);
  assert.equal(run.status, 'passed', JSON.stringify(run));
  const sent = await served('GET /api/v1/products/:id') - before;
  assert.ok(sent >= 2, `the shop saw ${sent} product requests`);
});

test('the seeded data-driven example has its CSV file and runs on the server', async () => {
  assert.ok(fs.existsSync(path.join(srv.dataDir, 'files', 'data', 'customers.csv')));
  const list = await srv.api('GET', '/api/v1/tests?q=Data-driven');
  const t = list.json.items.find((x) => x.name === 'Data-driven shoppers');
  assert.ok(t, list.text);
  const before = await served('POST /api/v1/auth/login');
  const r = await srv.api('POST', `/api/v1/tests/${t.id}/runs`, { users: 2, duration: '2s' });
  assert.equal(r.status, 201, r.text);
  const run = await waitEnded(r.json.id);
  assert.notEqual(run.status, 'error', JSON.stringify(run));
  assert.ok(await served('POST /api/v1/auth/login') - before >= 2, 'no customer logged in');
});

test('data files are uploaded, listed, read, used by a run and deleted through the API', async () => {
  const csv = 'sku\n8101\n8102\n8103\n';
  let r = await srv.api('PUT', '/api/v1/files/uploads/skus.csv', { content: csv });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual([r.json.path, r.json.bytes, r.json.rows], ['uploads/skus.csv', csv.length, 3]);
  assert.equal(fs.readFileSync(path.join(srv.dataDir, 'files', 'uploads', 'skus.csv'), 'utf8'), csv);
  r = await srv.api('PUT', '/api/v1/files/uploads/skus.csv', { content: csv });
  assert.equal(r.status, 200, 'a second upload replaces the file');

  r = await srv.api('GET', '/api/v1/files');
  assert.equal(r.status, 200, r.text);
  const item = r.json.items.find((i) => i.path === 'uploads/skus.csv');
  assert.ok(item && item.bytes === csv.length, r.text);
  assert.ok(r.json.items.some((i) => i.path === 'data/customers.csv'), 'the seeded file is listed');
  assert.ok(!r.json.items.some((i) => i.path === 'link.csv'), 'a link is not listed');
  r = await srv.api('GET', '/api/v1/files/uploads/skus.csv');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  assert.equal(r.text, csv);

  const c = await srv.api('POST', '/api/v1/tests', productsDef('uploads/skus.csv'));
  assert.equal(c.status, 201, c.text);
  const before = await served('GET /api/v1/products/:id');
  const s = await srv.api('POST', `/api/v1/tests/${c.json.id}/runs`, {});
  assert.equal(s.status, 201, s.text);
  await waitEnded(s.json.id);
  assert.ok(await served('GET /api/v1/products/:id') - before >= 3);

  const audit = await srv.api('GET', '/api/v1/audit?action=file.put');
  assert.ok(audit.json.entries.some((e) => e.object === 'uploads/skus.csv'), audit.text);

  r = await srv.api('DELETE', '/api/v1/files/uploads/skus.csv');
  assert.equal(r.status, 204, r.text);
  assert.ok(!fs.existsSync(path.join(srv.dataDir, 'files', 'uploads', 'skus.csv')));
  r = await srv.api('DELETE', '/api/v1/files/uploads/skus.csv');
  assert.equal(r.status, 404);
  // The test that names it is now refused at start, naming the file.
  r = await srv.api('POST', `/api/v1/tests/${c.json.id}/runs`, {});
  assert.equal(r.status, 422, r.text);
  assert.match(r.text, /uploads\/skus\.csv/);
});

test('a bad upload is refused naming the reason, and nothing is written', async () => {
  const cases = [
    ['/api/v1/files/bad.csv', { content: 'a,b\n1,2\n3\n' }, 422, /line 3/],
    ['/api/v1/files/bad.csv', { content: 'a,b\n' }, 422, /row/],
    ['/api/v1/files/bad.csv', { nope: 1 }, 400, /content/],
    ['/api/v1/files/bad.csv', { content: 'a\n1\n', delimiter: '|' }, 400, /delimiter/],
    ['/api/v1/files/..%2Fescape.csv', { content: 'a\n1\n' }, 400, /relative path/],
  ];
  for (const [p, body, status, re] of cases) {
    const r = await srv.api('PUT', p, body);
    assert.equal(r.status, status, `${p} ${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.json.error.message, re);
  }
  // A path with a literal '..' (fetch would normalise it away, node:http sends it as it is).
  const raw = await new Promise((resolve, reject) => {
    const body = JSON.stringify({ content: 'a\n1\n' });
    const rq = http.request({ host: '127.0.0.1', port: srv.port, method: 'PUT', path: '/api/v1/files/a/../../escape.csv',
      headers: { ...srv.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
    (res) => { let t = ''; res.on('data', (d) => { t += d; }); res.on('end', () => resolve({ status: res.statusCode, text: t })); });
    rq.on('error', reject);
    rq.end(body);
  });
  assert.ok(raw.status === 400 || raw.status === 404, raw.text);
  assert.ok(!fs.existsSync(path.join(srv.dataDir, 'files', 'bad.csv')));
  assert.ok(!fs.existsSync(path.join(srv.dataDir, 'escape.csv')));
  assert.ok(!fs.readdirSync(path.join(srv.dataDir, 'files')).some((f) => f.startsWith('.upload')));
});

test('an upload needs a printable UTF-8 name; a file is read and deleted by the name it is listed by', async () => {
  const dir = path.join(srv.dataDir, 'files');
  const rawNames = () => fs.readdirSync(dir, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
  const before = rawNames();
  const body = { content: 'a\n1\n' };
  for (const [p, why] of [
    ['%ff%fe.csv', /is not UTF-8/], // stored as "\xff\xfe.csv", listed as "\ufffd\ufffd.csv": undeletable
    ['%c0%ae%c0%ae.csv', /is not UTF-8/], // an overlong ".."
    ['%ed%a0%80.csv', /is not UTF-8/], // a UTF-16 surrogate
    ['%f4%90%80%80.csv', /is not UTF-8/], // past U+10FFFF
    ['a%01b.csv', /control character/],
    ['a%0a.csv', /control character/],
    ['a%7f.csv', /control character/],
    ['a%c2%85.csv', /control character/], // NEL, a C1 control
    ['invoice%e2%80%aecod.exe', /invisible formatting/], // RIGHT-TO-LEFT OVERRIDE: shown "invoiceexe.doc"
    ['a%e2%80%8bb.csv', /invisible formatting/], // ZERO WIDTH SPACE: looks like "ab.csv"
    ['%ef%bb%bfa.csv', /invisible formatting/], // a byte order mark
    ['a%ef%bf%bf.csv', /noncharacter/],
  ]) {
    const r = await srv.api('PUT', `/api/v1/files/${p}`, body);
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    assert.equal(r.json.error.path, 'path', r.text);
    assert.match(r.json.error.message, why, p);
  }
  assert.deepEqual(rawNames(), before, 'nothing was written');

  // A printable name beyond ASCII comes back as it was sent, and that name reads and deletes it.
  const name = 'données-ü.csv';
  let r = await srv.api('PUT', `/api/v1/files/${encodeURIComponent(name)}`, body);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.path, name);
  const listed = (await srv.api('GET', '/api/v1/files')).json.items.find((i) => i.path === name);
  assert.ok(listed, 'listed by its name');
  assert.equal((await srv.api('GET', `/api/v1/files/${encodeURIComponent(listed.path)}`)).text, body.content);
  assert.equal((await srv.api('DELETE', `/api/v1/files/${encodeURIComponent(listed.path)}`)).status, 204);
  assert.deepEqual(rawNames(), before);

  // A name an older version stored is not listed (it could not be sent back), and its bytes,
  // percent-encoded, still delete it.
  fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0xfe]), Buffer.from('.csv')]), 'a\n1\n');
  const items = (await srv.api('GET', '/api/v1/files')).json.items;
  assert.ok(!items.some((i) => /\ufffd|\?/.test(i.path)), JSON.stringify(items));
  assert.equal((await srv.api('DELETE', '/api/v1/files/%ff%fe.csv')).status, 204);
  assert.deepEqual(rawNames(), before);
});

test('a viewer may list data files but not change them', async () => {
  const r0 = await srv.api('POST', '/api/v1/users', { name: 'filesviewer', password: 'viewer-password-1', role: 'viewer' });
  assert.equal(r0.status, 201, r0.text);
  const { userToken } = await import('../lib/harness.mjs');
  const tok = await userToken(srv.base, 'filesviewer', 'viewer-password-1');
  const h = { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' };
  let r = await fetch(`${srv.base}/api/v1/files`, { headers: h });
  assert.equal(r.status, 200);
  r = await fetch(`${srv.base}/api/v1/files/viewer.csv`, { method: 'PUT', headers: h, body: JSON.stringify({ content: 'a\n1\n' }) });
  assert.equal(r.status, 403);
  r = await fetch(`${srv.base}/api/v1/files/data/customers.csv`, { method: 'DELETE', headers: h });
  assert.equal(r.status, 403);
  assert.ok(fs.existsSync(path.join(srv.dataDir, 'files', 'data', 'customers.csv')));
  assert.ok(!fs.existsSync(path.join(srv.dataDir, 'files', 'viewer.csv')));
});

test('the data files routes are in the OpenAPI description', async () => {
  const r = await srv.api('GET', '/api/v1/openapi.json');
  for (const [m, p] of [['get', '/api/v1/files'], ['get', '/api/v1/files/{path}'],
    ['put', '/api/v1/files/{path}'], ['delete', '/api/v1/files/{path}']])
    assert.ok(r.json.paths[p]?.[m]?.summary, `${m} ${p} missing from openapi.json`);
});
