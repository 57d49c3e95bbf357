// CSV data files of tests stored on the server: read only from DATA_DIR/files, by relative
// paths. The real daemon (access control on) and the real demo shop; the shop's /__stats is the
// ground truth for what was sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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
