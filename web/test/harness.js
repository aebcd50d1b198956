// Test harness: a real `vigil serve` (the debug binary cargo built) on a temporary SQLite file
// with every listener on port 0, emulated GT06 trackers (`vigil-emulate`), the API, and headless
// Debian Chromium through playwright-core (never a downloaded browser).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB = resolve(here, '..');
export const REPO = resolve(WEB, '..');
export const SHOTS = join(WEB, 'screenshots');
const TARGET = process.env.CARGO_TARGET_DIR ? resolve(REPO, process.env.CARGO_TARGET_DIR) : join(REPO, 'target');
const BIN = (name) => join(TARGET, 'debug', name);
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const ADMIN = { email: 'admin@e2e.test', password: 'admin password 1' };

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Polls `f` until it returns something truthy (generous timeout: the machine may be loaded).
export async function until(f, what, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last && (last.message || JSON.stringify(last))})`);
}

export async function startServer(extraEnv = {}) {
  for (const b of ['vigil', 'vigil-emulate']) {
    if (!existsSync(BIN(b))) throw new Error(`${BIN(b)} is missing: run cargo build --workspace (or cargo test --workspace) first`);
  }
  if (!existsSync(join(WEB, 'dist', 'index.html'))) throw new Error('web/dist is missing: run npm --prefix web run build first');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
  // Only our settings: the developer's own VIGIL_* variables must not leak in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
  Object.assign(env, {
    VIGIL_DATABASE_URL: `sqlite://${join(dir, 'vigil.db')}`,
    VIGIL_HTTP_LISTEN: '127.0.0.1:0',
    VIGIL_GT06_LISTEN: '127.0.0.1:0',
    VIGIL_JT808_LISTEN: '127.0.0.1:0',
    VIGIL_H02_LISTEN: '127.0.0.1:0',
    VIGIL_OSMAND_LISTEN: '127.0.0.1:0',
    VIGIL_MQTT_LISTEN: '127.0.0.1:0',
    VIGIL_ADMIN_EMAIL: ADMIN.email,
    VIGIL_ADMIN_PASSWORD: ADMIN.password,
    VIGIL_HTTP_WORKERS: '2',
    VIGIL_WEB_DIR: join(WEB, 'dist'),
    // Nothing listens there: the tests run offline, the map must draw without tiles.
    VIGIL_WEB_TILE_URL: 'http://127.0.0.1:9/{z}/{x}/{y}.png',
    RUST_LOG: process.env.RUST_LOG || 'warn',
    ...extraEnv,
  });
  const proc = spawn(BIN('vigil'), ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const addrs = {};
  const log = [];
  proc.stderr.on('data', (d) => log.push(String(d)));
  const rl = createInterface({ input: proc.stdout });
  await new Promise((resolveP, reject) => {
    const timer = setTimeout(() => reject(new Error(`vigil did not start: ${log.join('')}`)), 60000);
    proc.on('exit', (code) => reject(new Error(`vigil exited ${code}: ${log.join('')}`)));
    rl.on('line', (line) => {
      const m = line.match(/listening:\s+(\w+)\s+(\S+)/);
      if (m) addrs[m[1]] = m[2];
      if (addrs.http && addrs.gt06 && addrs.mqtt) {
        clearTimeout(timer);
        resolveP();
      }
    });
  });
  const base = `http://${addrs.http}`;
  await until(async () => (await fetch(`${base}/health`)).ok, 'health');
  const server = {
    base,
    addrs,
    dir,
    log,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => {
        if (proc.exitCode !== null) return r();
        proc.on('exit', r);
        setTimeout(r, 10000);
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  server.api = apiClient(base);
  return server;
}

export function apiClient(base) {
  const call = async (method, path, token, body) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return data;
  };
  return {
    call,
    async login(email, password) {
      return (await call('POST', '/session', null, { email, password })).token;
    },
  };
}

// One emulated GT06 tracker: send({cmd: …}) on its stdin, events() its JSON-line output.
export function emulator(server, imei) {
  const proc = spawn(BIN('vigil-emulate'), ['--server', server.addrs.gt06, '--imei', imei], { stdio: ['pipe', 'pipe', 'inherit'] });
  const events = [];
  // GT06 times have one-second resolution and the server keeps one fix per (device, second):
  // every move gets its own second, never earlier than the previous one.
  let lastTime = 0;
  const rl = createInterface({ input: proc.stdout });
  rl.on('line', (l) => {
    try {
      events.push(JSON.parse(l));
    } catch {
      events.push({ event: 'raw', line: l });
    }
  });
  return {
    events,
    send(cmd) {
      proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    },
    async waitFor(pred, what, timeout) {
      return until(() => events.find(pred), what, timeout);
    },
    // Sends a move and waits for the server's ack of it (the fix is committed then).
    async move(m) {
      const before = events.length;
      lastTime = Math.max(Math.floor(Date.now() / 1000) * 1000, lastTime + 1000);
      this.send({ cmd: 'move', time: new Date(lastTime).toISOString().replace('.000Z', 'Z'), ...m });
      const sent = await until(() => events.slice(before).find((e) => e.event === 'sent' || e.event === 'error'), 'sent');
      if (sent.event === 'error') throw new Error(sent.message);
      await until(() => events.find((e) => e.event === 'ack' && e.serial === sent.serial), `ack of ${sent.serial}`);
    },
    stop() {
      try {
        proc.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
      } catch {
        // already gone
      }
      setTimeout(() => proc.kill(), 2000).unref();
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--no-first-run', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

// A phone-sized browser context in a locale, signed in as `email`.
export async function phone(browser, server, locale, email, password) {
  const ctx = await browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 1,
    locale,
    timezoneId: 'Asia/Shanghai',
    isMobile: true,
    hasTouch: true,
  });
  // Notifications allowed, and counted: headless Chromium shows none, the app's call is what
  // is checked.
  await ctx.grantPermissions(['notifications'], { origin: server.base });
  await ctx.addInitScript(() => {
    window.__vigilNotified = [];
    class FakeNotification {
      static permission = 'granted';
      static requestPermission() {
        return Promise.resolve('granted');
      }
      constructor(title, opts) {
        window.__vigilNotified.push({ title, ...(opts || {}) });
      }
    }
    window.Notification = FakeNotification;
  });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[${email}] page error: ${e.message}`));
  // Every live event the page receives, to check what the server's stream delivered.
  const frames = [];
  page.on('websocket', (ws) =>
    ws.on('framereceived', (f) => {
      try {
        frames.push(JSON.parse(f.payload));
      } catch {
        // not JSON
      }
    }),
  );
  await page.goto(`${server.base}/`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('.shell');
  return { ctx, page, frames };
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  // Let the map settle (tile errors, fitBounds) before the picture.
  await sleep(300);
  // Responsive at phone width: nothing scrolls sideways.
  // (Compared with the emulated screen, not innerWidth: a mobile layout viewport grows with
  // content that overflows.)
  const vw = page.viewportSize().width;
  const sw = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, window.innerWidth));
  if (sw > vw) throw new Error(`${name}: the page is ${sw} px wide in a ${vw} px viewport`);
  // Sticky header and banner belong at the top of a full-page picture.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
