// What makes the app installable and lets a locked phone ring: the web app manifest, the icons
// (PNG, drawn here at build time: no binary in the repository) and the service worker, whose
// notification texts come from the dictionaries of src/i18n.js (zh-CN first). A Vite plugin
// emits them at the root of dist/ (the service worker must be served from `/` to control the
// whole app) and serves them in `npm run dev`.
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { dictionaries } from './src/i18n.js';

const THEME = [0x1f, 0x3a, 0x5f];

// ---- PNG --------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// An RGBA PNG of `size`×`size` whose pixel colours `paint(x, y)` gives (x, y in 0..1).
export function png(size, paint) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = paint((x + 0.5) / size, (y + 0.5) / size);
      raw.set([r, g, b, a], y * (size * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// The app's mark (◉: a ring around a dot) in white on the theme colour; `maskable` keeps it in
// the inner 60 % safe zone, `badge` is the white mark alone on transparent (Android's status bar).
function icon(size, { maskable = false, badge = false } = {}) {
  const scale = maskable ? 0.6 : 0.8;
  return png(size, (x, y) => {
    const d = Math.hypot(x - 0.5, y - 0.5) / (scale / 2);
    const ring = d > 0.72 && d < 0.92;
    const dot = d < 0.42;
    if (badge) return ring || dot ? [255, 255, 255, 255] : [0, 0, 0, 0];
    if (dot) return [0xe0, 0x3a, 0x3a, 255];
    if (ring) return [255, 255, 255, 255];
    return [...THEME, 255];
  });
}

// ---- manifest and service worker ----------------------------------------------------------------

export function manifest() {
  const zh = dictionaries['zh-CN'];
  return {
    name: zh['app.installName'],
    short_name: zh['app.installShort'],
    description: zh['app.installDescription'],
    lang: 'zh-CN',
    dir: 'ltr',
    start_url: '/',
    scope: '/',
    id: '/',
    display: 'standalone',
    orientation: 'portrait',
    background_color: '#ffffff',
    theme_color: '#1f3a5f',
    icons: [
      { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
      { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
      { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    ],
  };
}

// The texts the service worker needs, both languages (it cannot import the app's modules).
export function swTexts() {
  const out = {};
  for (const [lang, d] of Object.entries(dictionaries)) {
    out[lang] = {};
    for (const [k, v] of Object.entries(d)) if (k.startsWith('push.') || k.startsWith('kind.')) out[lang][k] = v;
  }
  return out;
}

export function serviceWorker() {
  const src = readFileSync(new URL('./src/sw.js', import.meta.url), 'utf8');
  return `const TEXTS = ${JSON.stringify(swTexts())};\n${src}`;
}

// Every file the plugin adds at the root of dist/: path → contents.
export function pwaFiles() {
  return {
    'manifest.webmanifest': JSON.stringify(manifest(), null, 2),
    'sw.js': serviceWorker(),
    'icons/icon-192.png': icon(192),
    'icons/icon-512.png': icon(512),
    'icons/maskable-512.png': icon(512, { maskable: true }),
    'icons/badge-96.png': icon(96, { badge: true }),
  };
}

const TYPES = { webmanifest: 'application/manifest+json', js: 'text/javascript', png: 'image/png' };

export function pwaPlugin() {
  return {
    name: 'vigil-pwa',
    generateBundle() {
      for (const [fileName, source] of Object.entries(pwaFiles())) this.emitFile({ type: 'asset', fileName, source });
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url || '').split('?')[0].replace(/^\//, '');
        const files = pwaFiles();
        if (!(path in files)) return next();
        res.setHeader('Content-Type', TYPES[path.split('.').pop()] || 'application/octet-stream');
        res.end(files[path]);
      });
    },
  };
}
