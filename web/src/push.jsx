// Alarm notifications on a locked phone: the service worker (/sw.js) and the Web Push
// subscription of this browser. Enabling asks for the notification permission, subscribes with
// the server's VAPID key and hands the subscription to the server, which pushes theft, SOS,
// power-cut and tampering alarms of the user's vehicles (patrol units: their units' alarms).
import { useEffect, useState } from 'preact/hooks';
import { api, get, post } from './api.js';
import { t, currentLang, onLang } from './i18n.js';
import { navigate, Pill } from './ui.jsx';

export function pushSupported() {
  return typeof window !== 'undefined' && window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

// The worker words notifications in the language chosen here (it cannot read localStorage).
function rememberLang(lang) {
  if (typeof caches === 'undefined') return;
  caches
    .open('vigil-prefs')
    .then((c) => c.put('/lang', new Response(lang)))
    .catch(() => {});
}

// Registers the service worker (once, at start) and lets a tapped notification route the app.
export function startServiceWorker() {
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return;
  rememberLang(currentLang());
  onLang(rememberLang);
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
  navigator.serviceWorker.addEventListener('message', (e) => {
    if (e.data && e.data.type === 'open' && typeof e.data.url === 'string') {
      const u = new URL(e.data.url, location.origin);
      if (u.origin === location.origin) navigate(u.pathname);
    }
  });
}

function urlBase64ToBytes(s) {
  const b64 = (s + '='.repeat((4 - (s.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.ready;
}

// 'unsupported' | 'denied' | 'on' | 'off'
export async function pushState() {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = reg && (await reg.pushManager.getSubscription());
  return sub && Notification.permission === 'granted' ? 'on' : 'off';
}

export async function enablePush() {
  const perm = await Notification.requestPermission();
  if (perm !== 'granted') throw new Error(t('push.denied'));
  const reg = await registration();
  const { public_key: key } = await get('/push/vapid-public-key');
  const options = { userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(key) };
  let sub;
  try {
    sub = await reg.pushManager.subscribe(options);
  } catch (e) {
    // Subscribed before with another server key: start over.
    const old = await reg.pushManager.getSubscription();
    if (!old) throw e;
    await old.unsubscribe();
    sub = await reg.pushManager.subscribe(options);
  }
  await post('/push-subscriptions', sub.toJSON());
}

// Stops this browser's notifications (also at logout: the next user of the phone must not get
// the previous user's alarms).
export async function disablePush() {
  if (!pushSupported()) return;
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = reg && (await reg.pushManager.getSubscription());
  if (!sub) return;
  try {
    await api('DELETE', '/push-subscriptions', { endpoint: sub.endpoint });
  } catch {
    // Already gone on the server, or signed out: unsubscribing locally is what matters.
  }
  await sub.unsubscribe();
}

// The switch on the vehicle and alarm pages. Without Web Push (an old browser, plain http) it
// falls back to page notifications, which work while the app is open.
export function PushToggle() {
  const [state, setState] = useState('loading');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    pushState().then(setState, () => setState('unsupported'));
  }, []);
  if (state === 'loading') return null;
  if (state === 'unsupported') {
    if (!('Notification' in window)) return null;
    if (Notification.permission === 'granted')
      return (
        <Pill kind="ok" data-testid="notify-on">
          {t('al.notifyOn')}
        </Pill>
      );
    return (
      <button class="btn small" onClick={() => Notification.requestPermission().then(() => setState('unsupported'))} data-testid="notify">
        {t('al.notify')}
      </button>
    );
  }
  if (state === 'denied')
    return (
      <Pill kind="muted" data-testid="push-denied">
        {t('push.blocked')}
      </Pill>
    );
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      if (state === 'on') await disablePush();
      else await enablePush();
      setState(await pushState());
    } catch (e) {
      setError(e.message || String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="push-toggle">
      <button class={`btn small ${state === 'on' ? '' : 'primary'}`} disabled={busy} onClick={toggle} data-testid="push-toggle" data-state={state} title={t('push.hint')}>
        {state === 'on' ? t('push.off') : t('push.on')}
      </button>
      {state === 'on' && (
        <Pill kind="ok" data-testid="push-on">
          {t('push.enabled')}
        </Pill>
      )}
      {error && (
        <span class="error small" role="alert">
          {t('push.failed', { msg: error })}
        </span>
      )}
    </span>
  );
}
