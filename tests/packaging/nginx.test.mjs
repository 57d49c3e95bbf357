// nginx.test.mjs - packaging/nginx/stampede.conf, for real: Debian's nginx runs the sample
// (its ports, certificate and name rewritten to free loopback ports, a throwaway self-signed
// certificate and the name stampede.test) in front of the real daemon started with
// --public-url, and the API, the redirect, the Origin checks and the live WebSocket are used
// through it over TLS. Raw requests over TLS (node's tls module: fetch and curl would normalise
// them) check that the requests Stampede must not be left to judge alone are refused in front
// of it: no Host or two, two lengths, unknown transfer codings, a chunked body past the cap.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import * as harness from '../lib/harness.mjs';

const { STAMPEDE_BIN, SOURCE_DIR, freePort, tempDir, startProcess, sleep } = harness;

const NAME = 'stampede.test';
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
let dir, srv, nginx, https, httpPort, origin, ca;
let auth = []; // curl arguments that authenticate, when the server has access control

function curl(args) {
  const r = spawnSync('curl', ['-sS', '--max-time', '10', '--cacert', path.join(dir, 'cert.pem'),
    '--resolve', `${NAME}:${https}:127.0.0.1`, '--resolve', `${NAME}:${httpPort}:127.0.0.1`,
    '-o', '-', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `curl ${args.join(' ')}: ${r.stderr}`);
  const nl = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, nl);
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: Number(r.stdout.slice(nl + 1)), text, json };
}

/** The sample, adapted: every other line is used as shipped. */
function adapt(sample, { port, live }) {
  const out = sample
    .replace(/^\s*listen \[::\]:\d+.*\n/gm, '')
    .replace(/listen 80;/, `listen 127.0.0.1:${httpPort};`)
    .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${https} ssl http2;`)
    .replaceAll('stampede.example.com;', `${NAME};`)
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${dir}/cert.pem;`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${dir}/key.pem;`)
    .replace('server 127.0.0.1:8484;', `server 127.0.0.1:${port};`)
    .replace('server 127.0.0.1:8485;', `server 127.0.0.1:${live};`);
  // Every rewrite must have hit, or the test would be testing something else than the sample.
  for (const want of [`127.0.0.1:${httpPort};`, `127.0.0.1:${https} ssl`, `${dir}/cert.pem`,
    `${dir}/key.pem`, `127.0.0.1:${port};`, `127.0.0.1:${live};`]) {
    assert.ok(out.includes(want), `the sample no longer has what the test rewrites into ${want}`);
  }
  return out;
}

before(async () => {
  if (!NGINX) throw new Error('nginx is not installed (packaging/deps.sh installs nginx-light)');
  dir = tempDir('stampede-nginx-');
  fs.chmodSync(dir, 0o755); // nginx's workers may run as another user
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-subj', `/CN=${NAME}`, '-addext', `subjectAltName=DNS:${NAME}`], { stdio: 'ignore' });
  ca = fs.readFileSync(path.join(dir, 'cert.pem'));

  https = await freePort();
  httpPort = await freePort();
  origin = `https://${NAME}:${https}`;
  let port, live;
  if (harness.startStampede) {
    // Access control on: an admin token rides on every request through the proxy.
    srv = await harness.startStampede(['--public-url', origin]);
    ({ port, live } = srv);
    auth = ['-H', `Authorization: Bearer ${srv.token}`];
  } else {
    port = await freePort();
    live = await freePort();
    srv = await startProcess(STAMPEDE_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--live-port', String(live),
      '--data-dir', tempDir(), '--public-url', origin],
    { readyUrl: `http://127.0.0.1:${port}/api/v1/health`, env: { STAMPEDE_ADMIN_PASSWORD: 'nginx-test-password' } });
  }

  const sample = fs.readFileSync(path.join(SOURCE_DIR, 'packaging/nginx/stampede.conf'), 'utf8');
  fs.writeFileSync(path.join(dir, 'stampede.conf'), adapt(sample, { port, live }));
  const temp = (n) => `${n}_temp_path ${dir}/${n};`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
${process.getuid && process.getuid() === 0 ? 'user root;' : ''}
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${dir}/stampede.conf;
}
`);
  const t = spawnSync(NGINX, ['-t', '-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
  assert.equal(t.status, 0, `nginx -t: ${t.stderr}`);
  nginx = await startProcess(NGINX, ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;']);
  const deadline = Date.now() + 10000;
  for (;;) {
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '--cacert', path.join(dir, 'cert.pem'),
      '--resolve', `${NAME}:${https}:127.0.0.1`, `${origin}/api/v1/health`]);
    if (r.status === 0) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer:\n${nginx.stderr()}`);
    await sleep(100);
  }
});

after(async () => {
  if (nginx) await nginx.stop('SIGQUIT');
  if (srv) await srv.stop();
  if (dir && fs.existsSync(path.join(dir, 'error.log'))) {
    const log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
    if (/\[(emerg|alert|crit)\]/.test(log)) console.log(`# nginx error.log:\n${log}`);
  }
});

test('/api/v1/health answers through the proxy over TLS', () => {
  const r = curl([`${origin}/api/v1/health`]);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'ok');
});

test('plain HTTP is redirected to the HTTPS origin', () => {
  const r = curl(['-D', '-', `http://${NAME}:${httpPort}/api/v1/health`]);
  assert.equal(r.status, 301);
  assert.match(r.text, new RegExp(`^location: https://${NAME}/api/v1/health`, 'mi'));
});

test('/api/v1/config tells the dashboard to open the stream under the same origin', () => {
  const r = curl([`${origin}/api/v1/config`]);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.live_url, `wss://${NAME}:${https}/live/`);
  // The dashboard page may connect there.
  const page = curl(['-D', '-', `${origin}/`]);
  const csp = /^content-security-policy: (.*)$/mi.exec(page.text);
  assert.ok(csp, page.text.slice(0, 500));
  assert.ok(csp[1].includes(`wss://${NAME}:${https}/live/`), csp[1]);
});

test('a request from the public origin passes the Origin check, another origin is refused', () => {
  const body = JSON.stringify({ name: 'x', base_url: 'http://127.0.0.1:9', users: [{ tasks: [{ steps: [{ request: { url: '/' } }] }] }], load: { users: 1, duration: '1s' } });
  const post = (o) => curl([...auth, '-X', 'POST', '-H', 'Content-Type: application/json', '-H', `Origin: ${o}`,
    '--data-binary', body, `${origin}/api/v1/tests/validate`]);
  const ours = post(origin);
  assert.equal(ours.status, 200, ours.text);
  assert.equal(ours.json.valid, true);
  const theirs = post('https://evil.test');
  assert.equal(theirs.status, 403, theirs.text);
});

function openLive(o) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://${NAME}:${https}/live/`, 'stampede-live-v1', {
      ca, origin: o, headers: srv.token ? { Authorization: `Bearer ${srv.token}` } : {},
      lookup: (host, opts, cb) => (opts && opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)),
    });
    const t = setTimeout(() => { ws.terminate(); resolve({ error: 'timeout' }); }, 5000);
    ws.on('open', () => ws.send(JSON.stringify({ subscribe: 'runs' })));
    ws.on('message', (m) => { clearTimeout(t); ws.close(); resolve({ message: JSON.parse(String(m)) }); });
    ws.on('error', (e) => { clearTimeout(t); resolve({ error: e.message }); });
    ws.on('unexpected-response', (req, res) => { clearTimeout(t); req.destroy(); resolve({ error: `HTTP ${res.statusCode}` }); });
  });
}

test('the live WebSocket upgrades through the proxy from the public origin only', async () => {
  const ok = await openLive(origin);
  assert.deepEqual(ok.message, { type: 'subscribed', subscribe: 'runs' }, JSON.stringify(ok));
  const refused = await openLive('https://evil.test');
  assert.ok(refused.error, `a foreign origin got a stream: ${JSON.stringify(refused)}`);
});

/**
 * Sends head (request line and header lines, each ending in CRLF; the blank line is added) and
 * body as they are, over TLS to the proxy, and resolves the answer: { status, text, timedOut }.
 * With chunkedBytes, that many bytes are streamed in 64 KiB chunks after the head, and the
 * request is left unfinished (no last chunk): the answer must come before the body ends.
 */
function rawTls(head, body = '', { chunkedBytes = 0, waitMs = 5000 } = {}) {
  return new Promise((resolve) => {
    let text = '';
    let over = false;
    const sock = tls.connect({ host: '127.0.0.1', port: https, servername: NAME, ca, ALPNProtocols: ['http/1.1'] }, () => {
      sock.write(`${head}\r\n${body}`);
      const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(65536, 0x20), Buffer.from('\r\n')]);
      for (let sent = 0; sent < chunkedBytes; sent += 65536) sock.write(chunk);
    });
    const done = (timedOut) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      sock.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, timedOut });
    };
    const timer = setTimeout(() => done(true), waitMs);
    sock.on('data', (d) => {
      text += d;
      const end = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (end >= 0 && (!len || text.length >= end + 4 + Number(len[1]))) done(false);
    });
    sock.on('end', () => done(false));
    sock.on('error', () => done(false));
  });
}

const HOST = () => `Host: ${NAME}:${https}\r\n`;
const POST = () => `POST /api/v1/tests/validate HTTP/1.1\r\n${HOST()}${srv.token ? `Authorization: Bearer ${srv.token}\r\n` : ''}` +
  'Content-Type: application/json\r\n';

test('requests that could be read two ways are refused by nginx, at once, before Stampede', async () => {
  // The control: a well-formed request gets through to Stampede.
  const ok = await rawTls(`${POST()}Content-Length: 2\r\n`, '{}');
  assert.equal(ok.status, 422, ok.text.slice(0, 400));
  assert.match(ok.text, /"code":"invalid_definition"/);
  for (const [what, head, body, status] of [
    ['no Host', 'GET /api/v1/health HTTP/1.1\r\n', '', 400],
    ['two Host headers', `GET /api/v1/health HTTP/1.1\r\n${HOST()}Host: evil.test\r\n`, '', 400],
    ['two Content-Length headers', `${POST()}Content-Length: 2\r\nContent-Length: 13\r\n`, '{}{"a": true}', 400],
    ['a length and a coding', `${POST()}Content-Length: 7\r\nTransfer-Encoding: chunked\r\n`, '2\r\n{}\r\n0\r\n\r\n', 400],
    ['an unknown coding', `${POST()}Transfer-Encoding: gzip, chunked\r\n`, '2\r\n{}\r\n0\r\n\r\n', 501],
  ]) {
    const r = await rawTls(head, body);
    assert.equal(r.status, status, `${what}: ${r.text.slice(0, 400)}`);
    assert.ok(!r.timedOut, `${what}: no answer`);
    // nginx's own error page: the request never reached Stampede.
    assert.match(r.text, /<center>nginx(\/[0-9.]+)?<\/center>/, what);
  }
});

test('a chunked body past the cap is refused at once, in Stampede\'s error format', async () => {
  const r = await rawTls(`${POST()}Transfer-Encoding: chunked\r\n`, '', { chunkedBytes: (4 << 20) + 65536 });
  assert.equal(r.status, 413, r.text.slice(0, 400));
  assert.ok(!r.timedOut);
  assert.match(r.text, /application\/json/);
  assert.match(r.text, /\{"error":\{"code":"too_large","message":"body is larger than the limit of 4194304 bytes","path":""\}\}/);
});

test('too many query arguments are refused by Stampede through the proxy', async () => {
  const args = Array.from({ length: 600 }, (_, i) => `a${i}`).join('&');
  const r = await rawTls(`GET /api/v1/health?${args} HTTP/1.1\r\n${HOST()}`);
  assert.equal(r.status, 414, r.text.slice(0, 400));
  assert.match(r.text, /"code":"uri_too_long"/);
});

test('only the session cookie is passed on: a flood of cookies does not reach Stampede', async () => {
  const cookies = Array.from({ length: 1000 }, (_, i) => `c${i}=1`).join('; ');
  const r = await rawTls(`GET /api/v1/health HTTP/1.1\r\n${HOST()}Cookie: ${cookies}\r\n`);
  assert.equal(r.status, 200, r.text.slice(0, 400));
  assert.match(r.text, /"status":"ok"/);
});
