// One Leaflet map component. Tiles come from the server's `web_tile_url`; when they cannot load
// (offline, blocked) they are hidden and the plain background shows, while markers, tracks and
// fences (vector layers) are still drawn. Markers are circle markers: no image assets needed.
// Every coordinate handed to MapView, and every click it reports, is WGS-84; on GCJ-02 tiles
// (`tile_crs`, see crs.js) the conversion happens here, in one place, both ways.
import { useEffect, useRef } from 'preact/hooks';
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import { projection } from './crs.js';

let config = { tile_url: '', tile_attribution: '', tile_crs: 'wgs84' };
let proj = projection('wgs84');
export function setMapConfig(c) {
  config = c || config;
  proj = projection(config.tile_crs);
}
export function mapConfig() {
  return config;
}

const FENCE_COLORS = { keep_in: '#2e7d32', keep_out: '#c62828', watch: '#f9a825', jurisdiction: '#1565c0' };

function fenceLayer(geojson) {
  return L.geoJSON(geojson, {
    style: (f) => ({
      color: FENCE_COLORS[f.properties?.kind] || '#555',
      weight: 2,
      fillOpacity: f.properties?.kind === 'jurisdiction' ? 0.05 : 0.12,
      dashArray: f.properties?.kind === 'jurisdiction' ? '6 4' : null,
    }),
    // GeoJSON circles are a Point with a `radius` property (metres).
    pointToLayer: (f, latlng) =>
      f.properties && f.properties.radius
        ? L.circle(latlng, { radius: f.properties.radius })
        : L.circleMarker(latlng, { radius: 4 }),
    onEachFeature: (f, layer) => {
      if (f.properties?.name) layer.bindTooltip(String(f.properties.name));
    },
  });
}

// A camera's field of view: a wedge of `range` metres around `dir` (degrees from north).
function sector(lat, lon, dir, fov, range) {
  const out = [[lat, lon]];
  const mPerDegLat = 111320;
  const mPerDegLon = 111320 * Math.cos((lat * Math.PI) / 180);
  const steps = Math.max(4, Math.round(fov / 10));
  for (let i = 0; i <= steps; i++) {
    const a = ((dir - fov / 2 + (fov * i) / steps) * Math.PI) / 180;
    out.push([lat + (range * Math.cos(a)) / mPerDegLat, lon + (range * Math.sin(a)) / mPerDegLon]);
  }
  return out;
}

/**
 * props:
 *  markers: [{id, lat, lon, label, color, big}]
 *  lines: [{latlngs: [[lat,lon]…], color, weight, dash}]
 *  fences: GeoJSON (FeatureCollection or array of features)
 *  fit: a key; whenever it changes the view fits everything drawn
 *  follow: marker id to keep centred
 *  onClick: (lat, lon) => void
 *  draft: [[lat,lon]…] polygon being drawn; draftCircle: {lat, lon, radius}
 *  sectors: [{lat, lon, dir, fov, range, color}] camera fields of view (dir null: a full circle)
 *  points: [{lat, lon, color, label}] many small dots (thousands of cameras) on a canvas
 *  grid: {geojson, color: (count) => css colour} polygons filled by their `count` property
 */
export function MapView(props) {
  const el = useRef(null);
  const map = useRef(null);
  const layers = useRef({});
  const clickRef = useRef(null);
  clickRef.current = props.onClick;

  useEffect(() => {
    const m = L.map(el.current, { zoomControl: true, attributionControl: !!config.tile_url, preferCanvas: false });
    m.setView(proj.toMap(props.center?.[0] ?? 30.0, props.center?.[1] ?? 114.0), props.zoom ?? 13);
    if (m.attributionControl) m.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    if (config.tile_url) {
      const tiles = L.tileLayer(config.tile_url, {
        attribution: config.tile_attribution || '',
        maxZoom: 19,
        crossOrigin: false,
      });
      // A failed tile is hidden (no broken-image icons): the plain background stays readable.
      tiles.on('tileerror', (e) => {
        if (e.tile) e.tile.style.visibility = 'hidden';
      });
      tiles.addTo(m);
    }
    // Clicks come back in WGS-84 (what the caller draws and saves).
    m.on('click', (e) => clickRef.current && clickRef.current(...proj.fromMap(e.latlng.lat, e.latlng.lng)));
    map.current = m;
    layers.current = {
      grid: L.layerGroup().addTo(m),
      sectors: L.layerGroup().addTo(m),
      points: L.layerGroup().addTo(m),
      fences: L.layerGroup().addTo(m),
      lines: L.layerGroup().addTo(m),
      markers: L.layerGroup().addTo(m),
      draft: L.layerGroup().addTo(m),
    };
    // The container may get its size after mount (flex layouts).
    const ro = new ResizeObserver(() => m.invalidateSize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      m.remove();
    };
  }, []);

  useEffect(() => {
    const g = layers.current.fences;
    g.clearLayers();
    const f = props.fences;
    if (f && (Array.isArray(f) ? f.length : (f.features || []).length)) {
      fenceLayer(proj.geojsonToMap(Array.isArray(f) ? { type: 'FeatureCollection', features: f } : f)).addTo(g);
    }
  }, [props.fences]);

  useEffect(() => {
    const g = layers.current.lines;
    g.clearLayers();
    for (const l of props.lines || []) {
      if (l.latlngs.length < 1) continue;
      L.polyline(l.latlngs.map(([lat, lon]) => proj.toMap(lat, lon)), { color: l.color || '#1e88e5', weight: l.weight || 4, opacity: 0.85, dashArray: l.dash || null }).addTo(g);
    }
  }, [props.lines]);

  useEffect(() => {
    const g = layers.current.markers;
    g.clearLayers();
    for (const mk of props.markers || []) {
      if (mk.lat == null || mk.lon == null) continue;
      const c = L.circleMarker(proj.toMap(mk.lat, mk.lon), {
        radius: mk.big ? 10 : 7,
        color: '#fff',
        weight: 2,
        fillColor: mk.color || '#1e88e5',
        fillOpacity: 1,
      });
      if (mk.label) c.bindTooltip(mk.label, { permanent: !!mk.permanent, direction: 'top', offset: [0, -8] });
      c.addTo(g);
    }
    if (props.follow != null) {
      const mk = (props.markers || []).find((m) => m.id === props.follow);
      if (mk && mk.lat != null) {
        const b = map.current.getBounds();
        const at = proj.toMap(mk.lat, mk.lon);
        if (!b.pad(-0.2).contains(at)) map.current.panTo(at);
      }
    }
  }, [props.markers, props.follow]);

  useEffect(() => {
    const g = layers.current.sectors;
    g.clearLayers();
    for (const s of props.sectors || []) {
      if (s.lat == null || s.lon == null) continue;
      const style = { color: s.color || '#00838f', weight: 1, fillOpacity: 0.18, interactive: false };
      if (s.dir == null || (s.fov || 360) >= 360) L.circle([s.lat, s.lon], { ...style, radius: s.range || 60 }).addTo(g);
      else L.polygon(sector(s.lat, s.lon, s.dir, s.fov || 90, s.range || 60), style).addTo(g);
    }
  }, [props.sectors]);

  useEffect(() => {
    const g = layers.current.points;
    g.clearLayers();
    const pts = props.points || [];
    if (!pts.length) return;
    // One canvas for all of them: thousands of SVG elements would make the page crawl.
    const renderer = L.canvas({ padding: 0.2 });
    for (const p of pts) {
      if (p.lat == null || p.lon == null) continue;
      const c = L.circleMarker([p.lat, p.lon], { renderer, radius: 4, color: '#fff', weight: 1, fillColor: p.color || '#00838f', fillOpacity: 0.9 });
      if (p.label) c.bindTooltip(p.label);
      c.addTo(g);
    }
  }, [props.points]);

  useEffect(() => {
    const g = layers.current.grid;
    g.clearLayers();
    const gj = props.grid && props.grid.geojson;
    if (!gj || !(gj.features || []).length) return;
    const color = props.grid.color;
    L.geoJSON(gj, {
      style: (f) => ({ className: 'grid-cell', color: '#fff', weight: 0.5, fillColor: color(f.properties?.count || 0), fillOpacity: 0.7 }),
      onEachFeature: (f, layer) => layer.bindTooltip(String(f.properties?.count ?? '')),
    }).addTo(g);
  }, [props.grid]);

  useEffect(() => {
    const g = layers.current.draft;
    g.clearLayers();
    if (props.draft && props.draft.length) {
      const draft = props.draft.map(([lat, lon]) => proj.toMap(lat, lon));
      L.polyline(draft, { color: '#6a1b9a', dashArray: '4 4' }).addTo(g);
      for (const p of draft) L.circleMarker(p, { radius: 4, color: '#6a1b9a' }).addTo(g);
    }
    if (props.draftCircle) {
      L.circle(proj.toMap(props.draftCircle.lat, props.draftCircle.lon), { radius: props.draftCircle.radius, color: '#6a1b9a' }).addTo(g);
    }
  }, [props.draft, props.draftCircle]);

  // Fit the view to everything drawn: whenever `fit` changes, and (autoFit) the first time
  // there is something to show.
  const fitted = useRef(false);
  const lastFit = useRef(undefined);
  useEffect(() => {
    const all = L.featureGroup([
      ...layers.current.grid.getLayers(),
      ...layers.current.points.getLayers(),
      ...layers.current.fences.getLayers(),
      ...layers.current.lines.getLayers(),
      ...layers.current.markers.getLayers(),
    ]);
    const has = all.getLayers().length > 0;
    const keyChanged = props.fit !== undefined && props.fit !== null && props.fit !== lastFit.current;
    if (!has || !(keyChanged || (props.autoFit && !fitted.current))) return;
    const b = all.getBounds();
    if (b && b.isValid()) {
      map.current.invalidateSize({ pan: false });
      map.current.fitBounds(b.pad(0.15), { maxZoom: props.maxZoom || 16, animate: false });
      fitted.current = true;
      lastFit.current = props.fit;
    }
  }, [props.fit, props.markers, props.lines, props.fences, props.points, props.grid]);

  return <div class={`map ${props.class || ''}`} ref={el} data-testid="map" />;
}
