// policy_secrets.test.mjs - a test's secrets, in every form the engine gives them, never leave
// the daemon, and never go to a target their owner did not aim them at.
//
// The owner's target is a small node listener that echoes what it receives: the query (the
// secret percent-encoded with %20, and re-written with '+' and with lower-case hex), a JSON body
// (JSON-escaped, and escaped again when echoed as a string), a form body, and the Basic
// Authorization header libcurl makes of a URL's user:password (base64). Each echo makes a step
// fail with a message that quotes it. No form may then show in the failures, the Try it trace
// (URL, request headers and body, the echoing response), the exports or the daemon's log.
//
// Redirection: a tester who does not own the test and starts (or tries) it with a base_url
// override of their own listener gets a run without the secrets: their listener, and the
// owner's target that a step's absolute URL still reaches, receive no form of the value. So
// does a tester who edits the test to aim it elsewhere and starts it as stored. The owner and
// an admin may aim it anywhere. (docs/security.md, "Secrets and other targets".)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { freePort, startStampede, userToken, sleep } from '../lib/harness.mjs';

// Something to escape in every form: '@', a space, '/', '!', '"', '\', '+'; it ends in a
// token found nowhere else, so that even a part of it is noticed.
const SECRET = 'p@ss w/rd!"q\\z+1~Zq9x7K';
const TAIL = 'Zq9x7K';
const PW = 'secrets-test-pw-1';

// The forms a leak could take.
const pct = encodeURIComponent(SECRET).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const json1 = JSON.stringify(SECRET).slice(1, -1);
const FORMS = {
  raw: SECRET,
  'percent-encoded': pct,
  "'+' for a space": pct.replace(/%20/g, '+'),
  'lower-case hex': pct.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  'JSON-escaped': json1,
  'JSON-escaped twice': JSON.stringify(json1).slice(1, -1),
  'base64 (Basic user:value)': Buffer.from(`user:${SECRET}`).toString('base64'),
  'base64 (value)': Buffer.from(SECRET).toString('base64'),
  'the last bytes': TAIL,
};

function leaks(text) {
  return Object.entries(FORMS).filter(([, f]) => text.includes(f)).map(([k]) => k);
}
function assertNoLeak(text, where) {
  const l = leaks(text);
  assert.deepEqual(l, [], `${where} shows the secret (${l.join(', ')}): ${text.slice(0, 600)}`);
}

// A listener that records every request and echoes it: {"got": what the step checks, "echo":
// {url, headers, body}}. The step's check wants "got" to be "nothing", so it fails quoting it.
async function listener() {
  const seen = [];
  const port = await freePort();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, body, raw: `${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body}` });
      const p = req.url.split('?')[0];
      let got = req.url;
      if (p === '/plus') got = req.url.replace(/%20/g, '+');
      else if (p === '/lower') got = req.url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
      else if (p === '/json') { try { got = JSON.parse(body); } catch { got = body; } }
      else if (p === '/jsontext' || p === '/form') got = body;
      else if (p === '/basic') got = req.headers.authorization || '';
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Echo-Auth': req.headers.authorization || '-' });
      res.end(JSON.stringify({ got, echo: { url: req.url, headers: req.headers, body } }));
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
}

let srv, owner, other;
const tokens = {};

async function as(who, method, p, body) {
  const init = { method, headers: who === 'admin' ? { ...srv.headers } : { Authorization: `Bearer ${tokens[who]}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(srv.base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

async function waitEnd(runId) {
  const end = Date.now() + 20000;
  for (;;) {
    const r = await as('admin', 'GET', `/api/v1/runs/${runId}`);
    if (!['queued', 'running'].includes(r.json?.status)) return r;
    if (Date.now() > end) assert.fail(`run ${runId} is still ${r.json?.status}`);
    await sleep(100);
  }
}

const nothing = { json: [{ path: 'got', equals: 'nothing' }] };
function definition(base) {
  return {
    name: 'secret in every form',
    base_url: base,
    secrets: { pw: SECRET },
    users: [{ name: 'u', think: { constant: '50ms' }, tasks: [{ steps: [
      { request: { url: '/q', name: 'query', query: { k: '{{secret.pw}}' } }, expect: nothing },
      { request: { url: '/plus', name: 'plus', query: { k: '{{secret.pw}}' } }, expect: nothing },
      { request: { url: '/lower', name: 'lower', query: { k: '{{secret.pw}}' } }, expect: nothing },
      { request: { method: 'POST', url: '/json', name: 'json', json: { password: '{{secret.pw}}' } }, expect: nothing },
      { request: { method: 'POST', url: '/jsontext', name: 'jsontext', json: { password: '{{secret.pw}}' } }, expect: nothing },
      { request: { method: 'POST', url: '/form', name: 'form', form: { password: '{{secret.pw}}', user: 'ann' } }, expect: nothing },
      // libcurl turns the URL's user:password into "Authorization: Basic base64(user:value)".
      // The URL is absolute: a base_url override does not move this step.
      { request: { url: `http://user:{{urlencode(secret.pw)}}@127.0.0.1:${owner.port}/basic`, name: 'basic' }, expect: nothing },
      { request: { url: '/raw', name: 'raw', headers: { 'X-Key': '{{secret.pw}}' } },
        expect: { status: 201, message: 'key {{secret.pw}} got {{status}}' } },
    ] }] }],
    load: { users: 1, duration: '1s' },
  };
}

before(async () => {
  owner = await listener();
  other = await listener();
  srv = await startStampede(['--max-vus', '10', '--max-duration', '1m', '--max-runs', '4']);
  for (const [name, role] of [['ann', 'tester'], ['bob', 'tester']]) {
    const r = await as('admin', 'POST', '/api/v1/users', { name, role, password: PW });
    assert.equal(r.status, 201, r.text);
    tokens[name] = await userToken(srv.base, name, PW);
  }
});

after(async () => {
  await srv?.stop();
  owner?.close();
  other?.close();
});

let testId;

test('every form of a secret is masked in failures, the trace, exports and the log', async () => {
  const c = await as('ann', 'POST', '/api/v1/tests', definition(owner.url));
  assert.equal(c.status, 201, c.text);
  testId = c.json.id;

  const start = await as('ann', 'POST', `/api/v1/tests/${testId}/runs`, {});
  assert.equal(start.status, 201, start.text);
  assert.equal(start.json.secrets_withheld, undefined);
  const id = start.json.id;
  const live = await as('ann', 'GET', `/api/v1/runs/${id}`);
  const ended = await waitEnd(id);

  // The target got the real value in every form: the masking below is not of nothing.
  const got = (p) => owner.seen.find((s) => s.url.startsWith(p));
  assert.equal(new URL(got('/q?').url, 'http://x').searchParams.get('k'), SECRET);
  assert.ok(got('/q?').url.includes(FORMS['percent-encoded']), got('/q?').url);
  assert.equal(JSON.parse(got('/json').body).password, SECRET);
  assert.equal(new URLSearchParams(got('/form').body).get('password'), SECRET);
  assert.equal(got('/basic').headers.authorization, `Basic ${FORMS['base64 (Basic user:value)']}`);
  assert.equal(got('/raw').headers['x-key'], SECRET);

  const f = await as('ann', 'GET', `/api/v1/runs/${id}/failures`);
  assert.equal(f.status, 200, f.text);
  assertNoLeak(f.text, 'GET /runs/ID/failures');
  // Each message is there, masked where the value was.
  const messages = JSON.stringify(f.json);
  for (const name of ['query', 'plus', 'lower', 'json', 'jsontext', 'form', 'basic'])
    assert.match(messages, new RegExp(`"${name}"[^}]*\\*{8}`), `${name}: ${messages}`);
  assert.ok(messages.includes('key ******** got 200'), messages);
  assert.ok(messages.includes('Basic ********'), messages);
  assertNoLeak(live.text, 'GET /runs/ID while running');
  assertNoLeak(ended.text, 'GET /runs/ID');
  // The exports that quote failure messages show them masked (CSV, JUnit and stats hold numbers and verdicts).
  for (const [p, quotes] of [['export.json', 1], ['export.junit.xml', 0], ['export.html', 1],
    ['export.csv', 0], ['stats', 0], ['series', 0]]) {
    const r = await as('ann', 'GET', `/api/v1/runs/${id}/${p}`);
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    if (quotes) assert.ok(r.text.includes('********'), `${p} has no failure message: ${r.text.slice(0, 300)}`);
    assertNoLeak(r.text, p);
  }

  // Try it: the URL, the request's headers and body and the echoing response, for each step.
  const before = owner.seen.length;
  const t = await as('ann', 'POST', `/api/v1/tests/${testId}/try`, {});
  assert.equal(t.status, 200, t.text);
  assert.equal(owner.seen.length - before, 8, 'the try sent every step');
  assertNoLeak(t.text, 'the Try it trace');
  const reqs = t.json.requests;
  const byName = Object.fromEntries(reqs.map((r) => [r.name, r]));
  assert.equal(byName.query.url, `${owner.url}/q?k=********`);
  assert.equal(byName.query.request.line, 'GET /q?k=******** HTTP/1.1');
  assert.equal(byName.json.request.body.text, '{"password":"********"}');
  assert.equal(byName.form.request.body.text, 'password=********&user=ann');
  const auth = byName.basic.request.headers.find((h) => h.name.toLowerCase() === 'authorization');
  assert.equal(auth.value, 'Basic ********');
  const echoed = byName.basic.response.headers.find((h) => h.name.toLowerCase() === 'x-echo-auth');
  assert.equal(echoed.value, 'Basic ********');
  assert.equal(byName.raw.request.headers.find((h) => h.name === 'X-Key').value, '********');
  for (const r of reqs) assert.ok(r.response.body.text.includes('********'), `${r.name}: ${r.response.body.text}`);

  assertNoLeak(srv.stderr(), "the daemon's log");
});

// What one start sent to each listener, from the index each had before it.
function sentSince(marks) {
  return { owner: owner.seen.slice(marks.owner), other: other.seen.slice(marks.other) };
}
const mark = () => ({ owner: owner.seen.length, other: other.seen.length });
const rawOf = (list) => list.map((s) => s.raw).join('\n');

async function runAs(who, overrides) {
  const m = mark();
  const r = await as(who, 'POST', `/api/v1/tests/${testId}/runs`, overrides);
  assert.equal(r.status, 201, r.text);
  await waitEnd(r.json.id);
  return { start: r, sent: sentSince(m) };
}

test("another tester's base_url override gets a run without the secrets; the owner's and an admin's carry them", async () => {
  assert.ok(testId, 'the first test made the test');
  const redirect = { base_url: other.url };

  // bob aims ann's test at his own listener: the run goes, with the mask as the value.
  const bob = await runAs('bob', redirect);
  assert.equal(bob.start.json.secrets_withheld, true, bob.start.text);
  assert.ok(bob.sent.other.length > 0, 'the override reached the listener');
  assertNoLeak(rawOf(bob.sent.other), "bob's listener");
  // The step with an absolute URL still goes to the owner's target, without the value too.
  assert.ok(bob.sent.owner.length > 0);
  assertNoLeak(rawOf(bob.sent.owner), "the owner's target during bob's run");
  assert.ok(rawOf(bob.sent.other).includes(encodeURIComponent('********')), 'the mask went instead');
  const audit = await as('admin', 'GET', '/api/v1/audit?action=run&user=bob');
  assert.ok(audit.json.entries.some((e) => e.detail.includes('secrets withheld')), audit.text);

  // His try with the override: the same.
  let m = mark();
  const tr = await as('bob', 'POST', `/api/v1/tests/${testId}/try`, redirect);
  assert.equal(tr.status, 200, tr.text);
  assert.equal(tr.json.secrets_withheld, true);
  let sent = sentSince(m);
  assert.ok(sent.other.length > 0);
  assertNoLeak(rawOf(sent.other) + rawOf(sent.owner), "bob's try");

  // Without an override, bob runs the test where its owner aimed it: with the value.
  const plain = await runAs('bob', {});
  assert.equal(plain.start.json.secrets_withheld, undefined);
  assert.ok(plain.sent.owner.some((s) => s.url.includes(FORMS['percent-encoded'])));
  // An override that names the stored target is no redirection.
  const same = await runAs('bob', { base_url: `${owner.url}/` });
  assert.equal(same.start.json.secrets_withheld, undefined);

  // The owner, and an admin, may aim it anywhere.
  for (const who of ['ann', 'admin']) {
    const r = await runAs(who, redirect);
    assert.equal(r.start.json.secrets_withheld, undefined, `${who}: ${r.start.text}`);
    assert.ok(r.sent.other.some((s) => s.url.includes(FORMS['percent-encoded'])), `${who}'s run carried the value`);
  }
  m = mark();
  const at = await as('admin', 'POST', `/api/v1/tests/${testId}/try`, redirect);
  assert.equal(at.status, 200, at.text);
  assert.equal(at.json.secrets_withheld, undefined);
  sent = sentSince(m);
  assert.ok(sent.other.some((s) => s.url.includes(FORMS['percent-encoded'])));
});

test('a tester who edits the test to aim it elsewhere gets no secrets from its stored target either', async () => {
  assert.ok(testId, 'the first test made the test');
  const g = await as('bob', 'GET', `/api/v1/tests/${testId}`);
  const d = g.json.definition;
  assert.equal(d.secrets.pw, '********');
  d.base_url = other.url; // the mask sent back keeps the stored value
  const put = await as('bob', 'PUT', `/api/v1/tests/${testId}`, d);
  assert.equal(put.status, 200, put.text);

  const bob = await runAs('bob', {});
  assert.equal(bob.start.json.secrets_withheld, true, bob.start.text);
  assert.ok(bob.sent.other.length > 0);
  assertNoLeak(rawOf(bob.sent.other) + rawOf(bob.sent.owner), "bob's edited test");

  // The owner starting bob's revision carries the value: it is hers to send.
  const ann = await runAs('ann', {});
  assert.equal(ann.start.json.secrets_withheld, undefined);
  assert.ok(ann.sent.other.some((s) => s.url.includes(FORMS['percent-encoded'])));
  assertNoLeak(srv.stderr(), "the daemon's log");
});
