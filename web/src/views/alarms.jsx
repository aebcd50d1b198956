// Alarms: the live feed (patrol units, dispatchers, owners) and one alarm's page.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { t, label, ageText, timeText } from '../i18n.js';
import { MapView } from '../map.jsx';
import { PushToggle } from '../push.jsx';
import { Link, useLoad, useNow, useStream, ErrorText, Pill, sortAlarms, useDeviceNames } from '../ui.jsx';
import { useLinkage, linkageLayers, CamerasPassed, CheckpointsAhead, InterceptFeed } from './linkage.jsx';

const OUTCOMES = ['recovered', 'false_alarm', 'not_found', 'duplicate', 'other'];


// The jurisdictions of the caller's units (all units for dispatchers and administrators), or of
// the given units; each unit carries its jurisdiction fences as GeoJSON.
function useJurisdictions(unitIds) {
  const [units] = useLoad(() => get('/units').then((r) => r.units || [], () => []), []);
  return useMemo(() => {
    const out = [];
    for (const u of units || []) {
      if (unitIds && !unitIds.includes(u.id)) continue;
      for (const f of (u.jurisdictions && u.jurisdictions.features) || []) out.push(f);
    }
    return out;
  }, [units, unitIds && unitIds.join(',')]);
}

function AlarmRow({ a, name, now }) {
  return (
    <li class={`card alarm sev-${a.severity} st-${a.status}`} data-testid={`alarm-${a.id}`} data-kind={a.kind} data-status={a.status}>
      <Link href={`/alarms/${a.id}`} class="alarm-link">
        <div class="row">
          <Pill kind={`sev ${a.severity}`}>{label('sev', a.severity)}</Pill>
          <strong class="kind">{label('kind', a.kind)}</strong>
          {a.count > 1 && <span class="muted">{t('al.count', { n: a.count })}</span>}
          <div class="spacer" />
          <Pill kind={a.status === 'open' ? 'bad' : a.status === 'resolved' ? 'muted' : 'warn'} data-testid="alarm-status">
            {label('status', a.status)}
          </Pill>
        </div>
        <div class="row muted small">
          <span>{name || `#${a.device_id}`}</span>
          <div class="spacer" />
          <span>{ageText(a.last_time, now)}</span>
        </div>
      </Link>
    </li>
  );
}

export function AlarmList({ user }) {
  const now = useNow(5000);
  const [onlyOpen, setOnlyOpen] = useState(user.role !== 'owner');
  const [alarms, error, , setAlarms] = useLoad(() => get('/alarms?limit=200').then((r) => r.alarms || []), []);
  const names = useDeviceNames((alarms || []).map((a) => a.device_id));
  const juris = useJurisdictions(null);
  useStream((ev) => {
    if (ev.type !== 'alarm') return;
    setAlarms((list) => {
      const l = list || [];
      const i = l.findIndex((x) => x.id === ev.alarm.id);
      // An intercept request reaches the checkpoint's unit, which does not handle the alarm
      // itself: it is shown in the intercept list, not as one of the unit's alarms.
      if (i < 0 && ev.action === 'intercept_requested') return l;
      if (i < 0) return [ev.alarm, ...l];
      const c = [...l];
      c[i] = { ...c[i], ...ev.alarm };
      return c;
    });
  }, []);
  const shown = useMemo(() => sortAlarms((alarms || []).filter((a) => !onlyOpen || a.status !== 'resolved')), [alarms, onlyOpen]);
  const markers = shown
    .filter((a) => a.lat != null && a.status !== 'resolved')
    .map((a) => ({ id: a.id, lat: a.lat, lon: a.lon, color: a.severity === 'high' ? '#c62828' : '#f9a825', label: `${label('kind', a.kind)} · ${names[a.device_id] || ''}` }));
  return (
    <div class="page split">
      <MapView markers={markers} fences={juris} autoFit fit={markers.map((m) => `${m.id}:${m.lat.toFixed(3)},${m.lon.toFixed(3)}`).join(' ') || null} maxZoom={15} class="map-main map-small" />
      <section class="side">
        <div class="row">
          <h1>{user.role === 'owner' ? t('al.mine') : t('al.feed')}</h1>
          <div class="spacer" />
          <PushToggle />
        </div>
        {user.role !== 'owner' && <InterceptFeed names={names} />}
        <div class="row seg">
          <button class={`btn small ${onlyOpen ? 'primary' : ''}`} onClick={() => setOnlyOpen(true)}>
            {t('al.open')}
          </button>
          <button class={`btn small ${!onlyOpen ? 'primary' : ''}`} onClick={() => setOnlyOpen(false)}>
            {t('al.all')}
          </button>
        </div>
        <ErrorText error={error} />
        {!alarms && !error && <p>{t('common.loading')}</p>}
        {alarms && shown.length === 0 && <p class="muted">{t('al.none')}</p>}
        <ul class="cards" data-testid="alarm-feed">
          {shown.map((a) => (
            <AlarmRow key={a.id} a={a} name={names[a.device_id]} now={now} />
          ))}
        </ul>
      </section>
    </div>
  );
}

export function AlarmPage({ id, user }) {
  const [data, error, reload, setData] = useLoad(() => get(`/alarms/${id}`), [id]);
  const names = useDeviceNames(data ? [data.alarm.device_id] : []);
  const [units] = useLoad(() => get('/units').then((r) => r.units || [], () => []), []);
  const [trail, setTrail] = useState([]);
  const [actErr, setActErr] = useState(null);
  const [unit, setUnit] = useState('');
  const [outcome, setOutcome] = useState('recovered');
  const a = data && data.alarm;
  const juris = useJurisdictions(a && a.unit_id != null ? [a.unit_id] : []);
  // Cameras and checkpoints are police data: owners are not shown them (the server answers 404).
  const police = user.role !== 'owner';
  const linkage = useLinkage(police ? a : null);
  const layers = useMemo(() => linkageLayers(linkage.data), [linkage.data]);
  // Initial trail: the vehicle's fixes since a little before the alarm (when visible).
  useEffect(() => {
    if (!a) return;
    const from = new Date(new Date(a.first_time).getTime() - 10 * 60000).toISOString();
    get(`/devices/${a.device_id}/positions?from=${encodeURIComponent(from)}&limit=1000`).then(
      (r) => setTrail((r.positions || []).map((p) => [p.lat, p.lon])),
      () => setTrail(a.lat != null ? [[a.lat, a.lon]] : []),
    );
  }, [a && a.id]);
  useStream(
    (ev) => {
      if (!a) return;
      if (ev.type === 'position' && ev.device_id === a.device_id) setTrail((tr) => [...tr, [ev.lat, ev.lon]]);
      if (ev.type === 'alarm' && ev.alarm.id === a.id) setData((d) => ({ ...d, alarm: { ...d.alarm, ...ev.alarm } }));
    },
    [a && a.id, a && a.device_id],
  );
  const act = async (path, body) => {
    setActErr(null);
    try {
      const r = await post(`/alarms/${id}/${path}`, body);
      const next = r && (r.alarm || (r.id ? r : null));
      if (next) setData((d) => ({ ...d, alarm: { ...d.alarm, ...next } }));
      reload();
    } catch (e) {
      setActErr(e);
    }
  };
  if (error) return <ErrorText error={error} />;
  if (!a) return <p class="page">{t('common.loading')}</p>;
  const last = trail.length ? trail[trail.length - 1] : a.lat != null ? [a.lat, a.lon] : null;
  const canAct = user.role !== 'owner' && a.status !== 'resolved';
  const owner = data.owner || a.owner;
  return (
    <div class="page split">
      <MapView
        markers={[...layers.markers, ...(last ? [{ id: 'v', lat: last[0], lon: last[1], big: true, color: '#c62828', label: names[a.device_id] || '' }] : [])]}
        sectors={layers.sectors}
        lines={[{ latlngs: trail, color: '#c62828' }]}
        fences={juris}
        follow="v"
        fit={linkage.data ? `${a.id}-linkage` : trail.length > 1 ? `${a.id}-trail` : null}
        autoFit
        class="map-main"
      />
      <section class="side">
        <div class="row">
          <Link href="/alarms" class="btn link">
            ‹ {t('common.back')}
          </Link>
          <div class="spacer" />
          <PushToggle />
        </div>
        <div class="row">
          <Pill kind={`sev ${a.severity}`}>{label('sev', a.severity)}</Pill>
          <h1 class="kind">{label('kind', a.kind)}</h1>
          <div class="spacer" />
          <Pill kind={a.status === 'open' ? 'bad' : a.status === 'resolved' ? 'muted' : 'warn'} data-testid="alarm-status">
            {label('status', a.status)}
          </Pill>
        </div>
        <dl class="facts wide">
          <div>
            <dt>{t('al.vehicle')}</dt>
            <dd data-testid="alarm-vehicle">{names[a.device_id] || `#${a.device_id}`}</dd>
          </div>
          <div>
            <dt>{t('al.when')}</dt>
            <dd>
              {timeText(a.first_time)} / {timeText(a.last_time)} {a.count > 1 ? t('al.count', { n: a.count }) : ''}
            </dd>
          </div>
          {owner && (
            <div>
              <dt>{t('al.owner')}</dt>
              <dd data-testid="alarm-owner">
                {owner.name || t('common.unknown')}
                {owner.phone && (
                  <>
                    {' · '}
                    <a href={`tel:${owner.phone}`}>{owner.phone}</a>
                  </>
                )}
              </dd>
            </div>
          )}
          <div>
            <dt>{t('al.unit')}</dt>
            <dd>{(units || []).find((u) => u.id === a.unit_id)?.name || (a.unit_id != null ? `#${a.unit_id}` : t('common.unknown'))}</dd>
          </div>
          <div>
            <dt>{t('al.position')}</dt>
            <dd>{a.lat != null ? `${a.lat.toFixed(5)}, ${a.lon.toFixed(5)}` : t('common.unknown')}</dd>
          </div>
        </dl>
        <h2>{t('al.evidence')}</h2>
        <ul class="plain" data-testid="alarm-evidence">
          {(a.evidence || []).map((e) => (
            <li>• {label('ev', e)}</li>
          ))}
          {(!a.evidence || !a.evidence.length) && <li>• {label('kind', a.kind)}</li>}
        </ul>
        {a.outcome && <p data-testid="alarm-outcome">{t('al.resolved', { outcome: label('out', a.outcome) })}</p>}
        {canAct && (
          <div class="actions">
            {a.status === 'open' && (
              <button class="btn primary wide" onClick={() => act('ack', {})} data-testid="alarm-ack">
                {t('al.ack')}
              </button>
            )}
            {units && units.length > 1 && (
              <div class="row">
                <select value={unit} onChange={(e) => setUnit(e.target.value)} aria-label={t('al.assign')}>
                  <option value="">{t('al.unit')}…</option>
                  {units.map((u) => (
                    <option value={u.id}>{u.name}</option>
                  ))}
                </select>
                <button class="btn" disabled={!unit} onClick={() => act('assign', { unit_id: +unit })} data-testid="alarm-assign">
                  {t('al.assign')}
                </button>
              </div>
            )}
            <div class="row">
              <select value={outcome} onChange={(e) => setOutcome(e.target.value)} aria-label={t('al.outcome')} data-testid="alarm-outcome-select">
                {OUTCOMES.map((o) => (
                  <option value={o}>{label('out', o)}</option>
                ))}
              </select>
              <button class="btn" onClick={() => act('resolve', { outcome })} data-testid="alarm-resolve">
                {t('al.resolve')}
              </button>
            </div>
          </div>
        )}
        <ErrorText error={actErr} />
        {police && (
          <>
            <CheckpointsAhead
              alarm={a}
              data={linkage.data}
              error={linkage.error}
              units={units}
              canRequest={a.status !== 'resolved'}
              onRequested={() => {
                linkage.reload();
                reload();
              }}
            />
            <CamerasPassed data={linkage.data} error={linkage.error} />
          </>
        )}
        {data.actions && data.actions.length > 0 && (
          <>
            <h2>{t('al.actions')}</h2>
            <ul class="plain small">
              {data.actions.map((x) => (
                <li>
                  {timeText(x.time || x.created_at)} · {label('act', x.action)}
                  {x.outcome ? ` · ${label('out', x.outcome)}` : ''}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
    </div>
  );
}
