// api.js - the one way the dashboard talks to the REST API. It keeps the session (the user,
// the role and the CSRF token from GET /auth/me or the login answer) and sends the token on
// every request that changes state; the session itself is the HttpOnly sp_session cookie.

export const API = '/api/v1';

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the server answered ${status}`);
    this.status = status;
    this.code = e.code || 'error';
    this.path = e.path || '';
    this.body = body || {};
  }
}

/** Who is using the dashboard: { auth, user: {name, role}, csrf }. */
export const session = { auth: false, user: { name: 'local', role: 'admin' }, csrf: '' };

const listeners = new Set();
/** fn(status) is called when the API answers 401 (the session ended). */
export function onUnauthorized(fn) { listeners.add(fn); }

export async function request(method, path, body, { raw = false } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) init.headers['X-CSRF-Token'] = session.csrf;
  const res = await fetch(path.startsWith('/') ? path : `${API}/${path}`, init);
  if (raw) return res;
  const text = await res.text();
  let json = null;
  if (text) { try { json = JSON.parse(text); } catch { json = null; } }
  if (res.status === 401 && !path.includes('auth/login')) for (const fn of listeners) fn(res.status);
  if (!res.ok) {
    const err = new ApiError(res.status, json);
    err.retryAfter = Number(res.headers.get('Retry-After')) || 0;
    throw err;
  }
  return json;
}

export const get = (p) => request('GET', p);
export const post = (p, b = {}) => request('POST', p, b);
export const put = (p, b) => request('PUT', p, b);
export const del = (p) => request('DELETE', p);

/** Whether the signed-in principal may do something: 'write' (tests), 'run' (start/stop). */
export function can(what) {
  const role = session.user && session.user.role;
  if (role === 'admin') return true;
  if (role === 'tester') return what === 'read' || what === 'write' || what === 'run';
  return what === 'read';
}

/**
 * Learns who we are. Returns 'ok' (signed in, or access control off) or 'login' (a login is
 * needed). A server without access control answers /auth/me with 404: that is "off".
 */
export async function loadSession() {
  const res = await fetch(`${API}/auth/me`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (res.status === 401) return 'login';
  if (res.status === 404) {
    Object.assign(session, { auth: false, user: { name: 'local', role: 'admin' }, csrf: '' });
    return 'ok';
  }
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const me = await res.json();
  Object.assign(session, {
    auth: me.auth !== false,
    user: me.user || { name: 'local', role: 'admin' },
    csrf: me.csrf_token || '',
  });
  return 'ok';
}

export async function login(username, password) {
  const r = await request('POST', `${API}/auth/login`, { username, password });
  Object.assign(session, { auth: true, user: r.user, csrf: r.csrf_token || '' });
  return r;
}

export async function logout() {
  try { await request('POST', `${API}/auth/logout`, {}); } finally {
    Object.assign(session, { auth: true, user: null, csrf: '' });
  }
}

let configCache = null;
/** GET /config, once. */
export async function config() {
  if (!configCache) configCache = await get(`${API}/config`);
  return configCache;
}
