// harness.mjs - starts real processes on free loopback ports for integration tests, and always
// stops them: on normal exit, on a failed assertion and on SIGINT/SIGTERM of the test runner.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const STAMPEDE_BIN = process.env.STAMPEDE_BIN || 'build/server/stampede';
export const SHOP_API_BIN = process.env.SHOP_API_BIN || 'build/examples/shop-api/shop-api';
export const SOURCE_DIR = process.env.SP_SOURCE_DIR || path.resolve(import.meta.dirname, '../..');
export const ARTIFACTS = process.env.SP_ARTIFACTS || path.join(SOURCE_DIR, 'tests/artifacts');

const live = new Set();
function killAll() {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A new empty temporary directory, removed when the process exits. */
export function tempDir(prefix = 'stampede-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts bin with args and waits until readyUrl answers any HTTP status (or timeoutMs passes).
 * Returns { proc, stdout(), stderr(), stop(signal) }; stop waits for the exit and returns its code.
 */
export async function startProcess(bin, args, { readyUrl, env = {}, timeoutMs = 10000, cwd } = {}) {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '', err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    resolve(code === null ? 128 + (os.constants.signals[signal] || 0) : code);
  }));
  let exitCode = null;
  exited.then((c) => { exitCode = c; });
  const handle = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (exitCode !== null) return exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  if (readyUrl) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitCode !== null) throw new Error(`${bin} exited with ${exitCode} before it was ready:\n${err}${out}`);
      try {
        await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
        break;
      } catch {
        if (Date.now() > deadline) {
          await handle.stop('SIGKILL');
          throw new Error(`${bin} did not answer ${readyUrl} within ${timeoutMs} ms:\n${err}${out}`);
        }
        await sleep(50);
      }
    }
  }
  return handle;
}

/** Starts the demo shop API on a free port. Returns the handle plus { port, url }. */
export async function startShop(extraArgs = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const h = await startProcess(SHOP_API_BIN, ['--port', String(port), ...extraArgs],
                               { readyUrl: `${url}/__stats` });
  return Object.assign(h, { port, url });
}

/**
 * Runs bin to completion (killed after timeoutMs) and returns { code, stdout, stderr }.
 */
export function run(bin, args, { env = {}, timeoutMs = 60000, cwd, input } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(proc);
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      live.delete(proc);
      resolve({ code: code === null ? 128 + (os.constants.signals[signal] || 0) : code, signal, stdout, stderr });
    });
    if (input !== undefined) proc.stdin.end(input); else proc.stdin.end();
  });
}

/** Spawns bin and returns { proc, done } where done resolves like run(); for signal tests. */
export function spawnRun(bin, args, { env = {}, timeoutMs = 60000, cwd } = {}) {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      live.delete(proc);
      resolve({ code: code === null ? 128 + (os.constants.signals[signal] || 0) : code, signal, stdout, stderr });
    });
  });
  return { proc, done, stdout: () => stdout, stderr: () => stderr };
}

export { sleep };

/** A REST call on a server from startStampede (its base and headers): resolves to {status, text,
 *  json}, json undefined when the answer is not JSON. */
export async function apiCall(s, method, p, body) {
  const init = { method, headers: { ...s.headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(s.base + p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

/** Polls cond every everyMs until it gives something truthy, which it resolves to; fails the test
 *  after timeoutMs, naming what it waited for. */
export async function waitFor(what, cond, timeoutMs = 15000, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Validates a JUnit XML file against tests/fixtures/junit.xsd with xmllint (Debian's
 * libxml2-utils, installed by packaging/deps.sh). Resolves to '' when valid, else xmllint's
 * complaint.
 */
export async function junitProblems(file) {
  const xsd = path.join(SOURCE_DIR, 'tests/fixtures/junit.xsd');
  const r = await run('xmllint', ['--noout', '--schema', xsd, file], { timeoutMs: 20000 });
  if (r.code === 0) return '';
  return `${r.stderr}${r.stdout}`.trim() || `xmllint exited ${r.code} (is libxml2-utils installed?)`;
}

// ---- The daemon with access control on (the default) ----

/** The admin password the helpers give a first start (STAMPEDE_ADMIN_PASSWORD). */
export const ADMIN_PASSWORD = 'harness-admin-password-7f3a';

/**
 * Logs in: POST /api/v1/auth/login. Returns { status, json, cookie ("sp_session=..."), csrf }.
 */
export async function login(base, username, password) {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  const set = res.headers.get('set-cookie') || '';
  const cookie = set.split(';')[0] || null;
  return { status: res.status, headers: res.headers, text, json, cookie, csrf: json?.csrf_token };
}

/** Creates an API token through a session ({ cookie, csrf } from login). Returns the token JSON. */
export async function createToken(base, session, name = 'harness', expiresInS) {
  const body = { name };
  if (expiresInS !== undefined) body.expires_in_s = expiresInS;
  const res = await fetch(`${base}/api/v1/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: session.cookie, 'X-CSRF-Token': session.csrf },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status !== 201) throw new Error(`creating a token failed: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Logs in as user and returns a new API token (a string). */
export async function userToken(base, username = 'admin', password = ADMIN_PASSWORD, name = 'harness') {
  const s = await login(base, username, password);
  if (s.status !== 200) throw new Error(`login as ${username} failed: ${s.status} ${s.text}`);
  return (await createToken(base, s, name)).token;
}

/**
 * Starts `stampede serve` on free loopback ports with a temporary data dir (or dir), access
 * control on and the admin password ADMIN_PASSWORD, and returns the process handle plus
 * { port, live, base, dataDir, token, headers, fetch(path, init), api(method, path, body, headers) }:
 * headers carry `Authorization: Bearer <admin token>`, and fetch/api add them to every request,
 * so a test written for an open server needs only to use them. With { noAuth: true } the
 * server runs with --no-auth and no token is made; { password } logs in with another admin
 * password (a data dir made before).
 */
export async function startStampede(extra = [], { dir, env = {}, noAuth = false, timeoutMs, password = ADMIN_PASSWORD } = {}) {
  const port = await freePort();
  // The live stream needs a port of its own, not port + 1, which may be taken.
  let live = await freePort();
  while (live === port) live = await freePort();
  const dataDir = dir || tempDir();
  const base = `http://127.0.0.1:${port}`;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir,
    '--live-port', String(live), ...(noAuth ? ['--no-auth'] : []), ...extra];
  const h = await startProcess(STAMPEDE_BIN, args, {
    readyUrl: `${base}/api/v1/health`, timeoutMs,
    env: { STAMPEDE_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env },
  });
  let token = null;
  if (!noAuth) {
    try {
      token = await userToken(base, 'admin', password);
    } catch (e) {
      await h.stop();
      throw e;
    }
  }
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const authFetch = (p, init = {}) => fetch(base + p, { ...init, headers: { ...headers, ...(init.headers || {}) } });
  async function api(method, p, body, extraHeaders = {}) {
    const init = { method, headers: { ...extraHeaders } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (!('Content-Type' in init.headers)) init.headers['Content-Type'] = 'application/json';
    }
    const res = await authFetch(p, init);
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, text, json };
  }
  return Object.assign(h, { port, live, base, dataDir, token, headers, fetch: authFetch, api });
}
