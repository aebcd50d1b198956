// Vigil's service worker (served as /sw.js; `TEXTS`, the push.* and kind.* strings of both
// dictionaries, is prepended at build time by ../pwa.js). It shows the alarm notifications the
// server pushes (Web Push) while no page is open — a locked phone rings — and opens the alarm's
// page when one is tapped. It has no fetch handler and caches nothing: every request, API calls
// above all, goes to the network exactly as without it (the cache `vigil-prefs` holds only the
// language the user chose, for the notification texts).
/* global TEXTS */

// The language the user chose in the app (the page keeps it in the cache `vigil-prefs`, the
// one thing stored there), else the browser's.
async function chosenLang() {
  try {
    const r = await (await caches.open('vigil-prefs')).match('/lang');
    const l = r && (await r.text());
    if (l && TEXTS[l]) return l;
  } catch {
    // No Cache API: the browser's language.
  }
  return String(self.navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

function text(lang, key, params) {
  let s = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.en[key] || key;
  if (params) s = s.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? ''));
  return s;
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let msg = {};
  try {
    msg = event.data ? event.data.json() : {};
  } catch {
    msg = {};
  }
  const alarm = msg.alarm || {};
  const name = msg.device_name || (alarm.device_id ? `#${alarm.device_id}` : '');
  event.waitUntil(
    chosenLang().then((lang) => {
      const kind = text(lang, `kind.${alarm.kind}`);
      const title =
        msg.reason === 'intercept_requested' ? text(lang, 'push.intercept', { name }) : text(lang, 'push.title', { kind, name });
      return self.registration.showNotification(title, {
        body: text(lang, 'push.body'),
        tag: alarm.id ? `alarm-${alarm.id}` : 'alarm',
        renotify: true,
        requireInteraction: true,
        vibrate: [400, 150, 400, 150, 800],
        icon: '/icons/icon-192.png',
        badge: '/icons/badge-96.png',
        data: { url: msg.url || '/alarms' },
      });
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || '/alarms', self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const w of windows) {
        if (new URL(w.url).origin !== self.location.origin) continue;
        await w.focus();
        // The page routes without a reload; a page this worker does not control navigates.
        w.postMessage({ type: 'open', url });
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
