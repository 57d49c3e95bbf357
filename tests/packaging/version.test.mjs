// version.test.mjs - `stampede --version` names the git revision the binary was built from,
// taken at build time by cmake/git_rev.cmake: the tree's `git describe`, "unknown" outside a
// git checkout, or -DSP_GIT_REV when given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, SOURCE_DIR, tempDir } from '../lib/harness.mjs';

const CMAKE = process.env.CMAKE_COMMAND || 'cmake';
const SCRIPT = path.join(SOURCE_DIR, 'cmake/git_rev.cmake');

function revOf(args) {
  const out = path.join(tempDir('stampede-rev-'), 'git_rev.h');
  execFileSync(CMAKE, [...args, `-DOUT=${out}`, '-P', SCRIPT]);
  return /#define SP_GIT_REV "(.*)"/.exec(fs.readFileSync(out, 'utf8'))[1];
}

test('--version and `version` print the version and the revision of the source tree', () => {
  const v = execFileSync(STAMPEDE_BIN, ['--version'], { encoding: 'utf8' }).trim();
  assert.equal(execFileSync(STAMPEDE_BIN, ['version'], { encoding: 'utf8' }).trim(), v);
  const git = spawnSync('git', ['-C', SOURCE_DIR, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (git.status !== 0) {
    assert.match(v, /^stampede \d+\.\d+\.\d+ \(unknown\)$/);
    return;
  }
  // The build may be older than the last commit; it is a revision of this tree all the same.
  const m = /^stampede \d+\.\d+\.\d+ \((?:.*-g)?([0-9a-f]{7,})(-dirty)?\)$/.exec(v);
  assert.ok(m, v);
  const known = spawnSync('git', ['-C', SOURCE_DIR, 'cat-file', '-e', `${m[1]}^{commit}`]);
  assert.equal(known.status, 0, `${m[1]} is not a commit of this tree`);
});

test('the revision is "unknown" outside git, and -DSP_GIT_REV names it', () => {
  assert.equal(revOf([`-DSRC_DIR=${tempDir('stampede-nogit-')}`]), 'unknown');
  assert.equal(revOf([`-DSRC_DIR=${SOURCE_DIR}`, '-DOVERRIDE=v1.2.3-debian1']), 'v1.2.3-debian1');
  // Nothing can break out of the C string.
  assert.equal(revOf([`-DSRC_DIR=${SOURCE_DIR}`, '-DOVERRIDE=a"b\\c d']), 'a_b_c_d');
  const here = revOf([`-DSRC_DIR=${SOURCE_DIR}`]);
  assert.match(here, /^([\w.+-]+)$/);
  assert.notEqual(here, 'unknown');
});
