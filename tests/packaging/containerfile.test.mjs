// containerfile.test.mjs - packaging/Containerfile without a container runtime (there is
// none on the test machine, so the image is NOT built here): its instructions are parsed and
// checked (Debian 12 bases, a non-root user, the data volume, exec-form commands), every
// file it copies exists in the context, its Debian packages exist and cover what the binary
// links and what CMake looks for, and its build stage's own commands are run on this machine
// (into the package test's build directory and a temporary stage), after which the staged
// program starts with the image's command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, freePort, tempDir, startProcess } from '../lib/harness.mjs';

const FILE = path.join(SOURCE_DIR, 'packaging/Containerfile');
const BUILD = process.env.SP_PKG_BUILD_DIR || path.join(SOURCE_DIR, 'build/pkg');
const KNOWN = new Set(['FROM', 'RUN', 'COPY', 'ADD', 'ARG', 'ENV', 'USER', 'VOLUME', 'EXPOSE',
  'ENTRYPOINT', 'CMD', 'WORKDIR', 'LABEL', 'HEALTHCHECK', 'STOPSIGNAL', 'SHELL', 'ONBUILD']);

/** The instructions, continuation lines joined, comments dropped: [{op, args, stage}]. */
function parse() {
  const out = [];
  let cur = '';
  let stage = -1;
  for (const raw of fs.readFileSync(FILE, 'utf8').split('\n')) {
    if (!cur && /^\s*(#|$)/.test(raw)) continue;
    if (/^\s*#/.test(raw)) continue; // a comment inside a continued instruction
    if (raw.endsWith('\\')) { cur += raw.slice(0, -1) + ' '; continue; }
    cur += raw;
    const m = /^\s*(\w+)\s+(.*)$/.exec(cur);
    assert.ok(m, `not an instruction: ${cur}`);
    const op = m[1].toUpperCase();
    assert.ok(KNOWN.has(op), `unknown instruction ${m[1]}`);
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2].trim(), stage });
    cur = '';
  }
  assert.equal(cur, '', 'the file ends inside a continued instruction');
  return out;
}

function aptPackages(run) {
  const m = /apt-get install (.*?)(&&|$)/.exec(run.replace(/\s+/g, ' '));
  return m ? m[1].split(' ').filter((w) => w && !w.startsWith('-')) : [];
}

function dpkgOwner(file) {
  const r = spawnSync('dpkg', ['-S', fs.realpathSync(file)], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(':')[0].trim() : null;
}

test('the Containerfile is well formed: Debian 12, a non-root user, a data volume, exec form', () => {
  const ins = parse();
  const froms = ins.filter((i) => i.op === 'FROM').map((i) => i.args);
  assert.deepEqual(froms, ['debian:12 AS build', 'debian:12-slim']);
  const last = ins.filter((i) => i.stage === 1);
  const users = last.filter((i) => i.op === 'USER').map((i) => i.args);
  assert.deepEqual(users, ['stampede'], 'the image runs as stampede');
  assert.ok(last.findIndex((i) => i.op === 'USER') > last.findIndex((i) => i.op === 'RUN' && /useradd/.test(i.args)),
    'the user is made before it is used');
  const volume = JSON.parse(last.find((i) => i.op === 'VOLUME').args);
  assert.deepEqual(volume, ['/var/lib/stampede']);
  assert.match(last.find((i) => i.op === 'RUN' && /useradd/.test(i.args)).args,
    /install -d -o stampede -g stampede -m 0700 \/var\/lib\/stampede/);
  assert.deepEqual(last.find((i) => i.op === 'EXPOSE').args.split(/\s+/), ['8484', '8485']);
  const entry = JSON.parse(last.find((i) => i.op === 'ENTRYPOINT').args);
  const cmd = JSON.parse(last.find((i) => i.op === 'CMD').args);
  assert.deepEqual(entry, ['/usr/bin/stampede']);
  assert.equal(cmd[0], 'serve');
  assert.equal(cmd[cmd.indexOf('--data-dir') + 1], '/var/lib/stampede');
});

test('every file the Containerfile copies is in the context, and the context leaves builds out', () => {
  for (const c of parse().filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
    const parts = c.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      assert.ok(fs.existsSync(path.join(SOURCE_DIR, src)), `COPY ${src}: not in the source tree`);
    }
  }
  const ignore = fs.readFileSync(path.join(SOURCE_DIR, '.dockerignore'), 'utf8').split('\n');
  for (const w of ['.git', 'build*', 'tests/node_modules']) assert.ok(ignore.includes(w), `.dockerignore lacks ${w}`);
  // What the build needs is not ignored.
  for (const need of ['CMakeLists.txt', 'engine', 'server', 'migrations', 'packaging', 'examples']) {
    assert.ok(fs.existsSync(path.join(SOURCE_DIR, need)));
    assert.ok(!ignore.includes(need), `.dockerignore leaves out ${need}`);
  }
});

test('its Debian packages exist and cover the libraries the binary links and CMake looks for', (t) => {
  const ins = parse();
  const buildPkgs = ins.filter((i) => i.stage === 0 && i.op === 'RUN').flatMap((i) => aptPackages(i.args));
  const runPkgs = ins.filter((i) => i.stage === 1 && i.op === 'RUN').flatMap((i) => aptPackages(i.args));
  assert.ok(buildPkgs.length && runPkgs.length);
  const policy = spawnSync('apt-cache', ['policy', ...buildPkgs, ...runPkgs], { encoding: 'utf8' });
  if (policy.status !== 0 || !/Candidate: (?!\(none\))/.test(policy.stdout)) {
    t.diagnostic('package existence not checked: the apt package lists are empty (run apt-get update)');
  } else {
    for (const block of policy.stdout.split(/\n(?=\S)/)) {
      const name = block.split(':')[0];
      assert.doesNotMatch(block, /Candidate: \(none\)/, `${name} is not a Debian 12 package here`);
    }
  }
  // Runtime: the package owning every library the binary needs (libc aside, it is in the base).
  const bin = path.join(SOURCE_DIR, 'build/dev/server/stampede');
  const ldd = execFileSync('ldd', [process.env.STAMPEDE_BIN || bin], { encoding: 'utf8' });
  const direct = execFileSync('readelf', ['-d', process.env.STAMPEDE_BIN || bin], { encoding: 'utf8' })
    .split('\n').map((l) => /\(NEEDED\).*\[(.*)\]/.exec(l)?.[1]).filter(Boolean);
  for (const lib of direct) {
    if (/^(libc|libm|libpthread|libdl|librt|ld-linux|libasan|libubsan|libgcc_s)\b/.test(lib)) continue;
    const where = new RegExp(`${lib.replace(/[.+]/g, '\\$&')} => (\\S+)`).exec(ldd)?.[1];
    assert.ok(where, `${lib} not found by ldd`);
    const owner = dpkgOwner(where);
    assert.ok(owner, `no Debian package owns ${where}`);
    assert.ok(runPkgs.includes(owner), `the image lacks ${owner} (for ${lib}): ${runPkgs}`);
  }
  // Build: the -dev package of every pkg-config module CMakeLists.txt asks for.
  const cmake = fs.readFileSync(path.join(SOURCE_DIR, 'CMakeLists.txt'), 'utf8');
  for (const m of cmake.matchAll(/pkg_check_modules\(\w+ REQUIRED IMPORTED_TARGET (\S+)\)/g)) {
    const dir = execFileSync('pkg-config', ['--variable=pcfiledir', m[1]], { encoding: 'utf8' }).trim();
    const owner = dpkgOwner(path.join(dir, `${m[1]}.pc`));
    assert.ok(owner && buildPkgs.includes(owner), `the build stage lacks ${owner} (for ${m[1]}): ${buildPkgs}`);
  }
});

test('its build commands, run here, stage a program that starts with the image\'s command', async () => {
  const ins = parse();
  const build = ins.find((i) => i.stage === 0 && i.op === 'RUN' && i.args.includes('cmake --install'));
  assert.ok(build, 'no RUN with cmake --install');
  const stage = tempDir('stampede-stage-');
  // The same commands, with the container's paths mapped onto this machine's; SP_GIT_REV as
  // the ARG's default (empty: git describe, else "unknown").
  const cmd = build.args.replaceAll('/src', SOURCE_DIR).replaceAll('/build', BUILD)
    .replaceAll('/stage', stage).replaceAll('$(nproc)', '2');
  assert.ok(!/(^|\s)\/(src|build|stage)\b/.test(cmd), cmd);
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, SP_GIT_REV: '' }, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd}\n${r.stderr.slice(-4000)}`);

  const last = ins.filter((i) => i.stage === 1);
  const entry = JSON.parse(last.find((i) => i.op === 'ENTRYPOINT').args);
  const args = JSON.parse(last.find((i) => i.op === 'CMD').args);
  const bin = path.join(stage, entry[0]);
  assert.ok(fs.existsSync(bin), `${entry[0]} is not staged`);
  const conf = args[args.indexOf('--config') + 1];
  assert.ok(fs.existsSync(path.join(stage, conf)), `${conf} is not staged`);
  const chown = last.find((i) => i.op === 'RUN' && i.args.includes(conf));
  assert.ok(chown && /chown root:stampede/.test(chown.args), 'the daemon\'s group may read the config');

  // As the image runs it, but without STAMPEDE_ADMIN_PASSWORD: listening on every interface
  // with a generated admin password is refused, and the message says what to set.
  const env = { ...process.env };
  delete env.STAMPEDE_ADMIN_PASSWORD;
  const anyPort = await freePort();
  const anyLive = await freePort();
  const refused = spawnSync(bin, [...args.map((a) => (a === conf ? path.join(stage, conf) : a))
    .map((a) => (a.startsWith('0.0.0.0:') ? `0.0.0.0:${anyPort}` : a)),
  '--live-port', String(anyLive), '--data-dir', tempDir()], { encoding: 'utf8', env, timeout: 20000 });
  assert.notEqual(refused.status, 0, 'the image\'s command started with a generated admin password');
  assert.match(refused.stderr, /STAMPEDE_ADMIN_PASSWORD/);

  // The image's command, with the staged config; this machine's loopback ports instead of its
  // --listen on every interface, a temp data dir (given after, so it wins), and the admin
  // password as the container would be given it.
  const withStage = args.map((a) => (a === conf ? path.join(stage, conf) : a))
    .filter((a, i, all) => a !== '--listen' && all[i - 1] !== '--listen');
  assert.equal(withStage.length, args.length - 2);
  const port = await freePort();
  const live = await freePort();
  const srv = await startProcess(bin, [...withStage, '--listen', `127.0.0.1:${port}`,
    '--live-port', String(live), '--data-dir', tempDir()],
  { readyUrl: `http://127.0.0.1:${port}/api/v1/health`, env: { STAMPEDE_ADMIN_PASSWORD: 'container-test-password' } });
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
    assert.equal(res.status, 200);
    assert.match(srv.stderr(), /msg="example test seeded"/, 'the staged examples were found');
  } finally {
    assert.equal(await srv.stop(), 0, srv.stderr());
  }
});
