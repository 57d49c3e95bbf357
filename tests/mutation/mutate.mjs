#!/usr/bin/env node
// mutate.mjs - the mutation check: applies each one-line mutation of mutations.txt to a scratch
// copy of the tree, builds it (CMake, Debug), runs the tests the mutation names and reports
// whether they caught it (killed) or not (survived), then the score. See README.md here.
//
// Usage: node tests/mutation/mutate.mjs [--only ID,ID...] [--list FILE] [--scratch DIR]
//                                       [--no-baseline] [--jobs N] [--dry-run]
//
// The scratch copy is the files git knows (git ls-files, with uncommitted changes) in DIR
// (default: a new temporary directory, removed at the end unless --scratch names one, which is
// then kept and reused so that later runs rebuild only what changed). One build directory serves
// every mutation: each mutation touches one file, is built, tested and reverted, so a mutation
// costs one incremental build and its tests. Exit status: 0 when every mutation was killed,
// 1 when one survived, was stale or did not build, 2 on a usage or setup error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const top = path.resolve(here, '../..');

function usage(msg) {
  if (msg) console.error(`mutate: ${msg}`);
  console.error('usage: node tests/mutation/mutate.mjs [--only ID,ID...] [--list FILE] ' +
                '[--scratch DIR] [--no-baseline] [--jobs N] [--dry-run]');
  process.exit(2);
}

const opt = { list: path.join(here, 'mutations.txt'), only: null, scratch: null, baseline: true,
              jobs: 2, dry: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const val = () => (i + 1 < process.argv.length ? process.argv[++i] : usage(`${a} needs a value`));
  if (a === '--only') opt.only = new Set(val().split(',').filter(Boolean));
  else if (a === '--list') opt.list = path.resolve(val());
  else if (a === '--scratch') opt.scratch = path.resolve(val());
  else if (a === '--no-baseline') opt.baseline = false;
  else if (a === '--jobs') opt.jobs = Number(val()) || 2;
  else if (a === '--dry-run') opt.dry = true;
  else if (a === '-h' || a === '--help') usage();
  else usage(`unknown option '${a}'`);
}

// ---- the list ----

/*
 * Blocks of "key: value" lines separated by blank lines; '#' starts a comment line.
 *   id:      a short unique name
 *   what:    the bug it plants, as a user would notice it
 *   file:    the file, from the top of the tree; alternatives separated by ' | ' (the first
 *            that exists is used)
 *   find:    text that occurs exactly once in the file, on one line (everything after "find: ")
 *   replace: what it becomes (everything after "replace: "; may be empty)
 *   tests:   ctest names, separated by spaces (unit/test_histogram integration/auth)
 *   only:    optional: the unit test functions to run (SP_CHECK_ONLY, tests/unit/check.h), for
 *            a mutation whose catching test shares its file with slow or timing-bound ones
 */
function parseList(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  let cur = null;
  let lineNo = 0;
  const flush = () => {
    if (!cur) return;
    for (const k of ['id', 'file', 'find', 'replace', 'tests'])
      if (cur[k] === undefined) usage(`${file}: mutation ending at line ${lineNo} has no '${k}:'`);
    if (out.some((m) => m.id === cur.id)) usage(`${file}: mutation id '${cur.id}' is used twice`);
    out.push(cur);
    cur = null;
  };
  for (const line of text.split('\n')) {
    lineNo++;
    if (line.startsWith('#')) continue;
    if (line.trim() === '') { flush(); continue; }
    const m = /^([a-z]+): ?(.*)$/.exec(line);
    if (!m) usage(`${file}:${lineNo}: expected "key: value"`);
    cur = cur || { line: lineNo };
    cur[m[1]] = m[2];
  }
  flush();
  for (const m of out) {
    m.files = m.file.split(' | ').map((s) => s.trim());
    m.tests = m.tests.split(/\s+/).filter(Boolean);
    if (m.find === '') usage(`${file}: mutation '${m.id}' has an empty 'find:'`);
  }
  return out;
}

function count(hay, needle) {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/*
 * Where a mutation applies in root: { rel } or { stale: why }. The named file (the first of its
 * alternatives that exists) must hold the pattern exactly once. Files get split and merged
 * (engine/worker.c into several), so a pattern that is not in the named file is looked for in
 * the .c files beside it, and used where it occurs once among them all.
 */
function locate(root, m) {
  const rel = m.files.find((f) => fs.existsSync(path.join(root, f)));
  if (!rel) return { stale: 'stale (file not found)' };
  const n = count(fs.readFileSync(path.join(root, rel), 'utf8'), m.find);
  if (n === 1) return { rel };
  if (n > 1) return { stale: `stale (pattern: ${n} matches in ${rel})` };
  const dir = path.dirname(rel);
  const hits = [];
  for (const f of fs.readdirSync(path.join(root, dir))) {
    if (!f.endsWith('.c')) continue;
    const c = count(fs.readFileSync(path.join(root, dir, f), 'utf8'), m.find);
    for (let i = 0; i < c; i++) hits.push(path.join(dir, f));
  }
  if (hits.length === 1) return { rel: hits[0] };
  return { stale: `stale (pattern: ${hits.length} matches in ${dir}/*.c)` };
}

// ---- the scratch tree ----

function sh(cmd, args, { cwd, log, env } = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8',
                                   maxBuffer: 256 << 20 });
  if (log) fs.appendFileSync(log, `$ ${cmd} ${args.join(' ')}\n${r.stdout || ''}${r.stderr || ''}\n`);
  return r;
}

function copyTree(root) {
  const ls = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: top });
  if (ls.status !== 0) usage(`git ls-files failed: ${ls.stderr}`);
  let copied = 0;
  for (const rel of ls.stdout.split('\0').filter(Boolean)) {
    const src = path.join(top, rel), dst = path.join(root, rel);
    let st;
    try { st = fs.lstatSync(src); } catch { continue; } // deleted, not yet committed
    if (!st.isFile() && !st.isSymbolicLink()) continue;
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    // Unchanged files keep their time stamps, so a reused scratch build stays incremental.
    try {
      const d = fs.lstatSync(dst);
      if (d.size === st.size && fs.readFileSync(dst).equals(fs.readFileSync(src))) continue;
    } catch { /* new */ }
    fs.copyFileSync(src, dst);
    fs.chmodSync(dst, st.mode & 0o777);
    copied++;
  }
  // The node packages the integration tests import (not in git; installed by packaging/deps.sh).
  for (const d of ['tests/node_modules', 'web/node_modules']) {
    const src = path.join(top, d), dst = path.join(root, d);
    if (fs.existsSync(src) && !fs.existsSync(dst)) fs.symlinkSync(src, dst);
  }
  return copied;
}

function build(root, log) {
  const b = path.join(root, 'build');
  if (!fs.existsSync(path.join(b, 'CMakeCache.txt'))) {
    const c = sh('cmake', ['-S', root, '-B', b, '-DCMAKE_BUILD_TYPE=Debug', '-DSP_DEVELOPER=ON'], { log });
    if (c.status !== 0) return false;
  }
  return sh('cmake', ['--build', b, '-j', String(opt.jobs)], { log }).status === 0;
}

function runTests(root, tests, log, only) {
  const re = `^(${tests.map((t) => t.replace(/[.+*?()[\]{}|\\^$]/g, '\\$&')).join('|')})$`;
  const t0 = Date.now();
  const r = sh('ctest', ['--test-dir', path.join(root, 'build'), '-R', re, '--output-on-failure',
                         '--no-tests=error'], { log, env: only ? { SP_CHECK_ONLY: only } : {} });
  const listed = /(\d+) tests? failed out of (\d+)|100% tests passed, 0 tests failed out of (\d+)/.exec(r.stdout || '');
  return { ok: r.status === 0, secs: Math.round((Date.now() - t0) / 1000), ran: listed ? Number(listed[2] || listed[3]) : 0 };
}

// ---- main ----

const all = parseList(opt.list);
const list = opt.only ? all.filter((m) => opt.only.has(m.id)) : all;
if (opt.only && list.length !== opt.only.size)
  usage(`unknown id in --only: ${[...opt.only].filter((id) => !all.some((m) => m.id === id)).join(', ')}`);

if (opt.dry) {
  // Only where each mutation applies, in the working tree itself.
  for (const m of list) {
    const at = locate(top, m);
    console.log(`${(at.stale || 'ok').padEnd(40)} ${m.id.padEnd(28)} ${at.rel || m.files[0]}`);
  }
  process.exit(0);
}

const keep = !!opt.scratch;
const root = opt.scratch || fs.mkdtempSync(path.join(os.tmpdir(), 'stampede-mutation-'));
fs.mkdirSync(path.join(root, 'mutation-logs'), { recursive: true });
const logOf = (id) => path.join(root, 'mutation-logs', `${id}.log`);
const started = Date.now();
console.log(`mutate: scratch copy in ${root}`);
const copied = copyTree(root);
console.log(`mutate: ${copied} files copied; building (Debug)...`);
if (!build(root, logOf('_baseline'))) {
  console.error(`mutate: the unmutated tree does not build; see ${logOf('_baseline')}`);
  process.exit(2);
}

const needed = [...new Set(list.flatMap((m) => m.tests))];
let broken = new Set();
if (opt.baseline) {
  // A test that fails without a mutation would "kill" every mutation it runs for.
  for (const t of needed) {
    const r = runTests(root, [t], logOf('_baseline'));
    if (!r.ok || r.ran === 0) broken.add(t);
    console.log(`baseline  ${r.ok && r.ran ? 'pass' : 'FAIL'}  ${t} (${r.secs}s)`);
  }
}

const results = [];
for (const m of list) {
  const at = locate(root, m);
  const t0 = Date.now();
  let verdict;
  if (at.stale) {
    verdict = at.stale;
  } else if (m.tests.some((t) => broken.has(t))) {
    verdict = 'invalid (a named test fails without the mutation)';
  } else {
    const file = path.join(root, at.rel);
    const orig = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, orig.replace(m.find, () => m.replace));
    try {
      if (!build(root, logOf(m.id))) {
        verdict = 'invalid (does not build)';
      } else {
        const r = runTests(root, m.tests, logOf(m.id), m.only);
        verdict = r.ran === 0 ? 'invalid (no such test)' : r.ok ? 'SURVIVED' : 'killed';
      }
    } finally {
      fs.writeFileSync(file, orig);
    }
  }
  const secs = Math.round((Date.now() - t0) / 1000);
  results.push({ m, verdict, secs, rel: at.rel });
  console.log(`${verdict.padEnd(10)} ${m.id.padEnd(28)} ${String(secs).padStart(4)}s  ${at.rel || m.files[0]}: ${m.what || ''}`);
}
// Leave the scratch build as the tree is (the last revert is rebuilt by the next run anyway).

const killed = results.filter((r) => r.verdict === 'killed').length;
const survived = results.filter((r) => r.verdict === 'SURVIVED');
const other = results.filter((r) => r.verdict !== 'killed' && r.verdict !== 'SURVIVED');
const scored = killed + survived.length;
console.log('');
console.log(`mutation score: ${killed}/${scored} killed (${scored ? Math.round((100 * killed) / scored) : 0}%)` +
            `, ${survived.length} survived, ${other.length} stale or invalid; ` +
            `${Math.round((Date.now() - started) / 1000)} s in all`);
for (const r of survived) console.log(`  survived: ${r.m.id} (${r.rel}): ${r.m.what || ''}; log ${logOf(r.m.id)}`);
for (const r of other) console.log(`  ${r.verdict}: ${r.m.id} (${r.m.files.join(' | ')}); log ${logOf(r.m.id)}`);
// A temporary copy goes when everything was killed; otherwise its logs explain what did not.
if (!keep && !survived.length && !other.length) fs.rmSync(root, { recursive: true, force: true });
else if (!keep) console.log(`mutate: the scratch copy and its logs are kept in ${root}`);
process.exit(survived.length || other.length ? 1 : 0);
