// Map tiles in GCJ-02 (AMap, Tencent): a server started with web_tile_crs=gcj02, an
// administrator's phone. Where the map draws a WGS-84 fence and where a tap lands are read off
// the tile grid itself (each tile <img> names its z/x/y and sits at its Web-Mercator place, even
// when the tile fails to load offline): the stored fence must be drawn at its GCJ-02 place, and
// a fence tapped on the GCJ-02 map must be stored in WGS-84.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import gcoord from 'gcoord';
import { startServer, launchBrowser, phone, shot, until, sleep, ADMIN } from './harness.js';

let server;
let browser;
let admin;

before(async () => {
  server = await startServer({ VIGIL_WEB_TILE_CRS: 'gcj02' });
  browser = await launchBrowser();
  admin = await server.api.login(ADMIN.email, ADMIN.password);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// A 600 m square in Shenzhen (WGS-84), where GCJ-02 is about 550 m off.
const S = 22.54;
const N = 22.546;
const W = 114.054;
const E = 114.06;
const toGcj = (lat, lon) => {
  const [x, y] = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
  return { lat: y, lon: x };
};
const metres = (a, b) => Math.hypot((a.lat - b.lat) * 111195, (a.lon - b.lon) * 111195 * Math.cos((a.lat * Math.PI) / 180));

// Screen ↔ lat/lon of the tiles' own grid, from one tile of the current zoom.
async function tileGrid(page) {
  const tile = await until(
    () =>
      page.evaluate(() => {
        const tiles = [...document.querySelectorAll('img.leaflet-tile')]
          .map((img) => {
            const m = img.src.match(/\/(\d+)\/(\d+)\/(\d+)\.png$/);
            const r = img.getBoundingClientRect();
            return m && { z: +m[1], x: +m[2], y: +m[3], left: r.left, top: r.top, w: r.width };
          })
          .filter(Boolean);
        if (!tiles.length) return null;
        const z = Math.max(...tiles.map((t) => t.z));
        return tiles.find((t) => t.z === z && t.w > 0) || null;
      }),
    'map tiles laid out',
  );
  const n = 256 * 2 ** tile.z;
  const scale = 256 / tile.w;
  return {
    toScreen({ lat, lon }) {
      const px = ((lon + 180) / 360) * n;
      const s = Math.sin((lat * Math.PI) / 180);
      const py = (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n;
      return { x: tile.left + (px - tile.x * 256) / scale, y: tile.top + (py - tile.y * 256) / scale };
    },
    metresPerPixel: (40075016 * Math.cos((S * Math.PI) / 180)) / n / (tile.w / 256),
  };
}

test('on GCJ-02 tiles a fence is drawn shifted and a fence drawn is stored in WGS-84', async () => {
  const config = await (await fetch(`${server.base}/config.json`)).json();
  assert.equal(config.tile_crs, 'gcj02');
  await server.api.call('POST', '/fences', admin, {
    type: 'Feature',
    properties: { kind: 'watch', name: 'Reference square' },
    geometry: { type: 'Polygon', coordinates: [[[W, S], [E, S], [E, N], [W, N], [W, S]]] },
  });
  const a = await phone(browser, server, 'zh-CN', ADMIN.email, ADMIN.password);
  const { page } = a;
  await page.goto(`${server.base}/admin/fences`);
  const path = page.locator('path.leaflet-interactive').first();
  await path.waitFor();
  await sleep(800);
  const grid = await tileGrid(page);

  // Drawn where GCJ-02 puts it, not where WGS-84 would.
  const box = await path.boundingBox();
  const gNW = grid.toScreen(toGcj(N, W));
  const gSE = grid.toScreen(toGcj(S, E));
  const wNW = grid.toScreen({ lat: N, lon: W });
  const px = (p, q) => Math.hypot(p.x - q.x, p.y - q.y);
  assert.ok(px({ x: box.x, y: box.y }, gNW) < 4, `north-west corner at ${box.x},${box.y}, GCJ-02 ${gNW.x},${gNW.y}`);
  assert.ok(px({ x: box.x + box.width, y: box.y + box.height }, gSE) < 4, 'south-east corner');
  assert.ok(px(gNW, wNW) * grid.metresPerPixel > 300, 'the datums are far apart here');

  // Tap three corners of the drawn square: the new fence is stored at the WGS-84 corners.
  await page.click('[data-testid=draw-polygon]');
  const corners = [
    [N, W],
    [N, E],
    [S, E],
  ];
  for (const [lat, lon] of corners) {
    const p = grid.toScreen(toGcj(lat, lon));
    await page.mouse.click(p.x, p.y);
  }
  await page.click('[data-testid=draw-finish]');
  const fence = await until(
    async () => (await server.api.call('GET', '/fences', admin)).features.find((f) => f.properties.kind === 'keep_in'),
    'drawn fence stored',
  );
  const ring = fence.geometry.coordinates[0];
  const tolerance = Math.max(5, 3 * grid.metresPerPixel);
  corners.forEach(([lat, lon], i) => {
    const stored = { lat: ring[i][1], lon: ring[i][0] };
    const off = metres(stored, { lat, lon });
    assert.ok(off < tolerance, `corner ${i} stored ${off.toFixed(1)} m from its WGS-84 place (tolerance ${tolerance.toFixed(1)} m)`);
  });
  await shot(page, 'zh-CN-16-admin-fences-gcj02');
  await a.ctx.close();
});
