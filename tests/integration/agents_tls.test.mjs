// agents_tls.test.mjs - issue 17: "wss:// when the server has TLS; the agent verifies the
// certificate unless told --insecure". Real `stampede serve --tls-cert` daemons (--no-auth,
// loopback) with throwaway certificates made here with openssl: one self-signed, one of a CA
// made here for "localhost", one of that CA for another host name. A real `stampede agent`
// must be refused, with a message naming the certificate problem, and never be listed by
// GET /api/v1/agents, unless the certificate is good: trusted (--ca-file) and for the host it
// connects to, or --insecure says not to check.
//
// The agent checks twice: libcurl for /api/v1/config, then libwebsockets for the wss:// stream.
// Against one server both see the same certificate, and libcurl refuses first; so the last test
// reads the config through a real nginx with a good certificate in front of each server, and
// only the stream meets the server's own: an agent that skipped verification on the stream
// (LCCSCF_ALLOW_SELFSIGNED or the host-name check left off without --insecure) fails it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { STAMPEDE_BIN, startProcess, freePort, run, sleep, tempDir } from '../lib/harness.mjs';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
let dir, nginx;
const servers = {};
const front = {}; // nginx's port in front of each server
const running = [];

const file = (n) => path.join(dir, n);
const openssl = (...args) => execFileSync('openssl', args, { stdio: 'ignore' });

// A key and a certificate for san: self-signed, or signed by the CA made in before().
function cert(name, san, { selfSigned = false } = {}) {
  if (selfSigned) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-keyout', file(`${name}.key`),
      '-out', file(`${name}.pem`), '-subj', '/CN=localhost', '-addext', `subjectAltName=${san}`);
    return;
  }
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`),
    '-subj', `/CN=${name}`);
  fs.writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\n`);
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '1', '-out', file(`${name}.pem`), '-extfile', file(`${name}.ext`));
}

function get(port, p) {
  return new Promise((resolve, reject) => {
    const r = https.get({ host: '127.0.0.1', port, path: p, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    r.on('error', reject);
    r.setTimeout(3000, () => r.destroy(new Error('timeout')));
  });
}

async function startServer(name) {
  const port = await freePort();
  let live = await freePort();
  while (live === port) live = await freePort();
  const h = await startProcess(STAMPEDE_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--live-port', String(live),
    '--data-dir', file(`data-${name}`), '--no-auth', '--tls-cert', file(`${name}.pem`), '--tls-key', file(`${name}.key`)]);
  for (let i = 0; ; i++) {
    const ok = await get(port, '/api/v1/health').catch(() => null);
    if (ok?.status === 200) break;
    if (i > 200) throw new Error(`the ${name} server did not start:\n${h.stderr()}`);
    await sleep(50);
  }
  return Object.assign(h, { port, live });
}

const listed = async (srv) => JSON.parse((await get(srv.port, '/api/v1/agents')).text).agents.map((a) => a.name);

function agent(url, name, flags = []) {
  const h = startProcess(STAMPEDE_BIN, ['agent', '--server', url, '--location', 'tls', '--name', name,
    '--threads', '1', ...flags]);
  running.push(h);
  return h;
}

async function registers(srv, url, name, flags) {
  const a = await agent(url, name, flags);
  const end = Date.now() + 10000;
  while (!(await listed(srv)).includes(name)) {
    if (Date.now() > end) assert.fail(`${name} never registered:\n${a.stderr()}`);
    await sleep(50);
  }
  assert.match(a.stderr(), /connected to wss:\/\//);
  await a.stop('SIGKILL');
}

// The agent logs the refusal at its first attempt and again at its retry a second later; it is
// still not listed then, and keeps running (a server may get a good certificate later).
async function refused(srv, url, name, flags, why) {
  const a = await agent(url, name, flags);
  const end = Date.now() + 8000;
  while ((a.stderr().match(new RegExp(why.source, 'g')) || []).length < 2) {
    if (Date.now() > end) assert.fail(`${name}: no refusal matching ${why}:\n${a.stderr()}`);
    await sleep(50);
  }
  assert.ok(!(await listed(srv)).includes(name), `${name} is listed`);
  assert.doesNotMatch(a.stderr(), /registered with the server/);
  assert.equal(a.proc.exitCode, null, 'it goes on retrying');
  await a.stop('SIGKILL');
}

before(async () => {
  dir = tempDir('stampede-agent-tls-');
  fs.chmodSync(dir, 0o755); // nginx's workers may run as another user
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-keyout', file('ca.key'),
    '-out', file('ca.pem'), '-subj', '/CN=stampede test CA');
  cert('self', 'DNS:localhost,IP:127.0.0.1', { selfSigned: true });
  cert('good', 'DNS:localhost');
  cert('wrong', 'DNS:wrong.example');
  for (const n of ['self', 'good', 'wrong']) servers[n] = await startServer(n);

  if (!NGINX) throw new Error('nginx is not installed (packaging/deps.sh installs nginx-light)');
  fs.mkdirSync(file('logs'), { mode: 0o777 });
  fs.chmodSync(file('logs'), 0o777);
  for (const n of ['self', 'good', 'wrong']) front[n] = await freePort();
  const ready = await freePort();
  // nginx checks nothing of the server behind it (proxy_ssl_verify is off by default): the
  // agent reads the config through nginx's good certificate, then opens the stream on the
  // server's live port, with the server's own.
  fs.writeFileSync(file('nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
daemon off;
events { worker_connections 64; }
http {
  access_log off;
  ssl_certificate ${dir}/good.pem;
  ssl_certificate_key ${dir}/good.key;
${['self', 'good', 'wrong'].map((n) => `  server { listen 127.0.0.1:${front[n]} ssl; location / { proxy_pass https://127.0.0.1:${servers[n].port}; } }`).join('\n')}
  server { listen 127.0.0.1:${ready}; location / { return 200 'ok'; } }
}
`);
  nginx = await startProcess(NGINX, ['-p', dir, '-c', file('nginx.conf'), '-e', file('logs/error.log')],
    { readyUrl: `http://127.0.0.1:${ready}/ready` });
});

after(async () => {
  for (const a of running) await (await a).stop('SIGKILL');
  for (const s of Object.values(servers)) await s.stop();
  if (nginx) await nginx.stop();
});

const url = (port, host = 'localhost') => `https://${host}:${port}`;

test('a self-signed certificate is refused, naming the problem; --insecure connects anyway', async () => {
  const s = servers.self;
  await refused(s, url(s.port), 'self-plain', [], /SSL certificate problem: self-signed certificate/);
  await registers(s, url(s.port), 'self-insecure', ['--insecure']);
});

test('a certificate of a private CA: refused by default, trusted with --ca-file (no --insecure)', async () => {
  const s = servers.good;
  await refused(s, url(s.port), 'good-plain', [], /SSL certificate problem: unable to get local issuer certificate/);
  await registers(s, url(s.port), 'good-ca', ['--ca-file', file('ca.pem')]);
});

test('a trusted certificate for another host name is refused', async () => {
  const w = servers.wrong;
  await refused(w, url(w.port), 'wrong-ca', ['--ca-file', file('ca.pem')],
    /no alternative certificate subject name matches target host name 'localhost'/);
  // The good certificate names localhost only, not 127.0.0.1.
  const g = servers.good;
  await refused(g, url(g.port, '127.0.0.1'), 'good-by-address', ['--ca-file', file('ca.pem')],
    /no alternative certificate subject name matches target host name '127\.0\.0\.1'/);
});

test('the wss:// stream verifies the server\'s certificate itself (the config read through nginx)', async () => {
  const ca = ['--ca-file', file('ca.pem')];
  // The path works: a good certificate behind nginx's.
  await registers(servers.good, url(front.good), 'front-good', ca);
  await refused(servers.self, url(front.self), 'front-self', ca,
    /cannot connect: the server's certificate was refused: self-signed certificate/);
  await refused(servers.wrong, url(front.wrong), 'front-wrong', ca,
    /cannot connect: the server's certificate was refused: hostname mismatch/);
  // --insecure skips the stream's checks too.
  await registers(servers.self, url(front.self), 'front-self-insecure', ['--insecure']);
});

test('--ca-file must be readable and is pointless with --insecure', async () => {
  let r = await run(STAMPEDE_BIN, ['agent', '--server', url(servers.good.port), '--location', 'tls', '--ca-file', file('none.pem')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--ca-file: cannot read '.*none\.pem'/);
  r = await run(STAMPEDE_BIN, ['agent', '--server', url(servers.good.port), '--location', 'tls', '--insecure', '--ca-file', file('ca.pem')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--ca-file: pointless with --insecure/);
});
