// The map's datum shift (src/crs.js, the gcoord package) against published pairs: the reference
// values printed by wandergis/coordtransform's own test for (116.404, 39.915), a conversion
// used in many Chinese projects, plus round trips and the identity outside China.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projection } from '../src/crs.js';

const close = (a, b, eps, what) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} vs ${b}`);

test('WGS-84 → GCJ-02 and back match the published pairs', () => {
  const p = projection('gcj02');
  // wgs84togcj02(116.404, 39.915) → [116.41024449916938, 39.91640428150164]
  const [lat, lon] = p.toMap(39.915, 116.404);
  close(lon, 116.41024449916938, 1e-9, 'lon');
  close(lat, 39.91640428150164, 1e-9, 'lat');
  // gcj02towgs84(116.404, 39.915) → [116.39775550083061, 39.91359571849836]
  const [wlat, wlon] = p.fromMap(39.915, 116.404);
  close(wlon, 116.39775550083061, 1e-9, 'lon');
  close(wlat, 39.91359571849836, 1e-9, 'lat');
});

test('the shift is hundreds of metres in China and a round trip comes back within a metre', () => {
  const p = projection('gcj02');
  for (const [lat, lon] of [
    [22.5431, 114.0579], // Shenzhen
    [31.2304, 121.4737], // Shanghai
    [39.9042, 116.4074], // Beijing
    [30.5728, 104.0668], // Chengdu
  ]) {
    const [glat, glon] = p.toMap(lat, lon);
    const m = Math.hypot((glat - lat) * 111195, (glon - lon) * 111195 * Math.cos((lat * Math.PI) / 180));
    assert.ok(m > 100 && m < 700, `shift at ${lat},${lon} is ${m} m`);
    const [blat, blon] = p.fromMap(glat, glon);
    close(blat, lat, 1e-5, 'round-trip lat');
    close(blon, lon, 1e-5, 'round-trip lon');
  }
});

test('outside China and with wgs84 tiles nothing moves; GeoJSON is converted on a copy', () => {
  const p = projection('gcj02');
  assert.deepEqual(p.toMap(48.8566, 2.3522), [48.8566, 2.3522]);
  const w = projection('wgs84');
  assert.deepEqual(w.toMap(22.5, 114), [22.5, 114]);
  assert.deepEqual(w.fromMap(22.5, 114), [22.5, 114]);
  const fence = {
    type: 'Feature',
    properties: { kind: 'keep_in' },
    geometry: { type: 'Polygon', coordinates: [[[114, 22.5], [114.01, 22.5], [114.01, 22.51], [114, 22.5]]] },
  };
  const shifted = p.geojsonToMap(fence);
  assert.deepEqual(fence.geometry.coordinates[0][0], [114, 22.5], 'the original is untouched');
  const [lat, lon] = p.toMap(22.5, 114);
  close(shifted.geometry.coordinates[0][0][0], lon, 1e-12, 'lon');
  close(shifted.geometry.coordinates[0][0][1], lat, 1e-12, 'lat');
  assert.equal(shifted.properties.kind, 'keep_in');
});
