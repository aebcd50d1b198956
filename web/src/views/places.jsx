// Administrator views of police data (issue #15): cameras and checkpoints — import from a
// GeoJSON or CSV file in WGS-84, GCJ-02 or BD-09, see them on the map, list with search and pages.
import { useMemo, useState } from 'preact/hooks';
import { get, upload } from '../api.js';
import { t, label } from '../i18n.js';
import { MapView } from '../map.jsx';
import { useLoad, ErrorText, Pill } from '../ui.jsx';
import { AdminTabs } from './admin.jsx';
import { CAMERA_COLOR, CHECKPOINT_COLOR } from './linkage.jsx';

const CRS = ['wgs84', 'gcj02', 'bd09'];
// The server's reasons (its words, English) that are said in the reader's language.
const REASONS = {
  required: /^is required/,
  number: /(must be|is not) a number/,
  integer: /must be a whole number/,
  facing: /must be degrees or a compass point/,
  kind: /is not one of/,
  unit: /^no patrol unit/,
};
const PAGE = 10;

// Every camera or checkpoint, a thousand a page (`after` = the previous page's `next_after`):
// the map shows them all, the list searches and pages them here.
async function all(kind) {
  const out = [];
  let after = null;
  for (;;) {
    const r = await get(`/${kind}?limit=1000${after != null ? `&after=${after}` : ''}`);
    out.push(...(r[kind] || []));
    if (r.next_after == null || !(r[kind] || []).length) return out;
    after = r.next_after;
  }
}

// An import refusal in the reader's language: where (line or feature) and which field, from the
// error's own fields when the server gives them, else from its message.
export function importErrorText(e) {
  const d = e.details || {};
  const msg = String(e.message || '');
  const num = (v, re) => (v != null ? v : (msg.match(re) || [])[1]);
  const line = num(d.line, /\bline\s+(\d+)/i);
  // GeoJSON features are counted from 0 (features[0]); people count from 1.
  const feature = num(d.feature, /\bfeature\s+#?(\d+)/i);
  const field =
    d.field ||
    (msg.match(/\bfield\s+[`'"“]?([\w.]+)/i) || [])[1] ||
    (msg.match(/`([\w.]+)`/) || [])[1] ||
    // "line 3: lat: …", "feature 2, lat: …"
    (msg.match(/\b(?:line|feature)\s+#?\d+\s*[,:]\s*(?:field\s+)?([a-z_][\w.]*)\s*[:=]/i) || [])[1];
  let where = '';
  if (line != null) where = t('imp.line', { n: line });
  else if (feature != null) where = t('imp.feature', { n: +feature + 1, i: feature });
  const what = field ? t('imp.field', { field }) : '';
  // The reason, when it is one the dictionaries know.
  const reason = msg.slice(msg.lastIndexOf(': ') + 2);
  const why = Object.entries(REASONS).find(([, re]) => re.test(reason));
  const at = [where, what].filter(Boolean).join(t('imp.sep'));
  if (e.status === 400 && at && why) return t('imp.badWhy', { where: at, why: t(`imp.why.${why[0]}`) });
  if (e.status === 400 && at) return t('imp.badAt', { where: at });
  if (e.status === 400) return t('imp.bad');
  if (e.status === 413) return t('imp.tooBig');
  return e.status === 0 ? t('common.network') : t('common.error', { msg });
}

function Importer({ kind, onDone }) {
  const [crs, setCrs] = useState('wgs84');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const [err, setErr] = useState(null);
  const send = async (file) => {
    setBusy(true);
    setErr(null);
    setResult(null);
    try {
      const text = await file.text();
      const csv = /\.csv$/i.test(file.name) || /^[^{[]/.test(text.trimStart());
      const r = await upload(`/${kind}/import?crs=${crs}`, text, csv ? 'text/csv' : 'application/geo+json');
      const n = r?.imported ?? r?.count ?? r?.total ?? ((r?.created || 0) + (r?.updated || 0));
      setResult({ n, created: r?.created, updated: r?.updated });
      onDone();
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="card importer">
      <div class="row wrap">
        <label class="inline">
          {t('imp.crs')}
          <select value={crs} onChange={(e) => setCrs(e.target.value)} data-testid="import-crs">
            {CRS.map((c) => (
              <option value={c}>{label('crs', c)}</option>
            ))}
          </select>
        </label>
        <label class={`btn small primary file ${busy ? 'busy' : ''}`}>
          {t('imp.choose')}
          <input
            type="file"
            accept=".json,.geojson,.csv,application/geo+json,application/json,text/csv"
            onChange={(e) => {
              const f = e.target.files[0];
              e.target.value = '';
              if (f) send(f);
            }}
            hidden
            data-testid="import-file"
          />
        </label>
      </div>
      <p class="muted small">{t(`imp.hint.${kind}`)}</p>
      {busy && <p class="muted small">{t('imp.busy')}</p>}
      {result && (
        <p class="good" data-testid="import-result">
          {result.created != null && result.updated != null ? t('imp.doneSplit', { n: result.n, c: result.created, u: result.updated }) : t('imp.done', { n: result.n })}
        </p>
      )}
      {err && (
        <div role="alert" data-testid="import-error">
          <p class="error">{importErrorText(err)}</p>
          {err.status === 400 && <p class="muted small">{t('imp.nothing')}</p>}
          {err.message && <p class="muted small code">{t('imp.server', { msg: err.message })}</p>}
        </div>
      )}
    </div>
  );
}

function Places({ kind }) {
  const cams = kind === 'cameras';
  const [items, error, reload] = useLoad(() => all(kind), [kind]);
  const [units] = useLoad(() => get('/units').then((r) => r.units || [], () => []), []);
  const [q, setQ] = useState('');
  const [page, setPage] = useState(0);
  const [focus, setFocus] = useState(null);
  const unitName = (id) => (units || []).find((u) => u.id === id)?.name || (id != null ? `#${id}` : t('common.unknown'));
  const shown = useMemo(() => {
    const s = q.trim().toLowerCase();
    const l = items || [];
    return s ? l.filter((x) => `${x.code || ''} ${x.name || ''}`.toLowerCase().includes(s)) : l;
  }, [items, q]);
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  const p = Math.min(page, pages - 1);
  const color = cams ? CAMERA_COLOR : CHECKPOINT_COLOR;
  const points = useMemo(() => (items || []).map((x) => ({ lat: x.lat, lon: x.lon, color, label: x.name || x.code })), [items]);
  const markers = focus ? [{ id: 'focus', lat: focus.lat, lon: focus.lon, big: true, color: '#c62828', label: focus.name || focus.code, permanent: true }] : [];
  const sectors =
    cams && focus
      ? [{ lat: focus.lat, lon: focus.lon, dir: focus.facing_deg ?? null, fov: focus.fov_deg, range: focus.range_m, color }]
      : [];
  return (
    <div class="page split">
      <MapView points={points} markers={markers} sectors={sectors} follow={focus ? 'focus' : null} fit={items ? `${kind}-${items.length}` : null} autoFit maxZoom={16} class="map-main" />
      <section class="side">
        <AdminTabs />
        <h1>{t(`adm.${kind}`)}</h1>
        <ErrorText error={error} />
        <Importer kind={kind} onDone={reload} />
        <div class="row">
          <input
            type="search"
            class="grow"
            placeholder={t('places.search')}
            value={q}
            onInput={(e) => {
              setQ(e.target.value);
              setPage(0);
            }}
            data-testid="places-search"
          />
        </div>
        <p class="muted small" data-testid="places-count" data-count={shown.length}>
          {t('places.count', { n: shown.length, total: (items || []).length })}
        </p>
        {!items && !error && <p>{t('common.loading')}</p>}
        <ul class="cards" data-testid="places-list">
          {shown.slice(p * PAGE, (p + 1) * PAGE).map((x) => (
            <li class={`card place ${focus && focus.id === x.id ? 'focus' : ''}`} data-testid={`place-${x.id}`} onClick={() => setFocus(x)}>
              <div class="row">
                <span class="dot" style={`background:${color}`} />
                <strong>{x.name || x.code}</strong>
                <div class="spacer" />
                {cams && x.kind && <Pill kind="muted">{label('camk', x.kind)}</Pill>}
              </div>
              <div class="row muted small">
                <span class="code">{x.code}</span>
                <span>{unitName(x.unit_id)}</span>
                {cams && <span>{x.facing_deg != null ? t('places.facing', { d: Math.round(x.facing_deg) }) : t('places.anyDir')}</span>}
                {!cams && x.staffed_hours && <span>{t('places.hours', { h: x.staffed_hours })}</span>}
              </div>
            </li>
          ))}
        </ul>
        {pages > 1 && (
          <div class="row pager">
            <button class="btn small" disabled={p === 0} onClick={() => setPage(p - 1)} data-testid="page-prev">
              ‹ {t('places.prev')}
            </button>
            <span class="muted small" data-testid="page-no">
              {t('places.page', { n: p + 1, of: pages })}
            </span>
            <button class="btn small" disabled={p >= pages - 1} onClick={() => setPage(p + 1)} data-testid="page-next">
              {t('places.next')} ›
            </button>
          </div>
        )}
      </section>
    </div>
  );
}

export function AdminCameras() {
  return <Places kind="cameras" />;
}

export function AdminCheckpoints() {
  return <Places kind="checkpoints" />;
}
