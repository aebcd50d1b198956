// Planning and assessment for dispatchers and administrators (issue #15): where and when alarms
// happen (grid cells coloured by count, hour-of-week heat table, per unit) and how units perform.
import { useMemo, useState } from 'preact/hooks';
import { get } from '../api.js';
import { t, label, durationText, dayText } from '../i18n.js';
import { MapView } from '../map.jsx';
import { useLoad, ErrorText, localDay } from '../ui.jsx';

// Hours of the week in the viewer's local time (China: +480 minutes).
const TZ = `tz_offset_min=${-new Date().getTimezoneOffset()}`;

const KINDS = ['', 'theft', 'sos', 'power_cut', 'vibration', 'geofence_exit', 'overspeed', 'offline', 'tampering'];
const CELLS = [250, 500, 1000, 2000];
const OUTCOMES = ['recovered', 'false_alarm', 'not_found', 'duplicate', 'other'];
// Light to dark: five classes of the largest count.
const SCALE = ['#fff3bf', '#ffd43b', '#fd7e14', '#e03131', '#862e9c'];

function classOf(count, max) {
  if (!count || !max) return -1;
  return Math.min(SCALE.length - 1, Math.ceil((count / max) * SCALE.length) - 1);
}

// Hour of the week as a 7 × 24 matrix from the server's 168 counts (Monday 00:00 local first).
export function hourMatrix(how) {
  const m = Array.from({ length: 7 }, () => new Array(24).fill(0));
  (Array.isArray(how) ? how : []).forEach((n, i) => {
    if (i < 168) m[Math.floor(i / 24)][i % 24] = +n || 0;
  });
  return m;
}

// The answer is itself the FeatureCollection of cells (the other figures are foreign members).
function cellsOf(r) {
  return r && r.type === 'FeatureCollection' ? { type: 'FeatureCollection', features: r.features || [] } : null;
}

function perUnitOf(r) {
  return (r && (r.units || r.by_unit)) || [];
}

function secs(u, what, q) {
  return u[`${what}_${q}_secs`] ?? null;
}

function isoRange(from, to) {
  const f = new Date(`${from}T00:00:00`);
  const e = new Date(`${to}T00:00:00`);
  e.setDate(e.getDate() + 1);
  return `from=${encodeURIComponent(f.toISOString())}&to=${encodeURIComponent(e.toISOString())}`;
}

// The counts each colour stands for (classes no whole count falls in are left out).
function legendRanges(max) {
  const out = [];
  for (let n = 1; n <= max; n++) {
    const c = classOf(n, max);
    const last = out[out.length - 1];
    if (last && last.c === c) last.hi = n;
    else out.push({ c, lo: n, hi: n });
  }
  return out;
}

function Legend({ max }) {
  if (!max) return null;
  return (
    <div class="legend" data-testid="legend">
      <span class="muted small">{t('st.legend')}</span>
      {legendRanges(max).map(({ c, lo, hi }) => (
        <span class="legend-item">
          <span class="swatch" style={`background:${SCALE[c]}`} />
          <span class="small">{lo === hi ? lo : `${lo}–${hi}`}</span>
        </span>
      ))}
    </div>
  );
}

function HourOfWeek({ matrix }) {
  const max = Math.max(0, ...matrix.flat());
  return (
    <div class="table-wrap">
      <table class="heat" data-testid="hour-of-week">
        <thead>
          <tr>
            <th />
            {Array.from({ length: 24 }, (_, h) => (
              <th class="small">{h % 3 === 0 ? h : ''}</th>
            ))}
            <th class="small">{t('st.sum')}</th>
          </tr>
        </thead>
        <tbody>
          {matrix.map((row, d) => (
            <tr>
              <th class="small">{t(`wd.${d}`)}</th>
              {row.map((n, h) => {
                const c = classOf(n, max);
                return <td title={t('st.cellTitle', { day: t(`wd.${d}`), h, n })} style={c >= 0 ? `background:${SCALE[c]}` : ''} data-count={n} />;
              })}
              <td class="small num">{row.reduce((a, b) => a + b, 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function UnitTable({ units }) {
  return (
    <div class="table-wrap">
      <table class="grid-table" data-testid="unit-table">
        <thead>
          <tr>
            <th>{t('al.unit')}</th>
            <th>{t('st.routed')}</th>
            <th>{t('st.ackMedian')}</th>
            <th>{t('st.ackP90')}</th>
            <th>{t('st.resMedian')}</th>
            <th>{t('st.resP90')}</th>
            {OUTCOMES.map((o) => (
              <th>{label('out', o)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {units.map((u) => (
            <tr data-testid={`unit-row-${u.unit_id ?? 'none'}`}>
              <th>{u.name || (u.unit_id == null ? t('st.noUnit') : `#${u.unit_id}`)}</th>
              <td class="num">{u.alarms ?? 0}</td>
              <td class="num">{durationText(secs(u, 'ack', 'median'))}</td>
              <td class="num">{durationText(secs(u, 'ack', 'p90'))}</td>
              <td class="num">{durationText(secs(u, 'resolve', 'median'))}</td>
              <td class="num">{durationText(secs(u, 'resolve', 'p90'))}</td>
              {OUTCOMES.map((o) => (
                <td class="num">{(u.outcomes && u.outcomes[o]) || 0}</td>
              ))}
            </tr>
          ))}
          {units.length === 0 && (
            <tr>
              <td colSpan={6 + OUTCOMES.length} class="muted">
                {t('st.noUnits')}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function Stats() {
  const today = localDay();
  const monthAgo = localDay(new Date(Date.now() - 29 * 86400000));
  const [form, setForm] = useState({ kind: 'theft', from: monthAgo, to: today, cell: 500 });
  const [q, setQ] = useState(form);
  const range = isoRange(q.from, q.to);
  const [alarms, aErr] = useLoad(() => get(`/stats/alarms?${q.kind ? `kind=${q.kind}&` : ''}${range}&cell_m=${q.cell}&${TZ}`), [JSON.stringify(q)]);
  const [units, uErr] = useLoad(() => get(`/stats/units?${range}`).then(perUnitOf), [q.from, q.to]);
  const [unitList] = useLoad(() => get('/units').then((r) => r.units || [], () => []), []);
  // The jurisdictions, drawn under the cells for orientation.
  const juris = useMemo(() => (unitList || []).flatMap((u) => (u.jurisdictions && u.jurisdictions.features) || []), [unitList]);
  const unitName = (id) => (id == null ? t('st.noUnit') : (unitList || []).find((u) => u.id === id)?.name || `#${id}`);
  const cells = cellsOf(alarms);
  const max = Math.max(0, ...((cells && cells.features) || []).map((f) => f.properties?.count || 0));
  const grid = useMemo(() => (cells ? { geojson: cells, color: (n) => SCALE[Math.max(0, classOf(n, max))] } : null), [alarms]);
  const matrix = useMemo(() => hourMatrix(alarms && alarms.hour_of_week), [alarms]);
  const perUnit = perUnitOf(alarms);
  const total = alarms ? alarms.total : null;
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  return (
    <div class="page split">
      <MapView grid={grid} fences={juris} fit={cells ? `${JSON.stringify(q)}-${cells.features.length}` : null} autoFit maxZoom={15} class="map-main" />
      <section class="side wide-side">
        <h1>{t('st.title')}</h1>
        <form
          class="row wrap filters"
          onSubmit={(e) => {
            e.preventDefault();
            setQ({ ...form });
          }}
        >
          <select value={form.kind} onChange={set('kind')} aria-label={t('st.kind')} data-testid="stats-kind">
            {KINDS.map((k) => (
              <option value={k}>{k ? label('kind', k) : t('st.allKinds')}</option>
            ))}
          </select>
          <select value={form.cell} onChange={set('cell')} aria-label={t('st.cell')} data-testid="stats-cell">
            {CELLS.map((c) => (
              <option value={c}>{t('st.cellSize', { n: c })}</option>
            ))}
          </select>
          <label class="inline">
            {t('st.from')}
            <input type="date" value={form.from} max={form.to} onInput={set('from')} data-testid="stats-from" />
          </label>
          <label class="inline">
            {t('st.to')}
            <input type="date" value={form.to} min={form.from} onInput={set('to')} data-testid="stats-to" />
          </label>
          <button class="btn primary small" data-testid="stats-apply">
            {t('st.apply')}
          </button>
        </form>
        <p class="muted small" data-testid="stats-summary">
          {t('st.summary', { from: dayText(`${q.from}T00:00:00`), to: dayText(`${q.to}T00:00:00`), kind: q.kind ? label('kind', q.kind) : t('st.allKinds'), n: total ?? '…' })}
        </p>
        <ErrorText error={aErr} />
        <h2>{t('st.hotspots')}</h2>
        <Legend max={max} />
        {cells && cells.features.length === 0 && <p class="muted small">{t('st.noAlarms')}</p>}
        <h2>{t('st.when')}</h2>
        <HourOfWeek matrix={matrix} />
        {perUnit.length > 0 && (
          <>
            <h2>{t('st.perUnit')}</h2>
            <ul class="plain small" data-testid="stats-per-unit">
              {perUnit.map((u) => (
                <li class="row">
                  <span>{unitName(u.unit_id)}</span>
                  <div class="spacer" />
                  <strong>{u.count ?? u.alarms ?? 0}</strong>
                </li>
              ))}
            </ul>
          </>
        )}
        <h2>{t('st.units')}</h2>
        <ErrorText error={uErr} />
        {units && <UnitTable units={units} />}
      </section>
    </div>
  );
}
