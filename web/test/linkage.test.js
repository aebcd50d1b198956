// End-to-end for issue #15 (video patrol, ground patrol and checkpoints together): admin import of
// cameras and checkpoints, an alarm page listing the cameras a stolen vehicle passed and the
// checkpoints ahead, an intercept request reaching the checkpoint unit's officer, the dispatcher's
// statistics. A real `vigil serve`, emulated GT06 trackers, headless Chromium at phone size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, emulator, launchBrowser, phone, shot, until, sleep, ADMIN } from './harness.js';

let server;
let browser;
let admin;
let patrolUnit;
let checkpointUnit;
const emulators = [];

// A county town (Hubei); the vehicle rides east along the parallel of HOME.
const HOME = { lat: 30.5801, lon: 114.2702 };
const at = (dLat, dLon) => ({ lat: +(HOME.lat + dLat).toFixed(6), lon: +(HOME.lon + dLon).toFixed(6) });
const PLAYBACK = 'http://video.test/api/playback/start/{device}/{channel}?startTime={from}&endTime={to}';

const point = (p, props) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [p.lon, p.lat] }, properties: props });

async function importJson(kind, features) {
  const res = await fetch(`${server.base}/api/v1/${kind}/import?crs=wgs84`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/geo+json' },
    body: JSON.stringify({ type: 'FeatureCollection', features }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`import ${kind}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function createUser(email, role, name, extra = {}) {
  return (await server.api.call('POST', '/users', admin, { email, password: 'password 123', role, name, ...extra })).user;
}

before(async () => {
  server = await startServer({ VIGIL_VIDEO_PLAYBACK_URL: PLAYBACK });
  browser = await launchBrowser();
  admin = await server.api.login(ADMIN.email, ADMIN.password);
  const u1 = await server.api.call('POST', '/units', admin, { name: 'Patrol 1', default: true });
  patrolUnit = u1.id ?? u1.unit?.id;
  const u2 = await server.api.call('POST', '/units', admin, { name: 'East checkpoint squad' });
  checkpointUnit = u2.id ?? u2.unit?.id;
  await server.api.call('POST', '/fences', admin, {
    type: 'Feature',
    properties: { kind: 'jurisdiction', name: 'Town centre', unit_id: patrolUnit },
    geometry: { type: 'Polygon', coordinates: [[[114.262, 30.574], [114.292, 30.574], [114.292, 30.588], [114.262, 30.588], [114.262, 30.574]]] },
  });
  // Along the road east of HOME (about 96 m per 0.001° of longitude here): two cameras that
  // see the road, one turned away from it, one far off; checkpoints 2.9 km east and west.
  await importJson('cameras', [
    point(at(0.0003, 0.003), { code: '42010000001310000001', name: 'Bridge east', facing: 180, kind: 'public', unit_id: patrolUnit, video_device_id: '34020000001320000001', video_channel_id: '34020000001310000001' }),
    point(at(-0.0002, 0.005), { code: '42010000001310000002', name: 'Market gate', kind: 'social', unit_id: patrolUnit }),
    point(at(0.0003, 0.007), { code: '42010000001310000003', name: 'School yard', facing: 0, kind: 'institution', unit_id: patrolUnit, video_device_id: '34020000001320000003', video_channel_id: '34020000001310000003' }),
    point(at(0.02, 0.004), { code: '42010000001310000004', name: 'Hill road', kind: 'rural', unit_id: patrolUnit }),
    // Villages up north, far from the road: enough cameras for a second page in the list.
    ...Array.from({ length: 8 }, (_, i) => point(at(0.03, -0.01 + i * 0.003), { code: `420100000013100001${10 + i}`, name: `Village ${i + 1}`, kind: 'rural', facing: 'S' })),
  ]);
  await importJson('checkpoints', [
    point(at(0, 0.03), { code: 'CP-E1', name: 'East toll gate', unit_id: checkpointUnit }),
    point(at(0, -0.03), { code: 'CP-W1', name: 'West toll gate', unit_id: checkpointUnit }),
  ]);
});

after(async () => {
  for (const e of emulators) e.stop();
  if (browser) await browser.close();
  if (server) await server.stop();
});

const text = (page, sel) => page.locator(sel).first().innerText();

test('admin imports cameras and checkpoints; a bad line is named in the reader’s language', async () => {
  for (const [locale, words] of [
    ['en', { line: 'line 3', nothing: 'Nothing was imported', done: 'imported' }],
    ['zh-CN', { line: '第 3 行', nothing: '未导入任何数据', done: '已导入' }],
  ]) {
    const a = await phone(browser, server, locale, ADMIN.email, ADMIN.password);
    await a.page.goto(`${server.base}/admin/cameras`);
    await a.page.waitForSelector('[data-testid=places-list]', { state: 'attached' });
    // A CSV whose second data row (line 3) has no latitude: refused, nothing stored.
    const before = (await server.api.call('GET', '/cameras?limit=1000', admin)).cameras.length;
    const q = `Quay ${locale}`;
    const bad = `code,name,lat,lon,facing,kind\n4201000000131000${locale === 'en' ? '0101' : '0201'},Depot ${locale},30.5900,114.2800,90,public\n4201000000131000${locale === 'en' ? '0102' : '0202'},${q},,114.2810,,rural\n`;
    await a.page.setInputFiles('[data-testid=import-file]', { name: 'cameras.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    const err = await until(async () => (await a.page.locator('[data-testid=import-error]').count()) && text(a.page, '[data-testid=import-error]'), 'import error shown');
    assert.ok(err.includes(words.line), err);
    assert.ok(err.includes(words.nothing), err);
    assert.equal((await server.api.call('GET', '/cameras?limit=1000', admin)).cameras.length, before, 'nothing half-imported');
    await shot(a.page, `${locale}-20b-import-error`);
    // The same file corrected, in GCJ-02 (a vendor's export): imported, listed, on the map.
    await a.page.selectOption('[data-testid=import-crs]', 'gcj02');
    const good = bad.replace(`,${q},,`, `,${q},30.5905,`);
    await a.page.setInputFiles('[data-testid=import-file]', { name: 'cameras.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
    await until(async () => (await a.page.locator('[data-testid=import-result]').count()) && (await text(a.page, '[data-testid=import-result]')).includes(words.done), 'import result');
    const stored = (await server.api.call('GET', '/cameras?limit=1000', admin)).cameras;
    assert.equal(stored.length, before + 2);
    const quay = stored.find((c) => c.name === q);
    // GCJ-02 is offset from WGS-84 by a few hundred metres in China: converted, not copied.
    assert.ok(Math.abs(quay.lat - 30.5905) > 0.0005 || Math.abs(quay.lon - 114.281) > 0.0005, JSON.stringify(quay));
    await until(async () => Number(await a.page.getAttribute('[data-testid=places-count]', 'data-count')) === before + 2, 'list refreshed');
    // Search narrows the list; the map draws every camera (one canvas).
    await a.page.fill('[data-testid=places-search]', q);
    await until(async () => Number(await a.page.getAttribute('[data-testid=places-count]', 'data-count')) === 1, 'search');
    await a.page.fill('[data-testid=places-search]', '');
    assert.ok((await a.page.locator('.leaflet-overlay-pane canvas').count()) >= 1, 'cameras drawn on the map');
    // Ten a page: the second page holds the rest.
    await a.page.click('[data-testid=page-next]');
    assert.equal(await a.page.locator('[data-testid=places-list] li').count(), before + 2 - 10);
    await a.page.click('[data-testid=page-prev]');
    assert.equal(await a.page.locator('[data-testid=places-list] li').count(), 10);
    await shot(a.page, `${locale}-20-admin-cameras`);
    await a.page.goto(`${server.base}/admin/checkpoints`);
    await until(async () => Number(await a.page.getAttribute('[data-testid=places-count]', 'data-count')) >= 2, 'checkpoints listed');
    await shot(a.page, `${locale}-21-admin-checkpoints`);
    await a.ctx.close();
  }
});

for (const [locale, words] of [
  ['en', { requested: 'Intercept requested', intercept: 'Intercept at' }],
  ['zh-CN', { requested: '已请求拦截', intercept: '拦截' }],
]) {
  test(`alarm page: cameras passed, checkpoints ahead, intercept reaches the checkpoint's officer (${locale})`, async () => {
    const tag = locale === 'en' ? 'en' : 'zh';
    const imei = locale === 'en' ? '359710049100001' : '359710049100002';
    const owner = await createUser(`owner-lk-${tag}@e2e.test`, 'owner', `Owner ${tag}`);
    await createUser(`officer-lk-${tag}@e2e.test`, 'officer', `Officer ${tag}`, { unit_ids: [patrolUnit] });
    await createUser(`gate-lk-${tag}@e2e.test`, 'officer', `Gate ${tag}`, { unit_ids: [checkpointUnit] });
    const device = await server.api.call('POST', '/devices', admin, { unique_id: imei, name: `Moto lk ${tag}`, owner_id: owner.id });
    const dev = emulator(server, imei);
    emulators.push(dev);
    await dev.waitFor((e) => e.event === 'connected', 'emulator connected');
    await dev.move({ ...HOME, speed: 0, ignition: false, battery: 80 });
    const otok = await server.api.login(`owner-lk-${tag}@e2e.test`, 'password 123');
    await server.api.call('POST', `/devices/${device.id}/arm`, otok, {});

    // The checkpoint's officer watches the feed.
    const gate = await phone(browser, server, locale, `gate-lk-${tag}@e2e.test`, 'password 123');
    await gate.page.waitForSelector('[data-testid=alarm-feed]', { state: 'attached' });
    await until(async () => (await gate.page.getAttribute('[data-testid=live-state]', 'class')).includes('on'), 'gate stream open');

    // Stolen: it rides east past the bridge and market cameras, then the school yard (turned away).
    const times = [];
    for (const d of [0.001, 0.002, 0.004, 0.006, 0.008]) {
      await dev.move({ ...at(0, d), speed: 40, course: 90, ignition: true });
      times.push(Date.now());
    }
    const alarm = await until(async () => (await server.api.call('GET', '/alarms?limit=200', admin)).alarms.find((a) => a.device_id === device.id && a.kind === 'theft'), 'theft alarm');

    const officer = await phone(browser, server, locale, `officer-lk-${tag}@e2e.test`, 'password 123');
    await officer.page.goto(`${server.base}/alarms/${alarm.id}`);
    await officer.page.waitForSelector('[data-testid=cameras-passed] li');
    // Exactly the two cameras that see the road, in the order passed; the playback button only
    // where the camera has a video reference.
    const names = await until(async () => {
      const l = await officer.page.locator('[data-testid=cameras-passed] li strong').allInnerTexts();
      return l.length === 2 && l;
    }, 'two cameras listed');
    assert.deepEqual(names, ['Bridge east', 'Market gate']);
    const bridge = officer.page.locator('[data-testid=cameras-passed] li').nth(0);
    const href = await bridge.locator('[data-testid=playback]').getAttribute('href');
    assert.ok(href.startsWith('http://video.test/api/playback/start/34020000001320000001/34020000001310000001?startTime='), href);
    assert.equal(await officer.page.locator('[data-testid=cameras-passed] li').nth(1).locator('[data-testid=playback]').count(), 0, 'no video reference: no button');
    assert.ok((await bridge.locator('[data-testid=camera-window]').innerText()).length > 5);
    // Checkpoints ahead: the eastern one, with an arrival estimate; not the western.
    const cps = await officer.page.locator('[data-testid=checkpoints-ahead] li strong').allInnerTexts();
    assert.deepEqual(cps, ['East toll gate']);
    assert.ok((await text(officer.page, '[data-testid=checkpoints-ahead] [data-testid=eta]')).match(/\d/));
    // Cameras and checkpoints are on the map too (markers beside the vehicle's).
    assert.ok((await officer.page.locator('.leaflet-overlay-pane path.leaflet-interactive').count()) >= 4, 'linkage markers on the map');
    await shot(officer.page, `${locale}-17-alarm-linkage`);

    // A new fix further east: the checkpoint is nearer, without a reload.
    const cpCard = '[data-testid=checkpoints-ahead] li';
    const before = await text(officer.page, cpCard);
    await dev.move({ ...at(0, 0.012), speed: 42, course: 90, ignition: true });
    await until(async () => (await text(officer.page, cpCard)) !== before, 'checkpoints recomputed on the new fix', 10000);

    // Intercept request, with confirmation.
    await officer.page.click('[data-testid=checkpoints-ahead] [data-testid=intercept]');
    await officer.page.waitForSelector('[role=dialog]');
    await shot(officer.page, `${locale}-18-intercept-confirm`);
    await officer.page.click('[data-testid=confirm-ok]');
    await officer.page.waitForSelector('[data-testid=checkpoints-ahead] [data-testid=intercept-requested]');
    assert.ok((await text(officer.page, '[data-testid=checkpoints-ahead] [data-testid=intercept-requested]')).includes(words.requested));

    // The checkpoint's officer: in the feed, with banner and siren.
    await gate.page.waitForSelector('[data-testid=intercept-feed] li');
    const card = await text(gate.page, '[data-testid=intercept-feed] li');
    assert.ok(card.includes('East toll gate') && card.includes(words.intercept), card);
    await gate.page.waitForSelector('[data-testid=intercept-banner]');
    assert.ok(await gate.page.evaluate(() => (window.__vigilAlarmSounds || 0) >= 1), 'siren played');
    const frames = gate.frames.filter((f) => f.type === 'alarm' && f.action === 'intercept_requested' && f.alarm.id === alarm.id);
    assert.equal(frames.length, 1, 'notified once');
    await shot(gate.page, `${locale}-19-intercept-feed`);

    // Asked once per alarm and checkpoint: a reload still shows it as requested.
    await officer.page.reload();
    await officer.page.waitForSelector('[data-testid=checkpoints-ahead] [data-testid=intercept-requested]');
    await officer.ctx.close();
    await gate.ctx.close();
  });
}

test('dispatcher statistics: hot-spot grid, hour of week, unit performance', async () => {
  await createUser('dispatch-lk@e2e.test', 'dispatcher', 'Dispatcher');
  // SOS alarms in three other places around town (two in one of them): more cells to colour.
  const owner = await createUser('owner-sos@e2e.test', 'owner', 'Owner sos');
  let n = 0;
  for (const [dLat, dLon] of [[0.004, -0.006], [0.004, -0.006], [-0.005, 0.009], [0.007, 0.012]]) {
    n++;
    const imei = `35971004920000${n}`;
    await server.api.call('POST', '/devices', admin, { unique_id: imei, name: `Moto sos ${n}`, owner_id: owner.id });
    const dev = emulator(server, imei);
    emulators.push(dev);
    await dev.waitFor((e) => e.event === 'connected', 'sos emulator connected');
    await dev.move({ ...at(dLat, dLon), speed: 0, ignition: false });
    dev.send({ cmd: 'alarm', alarm: 'sos' });
  }
  await until(async () => (await server.api.call('GET', '/alarms?limit=200', admin)).alarms.filter((a) => a.kind === 'sos').length === 4, 'four sos alarms');
  for (const locale of ['en', 'zh-CN']) {
    const d = await phone(browser, server, locale, 'dispatch-lk@e2e.test', 'password 123');
    await d.page.click('[data-testid=nav-stats]');
    await d.page.waitForSelector('[data-testid=hour-of-week]');
    // The thefts of the tests above (one place): one coloured cell.
    await d.page.waitForSelector('.leaflet-overlay-pane path.grid-cell');
    assert.equal(await d.page.locator('.leaflet-overlay-pane path.grid-cell').count(), 1, 'the thefts: one cell');
    assert.ok(/\b2\b/.test(await d.page.locator('[data-testid=stats-summary]').innerText()), 'two thefts counted');
    await d.page.waitForSelector(`[data-testid=unit-table] [data-testid=unit-row-${patrolUnit}]`);
    // Every kind, 250 m cells: the thefts and the three SOS places, in different colours.
    await d.page.selectOption('[data-testid=stats-kind]', '');
    await d.page.selectOption('[data-testid=stats-cell]', '250');
    await d.page.click('[data-testid=stats-apply]');
    await until(async () => (await d.page.locator('.leaflet-overlay-pane path.grid-cell').count()) === 4, 'four cells');
    const fills = new Set(await d.page.locator('.leaflet-overlay-pane path.grid-cell').evaluateAll((ps) => ps.map((p) => p.getAttribute('fill'))));
    assert.ok(fills.size >= 2, `cells coloured by count: ${[...fills]}`);
    await d.page.waitForSelector('[data-testid=legend]');
    const busy = await d.page.locator('[data-testid=hour-of-week] td[data-count]:not([data-count="0"])').count();
    assert.ok(busy >= 1, 'hour-of-week cells with alarms');
    await shot(d.page, `${locale}-22-stats`);
    // A kind with no alarms empties the grid.
    await d.page.selectOption('[data-testid=stats-kind]', 'tampering');
    await d.page.click('[data-testid=stats-apply]');
    await until(async () => (await d.page.locator('.leaflet-overlay-pane path.grid-cell').count()) === 0, 'no tampering cells');
    await d.ctx.close();
  }
});
