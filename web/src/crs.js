// The datum of the map tiles (`tile_crs` in /config.json). Vigil stores and exchanges WGS-84;
// AMap, Tencent and most Chinese tile services draw in GCJ-02, where a WGS-84 track lands
// 100–700 m off. With `gcj02` the map shifts everything it draws into GCJ-02 and shifts every
// point drawn on it (a fence an administrator clicks) back to WGS-84 before it is used or saved.
// The shift is the `gcoord` package's (checked against published pairs in test/crs.test.js); it
// is the identity outside China, as GCJ-02 is.
import gcoord from 'gcoord';

const identity = {
  crs: 'wgs84',
  toMap: (lat, lon) => [lat, lon],
  fromMap: (lat, lon) => [lat, lon],
  geojsonToMap: (g) => g,
};

function shift(from, to) {
  return (lat, lon) => {
    const [x, y] = gcoord.transform([lon, lat], from, to);
    return [y, x];
  };
}

// [lat, lon] converters between WGS-84 (data) and the tiles' datum (screen), and GeoJSON
// (fences, jurisdictions) converted to the tiles' datum without touching the original.
export function projection(crs) {
  if (crs !== 'gcj02') return identity;
  return {
    crs: 'gcj02',
    toMap: shift(gcoord.WGS84, gcoord.GCJ02),
    fromMap: shift(gcoord.GCJ02, gcoord.WGS84),
    geojsonToMap: (g) => gcoord.transform(structuredClone(g), gcoord.WGS84, gcoord.GCJ02),
  };
}
