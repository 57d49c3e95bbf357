// Regular expressions are bounded in time and memory wherever outside input reaches them:
// validating a test (a viewer may), checking a definition on the CLI, and matching against a
// target's response in a server run. The patterns are the ones that hung or bloated the old
// POSIX engine: ((a{1,100}){1,100}){1,100} (4.3 s and 1.8 GB to compile), (a|aa)*c-style
// backtracking against 200 KB (139 s), (a*)*\1b (4.4 GB). Bounds are loose (a shared machine),
// but orders of magnitude below what the old engine took.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { STAMPEDE_BIN, startStampede, run, tempDir, sleep, userToken } from '../lib/harness.mjs';

let target, targetUrl, served = 0;
before(async () => {
  const body = Buffer.alloc(200 * 1024, 'a');
  target = http.createServer((req, res) => { served++; res.end(body); });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${target.address().port}`;
});
after(() => new Promise((r) => target.close(r)));

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const withExtract = (regex, extra = {}) => ({
  name: 'regex', base_url: targetUrl,
  users: [{ think: { constant_ms: 10 }, tasks: [{ steps: [{ request: { url: '/body', name: 'body' },
    extract: { v: { regex } } }] }] }],
  load: { users: 2, duration: '2s' },
  ...extra,
});

test('CLI --check refuses a regex too costly to compile, at once, naming its path', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'bomb.json');
  fs.writeFileSync(file, JSON.stringify(withExtract('((a{1,100}){1,100}){1,100}')));
  const t0 = Date.now();
  const r = await run(STAMPEDE_BIN, ['run', '--check', file], { timeoutMs: 20000 });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.ok(Date.now() - t0 < 3000, 'compiling is bounded');
  assert.match(r.stderr, /users\[0\]\.tasks\[0\]\.steps\[0\]\.extract\.v\.regex: the regex is too costly/);
});

test('server: a viewer validating regex bombs costs little time and memory; a run fails them as regex_limit', async () => {
  const srv = await startStampede();
  try {
    const u = await srv.api('POST', '/api/v1/users', { name: 'viewer9', role: 'viewer', password: 'viewer-password-9' });
    assert.equal(u.status, 201, u.text);
    const viewer = await userToken(srv.base, 'viewer9', 'viewer-password-9');
    const asViewer = { Authorization: `Bearer ${viewer}` };
    const rss0 = rssKb(srv.proc.pid);
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${srv.base}/api/v1/tests/validate`, {
        method: 'POST', headers: { ...asViewer, 'Content-Type': 'application/json' },
        body: JSON.stringify(withExtract('((a{1,100}){1,100}){1,100}')),
      });
      const j = await r.json();
      assert.equal(r.status, 422, JSON.stringify(j));
      assert.equal(j.errors[0].path, 'users[0].tasks[0].steps[0].extract.v.regex');
      assert.match(j.errors[0].message, /too costly/);
    }
    // Twenty validations took 86 s and 1.8 GB each with the old engine.
    assert.ok(Date.now() - t0 < 10000, `validation took ${Date.now() - t0} ms`);
    assert.ok(rssKb(srv.proc.pid) - rss0 < 100 * 1024, 'validation memory is bounded');

    // A run: every response fails the extract at its match limit, counted against what the
    // target served, and memory stays bounded ((a*)*\1b took 4.4 GB).
    const c = await srv.api('POST', '/api/v1/tests', withExtract('(a*)*\\1[bc]'));
    assert.equal(c.status, 201, c.text);
    const served0 = served;
    const s = await srv.api('POST', `/api/v1/tests/${c.json.id}/runs`, {});
    assert.equal(s.status, 201, s.text);
    let runDoc;
    for (let i = 0; i < 100; i++) {
      runDoc = (await srv.api('GET', `/api/v1/runs/${s.json.id}`)).json;
      if (runDoc.status !== 'running') break;
      await sleep(200);
    }
    assert.notEqual(runDoc.status, 'running', 'the run ended on time');
    const total = runDoc.summary.total;
    assert.equal(total.requests, served - served0, 'every response the target sent is counted');
    assert.equal(total.failures, total.requests);
    assert.equal(total.errors.regex_limit, total.requests, JSON.stringify(total.errors));
    assert.ok(rssKb(srv.proc.pid) - rss0 < 200 * 1024, 'matching memory is bounded');
  } finally {
    await srv.stop();
  }
});
