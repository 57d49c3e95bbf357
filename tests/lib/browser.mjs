// browser.mjs - what the browser tests share: Debian's Chromium driven by playwright-core, the
// real daemon and demo shop on free loopback ports, signing in, and screenshots saved as
// artifacts under tests/artifacts/browser/.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { STAMPEDE_BIN, ARTIFACTS, freePort, tempDir, startProcess } from './harness.mjs';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const ADMIN_PASSWORD = 'browser-test-admin-pw-1';
export const SHOTS = path.join(ARTIFACTS, 'browser');

/** Why the browser tests cannot run here, or null. */
export function skipReason() {
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (install the Debian package chromium)`;
  return null;
}

/** Chromium, headless, without the sandbox (tests run as root in CI) or background traffic. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-default-apps', '--no-first-run', '--disable-extensions',
      '--metrics-recording-only', '--disable-breakpad'],
  });
}

/** A new page at 1280x800 that fails the test on any uncaught page error. */
export async function newPage(browser, errors = []) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Chromium logs every 4xx answer ("Failed to load resource"): the dashboard asks /auth/me
    // and meets 422s on purpose. Script errors and CSP violations are what count here.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return page;
}

/** Starts `stampede serve` on free ports with a temporary data dir. */
export async function startServer(extra = [], { env = {}, dir, liveUrl = false } = {}) {
  const port = await freePort();
  const live = await freePort();
  // As behind a proxy: the server names the stream's address (here the stream itself, under a path).
  if (liveUrl) extra = [...extra, '--live-url', `ws://127.0.0.1:${live}/live/`];
  const dataDir = dir || tempDir('stampede-browser-');
  const h = await startProcess(STAMPEDE_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--live-port', String(live),
    '--data-dir', dataDir, '--max-duration', '2m', ...extra],
  { readyUrl: `http://127.0.0.1:${port}/api/v1/health`, env: { STAMPEDE_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env } });
  return Object.assign(h, { port, live, base: `http://127.0.0.1:${port}`, dataDir });
}

/** Whether this server has access control (GET /auth/me is 404 without it). */
export async function hasAuth(srv) {
  const r = await fetch(`${srv.base}/api/v1/auth/me`);
  return r.status !== 404;
}

/**
 * A REST client for test set-up: signs in as user (when the server has access control) and
 * sends the session cookie and CSRF token like the dashboard does.
 */
export async function apiClient(srv, user = 'admin', password = ADMIN_PASSWORD) {
  let cookie = '', csrf = '';
  if (await hasAuth(srv)) {
    const r = await fetch(`${srv.base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: user, password }) });
    if (r.status !== 200) throw new Error(`login as ${user}: ${r.status} ${await r.text()}`);
    const body = await r.json();
    csrf = body.csrf_token || '';
    cookie = (r.headers.get('set-cookie') || '').split(';')[0];
  }
  return async function api(method, p, body) {
    const headers = {};
    if (cookie) headers.Cookie = cookie;
    if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
    const init = { method, headers };
    if (body !== undefined) { init.body = typeof body === 'string' ? body : JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
    const res = await fetch(srv.base + p, init);
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text, headers: res.headers };
  };
}

/** Opens the dashboard and signs in through the login page when the server asks for it. */
export async function openDashboard(page, srv, user = 'admin', password = ADMIN_PASSWORD, hash = '#/tests') {
  await page.goto(`${srv.base}/${hash}`);
  await page.waitForSelector('main[data-ready]');
  if ((await page.getAttribute('main', 'data-ready')) === 'login') {
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('main[data-ready]:not([data-ready="login"])');
  }
}

/** Waits for the page to be ready as `name` (main[data-ready=name]). */
export function waitReady(page, name, timeout = 15000) {
  return page.waitForSelector(`main[data-ready="${name}"]`, { timeout });
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}
