// ci_recipes.test.mjs - the CI recipes of docs/ci.md, read from that file and run as written
// against a real server and demo shop: the GitHub Actions workflow step by step (its `run`
// steps in bash as the runner runs them, `$GITHUB_ENV` carried between steps, `if: always()`
// honoured, the artifact and JUnit steps checked for the files they publish) and the GitLab CI
// job's script (its `artifacts` checked the same way). Only the installation steps are left
// out: the build's own stampede is on PATH. TOLERANCE is raised to 1000 % (the most compare
// takes) because runs of one second on a shared machine are noisy, and the shop answers in a
// steady 20 ms; the regression made here is the same shop answering in 300 ms.
//
// A first run has no baseline and passes; a run within the tolerance passes; a slower shop
// fails the job as a regression although every threshold holds (and a pinned
// STAMPEDE_BASELINE does the same); a failed threshold fails the job; and in every case the
// JUnit XML and the HTML report are there to publish.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { STAMPEDE_BIN, SOURCE_DIR, startStampede, startShop, tempDir, run, login, createToken } from '../lib/harness.mjs';

const DOC = fs.readFileSync(path.join(SOURCE_DIR, 'docs/ci.md'), 'utf8');
let srv, shop, slowShop, token;
const runIds = [];

/** The first ```yaml block after the heading. */
function yamlAfter(heading) {
  const at = DOC.indexOf(`\n## ${heading}\n`);
  assert.ok(at >= 0, `docs/ci.md has no section ${heading}`);
  const m = /```yaml\n([\s\S]*?)\n```/.exec(DOC.slice(at));
  assert.ok(m, `no yaml block under ${heading}`);
  return yaml.load(m[1]);
}

const binDir = path.dirname(path.resolve(STAMPEDE_BIN));

function baseEnv(extra) {
  return { PATH: `${binDir}:${process.env.PATH}`, STAMPEDE_URL: srv.base, STAMPEDE_TOKEN: token, ...extra };
}

/** Runs the GitHub workflow's job as a runner would. Returns { failed, dir, steps, out }. */
async function github(vars) {
  const wf = yamlAfter('GitHub Actions');
  const job = wf.jobs['load-test'];
  assert.equal(wf.defaults.run.shell, 'bash');
  const dir = tempDir('stampede-gh-');
  const envFile = path.join(dir, 'github_env');
  fs.writeFileSync(envFile, '');
  const ctx = { vars: { STAMPEDE_URL: srv.base, ...vars }, secrets: { STAMPEDE_TOKEN: token } };
  const subst = (v) => String(v).replace(/\$\{\{\s*(vars|secrets)\.(\w+)\s*\}\}/g, (_, k, n) => ctx[k][n] ?? '');
  let env = { ...baseEnv(), GITHUB_ENV: envFile };
  for (const [k, v] of Object.entries(job.env)) env[k] = subst(v);
  env.TOLERANCE = '1000';
  let failed = false, out = '';
  const steps = [];
  for (const step of job.steps) {
    if (failed && step.if !== 'always()') { steps.push(`${step.name}: skipped`); continue; }
    if (step.name === 'Install stampede') continue;
    if (step.uses) {
      const paths = step.uses.startsWith('actions/upload-artifact') ? step.with.path.trim().split('\n').map((s) => s.trim())
        : step.uses.startsWith('mikepenz/action-junit-report') ? [step.with.report_paths] : [];
      steps.push(`${step.name}: ${paths.filter((p) => fs.existsSync(path.join(dir, p))).join(' ')}`);
      continue;
    }
    const r = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run], { env, cwd: dir, timeoutMs: 60000 });
    out += r.stdout + r.stderr;
    for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^(\w+)=(.*)$/.exec(line);
      if (m) env[m[1]] = m[2];
    }
    steps.push(`${step.name}: ${r.code}`);
    if (r.code !== 0) failed = true;
  }
  return { failed, dir, steps, out, env };
}

/** Runs the GitLab job's script. Returns { failed, dir, out }. */
async function gitlab(extra = {}) {
  const job = yamlAfter('GitLab CI')['load-test'];
  const dir = tempDir('stampede-gl-');
  const env = baseEnv({ ...job.variables, TOLERANCE: '1000', ...extra });
  const r = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', job.script.join('\n')], { env, cwd: dir, timeoutMs: 60000 });
  const files = [...job.artifacts.paths, job.artifacts.reports.junit];
  assert.equal(job.artifacts.when, 'always', 'artifacts are kept when the job fails');
  return { failed: r.code !== 0, code: r.code, dir, out: r.stdout + r.stderr, files: files.filter((f) => fs.existsSync(path.join(dir, f))) };
}

async function call(method, p, body) {
  const init = { method, headers: { ...srv.headers } };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  const res = await fetch(srv.base + p, init);
  return { status: res.status, json: await res.json().catch(() => null) };
}

function definition(name, base, thresholds = ['error_rate < 1%']) {
  return {
    name, base_url: base,
    users: [{ name: 'u', think: { constant: '50ms' }, tasks: [{ request: { url: '/api/v1/products', name: 'GET /products' } }] }],
    load: { users: 2, duration: '1s' },
    thresholds,
  };
}

function runIdOf(dir) {
  return Number(/\(run (\d+)\)/.exec(fs.readFileSync(path.join(dir, 'stampede-summary.txt'), 'utf8'))[1]);
}

before(async () => {
  shop = await startShop(['--quiet', '--latency-ms', 'all=fixed:20']);
  slowShop = await startShop(['--quiet', '--latency-ms', 'all=fixed:300']);
  srv = await startStampede();
  const pw = 'ci-tester-password-1';
  assert.equal((await call('POST', '/api/v1/users', { name: 'ci', role: 'tester', password: pw })).status, 201);
  token = (await createToken(srv.base, await login(srv.base, 'ci', pw), 'pipeline')).token;
  for (const d of [definition('Shop checkout', shop.url), definition('Shop latency', slowShop.url, ['p95 < 100ms'])])
    assert.equal((await call('POST', '/api/v1/tests', d)).status, 201);
});

after(async () => {
  if (srv) await srv.stop();
  for (const s of [shop, slowShop]) if (s) await s.stop();
});

const ARTIFACTS = 'Publish the reports: stampede-junit.xml stampede-report.html stampede-run.json stampede-summary.txt stampede-compare.txt';

test('GitHub Actions: a first run has no baseline and passes, with its reports published', async () => {
  const r = await github({ STAMPEDE_TEST: 'Shop checkout' });
  assert.equal(r.failed, false, `${r.steps.join('\n')}\n${r.out}`);
  assert.ok(r.steps.includes(ARTIFACTS), r.steps.join('\n'));
  assert.ok(r.steps.includes('Publish the test results: stampede-junit.xml'));
  assert.match(fs.readFileSync(path.join(r.dir, 'stampede-compare.txt'), 'utf8'), /nothing to compare with/);
  assert.match(fs.readFileSync(path.join(r.dir, 'stampede-junit.xml'), 'utf8'), /<testsuite name="Shop checkout" tests="1" failures="0"/);
  assert.match(fs.readFileSync(path.join(r.dir, 'stampede-report.html'), 'utf8'), /^<!doctype html>/);
  runIds.push(runIdOf(r.dir));
  assert.equal(Number(r.env.STAMPEDE_RUN), runIds[0]);
  const started = (await call('GET', `/api/v1/runs/${runIds[0]}`)).json;
  assert.equal(started.started_by, 'ci', 'started with the pipeline\'s token');
});

test('GitLab CI: a run within the tolerance of the last passed run passes', async () => {
  const r = await gitlab({ STAMPEDE_TEST: 'Shop checkout' });
  assert.equal(r.failed, false, r.out);
  assert.deepEqual(r.files.sort(), ['stampede-compare.txt', 'stampede-junit.xml', 'stampede-report.html', 'stampede-run.json', 'stampede-summary.txt']);
  assert.match(fs.readFileSync(path.join(r.dir, 'stampede-compare.txt'), 'utf8'), new RegExp(`No regression against run ${runIds[0]}\\.`));
  runIds.push(runIdOf(r.dir));
});

test('a slower target fails the job as a regression although every threshold holds', async () => {
  // The same test, now aimed at the shop that answers in 300 ms (a new revision).
  const cur = (await call('GET', '/api/v1/tests?q=Shop%20checkout')).json.items[0];
  assert.equal((await call('PUT', `/api/v1/tests/${cur.id}`, definition('Shop checkout', slowShop.url))).status, 200);
  const gh = await github({ STAMPEDE_TEST: 'Shop checkout' });
  assert.equal(gh.failed, true, gh.steps.join('\n'));
  assert.equal(gh.env.STAMPEDE_EXIT, '0', 'the thresholds held');
  assert.ok(gh.steps.includes('Fail on thresholds and regressions: 1'), gh.steps.join('\n'));
  assert.ok(gh.steps.includes(ARTIFACTS), 'the reports are published all the same');
  const lines = fs.readFileSync(path.join(gh.dir, 'stampede-compare.txt'), 'utf8');
  assert.match(lines, new RegExp(`regression against run ${runIds[1]}: Total p50`));
  assert.match(lines, /regression against run \d+: GET \/products p50/);
  assert.doesNotMatch(lines, /error_pct/, 'no error rose');
  assert.match(gh.out, /::error::\d+ regression\(s\) against the baseline/);
  // That run passed its thresholds, so without a pin it would be the next baseline; pinned,
  // the next run is still compared with the fast one.
  const gl = await gitlab({ STAMPEDE_TEST: 'Shop checkout', STAMPEDE_BASELINE: String(runIds[0]) });
  assert.equal(gl.failed, true, gl.out);
  assert.match(fs.readFileSync(path.join(gl.dir, 'stampede-compare.txt'), 'utf8'), new RegExp(`regression against run ${runIds[0]}: Total p50`));
  assert.match(gl.out, /regression\(s\) against the baseline/);
  assert.equal(gl.files.length, 5);
});

test('a failed threshold fails the job, on both, with the JUnit failure published', async () => {
  const gh = await github({ STAMPEDE_TEST: 'Shop latency' });
  assert.equal(gh.failed, true);
  assert.equal(gh.env.STAMPEDE_EXIT, '1');
  assert.ok(gh.steps.includes(ARTIFACTS), gh.steps.join('\n'));
  assert.match(gh.out, /::error::the load test did not pass \(stampede exited with 1\)/);
  assert.match(fs.readFileSync(path.join(gh.dir, 'stampede-junit.xml'), 'utf8'), /<failure type="threshold" message="measured [\d.]+ ?ms">p95 &lt; 100ms failed/);
  const gl = await gitlab({ STAMPEDE_TEST: 'Shop latency' });
  assert.equal(gl.failed, true);
  assert.match(gl.out, /the load test did not pass \(stampede exited with 1\)/);
  assert.ok(gl.files.includes('stampede-junit.xml') && gl.files.includes('stampede-report.html'));
  // A test that does not exist: the job fails at the start and says so.
  const none = await github({ STAMPEDE_TEST: 'No such test' });
  assert.equal(none.failed, true);
  assert.ok(none.steps.includes('Run the stored test: 1'), none.steps.join('\n'));
  assert.match(none.out, /did not start \(stampede exited with 2\)/);
  assert.ok(none.steps.includes('Fetch the reports: skipped'));
});
