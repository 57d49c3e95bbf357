// Connect time is reported apart from the request's own time: per request name, how many
// requests opened a new connection and how long opening it took. The counts are checked against
// what the target saw (node's 'connection' events), not against the engine's own figures: with
// keep-alive, N VUs making M requests each open exactly N connections; against a target that
// answers `Connection: close`, every request opens one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { STAMPEDE_BIN, run, tempDir } from '../lib/harness.mjs';

let target, targetUrl;
const seen = { connections: 0, requests: 0, ports: [] };

before(async () => {
  target = http.createServer((req, res) => {
    seen.requests++;
    if (req.url.startsWith('/close')) res.setHeader('Connection', 'close');
    res.end('{}');
  });
  target.keepAliveTimeout = 60000;
  target.on('connection', (sock) => { seen.connections++; seen.ports.push(sock.remotePort); });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${target.address().port}`;
});
after(() => new Promise((r) => { target.closeAllConnections(); target.close(r); }));

const VUS = 6;
const PER_VU = 5;

// Each VU makes PER_VU requests in its first iteration, then thinks past the run's end: the
// count is exact whatever the run's timing.
async function runWith(url, name, vus = VUS) {
  const dir = tempDir();
  const file = path.join(dir, 'test.json');
  const out = path.join(dir, 'out.json');
  fs.writeFileSync(file, JSON.stringify({
    name, base_url: targetUrl,
    users: [{
      think: { constant_ms: 60000 },
      tasks: [{ steps: [{ repeat: { count: PER_VU, steps: [{ request: { url, name }, expect: { status: 200 } }] } }] }],
    }],
    load: { users: vus, duration: '2s' },
  }));
  seen.connections = 0;
  seen.requests = 0;
  seen.ports = [];
  const r = await run(STAMPEDE_BIN, ['run', file, '--quiet', '--json', out], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr);
  return { r, doc: JSON.parse(fs.readFileSync(out, 'utf8')) };
}

function connectFigures(doc, name) {
  const n = doc.names.find((x) => x.name === name);
  assert.ok(n, `no entry for ${name}`);
  const perSecond = doc.seconds.reduce((sum, s) => sum + (s.names[name]?.connects || 0), 0);
  const perSecondTotal = doc.seconds.reduce((sum, s) => sum + s.connects, 0);
  return { n, perSecond, perSecondTotal };
}

test('keep-alive: N VUs making M requests each open N connections, counted as the target saw them', async () => {
  const { r, doc } = await runWith('/keep', 'GET /keep');
  assert.equal(seen.requests, VUS * PER_VU);
  assert.equal(seen.connections, VUS);
  const { n, perSecond, perSecondTotal } = connectFigures(doc, 'GET /keep');
  assert.equal(n.requests, VUS * PER_VU);
  assert.equal(n.connects, seen.connections);
  assert.equal(doc.total.connects, seen.connections);
  // The per-second figures add up to the totals (they merge).
  assert.equal(perSecond, seen.connections);
  assert.equal(perSecondTotal, seen.connections);
  const c = n.connect_ms;
  assert.equal(c.count, VUS);
  assert.ok(c.max > 0 && c.max < 1000, `a loopback connect takes under a second: ${JSON.stringify(c)}`);
  assert.ok(c.avg > 0 && c.avg <= c.max && c.p50 <= c.p95 && c.p95 <= c.max, JSON.stringify(c));
  // The connect time is part of the request's latency: no connect took longer than the
  // slowest request.
  assert.ok(c.max <= n.latency_ms.max, `${c.max} > ${n.latency_ms.max}`);
  assert.match(r.stdout, /New connections\s+Connects/);
  assert.match(r.stdout, new RegExp(`GET /keep\\s+${VUS}\\s`));
});

test('Connection: close: every request opens a connection', async () => {
  const { r, doc } = await runWith('/close', 'GET /close');
  assert.equal(seen.requests, VUS * PER_VU);
  assert.equal(seen.connections, VUS * PER_VU);
  const { n, perSecond } = connectFigures(doc, 'GET /close');
  assert.equal(n.connects, VUS * PER_VU);
  assert.equal(n.connect_ms.count, VUS * PER_VU);
  assert.equal(perSecond, VUS * PER_VU);
  assert.match(r.stdout, new RegExp(`GET /close\\s+${VUS * PER_VU}\\s`));
});

// The engine's sockets ask the kernel to pick local ports over the whole ephemeral range in one
// pass (IP_LOCAL_PORT_RANGE, engine/worker.c spread_ports). Without it Linux gives connect()
// ports of one parity until that half of the range is used up, and past that every connect
// scanned the full half (a ramp to 15,000 VUs froze the worker for seconds). Seen from the target:
// the connections' ports are of both parities. Kernels before 6.8 keep the parity split.
const [major, minor] = os.release().split('.').map(Number);
const oldKernel = os.platform() !== 'linux' || major < 6 || (major === 6 && minor < 8);
test('connections take local ports of both parities (one pass over the ephemeral range)', { skip: oldKernel && `kernel ${os.release()}` }, async () => {
  const n = 24; // were the parities random, all 24 of one would happen once in 8 million runs
  await runWith('/keep', 'GET /keep', n);
  assert.equal(seen.ports.length, n);
  const odd = seen.ports.filter((p) => p % 2 === 1).length;
  assert.ok(odd > 0 && odd < n, `ports ${seen.ports.join(' ')}: all of one parity`);
});
