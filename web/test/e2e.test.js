// End-to-end: a real `vigil serve`, emulated GT06 trackers, headless Chromium at phone size.
// Run with `npm --prefix web test` after `cargo build --workspace` and `npm --prefix web run build`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, emulator, launchBrowser, phone, shot, until, sleep, ADMIN, SHOTS } from './harness.js';

let server;
let browser;
let admin;
let unitId;
const emulators = [];

// Two points about 1.2 km apart in a county town (Hubei).
const HOME = { lat: 30.5801, lon: 114.2702 };
const offset = (p, dLat, dLon) => ({ lat: p.lat + dLat, lon: p.lon + dLon });

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await server.api.login(ADMIN.email, ADMIN.password);
  const unit = await server.api.call('POST', '/units', admin, { name: 'Patrol 1', default: true });
  unitId = unit.id ?? unit.unit?.id;
  // The unit's jurisdiction: the town centre around HOME.
  await server.api.call('POST', '/fences', admin, {
    type: 'Feature',
    properties: { kind: 'jurisdiction', name: 'Town centre', unit_id: unitId },
    geometry: { type: 'Polygon', coordinates: [[[114.25, 30.57], [114.29, 30.57], [114.29, 30.6], [114.25, 30.6], [114.25, 30.57]]] },
  });
});

after(async () => {
  for (const e of emulators) e.stop();
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function createUser(email, role, name, extra = {}) {
  const body = { email, password: 'password 123', role, name, ...extra };
  const r = await server.api.call('POST', '/users', admin, body);
  return r.user;
}

async function fleet(tag, imei) {
  const owner = await createUser(`owner-${tag}@e2e.test`, 'owner', `Owner ${tag}`, { phone: '+86 138 0000 0000' });
  const officer = await createUser(`officer-${tag}@e2e.test`, 'officer', `Officer ${tag}`, { unit_ids: [unitId] });
  const device = await server.api.call('POST', '/devices', admin, { unique_id: imei, name: `Moto ${tag}`, owner_id: owner.id });
  const dev = emulator(server, imei);
  emulators.push(dev);
  await dev.waitFor((e) => e.event === 'connected', 'emulator connected');
  await dev.move({ ...HOME, speed: 0, ignition: false, battery: 86 });
  return { owner, officer, device, dev };
}

const text = (page, sel) => page.locator(sel).first().innerText();

for (const [locale, words] of [
  ['en', { armed: 'Armed', theft: 'Theft', ack: 'Acknowledged', resolved: 'Resolved', moving: 'moving', done: 'Done' }],
  ['zh-CN', { armed: '已设防', theft: '盗窃', ack: '已接警', resolved: '已结案', moving: '正在行驶', done: '完成' }],
]) {
  test(`owner arms, thief drives away, patrol handles the alarm, owner cuts power, history (${locale})`, async () => {
    const tag = locale === 'en' ? 'en' : 'zh';
    const imei = locale === 'en' ? '359710049000001' : '359710049000002';
    const { device, dev } = await fleet(tag, imei);
    const p = (n) => `${locale}-${n}`;

    // Login page, in the browser's language.
    const loginCtx = await browser.newContext({ viewport: { width: 360, height: 740 }, locale });
    const lp = await loginCtx.newPage();
    await lp.goto(`${server.base}/`);
    await lp.waitForSelector('[data-testid=login-submit]');
    assert.equal(await lp.evaluate(() => document.documentElement.lang), locale);
    await shot(lp, p('01-login'));
    await loginCtx.close();

    // The owner sees the vehicle, live.
    const owner = await phone(browser, server, locale, `owner-${tag}@e2e.test`, 'password 123');
    await owner.page.waitForSelector(`[data-testid=vehicle-${device.id}]`);
    await until(async () => (await owner.page.getAttribute('[data-testid=live-state]', 'class')).includes('on'), 'live stream open');
    const card = `[data-testid=vehicle-${device.id}]`;
    await until(async () => /^\d+%$/.test(await text(owner.page, `${card} [data-testid=battery]`)), 'battery level shown');
    await dev.move({ ...offset(HOME, 0.0005, 0.0005), speed: 12, ignition: true });
    await until(async () => (await text(owner.page, `${card} [data-testid=speed]`)).includes('12'), 'live speed 12 on the owner page');
    await dev.move({ ...offset(HOME, 0.0002, 0.0002), speed: 7, ignition: true });
    await until(async () => (await text(owner.page, `${card} [data-testid=speed]`)).includes('7'), 'live speed 7 on the owner page');
    // Parked at home, engine off.
    await dev.move({ ...HOME, speed: 0, ignition: false });
    await until(async () => (await text(owner.page, `${card} [data-testid=speed]`)).match(/^0\b/), 'parked');

    // Arm.
    await owner.page.click(`[data-testid=arm-${device.id}]`);
    await until(async () => (await text(owner.page, `${card} [data-testid=armed]`)) === words.armed, 'armed pill');
    await shot(owner.page, p('02-vehicles-armed'));

    // A patrol officer watches the unit's feed in another browser.
    const officer = await phone(browser, server, locale, `officer-${tag}@e2e.test`, 'password 123');
    await officer.page.waitForSelector('[data-testid=alarm-feed]', { state: 'attached' });
    // The unit's jurisdiction is drawn (a dashed polygon), tiles or not.
    await officer.page.waitForSelector('.leaflet-overlay-pane path[stroke-dasharray]');
    await until(async () => (await officer.page.getAttribute('[data-testid=live-state]', 'class')).includes('on'), 'officer stream open');

    // The thief starts the engine and rides off.
    const t0 = Date.now();
    await dev.move({ ...offset(HOME, 0.002, 0.001), speed: 28, ignition: true });
    const alarmRow = await until(
      async () => (await officer.page.locator('[data-testid=alarm-feed] [data-kind=theft]').count()) > 0 && officer.page.locator('[data-testid=alarm-feed] [data-kind=theft]').first(),
      'theft alarm in the officer feed',
      15000,
    );
    const latency = Date.now() - t0;
    console.log(`# ${locale}: theft alarm visible in the officer's browser ${latency} ms after the fix was sent`);
    assert.ok(latency <= 2000, `theft alarm took ${latency} ms to appear (acceptance: within 2 s)`);
    assert.ok((await alarmRow.innerText()).includes(words.theft));
    await until(async () => (await alarmRow.innerText()).includes(`Moto ${tag}`), 'vehicle name in the feed');
    // The alarm banner, the siren and the browser notification.
    await officer.page.waitForSelector('[data-testid=alarm-banner]');
    const notified = await until(() => officer.page.evaluate(() => window.__vigilNotified.length && window.__vigilNotified), 'notification');
    assert.ok(notified[0].title.includes(`Moto ${tag}`), JSON.stringify(notified));
    assert.ok(await officer.page.evaluate(() => (window.__vigilAlarmSounds || 0) >= 1), 'alarm sound played');
    // The owner is told too.
    await owner.page.waitForSelector('[data-testid=alarm-banner]');
    await dev.move({ ...offset(HOME, 0.004, 0.002), speed: 31, ignition: true });
    await dev.move({ ...offset(HOME, 0.006, 0.003), speed: 33, ignition: true });
    // The feed's map shows where the vehicle is.
    const mapBox = await officer.page.locator('[data-testid=map]').boundingBox();
    const mk = await officer.page.locator('.leaflet-interactive').first().boundingBox();
    assert.ok(mk.width > 8 && mk.x > mapBox.x && mk.y > mapBox.y && mk.y < mapBox.y + mapBox.height, 'alarm marker inside the map');
    await shot(officer.page, p('03-patrol-feed'));

    // The owner tries to cut power while it is moving: refused in plain words.
    await owner.page.click(`${card} a.title`);
    await owner.page.waitForSelector('[data-testid=cut-power]');
    await owner.page.click('[data-testid=cut-power]');
    await owner.page.click('[data-testid=confirm-ok]');
    await until(async () => (await text(owner.page, '[data-testid=command-status]')).includes(words.moving), 'speed interlock refusal');
    await shot(owner.page, p('04-cut-refused'));

    // The officer opens the alarm, acknowledges it.
    await alarmRow.click();
    await officer.page.waitForSelector('[data-testid=alarm-ack]');
    assert.ok((await text(officer.page, '[data-testid=alarm-owner]')).includes('+86 138 0000 0000'), 'owner contact');
    const evidence = await text(officer.page, '[data-testid=alarm-evidence]');
    assert.ok(evidence.length > 2, 'evidence listed');
    await shot(officer.page, p('05-alarm-page'));
    await officer.page.click('[data-testid=alarm-ack]');
    await until(async () => (await text(officer.page, '[data-testid=alarm-status]')) === words.ack, 'acknowledged');
    // The vehicle is stopped by the patrol.
    await dev.move({ ...offset(HOME, 0.0065, 0.0032), speed: 0, ignition: false });
    await officer.page.selectOption('[data-testid=alarm-outcome-select]', 'recovered');
    await officer.page.click('[data-testid=alarm-resolve]');
    await until(async () => (await text(officer.page, '[data-testid=alarm-status]')) === words.resolved, 'resolved');
    await shot(officer.page, p('06-alarm-resolved'));

    // Now stopped: the owner cuts power after confirming; the tracker acknowledges.
    await owner.page.click('[data-testid=cut-power]');
    await owner.page.waitForSelector('[role=dialog]');
    await shot(owner.page, p('07-cut-confirm'));
    await owner.page.click('[data-testid=confirm-ok]');
    const cmd = await dev.waitFor((e) => e.event === 'command', 'Relay command at the tracker');
    assert.equal(cmd.text, 'Relay,1#');
    await until(async () => (await owner.page.getAttribute('[data-testid=command-status]', 'data-status')) === 'acknowledged', 'command acknowledged in the owner page');
    assert.ok((await text(owner.page, '[data-testid=command-status]')).includes(words.done));
    // The progress came over the owner's live stream.
    const statuses = owner.frames.filter((f) => f.type === 'command' && f.command.device_id === device.id).map((f) => f.command.status);
    assert.ok(statuses.includes('sent') && statuses.includes('acknowledged'), JSON.stringify(statuses));
    await shot(owner.page, p('08-cut-acknowledged'));

    // My alarms: the owner sees the (resolved) theft alarm of their vehicle, read-only.
    await owner.page.click('[data-testid=nav-alarms]');
    await owner.page.waitForSelector('[data-testid=alarm-feed] [data-kind=theft]');
    await shot(owner.page, p('08b-owner-alarms'));
    await owner.page.click('[data-testid=alarm-feed] [data-kind=theft] a');
    await owner.page.waitForSelector('[data-testid=alarm-evidence]');
    assert.equal(await owner.page.locator('[data-testid=alarm-ack], [data-testid=alarm-resolve]').count(), 0, 'owners do not handle alarms');
    await owner.page.goto(`${server.base}/vehicles/${device.id}`);
    await owner.page.waitForSelector('[data-testid=history-link]');

    // History of the day: the track with its fixes.
    await owner.page.click('[data-testid=history-link]');
    await owner.page.waitForSelector('[data-testid=history-count]');
    const count = Number(await owner.page.getAttribute('[data-testid=history-count]', 'data-count'));
    assert.ok(count >= 7, `history shows ${count} fixes`);
    // The count renders with the page; the map draws the track in an effect right after it.
    await owner.page.waitForSelector('.leaflet-overlay-pane path', { timeout: 5000 }).catch(() => {});
    assert.ok((await owner.page.locator('.leaflet-overlay-pane path').count()) > 0, 'track drawn on the map');
    await owner.page.click('[data-testid=play]');
    await sleep(600);
    await shot(owner.page, p('09-history'));

    // Reload keeps the session; logout ends it.
    await owner.page.reload();
    await owner.page.waitForSelector('.shell');
    await owner.page.click('[data-testid=logout]');
    await owner.page.waitForSelector('[data-testid=login-submit]');
    await owner.ctx.close();
    await officer.ctx.close();
  });
}

test("a second owner's pages never show the first owner's vehicle", async () => {
  const first = await fleet('first', '359710049000003');
  const owner2 = await createUser('owner-second@e2e.test', 'owner', 'Owner second');
  const dev2 = await server.api.call('POST', '/devices', admin, { unique_id: '359710049000004', name: 'Moto second', owner_id: owner2.id });
  const e2 = emulator(server, '359710049000004');
  emulators.push(e2);
  await e2.waitFor((e) => e.event === 'connected', 'second emulator');
  await e2.move({ ...offset(HOME, -0.01, -0.01), speed: 0 });

  const s = await phone(browser, server, 'en', 'owner-second@e2e.test', 'password 123');
  await s.page.waitForSelector(`[data-testid=vehicle-${dev2.id}]`);
  await until(async () => (await s.page.getAttribute('[data-testid=live-state]', 'class')).includes('on'), 'stream open');
  // The first owner's vehicle moves and raises an alarm: nothing of it reaches this page.
  await first.dev.move({ ...offset(HOME, 0.001, 0.001), speed: 20, ignition: true });
  first.dev.send({ cmd: 'alarm', alarm: 'sos' });
  await sleep(1500);
  const body = await s.page.locator('body').innerText();
  // Nothing of the first vehicle arrived over the stream either.
  assert.ok(!s.frames.some((f) => (f.device_id ?? f.alarm?.device_id ?? f.command?.device_id) === first.device.id), 'no event of the other vehicle');
  assert.ok(!body.includes('Moto first'), 'first vehicle name not shown');
  assert.equal(await s.page.locator(`[data-testid=vehicle-${first.device.id}]`).count(), 0);
  assert.equal(await s.page.locator('.leaflet-interactive').count(), 1, 'one marker: the own vehicle');
  await shot(s.page, 'en-10-second-owner');
  // The same page on a desktop: map and panel side by side.
  await s.page.setViewportSize({ width: 1280, height: 800 });
  await sleep(300);
  const mapBox = await s.page.locator('[data-testid=map]').boundingBox();
  const side = await s.page.locator('section.side').boundingBox();
  assert.ok(side.x >= mapBox.x + mapBox.width - 1, 'side panel to the right of the map');
  await s.page.screenshot({ path: `${SHOTS}/en-16-desktop-vehicles.png` });
  await s.page.setViewportSize({ width: 360, height: 740 });
  // Not through the address bar either, nor in the alarms list.
  await s.page.goto(`${server.base}/vehicles/${first.device.id}`);
  await s.page.waitForSelector('.error');
  assert.ok(!(await s.page.locator('body').innerText()).includes('Moto first'));
  await s.page.goto(`${server.base}/alarms`);
  await s.page.waitForSelector('[data-testid=alarm-feed]', { state: 'attached' });
  await sleep(500);
  assert.equal(await s.page.locator('[data-testid=alarm-feed] li').count(), 0, 'no alarm of the other owner');
  await s.ctx.close();
});

test('administrator screens; claiming an auto-registered tracker', async () => {
  // A tracker nobody registered connects: it appears unclaimed.
  const stray = emulator(server, '359710049000099');
  emulators.push(stray);
  await stray.waitFor((e) => e.event === 'connected', 'stray tracker');
  await stray.move({ ...offset(HOME, 0.003, -0.002), speed: 0 });
  const strayDev = await until(async () => (await server.api.call('GET', '/devices?limit=1000', admin)).devices.find((d) => d.unique_id === '359710049000099'), 'auto-registered');
  assert.equal(strayDev.claimed, false);
  const claimer = await createUser('owner-claim@e2e.test', 'owner', 'Owner claim');
  for (const locale of ['en', 'zh-CN']) {
    const a = await phone(browser, server, locale, ADMIN.email, ADMIN.password);
    for (const [path, name] of [
      ['/admin/devices', '11-admin-devices'],
      ['/admin/fences', '12-admin-fences'],
      ['/admin/units', '13-admin-units'],
      ['/admin/users', '14-admin-users'],
      ['/admin/keys', '15-admin-keys'],
    ]) {
      await a.page.goto(`${server.base}${path}`);
      await a.page.waitForSelector('.subtabs');
      await sleep(300);
      await shot(a.page, `${locale}-${name}`);
    }
    if (locale === 'en') {
      // Claim the stray tracker for an owner.
      await a.page.goto(`${server.base}/admin/devices`);
      const row = `[data-testid=admin-device-${strayDev.id}]`;
      await a.page.waitForSelector(row);
      await a.page.selectOption(`${row} select`, String(claimer.id));
      await a.page.click(`${row} button`);
      await until(async () => {
        const d = await server.api.call('GET', `/devices/${strayDev.id}`, admin);
        return d.claimed && d.owner_id === claimer.id;
      }, 'device claimed');
      // Draw a circle fence on the map.
      await a.page.goto(`${server.base}/admin/fences`);
      await a.page.click('[data-testid=draw-circle]');
      const box = await a.page.locator('[data-testid=map]').boundingBox();
      await a.page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await a.page.click('[data-testid=draw-finish]');
      await until(async () => (await server.api.call('GET', '/fences', admin)).features.some((f) => f.properties.radius), 'circle fence stored');
      // A polygon: three taps, then Finish.
      await a.page.click('[data-testid=draw-polygon]');
      for (const [dx, dy] of [[-60, -40], [60, -40], [0, 50]]) await a.page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
      await a.page.click('[data-testid=draw-finish]');
      await until(async () => (await server.api.call('GET', '/fences', admin)).features.some((f) => f.geometry.type === 'Polygon' && f.properties.kind === 'keep_in'), 'polygon fence stored');
      // GeoJSON upload.
      const before = (await server.api.call('GET', '/fences', admin)).features.length;
      const gj = {
        type: 'FeatureCollection',
        features: [
          { type: 'Feature', properties: { name: 'Market', kind: 'watch' }, geometry: { type: 'Polygon', coordinates: [[[114.26, 30.575], [114.265, 30.575], [114.265, 30.578], [114.26, 30.575]]] } },
          { type: 'Feature', properties: { name: 'School', kind: 'keep_out', radius: 150 }, geometry: { type: 'Point', coordinates: [114.28, 30.585] } },
        ],
      };
      await a.page.setInputFiles('[data-testid=fence-upload]', { name: 'fences.geojson', mimeType: 'application/geo+json', buffer: Buffer.from(JSON.stringify(gj)) });
      await until(async () => (await server.api.call('GET', '/fences', admin)).features.length === before + 2, 'uploaded fences stored');
      await sleep(300);
      await shot(a.page, 'en-12b-admin-fences-drawn');
      // A second unit; an officer moved to it.
      await a.page.goto(`${server.base}/admin/units`);
      await a.page.fill('form input[required]', 'Patrol 2');
      await a.page.click('form button');
      const unit2 = await until(async () => (await server.api.call('GET', '/units', admin)).units.find((u) => u.name === 'Patrol 2'), 'unit created');
      const officer = (await server.api.call('GET', '/users?limit=1000', admin)).users.find((u) => u.email === 'officer-first@e2e.test');
      await a.page.goto(`${server.base}/admin/users`);
      const urow = `[data-testid=admin-user-${officer.id}]`;
      await a.page.waitForSelector(urow);
      await a.page.selectOption(`${urow} select`, String(unit2.id));
      await a.page.click(`${urow} button`);
      const otok = await server.api.login('officer-first@e2e.test', 'password 123');
      await until(async () => JSON.stringify((await server.api.call('GET', '/users/me', otok)).unit_ids) === JSON.stringify([unit2.id]), 'officer moved');
      // An API key, shown once.
      await a.page.goto(`${server.base}/admin/keys`);
      await a.page.fill('form input[required]', 'dispatch centre');
      await a.page.click('form button.primary');
      const key = await a.page.locator('code.key').innerText();
      assert.match(key, /^vk_/);
      const res = await fetch(`${server.base}/api/v1/devices`, { headers: { Authorization: `Bearer ${key}` } });
      assert.equal(res.status, 200);
      await shot(a.page, 'en-15b-admin-key-created');
    }
    await a.ctx.close();
  }
});

// Installable, and alarms on a locked phone: the manifest (zh-CN name) and its PNG icons, the
// service worker controlling the app from `/`, the push switch on the alarm and vehicle pages,
// and the worker turning a push message into a notification.
test('installable app: manifest, icons, service worker, push switch, push → notification', async () => {
  const manifest = await (await fetch(`${server.base}/manifest.webmanifest`)).json();
  assert.equal(manifest.name, 'Vigil 防盗');
  assert.equal(manifest.lang, 'zh-CN');
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.display, 'standalone');
  for (const icon of manifest.icons) {
    const res = await fetch(`${server.base}${icon.src}`);
    assert.equal(res.status, 200, icon.src);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const png = Buffer.from(await res.arrayBuffer());
    assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
    const [w, h] = icon.sizes.split('x').map(Number);
    assert.equal(png.readUInt32BE(16), w, icon.src);
    assert.equal(png.readUInt32BE(20), h, icon.src);
  }
  const a = await phone(browser, server, 'zh-CN', ADMIN.email, ADMIN.password);
  const { page } = a;
  const cdp = await a.ctx.newCDPSession(page);
  const registrations = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const sw = await page.evaluate(async () => {
    const r = await navigator.serviceWorker.ready;
    return { scope: r.scope, script: r.active && r.active.scriptURL };
  });
  assert.equal(sw.scope, `${server.base}/`);
  assert.equal(sw.script, `${server.base}/sw.js`);
  // The worker takes the page over and caches nothing: the API answers as before.
  await page.reload();
  await page.waitForSelector('.shell');
  await until(() => page.evaluate(() => !!navigator.serviceWorker.controller), 'page controlled by the worker');
  assert.equal(await page.evaluate(async () => (await fetch('/api/v1/push/vapid-public-key')).status), 200);
  await page.goto(`${server.base}/alarms`);
  const toggle = page.locator('[data-testid=push-toggle]');
  await toggle.waitFor();
  assert.equal(await toggle.getAttribute('data-state'), 'off');
  assert.equal(await toggle.innerText(), '开启锁屏提醒');
  await shot(page, 'zh-CN-17-alarms-push-switch');
  // A push message as the push service would deliver it (decrypted by the browser).
  const reg = await until(() => registrations.find((r) => r.scopeURL === `${server.base}/` && !r.isDeleted), 'worker registration');
  await cdp.send('ServiceWorker.deliverPushMessage', {
    origin: server.base,
    registrationId: reg.registrationId,
    data: JSON.stringify({ reason: 'alarm_opened', alarm: { id: 42, kind: 'theft', device_id: 7 }, device_name: '摩托 A', url: '/alarms/42' }),
  });
  const shown = await until(async () => {
    const list = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, tag: n.tag, url: n.data && n.data.url })));
    return list.length ? list : null;
  }, 'notification shown');
  assert.deepEqual(shown, [{ title: '盗窃报警：摩托 A', tag: 'alarm-42', url: '/alarms/42' }]);
  await a.ctx.close();
});
