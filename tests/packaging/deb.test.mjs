// deb.test.mjs - the Debian package: built by CPack from a Release build directory with the
// prefix /usr (SP_PKG_BUILD_DIR, kept between runs so only what changed is rebuilt), its
// contents and control data read back with dpkg-deb, its maintainer scripts and unit checked,
// then its files unpacked into a temporary root, started on a free loopback port and asked
// for /api/v1/health.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, freePort, tempDir, startProcess } from '../lib/harness.mjs';

const BUILD = process.env.SP_PKG_BUILD_DIR || path.join(SOURCE_DIR, 'build/pkg');
const CMAKE = process.env.CMAKE_COMMAND || 'cmake';
const CPACK = process.env.CPACK_COMMAND || 'cpack';
let deb;

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

before(async () => {
  if (!fs.existsSync(path.join(BUILD, 'CMakeCache.txt'))) {
    sh(CMAKE, ['-S', SOURCE_DIR, '-B', BUILD, '-DCMAKE_BUILD_TYPE=Release',
      '-DCMAKE_INSTALL_PREFIX=/usr', '-DSP_TESTS=OFF']);
  }
  sh(CMAKE, ['--build', BUILD, '-j2']);
  for (const f of fs.readdirSync(BUILD)) if (f.endsWith('.deb')) fs.rmSync(path.join(BUILD, f));
  sh(CPACK, ['-G', 'DEB'], { cwd: BUILD });
  const debs = fs.readdirSync(BUILD).filter((f) => f.endsWith('.deb'));
  assert.equal(debs.length, 1, `one package expected in ${BUILD}, found ${debs}`);
  deb = path.join(BUILD, debs[0]);
});

test('the package holds the binary, the unit, the config, the man page, examples and migrations', () => {
  const files = sh('dpkg-deb', ['-c', deb]).split('\n').map((l) => l.split(/\s+/).pop());
  for (const want of ['./usr/bin/stampede', './usr/lib/systemd/system/stampede.service',
    './etc/stampede/stampede.conf', './usr/share/man/man1/stampede.1.gz',
    './usr/share/stampede/migrations/0001_initial.sql', './usr/share/stampede/examples/shopper.json',
    './usr/share/stampede/examples/data/customers.csv', './usr/libexec/stampede/shop-api',
    './usr/share/doc/stampede/nginx-stampede.conf', './usr/share/doc/stampede/operations.md',
    './usr/lib/systemd/system/stampede-agent@.service', './usr/share/doc/stampede/agent.env.example',
    './usr/share/doc/stampede/distributed.md']) {
    assert.ok(files.includes(want), `${want} missing from the package:\n${files.join('\n')}`);
  }
  assert.ok(!files.some((f) => f.startsWith('./usr/local') || f.includes('/tests/')),
            'nothing outside the layout (tests, /usr/local)');
  const conf = sh('dpkg-deb', ['-c', deb]).split('\n').find((l) => l.endsWith('./etc/stampede/stampede.conf'));
  assert.match(conf, /^-rw-r-----/, 'the config file is not world-readable');
});

test('the control data declares the libraries, the maintainer scripts and the conffile', () => {
  const f = (field) => sh('dpkg-deb', ['-f', deb, field]).trim();
  assert.equal(f('Package'), 'stampede');
  assert.match(f('Version'), /^\d+\.\d+\.\d+/);
  const depends = f('Depends');
  const want = ['adduser', 'tzdata', 'libmicrohttpd12', 'libcurl4', 'libsqlite3-0', 'libjansson4', 'libwebsockets17'];
  // Every library the binary links must be declared: libsodium23 once access control links it.
  const needed = sh('readelf', ['-d', path.join(BUILD, 'server/stampede')]);
  if (needed.includes('libsodium')) want.push('libsodium23');
  for (const w of want) assert.match(depends, new RegExp(`(^|, )${w}( |,|$)`), `Depends lacks ${w}: ${depends}`);

  const ctl = tempDir('stampede-deb-ctl-');
  sh('dpkg-deb', ['-e', deb, ctl]);
  assert.equal(fs.readFileSync(path.join(ctl, 'conffiles'), 'utf8').trim(), '/etc/stampede/stampede.conf');
  for (const s of ['postinst', 'prerm', 'postrm']) {
    const p = path.join(ctl, s);
    assert.ok(fs.statSync(p).mode & 0o111, `${s} is executable`);
    assert.equal(spawnSync('sh', ['-n', p]).status, 0, `${s} is valid sh`);
  }
  const postinst = fs.readFileSync(path.join(ctl, 'postinst'), 'utf8');
  assert.match(postinst, /adduser --system --group .*stampede|adduser --system[\s\S]*stampede$/m);
  assert.match(postinst, /chown stampede:stampede \/var\/lib\/stampede/);
  assert.match(postinst, /chmod 0700 \/var\/lib\/stampede/);
});

test('the unit runs the daemon as stampede, hardened, restarting on failure', () => {
  const root = tempDir('stampede-deb-unit-');
  sh('dpkg-deb', ['-x', deb, root]);
  const unitPath = path.join(root, 'usr/lib/systemd/system/stampede.service');
  const unit = fs.readFileSync(unitPath, 'utf8');
  for (const line of ['User=stampede', 'ExecStart=/usr/bin/stampede serve --config /etc/stampede/stampede.conf',
    'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes',
    'ReadWritePaths=/var/lib/stampede', 'Restart=on-failure', 'WantedBy=multi-user.target']) {
    assert.ok(unit.split('\n').includes(line), `the unit lacks '${line}'`);
  }
  if (!has('systemd-analyze')) {
    console.log('# systemd-analyze verify skipped: systemd-analyze is not installed');
    return;
  }
  // verify wants ExecStart's program to exist: point it at the unpacked one.
  const copy = path.join(root, 'stampede.service');
  fs.writeFileSync(copy, unit.replace('ExecStart=/usr/bin/stampede', `ExecStart=${root}/usr/bin/stampede`));
  const v = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
  assert.equal(v.status, 0, `systemd-analyze verify: ${v.stderr}${v.stdout}`);
  const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], { encoding: 'utf8' });
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout + sec.stderr);
  assert.ok(m, `no exposure level in: ${sec.stdout}${sec.stderr}`);
  assert.ok(Number(m[1]) <= 3, `exposure ${m[1]} is above 3 (systemd-analyze security)`);
});

test('the agent template unit runs `stampede agent` from its env file, hardened', () => {
  const root = tempDir('stampede-deb-agent-');
  sh('dpkg-deb', ['-x', deb, root]);
  const unit = fs.readFileSync(path.join(root, 'usr/lib/systemd/system/stampede-agent@.service'), 'utf8');
  const lines = unit.split('\n');
  for (const line of ['EnvironmentFile=/etc/stampede/agent-%i.env', 'DynamicUser=yes', 'NoNewPrivileges=yes',
    'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'Restart=always', 'WantedBy=multi-user.target',
    'ExecStart=/usr/bin/stampede agent --server ${STAMPEDE_SERVER} --location ${STAMPEDE_LOCATION} --name %H-%i $STAMPEDE_AGENT_ARGS']) {
    assert.ok(lines.includes(line), `the agent unit lacks '${line}'`);
  }
  // The token comes from the environment (STAMPEDE_AGENT_TOKEN), never the command line.
  assert.ok(!/--token/.test(unit.split('\n').filter((l) => l.startsWith('ExecStart')).join('')));
  if (!has('systemd-analyze')) {
    console.log('# systemd-analyze verify skipped: systemd-analyze is not installed');
    return;
  }
  // An instance, with its env file beside it and ExecStart pointing at the unpacked binary.
  const env = path.join(root, 'agent-eu-west.env');
  fs.copyFileSync(path.join(root, 'usr/share/doc/stampede/agent.env.example'), env);
  const copy = path.join(root, 'stampede-agent@eu-west.service');
  fs.writeFileSync(copy, unit.replace('ExecStart=/usr/bin/stampede', `ExecStart=${root}/usr/bin/stampede`)
    .replace('EnvironmentFile=/etc/stampede/agent-%i.env', `EnvironmentFile=${root}/agent-%i.env`));
  const v = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
  assert.equal(v.status, 0, `systemd-analyze verify: ${v.stderr}${v.stdout}`);
  assert.doesNotMatch(v.stderr, /Unknown key|Unknown section/, v.stderr);
  const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], { encoding: 'utf8' });
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout + sec.stderr);
  assert.ok(m, `no exposure level in: ${sec.stdout}${sec.stderr}`);
  assert.ok(Number(m[1]) <= 2, `exposure ${m[1]} is above 2 (systemd-analyze security)`);
});

test('the man page renders without warnings and covers every command', () => {
  const root = tempDir('stampede-deb-man-');
  sh('dpkg-deb', ['-x', deb, root]);
  const src = sh('gzip', ['-dc', path.join(root, 'usr/share/man/man1/stampede.1.gz')]);
  for (const w of ['stampede serve', 'stampede run', 'stampede remote run', 'stampede agent',
    'stampede backup', 'stampede restore', '\\-\\-ca\\-file', '\\-\\-public\\-url', '\\-\\-log\\-level', 'STAMPEDE_ADMIN_PASSWORD']) {
    assert.ok(src.includes(w), `the man page does not mention ${w}`);
  }
  if (!has('groff')) {
    console.log('# man page rendering skipped: groff is not installed');
    return;
  }
  const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: src, encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '', `groff warnings:\n${r.stderr}`);
});

test('the unpacked files start with the packaged config and answer /api/v1/health', async () => {
  const root = tempDir('stampede-deb-root-');
  sh('dpkg-deb', ['-x', deb, root]);
  const bin = path.join(root, 'usr/bin/stampede');
  const version = sh(bin, ['--version']).trim();
  assert.match(version, /^stampede \d+\.\d+\.\d+ \(([0-9a-f]{7,}|v?[\w.+-]+|unknown)/, version);

  const data = tempDir('stampede-deb-data-');
  const port = await freePort();
  const live = await freePort();
  // The packaged config, with the test's ports and data dir on the command line (which wins).
  const srv = await startProcess(bin, ['serve', '--config', path.join(root, 'etc/stampede/stampede.conf'),
    '--listen', `127.0.0.1:${port}`, '--live-port', String(live), '--data-dir', data],
  { readyUrl: `http://127.0.0.1:${port}/api/v1/health`, env: { STAMPEDE_ADMIN_PASSWORD: 'package-test-password' } });
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, 'ok');
    assert.ok(body.schema_version >= 1);
    const cfg = await (await fetch(`http://127.0.0.1:${port}/api/v1/config`)).json();
    assert.equal(cfg.version, version);
    assert.equal(cfg.live_port, live);
    // The example tests come from the unpacked share/stampede/examples, found beside the binary.
    assert.match(srv.stderr(), /msg="example test seeded"/);
    assert.ok(fs.existsSync(path.join(data, 'stampede.db')));
  } finally {
    assert.equal(await srv.stop(), 0, srv.stderr());
  }
});
