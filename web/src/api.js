// HTTP + WebSocket client of the Vigil API. The session token lives in localStorage so that a
// reload keeps the user signed in; a 401 on any call signs out.

const TOKEN_KEY = 'vigil.token';
const USER_KEY = 'vigil.user';

let token = localStorage.getItem(TOKEN_KEY) || null;
let onUnauthorized = () => {};

export function session() {
  if (!token) return null;
  try {
    return { token, user: JSON.parse(localStorage.getItem(USER_KEY) || 'null') };
  } catch {
    return { token, user: null };
  }
}

export function setOnUnauthorized(f) {
  onUnauthorized = f;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    // The whole `error` object: some answers name where the problem is (line, feature, field).
    this.details = details || {};
  }
}

export async function api(method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  // A content type given: the body is sent as it is (file uploads: GeoJSON, CSV).
  const raw = contentType !== undefined;
  if (body !== undefined) headers['Content-Type'] = raw ? contentType : 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/session') onUnauthorized();
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code, err.message, err);
  }
  return data;
}

export const get = (p) => api('GET', p);
export const post = (p, b = {}) => api('POST', p, b);
export const put = (p, b = {}) => api('PUT', p, b);
export const del = (p) => api('DELETE', p);
// Uploads a file's text as it is (imports).
export const upload = (p, text, contentType) => api('POST', p, text, contentType);

export async function login(email, password) {
  const data = await api('POST', '/session', { email, password });
  token = data.token;
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(data.user));
  return data.user;
}

export async function refreshUser() {
  const me = await get('/users/me');
  const user = me.user || me;
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  return me;
}

export function forget() {
  token = null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

export async function logout() {
  try {
    await api('DELETE', '/session');
  } catch {
    // Signing out locally is what matters; the token expires anyway.
  }
  forget();
}

export async function publicConfig() {
  try {
    const res = await fetch('/config.json');
    if (res.ok) return await res.json();
  } catch {
    // Served without the server (vite preview): no tiles.
  }
  return { tile_url: '', tile_attribution: '' };
}

// ---- live stream ----------------------------------------------------------------------------

const listeners = new Set();
let ws = null;
let wsState = 'closed';
const stateListeners = new Set();
let retry = 0;
let retryTimer = null;

function setWsState(s) {
  wsState = s;
  for (const l of stateListeners) l(s);
}

export function streamState() {
  return wsState;
}

export function onStreamState(f) {
  stateListeners.add(f);
  return () => stateListeners.delete(f);
}

function connect() {
  if (!token || ws) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const sock = new WebSocket(`${proto}//${location.host}/api/v1/stream?token=${encodeURIComponent(token)}`);
  ws = sock;
  setWsState('connecting');
  sock.onopen = () => {
    retry = 0;
    setWsState('open');
  };
  sock.onmessage = (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    for (const l of listeners) {
      try {
        l(ev);
      } catch (e) {
        console.error(e);
      }
    }
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    setWsState('closed');
    if (listeners.size && token) {
      retry = Math.min(retry + 1, 6);
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, 500 * 2 ** (retry - 1));
    }
  };
}

export function closeStream() {
  clearTimeout(retryTimer);
  if (ws) {
    const s = ws;
    ws = null;
    s.close();
  }
  setWsState('closed');
}

// Subscribes to live events; the socket opens with the first listener.
export function subscribe(f) {
  listeners.add(f);
  connect();
  return () => {
    listeners.delete(f);
  };
}
