// curl_import.test.mjs - POST /api/v1/tests/import/curl against the real daemon on a free port
// with a temporary data directory: browser-style commands become steps, the steps validate, and
// commands that cannot be imported are refused with an error naming the word or option.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStampede } from '../lib/harness.mjs';

let srv, base;

before(async () => {
  // Access control on; requests carry the admin's token.
  srv = await startStampede();
  base = srv.base;
});

after(async () => {
  if (srv) await srv.stop();
});

async function api(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { 'Content-Type': 'application/json', ...srv.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

async function importOk(command) {
  const r = await api('POST', '/api/v1/tests/import/curl', { command });
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json.step?.request, 'object', r.text);
  return r.json.step.request;
}

async function importFails(command, pattern) {
  const r = await api('POST', '/api/v1/tests/import/curl', { command });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'invalid_definition');
  assert.equal(r.json.error.path, 'command');
  assert.ok(Array.isArray(r.json.errors) && r.json.errors.length >= 1, r.text);
  assert.equal(r.json.errors[0].path, 'command');
  assert.match(r.json.errors[0].message, pattern);
  return r.json;
}

/** Wraps a step into the smallest test definition and asks the server to validate it. */
async function assertValidates(step) {
  const def = {
    name: 'imported',
    base_url: 'http://127.0.0.1:8090',
    users: [{ name: 'u', tasks: [step] }],
    load: { stages: [{ duration: '10s', users: 1 }] },
  };
  const r = await api('POST', '/api/v1/tests/validate', def);
  assert.equal(r.status, 200, `${r.text}\n${JSON.stringify(step)}`);
  assert.equal(r.json.valid, true);
}

const CHROME = `curl 'https://shop.example.com/api/v1/cart/items?session=abc' \\
  -H 'accept: application/json, text/plain, */*' \\
  -H 'accept-language: en-GB,en;q=0.9' \\
  -H 'authorization: Bearer eyJhbGciOi.J9.x' \\
  -H 'content-type: application/json' \\
  -H 'origin: https://shop.example.com' \\
  -H 'referer: https://shop.example.com/cart' \\
  -H 'sec-ch-ua: "Chromium";v="124", "Not-A.Brand";v="99"' \\
  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0 Safari/537.36' \\
  --data-raw '{"product_id":42,"quantity":2,"options":{"gift":true,"note":"{{not a hole}}"}}' \\
  --compressed`;

test('a Chrome "Copy as cURL" with many headers and a JSON body', async () => {
  const req = await importOk(CHROME);
  assert.equal(req.method, 'POST');
  assert.equal(req.url, 'https://shop.example.com/api/v1/cart/items?session=abc');
  assert.equal(req.name, 'POST /api/v1/cart/items');
  assert.deepEqual(req.json.product_id, 42);
  assert.deepEqual(req.json.options.gift, true);
  assert.equal(req.headers.authorization, 'Bearer eyJhbGciOi.J9.x');
  assert.equal(req.headers['sec-ch-ua'], '"Chromium";v="124", "Not-A.Brand";v="99"');
  assert.equal(req.headers['accept-language'], 'en-GB,en;q=0.9');
  assert.ok(!Object.keys(req.headers).some((k) => k.toLowerCase() === 'content-type'),
    'an implied Content-Type is dropped');
  for (const k of ['body', 'form', 'multipart']) assert.equal(req[k], undefined);
  await assertValidates({ request: req });
});

test('-X overrides the method; a JSON type with parameters still gives a json body', async () => {
  const req = await importOk(`curl -X PUT http://h/api/items/7 -H 'Content-Type: application/json; charset=utf-8' -H 'Content-Length: 5' -d '[1,2]'`);
  assert.equal(req.method, 'PUT');
  assert.deepEqual(req.json, [1, 2]);
  assert.equal(req.headers, undefined);
});

test('URL-encoded data becomes decoded form fields', async () => {
  const req = await importOk(`curl 'http://h/login' --data-raw 'email=a%40example.com&password=p+w%21' -d 'remember=1'`);
  assert.equal(req.method, 'POST');
  assert.deepEqual(req.form, { email: 'a@example.com', password: 'p w!', remember: '1' });
  assert.equal(req.headers, undefined);
  await assertValidates({ request: req });
  const enc = await importOk(`curl http://h/s --data-urlencode 'q=wireless mouse&more'`);
  assert.deepEqual(enc.form, { q: 'wireless mouse&more' });
});

test('other data is a plain body with its Content-Type kept', async () => {
  const req = await importOk(`curl http://h/x -H 'Content-Type: text/csv' --data-binary $'a,b\\n1,2'`);
  assert.equal(req.body, 'a,b\n1,2');
  assert.equal(req.headers['Content-Type'], 'text/csv');
  await assertValidates({ request: req });
});

test('-G puts the data in the query and keeps GET', async () => {
  const req = await importOk(`curl -G http://h/search?x=1 -d q=mouse --data-urlencode 'tag=a b'`);
  assert.equal(req.method, 'GET');
  assert.equal(req.url, 'http://h/search?x=1&q=mouse&tag=a%20b');
  assert.equal(req.name, 'GET /search');
  assert.equal(req.form, undefined);
  await assertValidates({ request: req });
});

test('-u, -b, -A and -e become headers', async () => {
  const req = await importOk(`curl -u alice:s3cret -b 'sid=1' -b 'theme=dark' -A 'Bot/1' -e http://h/from http://h/me`);
  assert.equal(req.method, 'GET');
  assert.equal(req.headers.Authorization, 'Basic ' + Buffer.from('alice:s3cret').toString('base64'));
  assert.equal(req.headers.Cookie, 'sid=1; theme=dark');
  assert.equal(req.headers['User-Agent'], 'Bot/1');
  assert.equal(req.headers.Referer, 'http://h/from');
  await assertValidates({ request: req });
});

test("$'...' quoting, double quotes and short option clusters", async () => {
  const req = await importOk(`curl -sSLk $'http://h/a' -H $'X-Note: it\\'s \\u00e9\\ttab' -H "X-Q: say \\"hi\\" \\$HOME" -XPATCH`);
  assert.equal(req.method, 'PATCH');
  assert.equal(req.headers['X-Note'], "it's \u00e9\ttab");
  assert.equal(req.headers['X-Q'], 'say "hi" $HOME');
});

test('multi-line commands with backslash continuations (LF and CRLF)', async () => {
  const lf = await importOk('curl \\\n  --url http://h/a \\\n  --request DELETE \\\n  --header "X-A: 1"\n');
  assert.equal(lf.method, 'DELETE');
  assert.equal(lf.headers['X-A'], '1');
  const crlf = await importOk('curl \\\r\n  http://h/b \\\r\n  -H "X-B: 2"');
  assert.equal(crlf.url, 'http://h/b');
  assert.equal(crlf.headers['X-B'], '2');
});

test("a browser's multipart upload stays a body with its boundary type", async () => {
  const req = await importOk(`curl 'http://h/upload' -H 'Content-Type: multipart/form-data; boundary=----WebKitFormBoundaryX' --data-raw $'------WebKitFormBoundaryX\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n------WebKitFormBoundaryX--\r\n'`);
  assert.equal(req.method, 'POST');
  assert.equal(req.headers['Content-Type'], 'multipart/form-data; boundary=----WebKitFormBoundaryX');
  assert.match(req.body, /^------WebKitFormBoundaryX\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n/);
  await assertValidates({ request: req });
});

test('-F makes a multipart body', async () => {
  const req = await importOk(`curl http://h/up -F import_type=customers --form-string 'note=@not a file'`);
  assert.equal(req.method, 'POST');
  assert.deepEqual(req.multipart, [
    { name: 'import_type', value: 'customers' }, { name: 'note', value: '@not a file' }]);
  await assertValidates({ request: req });
});

test('commands that cannot be imported are refused, naming why', async () => {
  await importFails('wget http://h/', /not a curl command.*wget/);
  await importFails('', /not a curl command/);
  await importFails('curl --proxy http://p:1 http://h/', /unknown or unsupported option '--proxy'/);
  await importFails('curl -Z http://h/', /'-Z'/);
  await importFails('curl --heder "X: 1" http://h/', /'--heder' \(did you mean '--header'\?\)/);
  await importFails("curl 'http://h/", /unterminated single quote/);
  await importFails('curl "http://h/', /unterminated double quote/);
  await importFails("curl $'http://h/", /unterminated \$'/);
  await importFails('curl -d @body.json http://h/', /-d '@body.json'.*file/);
  await importFails('curl --data-binary @body.bin http://h/', /--data-binary '@body.bin'.*file/);
  await importFails('curl -F file=@photo.jpg http://h/', /-F 'file=@photo.jpg'.*file/);
  await importFails('curl -b cookies.txt http://h/', /-b 'cookies.txt'.*file/);
  await importFails("curl -F 'a=1;type=text/csv' http://h/", /part options/);
  await importFails('curl -H', /'-H' needs a value/);
  await importFails('curl -s', /no URL/);
  await importFails('curl http://a/ http://b/', /second URL/);
  await importFails('curl ftp://h/x', /only http/);
  await importFails('curl -F a=b -d c=d http://h/', /cannot be mixed/);
});

test('the body must hold a command string; the size is capped', async () => {
  let r = await api('POST', '/api/v1/tests/import/curl', { cmd: 'curl http://h/' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.path, 'command');
  r = await api('POST', '/api/v1/tests/import/curl', { command: 'curl http://h/ -d ' + 'a'.repeat(300 * 1024) });
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.errors[0].message, /longer than/);
});

test('the route is in openapi.json', async () => {
  const r = await fetch(base + '/api/v1/openapi.json');
  const doc = await r.json();
  assert.ok(doc.paths['/api/v1/tests/import/curl']?.post, 'documented');
});
