// http2.test.mjs - options.http_version against real HTTP/2 servers: Debian's nginx with
// `http2` over TLS (a self-signed certificate made here with openssl, trusted with
// options.insecure) and over prior knowledge (h2c), beside TLS and plain listeners without
// HTTP/2. nginx's access log ($server_protocol, $connection) is the ground truth: every request
// the engine counts must have reached nginx in the version asked for, and the distinct
// connections must equal the VUs (HTTP/2 must never put two VUs on one connection). Node's
// own HTTP/2 server (nghttp2 inside) resets streams and ends connections with a GOAWAY for the
// failure kinds, counted against what it received.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { STAMPEDE_BIN, freePort, run, startProcess, startStampede, tempDir } from '../lib/harness.mjs';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const VUS = 3;
let dir, nginx, ports, logFile;

before(async () => {
  if (!NGINX) throw new Error('nginx is not installed (packaging/deps.sh installs nginx-light)');
  dir = tempDir('stampede-h2-');
  fs.chmodSync(dir, 0o755); // nginx's workers may run as another user
  fs.mkdirSync(path.join(dir, 'logs'), { mode: 0o777 });
  fs.chmodSync(path.join(dir, 'logs'), 0o777);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  ports = {
    tlsH2: await freePort(), tls11: await freePort(), h2c: await freePort(), plain: await freePort(),
    h2cIdle: await freePort(),
  };
  logFile = path.join(dir, 'logs', 'access.log');
  // keepalive_requests: nginx ends a connection (HTTP/2: with a GOAWAY) after that many requests;
  // far above what a run sends, so that distinct connections count VUs and nothing else.
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
daemon off;
events { worker_connections 256; }
http {
  log_format h2 '$server_port $server_protocol $connection $uri';
  access_log ${logFile} h2;
  keepalive_requests 1000000;
  ssl_certificate ${dir}/cert.pem;
  ssl_certificate_key ${dir}/key.pem;
  default_type text/plain;
  server { listen 127.0.0.1:${ports.tlsH2} ssl http2; location / { return 200 'ok'; } }
  server { listen 127.0.0.1:${ports.tls11} ssl; location / { return 200 'ok'; } }
  server { listen 127.0.0.1:${ports.h2c} http2; location / { return 200 'ok'; } }
  server { listen 127.0.0.1:${ports.plain}; location / { return 200 'ok'; } }
  server { listen 127.0.0.1:${ports.h2cIdle} http2; keepalive_timeout 300ms; location / { return 200 'ok'; } }
}
`);
  nginx = await startProcess(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'logs', 'error.log')],
    { readyUrl: `http://127.0.0.1:${ports.plain}/ready` });
});

after(async () => { if (nginx) await nginx.stop(); });

/** The access log's lines since the last call: { port, proto, conn, uri } each. */
function takeLog() {
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  fs.truncateSync(logFile, 0); // nginx opened it with O_APPEND: it goes on at the new end
  return text.split('\n').filter(Boolean).map((l) => {
    const [port, proto, conn, uri] = l.split(' ');
    return { port: Number(port), proto, conn, uri };
  });
}

let seq = 0;
/** Runs a definition as its load says; returns the CLI's JSON result by request name. */
async function runDef(def) {
  const file = path.join(dir, `def-${++seq}.json`);
  const out = path.join(dir, `out-${seq}.json`);
  fs.writeFileSync(file, JSON.stringify(def));
  const r = await run(STAMPEDE_BIN, ['run', file, '--quiet', '--json', out, '--allow-failures',
    '--threads', '1'], { timeoutMs: 30000 });
  assert.ok(fs.existsSync(out), `no result: exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  const result = JSON.parse(fs.readFileSync(out, 'utf8'));
  const by = {};
  for (const n of result.names) by[n.name] = n;
  return { ...r, by };
}

function def(baseUrl, httpVersion) {
  const options = { insecure: true };
  if (httpVersion !== undefined) options.http_version = httpVersion;
  return {
    name: `h2 ${httpVersion}`, base_url: baseUrl, options,
    users: [{ tasks: [{ steps: [
      { request: { url: '/a', name: 'a' } },
      { request: { url: '/b', name: 'b' } },
    ] }] }],
    // VUs start one by one: a VU that found another's HTTP/2 connection open would multiplex
    // onto it (curl's default), which the count of connections below would show.
    load: { stages: [{ duration: '1s', users: VUS }, { duration: '1s', users: VUS }] },
  };
}

/**
 * Runs def against port and checks what nginx received: every request in protocol proto, as
 * many per URI as the engine counted per name, over exactly VUS connections.
 */
async function expectServed(baseUrl, port, httpVersion, proto) {
  takeLog();
  const { by } = await runDef(def(baseUrl, httpVersion));
  const log = takeLog();
  for (const name of ['a', 'b']) {
    assert.ok(by[name].requests > 0, `${name} was never requested`);
    assert.equal(by[name].failures, 0, `${name} failed: ${JSON.stringify(by[name].failure_messages)}`);
    assert.equal(log.filter((l) => l.uri === `/${name}`).length, by[name].requests, `${name}: engine vs nginx`);
  }
  assert.deepEqual([...new Set(log.map((l) => l.port))], [port], 'every request went to the one listener');
  assert.deepEqual([...new Set(log.map((l) => l.proto))], [proto], `every request arrived as ${proto}`);
  assert.equal(new Set(log.map((l) => l.conn)).size, VUS, 'one connection per VU');
}

test('"2" over TLS: every request reaches nginx as HTTP/2, one connection per VU', async () => {
  await expectServed(`https://127.0.0.1:${ports.tlsH2}`, ports.tlsH2, '2', 'HTTP/2.0');
});

test('"2" over http:// speaks prior knowledge (h2c), connections reused, one per VU', async () => {
  await expectServed(`http://127.0.0.1:${ports.h2c}`, ports.h2c, '2', 'HTTP/2.0');
});

test('"2" over h2c: a connection the server closed while the VU waited is replaced, nothing fails', async () => {
  // nginx closes an idle connection after 300 ms (GOAWAY, then FIN); the VUs wait 600 ms
  // between requests, so each request finds its connection closed and must open a new one with
  // prior knowledge (libcurl 7.88 would send an HTTP/1.1 Upgrade there if asked for plain h2).
  takeLog();
  const d = def(`http://127.0.0.1:${ports.h2cIdle}`, '2');
  d.users[0].think = { constant: '600ms' };
  d.load = { users: 2, duration: '2s' };
  const { by } = await runDef(d);
  const log = takeLog();
  const total = by.a.requests + by.b.requests;
  assert.ok(by.a.requests >= 2, JSON.stringify(by.a));
  assert.equal(by.a.failures + by.b.failures, 0, JSON.stringify([by.a.failure_messages, by.b.failure_messages]));
  assert.equal(log.length, total, 'every request reached nginx');
  assert.ok(log.every((l) => l.proto === 'HTTP/2.0'));
  // a and b go out back to back on one connection; the think time closes it.
  assert.equal(new Set(log.map((l) => l.conn)).size, by.a.requests, 'a new connection per iteration');
});

test('"1.1" (and no option) stays HTTP/1.1 on a listener that offers h2', async () => {
  await expectServed(`https://127.0.0.1:${ports.tlsH2}`, ports.tlsH2, '1.1', 'HTTP/1.1');
  await expectServed(`https://127.0.0.1:${ports.tlsH2}`, ports.tlsH2, undefined, 'HTTP/1.1');
});

test('"auto" gets h2 where TLS offers it and HTTP/1.1 over plain http://', async () => {
  await expectServed(`https://127.0.0.1:${ports.tlsH2}`, ports.tlsH2, 'auto', 'HTTP/2.0');
  await expectServed(`https://127.0.0.1:${ports.tls11}`, ports.tls11, 'auto', 'HTTP/1.1');
  await expectServed(`http://127.0.0.1:${ports.plain}`, ports.plain, 'auto', 'HTTP/1.1');
});

test('"2" against a TLS server without h2 fails every request as not_http2', async () => {
  takeLog();
  const { by } = await runDef(def(`https://127.0.0.1:${ports.tls11}`, '2'));
  const log = takeLog();
  for (const name of ['a', 'b']) {
    const n = by[name];
    assert.ok(n.requests > 0);
    assert.equal(n.errors.not_http2, n.requests, JSON.stringify(n));
    assert.equal(n.failures, n.requests);
    assert.equal(log.filter((l) => l.uri === `/${name}` && l.proto === 'HTTP/1.1').length, n.requests);
    assert.match(n.failure_messages[0].message, /answered over HTTP\/1\.1, not HTTP\/2 \(options\.http_version "2"\)/);
  }
});

test('"2" against a plain HTTP/1.1 server fails with a hint at h2c', async () => {
  takeLog();
  const { by } = await runDef({ ...def(`http://127.0.0.1:${ports.plain}`, '2'), load: { users: 1, duration: '1s' } });
  const log = takeLog();
  const n = by.a;
  assert.ok(n.requests > 0);
  assert.equal(n.failures, n.requests);
  // nginx answers the preface "PRI * HTTP/2.0" with a 400 it logs without a URI.
  assert.equal(log.filter((l) => l.uri === '/a').length, 0);
  assert.match(n.failure_messages[0].message, /h2c/);
});

test('a bad http_version is refused naming the field and the allowed values', async () => {
  for (const bad of ['2.0', 'h2', 2, 1.1, null]) {
    const file = path.join(dir, `bad-${++seq}.json`);
    fs.writeFileSync(file, JSON.stringify(def(`http://127.0.0.1:${ports.plain}`, bad)));
    takeLog();
    const r = await run(STAMPEDE_BIN, ['run', file, '--quiet'], { timeoutMs: 10000 });
    assert.equal(r.code, 2, `${JSON.stringify(bad)}: exit ${r.code}`);
    const text = r.stderr + r.stdout;
    assert.match(text, /options\.http_version/, text);
    assert.match(text, /"1\.1", "2" or "auto"/, text);
    assert.equal(takeLog().length, 0, 'nothing was sent');
  }
});

test('the REST API refuses a bad http_version with 422 naming the field, and keeps a good one', async () => {
  const srv = await startStampede();
  try {
    const bad = await srv.api('POST', '/api/v1/tests', def(`http://127.0.0.1:${ports.plain}`, 'HTTP/2'));
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.json.error.code, 'invalid_definition');
    assert.equal(bad.json.error.path, 'options.http_version');
    assert.match(bad.json.error.message, /expected "1\.1", "2" or "auto", got 'HTTP\/2'/);
    const good = await srv.api('POST', '/api/v1/tests', def(`http://127.0.0.1:${ports.plain}`, 'auto'));
    assert.equal(good.status, 201, good.text);
    const back = await srv.api('GET', `/api/v1/tests/${good.json.id}`);
    assert.equal(back.json.definition.options.http_version, 'auto', back.text);
  } finally {
    await srv.stop();
  }
});

test('stream resets and GOAWAYs count as stream_reset and http2, as the server saw them', async () => {
  // A real HTTP/2 server over h2c: /reset answers RST_STREAM (INTERNAL_ERROR), /goaway ends the
  // whole connection with GOAWAY (PROTOCOL_ERROR) and closes it.
  const seen = { '/ok': 0, '/reset': 0, '/goaway': 0 };
  const sessions = new Set();
  const srv = http2.createServer();
  srv.on('sessionError', () => {});
  srv.on('session', (s) => sessions.add(s));
  srv.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const p = headers[':path'];
    if (p in seen) seen[p]++;
    if (p === '/reset') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else if (p === '/goaway') stream.session.destroy(new Error('goaway'), http2.constants.NGHTTP2_PROTOCOL_ERROR);
    else { stream.respond({ ':status': 200 }); stream.end('ok'); }
  });
  const port = await freePort();
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  try {
    const d = {
      name: 'h2 failures', base_url: `http://127.0.0.1:${port}`, options: { http_version: '2' },
      users: [{ think: { constant: '5ms' }, tasks: [{ steps: [
        { request: { url: '/ok', name: 'ok' } },
        { request: { url: '/reset', name: 'reset' } },
        { request: { url: '/goaway', name: 'goaway' } },
      ] }] }],
      load: { users: 2, duration: '2s' },
    };
    const { by } = await runDef(d);
    assert.ok(by.ok.requests > 0 && by.reset.requests > 0 && by.goaway.requests > 0, JSON.stringify(by));
    assert.equal(by.ok.failures, 0, JSON.stringify(by.ok.failure_messages));
    assert.equal(by.ok.requests, seen['/ok']);
    assert.equal(by.reset.errors.stream_reset, by.reset.requests, JSON.stringify(by.reset));
    assert.equal(by.reset.requests, seen['/reset']);
    assert.equal(by.goaway.errors.http2, by.goaway.requests, JSON.stringify(by.goaway));
    assert.equal(by.goaway.requests, seen['/goaway']);
    // Each GOAWAY ends its VU's connection, and a reset stream leaves it open: every iteration
    // makes one new connection, for /ok, and the other two requests go over it.
    assert.equal(sessions.size, by.ok.requests, 'connections made');
  } finally {
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => srv.close(resolve));
  }
});
