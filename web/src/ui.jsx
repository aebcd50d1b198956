// Small shared pieces: router, hooks, dialog, badges, alarm sound.
import { useEffect, useState, useCallback } from 'preact/hooks';
import { onLang, currentLang, t } from './i18n.js';
import { subscribe, onStreamState, streamState, get } from './api.js';

// ---- router (history API; the server answers index.html for every client route) -------------
const routeListeners = new Set();
export function navigate(to, replace = false) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.scrollTo(0, 0);
  for (const l of routeListeners) l();
}
window.addEventListener('popstate', () => {
  for (const l of routeListeners) l();
});
export function useRoute() {
  const [, set] = useState(0);
  useEffect(() => {
    const f = () => set((n) => n + 1);
    routeListeners.add(f);
    return () => routeListeners.delete(f);
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}
export function Link({ href, children, ...rest }) {
  return (
    <a
      href={href}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
      }}
      {...rest}
    >
      {children}
    </a>
  );
}

// Re-render on language change.
export function useLang() {
  const [lang, setL] = useState(currentLang());
  useEffect(() => onLang(setL), []);
  return lang;
}

// Ticks so that "12 s ago" stays true.
export function useNow(ms = 5000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const i = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(i);
  }, [ms]);
  return now;
}

export function useStream(handler, deps = []) {
  const h = useCallback(handler, deps);
  useEffect(() => subscribe(h), [h]);
}

export function useStreamState() {
  const [s, set] = useState(streamState());
  useEffect(() => onStreamState(set), []);
  return s;
}

// Loads once (and again when deps change); returns [data, error, reload, setData].
export function useLoad(fn, deps = []) {
  const [data, setData] = useState(undefined);
  const [error, setError] = useState(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    fn().then(
      (d) => live && setData(d),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [data, error, () => setN((x) => x + 1), setData];
}

export function ErrorText({ error }) {
  if (!error) return null;
  const msg = error.status === 0 ? t('common.network') : t('common.error', { msg: error.message });
  return (
    <p class="error" role="alert">
      {msg}
    </p>
  );
}

export function Confirm({ title, text, confirm, danger, onConfirm, onCancel }) {
  return (
    <div class="dialog-backdrop" onClick={onCancel}>
      <div class="dialog" role="dialog" aria-modal="true" onClick={(e) => e.stopPropagation()}>
        <h2>{title}</h2>
        {text && <p>{text}</p>}
        <div class="row end">
          <button class="btn" onClick={onCancel} data-testid="confirm-cancel">
            {t('common.cancel')}
          </button>
          <button class={`btn ${danger ? 'danger' : 'primary'}`} onClick={onConfirm} data-testid="confirm-ok">
            {confirm}
          </button>
        </div>
      </div>
    </div>
  );
}

export function Pill({ kind, children, ...rest }) {
  return (
    <span class={`pill ${kind || ''}`} {...rest}>
      {children}
    </span>
  );
}

// A short two-tone siren with Web Audio: no sound file to ship or fetch.
let audioCtx = null;
export function playAlarmSound() {
  try {
    audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
    const now = audioCtx.currentTime;
    for (let i = 0; i < 4; i++) {
      const o = audioCtx.createOscillator();
      const g = audioCtx.createGain();
      o.frequency.value = i % 2 ? 660 : 880;
      g.gain.setValueAtTime(0.2, now + i * 0.25);
      g.gain.exponentialRampToValueAtTime(0.001, now + i * 0.25 + 0.24);
      o.connect(g).connect(audioCtx.destination);
      o.start(now + i * 0.25);
      o.stop(now + i * 0.25 + 0.25);
    }
    window.__vigilAlarmSounds = (window.__vigilAlarmSounds || 0) + 1;
  } catch {
    // No audio (autoplay policy before any tap): the banner and notification still show.
  }
}

export const SEVERITY_RANK = { high: 3, medium: 2, low: 1 };

// Newest and most severe first: open before handled, then severity, then time.
export function sortAlarms(list) {
  return [...list].sort((a, b) => {
    const oa = a.status === 'resolved' ? 0 : 1;
    const ob = b.status === 'resolved' ? 0 : 1;
    if (oa !== ob) return ob - oa;
    const s = (SEVERITY_RANK[b.severity] || 0) - (SEVERITY_RANK[a.severity] || 0);
    if (s) return s;
    return new Date(b.last_time || b.created_at) - new Date(a.last_time || a.created_at);
  });
}

export function localDay(d = new Date()) {
  const z = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())}`;
}

// Device names by id, fetched once each (an officer only sees a vehicle while it has an open
// alarm of their unit, so names are looked up as alarms arrive, not listed up front).
const nameCache = new Map();
const nameListeners = new Set();
function fetchName(id) {
  if (nameCache.has(id)) return;
  nameCache.set(id, null);
  get(`/devices/${id}`).then(
    (d) => {
      nameCache.set(id, d.name);
      for (const l of nameListeners) l();
    },
    () => nameCache.delete(id),
  );
}
export function forgetNames() {
  nameCache.clear();
}
export function useDeviceNames(ids) {
  const [, set] = useState(0);
  useEffect(() => {
    const f = () => set((n) => n + 1);
    nameListeners.add(f);
    return () => nameListeners.delete(f);
  }, []);
  for (const id of ids) if (id != null && !nameCache.has(id)) fetchName(id);
  const out = {};
  for (const [k, v] of nameCache) if (v) out[k] = v;
  return out;
}

// The caller's patrol units (ids), fetched once per session.
let myUnits = null;
export function useMyUnits() {
  const [units, set] = useState(myUnits);
  useEffect(() => {
    if (myUnits) return;
    get('/users/me').then(
      (me) => {
        myUnits = me.unit_ids || [];
        set(myUnits);
      },
      () => {},
    );
  }, []);
  return units;
}
export function forgetMyUnits() {
  myUnits = null;
}
