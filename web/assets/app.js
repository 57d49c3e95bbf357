// app.js - the dashboard's entry point: learns who is signed in, then routes on the URL's
// hash (#/tests, #/runs, #/runs/42, #/compare?runs=1,2) to one page module at a time.
//
// A page module exports render(main, ctx) and returns a cleanup function (closing sockets,
// timers and charts) called when the page is left. ctx = { params, query, go }. Adding a page
// is one entry in ROUTES (docs/dashboard.md).
import { h, mount, toast, clearToasts } from './js/dom.js';
import { session, loadSession, logout, onUnauthorized, config, can } from './js/api.js';
import { ready, leaveGuard } from './js/page.js';
import * as loginPage from './js/pages/login.js';
import * as testsPage from './js/pages/tests.js';
import * as runPage from './js/pages/run.js';
import * as historyPage from './js/pages/history.js';
import * as comparePage from './js/pages/compare.js';
import * as editorPage from './js/pages/editor.js';
import * as importPage from './js/pages/import.js';
import * as settingsPage from './js/pages/settings.js';
import * as agentsPage from './js/pages/agents.js';

const ROUTES = [
  { pattern: /^\/login$/, page: loginPage, nav: null, title: 'Sign in', open: true },
  { pattern: /^\/tests$/, page: testsPage, nav: 'tests', title: 'Tests' },
  { pattern: /^\/runs$/, page: historyPage, nav: 'runs', title: 'History' },
  { pattern: /^\/runs\/(?<id>[1-9][0-9]{0,17})$/, page: runPage, nav: 'runs', title: 'Run' },
  { pattern: /^\/compare$/, page: comparePage, nav: 'compare', title: 'Compare' },
  { pattern: /^\/tests\/new$/, page: editorPage, nav: 'tests', title: 'New test' },
  { pattern: /^\/tests\/(?<id>[1-9][0-9]{0,17})\/edit$/, page: editorPage, nav: 'tests', title: 'Edit test' },
  { pattern: /^\/import$/, page: importPage, nav: 'import', title: 'Import' },
  { pattern: /^\/agents$/, page: agentsPage, nav: 'agents', title: 'Agents' },
  { pattern: /^\/settings$/, page: settingsPage, nav: 'settings', title: 'Settings', admin: true },
];

const main = document.getElementById('main');
let cleanup = null;
let needLogin = false;
let current = null; // the hash of the page on screen, to go back to when leaving is refused

/** Navigates to a hash route, e.g. go('/runs/3'). */
export function go(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = `#${path}`;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/tests';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || '') };
}

/* Without a target allowlist a test may aim load at any address; admins are told under the
 * top bar, with a link to the allowlist in Settings, until they set one or dismiss it. */
async function renderNotice() {
  const box = document.getElementById('notice');
  if (needLogin || !session.auth || !session.user || session.user.role !== 'admin') { box.hidden = true; return; }
  let cfg;
  try { cfg = await config(); } catch { return; }
  if (cfg.allowlist !== false || sessionStorage.getItem('sp-allowlist-notice') === 'dismissed') { box.hidden = true; return; }
  mount(box,
    h('span', 'No target allowlist is set: tests may send load to any address. ',
      h('a', { href: '#/settings?section=allowlist', class: 'notice-link' }, 'Set a target allowlist'), '.'),
    h('button', { type: 'button', class: 'btn btn-ghost btn-small', on: { click: () => { sessionStorage.setItem('sp-allowlist-notice', 'dismissed'); box.hidden = true; } } }, 'Dismiss'));
  box.hidden = false;
}

function renderTopbar() {
  const bar = document.getElementById('topbar');
  const who = document.getElementById('who');
  bar.hidden = needLogin;
  if (needLogin) return;
  const u = session.user || { name: 'local', role: 'admin' };
  for (const a of document.querySelectorAll('[data-nav="settings"]')) a.hidden = u.role !== 'admin';
  for (const a of document.querySelectorAll('[data-nav="import"]')) a.hidden = !can('write');
  mount(who,
    h('span', { class: 'who-name', title: 'Signed in as' }, u.name),
    h('span', { class: ['badge', 'badge-role'] }, u.role),
    session.auth
      ? h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'logout', on: { click: doLogout } }, 'Log out')
      : h('span', { class: 'muted small', title: 'The server runs without access control' }, 'access control off'));
}

async function doLogout() {
  try { await logout(); } catch (e) { toast(`Log out: ${e.message}`, 'error'); }
  needLogin = true;
  go('/login');
}

/* Each route's number, and the number of the last one whose page finished rendering. */
let routeSeq = 0, renderedSeq = 0;

async function route() {
  const { path, query } = parseHash();
  let r = null, m = null;
  for (const cand of ROUTES) { m = path.match(cand.pattern); if (m) { r = cand; break; } }
  if (needLogin && !(r && r.open)) {
    const back = location.hash && !location.hash.startsWith('#/login') ? location.hash.slice(1) : '/tests';
    location.replace(`#/login?next=${encodeURIComponent(back)}`);
    return;
  }
  // A page with unsaved work may keep the user (the hash is put back without a new route).
  if (current !== null && location.hash !== current && leaveGuard.fn && !leaveGuard.fn()) {
    history.replaceState(null, '', current);
    return;
  }
  current = location.hash;
  if (cleanup) { try { cleanup(); } catch { /* a page that fails to clean up must not block the next */ } }
  cleanup = null;
  clearToasts();
  // A new page starts the keyboard from the top, as a loaded document does: the first Tab
  // reaches the skip link, not whatever followed the control that led here (a page that
  // focuses a control of its own does so when it renders, after this).
  if (!document.getElementById('topbar').contains(document.activeElement)) {
    document.body.tabIndex = -1;
    document.body.focus({ preventScroll: true });
    document.body.removeAttribute('tabindex');
  }
  renderTopbar();
  renderNotice();
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (r && a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  main.setAttribute('aria-busy', 'true');
  delete main.dataset.ready;
  if (!r) {
    mount(main, h('section', { class: 'page' }, h('h1', 'Not found'),
      h('p', 'There is no page at this address. '), h('a', { href: '#/tests' }, 'Go to the tests')));
    ready('notfound');
    return;
  }
  document.title = `${r.title} · Stampede`;
  if (r.admin && !can('admin')) {
    mount(main, h('section', { class: 'page' }, h('h1', r.title), h('p', 'Only an admin may see this page.')));
    ready('forbidden');
    return;
  }
  const my = ++routeSeq;
  let done;
  try {
    done = await r.page.render(main, { params: (m && m.groups) || {}, query, go, onLogin });
  } catch (e) {
    if (my === routeSeq) {
      mount(main, h('section', { class: 'page' }, h('h1', 'Something went wrong'),
        h('p', { class: 'error-text' }, e.message)));
      ready('error');
    }
  }
  if (my === routeSeq) {
    cleanup = done;
    renderedSeq = my;
    return;
  }
  // A newer route began while this page was still rendering (a run page waiting for its data,
  // say): this page is stale. Its timers stop; and if the newer page finished first, this one
  // has drawn over it, so the current page is drawn again.
  if (typeof done === 'function') { try { done(); } catch { /* as above */ } }
  if (renderedSeq === routeSeq) { current = null; route(); }
}

async function onLogin(next) {
  needLogin = false;
  go(next || '/tests');
}

onUnauthorized(() => {
  if (needLogin) return;
  needLogin = true;
  toast('Your session has ended. Please sign in again.', 'error');
  route();
});

/* The skip link leads to the content without going through the hash router (its #main would
 * be read as a page). */
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
  main.scrollIntoView();
});

async function start() {
  try {
    needLogin = (await loadSession()) === 'login';
  } catch (e) {
    mount(main, h('section', { class: 'page' }, h('h1', 'The server cannot be reached'), h('p', e.message)));
    return;
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
