// CSV data files per user class (users[i].data_file), end to end: `stampede run` against the
// real demo shop, one test per feeder mode. The shop's /__stats is the ground truth for counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, SOURCE_DIR, run, startShop, tempDir } from '../lib/harness.mjs';

const dir = tempDir();
let shop;

before(async () => {
  shop = await startShop();
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'products.csv'), 'id,label\n101,one\n102,two\n103,"three, quoted"\n104,four\n105,five\n');
});
after(async () => { if (shop) await shop.stop(); });

function writeDef(name, def) {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(def, null, 2));
  return file;
}

async function runJson(file, args = []) {
  const out = path.join(dir, `${path.basename(file, '.json')}-${Date.now()}.result.json`);
  const r = await run(STAMPEDE_BIN, ['run', file, '--quiet', '--json', out, ...args], { timeoutMs: 60000 });
  const result = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : null;
  assert.ok(result, `no JSON result; exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return { ...r, result };
}

async function served(route) {
  const stats = await (await fetch(`${shop.url}/__stats`)).json();
  return Object.values(stats.endpoints[route] || {}).reduce((a, b) => a + b, 0);
}

function productsDef(dataFile, load, think = { constant: '20ms' }) {
  return {
    name: 'products from a CSV', base_url: shop.url,
    users: [{ name: 'u', data_file: { csv: 'data/products.csv', ...dataFile }, think,
      tasks: [{ request: { url: '/api/v1/products/{{row.id}}', name: 'GET /products/:id' },
                expect: { status: 200, body_contains: '"id":{{row.id}},' } }] }],
    load,
  };
}

test('unique rows with on_exhausted stop: each row is used exactly once, then the VUs stop', async () => {
  await fetch(`${shop.url}/__reset?state=1`, { method: 'POST' });
  const file = writeDef('unique-stop', productsDef({ mode: 'unique', on_exhausted: 'stop' }, { users: 2, duration: '2s' }));
  const { code, stdout, stderr, result } = await runJson(file);
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.equal(result.total.requests, 5);
  assert.equal(result.total.failures, 0);
  assert.equal(result.iterations, 5);
  assert.equal(await served('GET /api/v1/products/:id'), 5);
});

test('unique rows with on_exhausted recycle go round again', async () => {
  const file = writeDef('unique-recycle', productsDef({ mode: 'unique', on_exhausted: 'recycle' }, { users: 2, duration: '2s' }));
  const { result } = await runJson(file);
  assert.ok(result.total.requests > 10, `${result.total.requests} requests`);
  assert.equal(result.total.failures, 0);
});

test('sequential and random rows, per iteration: every request matches its row', async () => {
  for (const mode of ['sequential', 'random']) {
    const file = writeDef(`mode-${mode}`, productsDef({ mode, per: 'iteration' }, { users: 3, duration: '2s' }));
    const { code, result } = await runJson(file);
    assert.equal(code, 0, mode);
    assert.ok(result.total.requests > 20, `${mode}: ${result.total.requests} requests`);
    assert.equal(result.total.failures, 0, `${mode}: ${JSON.stringify(result.total.failure_messages)}`);
  }
});

test('one row per VU: the data-driven example logs each VU in as its own customer', async () => {
  const file = path.join(SOURCE_DIR, 'examples', 'data-driven.json');
  const { code, stdout, result } = await runJson(file, ['--base-url', shop.url, '--users', '4', '--duration', '3s']);
  assert.equal(code, 0, stdout);
  const login = result.names.find((n) => n.name === 'POST /auth/login');
  assert.equal(login.requests, 4);
  assert.equal(result.total.failures, 0, JSON.stringify(result.total.failure_messages));
});

test('per VU with unique rows and stop: VUs beyond the rows do not start', async () => {
  const file = writeDef('per-vu-unique', productsDef({ mode: 'unique', per: 'vu', on_exhausted: 'stop' }, { users: 7, duration: '1s' }, { constant: '200ms' }));
  const { result } = await runJson(file);
  assert.equal(result.total.failures, 0);
  // Five VUs with a row each, about five iterations each in one second.
  assert.ok(result.total.requests >= 10 && result.total.requests <= 30, `${result.total.requests} requests`);
  assert.ok(result.seconds[0].vus <= 5, `active VUs ${result.seconds[0].vus}`);
});

test('bad data files are refused at load with the field path, the file and the line', async () => {
  const missing = writeDef('missing', productsDef({ csv: 'data/nope.csv' }, { users: 1, duration: '1s' }));
  let r = await run(STAMPEDE_BIN, ['run', missing, '--check']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /users\[0\]\.data_file\.csv: .*nope\.csv: no such file/);
  fs.writeFileSync(path.join(dir, 'data', 'bad.csv'), 'id,label\n101,one\n102\n');
  const bad = writeDef('badrow', productsDef({ csv: 'data/bad.csv' }, { users: 1, duration: '1s' }));
  r = await run(STAMPEDE_BIN, ['run', bad, '--check']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.csv: line 3: /);
  const def = productsDef({}, { users: 1, duration: '1s' });
  def.users[0].tasks[0].request.url = '/api/v1/products/{{row.ids}}';
  r = await run(STAMPEDE_BIN, ['run', writeDef('badfield', def), '--check']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /tasks\[0\]\.request\.url: column \d+: unknown row field 'ids'.*did you mean 'id'/);
  def.users[0].tasks[0].request.url = '/api/v1/products/{{row.id}}';
  def.users[0].data_file.mode = 'shuffled';
  r = await run(STAMPEDE_BIN, ['run', writeDef('badmode', def), '--check']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /users\[0\]\.data_file\.mode: unknown mode 'shuffled'/);
});
