// Video patrol, ground patrol and checkpoints together (issue #15), on the alarm page: the
// cameras the vehicle passed (沿途视频) and the checkpoints ahead of it (前方检查站) with the
// intercept request; and the intercept requests in a checkpoint unit's feed.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { t, label, windowText, durationText, distanceText, timeText } from '../i18n.js';
import { useStream, ErrorText, Confirm, Pill } from '../ui.jsx';

// Arrival estimates are rough (straight line × detour factor): whole minutes past the first one.
const eta = (secs) => durationText(secs != null && secs >= 60 ? Math.round(secs / 60) * 60 : secs);

export const CAMERA_COLOR = '#00838f';
export const CHECKPOINT_COLOR = '#6a1b9a';

// The request an `intercept_requested` alarm event carries ({checkpoint_id, checkpoint_code,
// checkpoint_name, unit_id, eta_secs, distance_m, requested_at, …}).
export function interceptOf(ev) {
  const x = ev.intercept || {};
  return {
    checkpoint_id: x.checkpoint_id ?? null,
    name: x.checkpoint_name || null,
    code: x.checkpoint_code || null,
    unit_id: x.unit_id ?? null,
    eta_secs: x.eta_secs ?? null,
    time: x.requested_at || null,
  };
}

// The linkage of one alarm, fetched again (at most every 1.5 s) when the vehicle reports a fix
// and when an intercept is requested.
export function useLinkage(alarm) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const timer = useRef(null);
  const id = alarm && alarm.id;
  const device = alarm && alarm.device_id;
  const load = () => {
    if (id == null) return;
    get(`/alarms/${id}/linkage`).then(
      (d) => {
        setData(d);
        setError(null);
      },
      (e) => setError(e),
    );
  };
  useEffect(() => {
    setData(null);
    load();
    return () => clearTimeout(timer.current);
  }, [id]);
  useStream(
    (ev) => {
      if (id == null) return;
      const mine = (ev.type === 'position' && ev.device_id === device) || (ev.type === 'alarm' && ev.alarm && ev.alarm.id === id);
      if (!mine || timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        load();
      }, 1500);
    },
    [id, device],
  );
  return { data, error, reload: load };
}

// Map layers for the linkage: camera markers (+ fields of view when known), checkpoints.
export function linkageLayers(data) {
  const cams = (data && data.cameras_passed) || [];
  const cps = (data && data.checkpoints_ahead) || [];
  return {
    markers: [
      ...cams.map((c, i) => ({ id: `cam-${c.camera_id}-${i}`, lat: c.lat, lon: c.lon, color: CAMERA_COLOR, label: c.name || c.code })),
      ...cps.map((c) => ({ id: `cp-${c.checkpoint_id}`, lat: c.lat, lon: c.lon, color: CHECKPOINT_COLOR, big: true, label: c.name || c.code })),
    ],
    sectors: cams
      .filter((c) => c.direction_deg != null || c.range_m != null)
      .map((c) => ({ lat: c.lat, lon: c.lon, dir: c.direction_deg ?? null, fov: c.fov_deg, range: c.range_m, color: CAMERA_COLOR })),
  };
}

export function CamerasPassed({ data, error }) {
  const cams = (data && data.cameras_passed) || [];
  return (
    <section class="linkage" data-testid="cameras-passed">
      <h2>
        {t('lk.cameras')} <span class="muted small">{data ? t('lk.count', { n: cams.length }) : ''}</span>
      </h2>
      <ErrorText error={error} />
      {!data && !error && <p class="muted small">{t('common.loading')}</p>}
      {data && cams.length === 0 && <p class="muted small">{t('lk.noCameras')}</p>}
      <ul class="cards">
        {cams.map((c) => (
          <li class="card" data-testid={`camera-${c.camera_id}`}>
            <div class="row">
              <span class="dot" style={`background:${CAMERA_COLOR}`} />
              <strong>{c.name || c.code}</strong>
              <div class="spacer" />
              {c.playback_url ? (
                <a class="btn small primary" href={c.playback_url} target="_blank" rel="noopener noreferrer" data-testid="playback">
                  ▶ {t('lk.playback')}
                </a>
              ) : (
                <span class="muted small">{t('lk.noPlayback')}</span>
              )}
            </div>
            <div class="row muted small">
              <span data-testid="camera-window">{windowText(c.from, c.to)}</span>
              <span>{t('lk.off', { d: distanceText(c.distance_m) })}</span>
            </div>
            {c.code && <div class="muted small code">{c.code}</div>}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function CheckpointsAhead({ alarm, data, error, units, canRequest, onRequested }) {
  const cps = (data && data.checkpoints_ahead) || [];
  const [asking, setAsking] = useState(null);
  const [err, setErr] = useState(null);
  const [done, setDone] = useState(() => new Set());
  // Asked once per alarm and checkpoint: the linkage lists the requests already sent.
  const asked = new Set(((data && data.intercepts) || []).map((i) => i.checkpoint_id));
  const requested = (c) => done.has(c.checkpoint_id) || asked.has(c.checkpoint_id);
  const unitName = (id) => (units || []).find((u) => u.id === id)?.name || (id != null ? `#${id}` : t('common.unknown'));
  const confirm = async () => {
    const c = asking;
    setAsking(null);
    setErr(null);
    try {
      // 201 the first time, 200 with the existing request when someone asked already.
      await post(`/alarms/${alarm.id}/intercepts`, { checkpoint_id: c.checkpoint_id });
      setDone((s) => new Set([...s, c.checkpoint_id]));
      if (onRequested) onRequested(c);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <section class="linkage" data-testid="checkpoints-ahead">
      <h2>
        {t('lk.checkpoints')} <span class="muted small">{data ? t('lk.count', { n: cps.length }) : ''}</span>
      </h2>
      <ErrorText error={error || err} />
      {!data && !error && <p class="muted small">{t('common.loading')}</p>}
      {data && cps.length === 0 && <p class="muted small">{t('lk.noCheckpoints')}</p>}
      <ol class="cards">
        {cps.map((c) => (
          <li class="card" data-testid={`checkpoint-${c.checkpoint_id}`}>
            <div class="row">
              <span class="dot" style={`background:${CHECKPOINT_COLOR}`} />
              <strong>{c.name || c.code}</strong>
              <div class="spacer" />
              <Pill kind="warn" data-testid="eta">
                {t('lk.eta', { d: eta(c.eta_secs) })}
              </Pill>
            </div>
            <div class="row muted small">
              <span class="code">{c.code}</span>
              <span>{unitName(c.unit_id)}</span>
              <span>{t('lk.away', { d: distanceText(c.distance_m) })}</span>
              <div class="spacer" />
              {requested(c) ? (
                <Pill kind="ok" data-testid="intercept-requested">
                  ✓ {t('lk.requested')}
                </Pill>
              ) : (
                canRequest && (
                  <button class="btn small danger" onClick={() => setAsking(c)} data-testid="intercept">
                    {t('lk.intercept')}
                  </button>
                )
              )}
            </div>
          </li>
        ))}
      </ol>
      {data && data.computed_at && <p class="muted small">{t('lk.computed', { time: timeText(data.computed_at) })}</p>}
      {asking && (
        <Confirm
          title={t('lk.confirmTitle', { name: asking.name || asking.code })}
          text={t('lk.confirmText', { unit: (units || []).find((u) => u.id === asking.unit_id)?.name || t('lk.theUnit'), eta: eta(asking.eta_secs) })}
          confirm={t('lk.confirm')}
          danger
          onConfirm={confirm}
          onCancel={() => setAsking(null)}
        />
      )}
    </section>
  );
}

// Intercept requests, newest first, as they arrive live (the server sends them to the
// checkpoint's unit and to those handling the alarm). The checkpoint's officers cannot open the
// alarm itself: the card says what they need — where, which vehicle, when it may arrive.
export function InterceptFeed({ names }) {
  const [list, setList] = useState([]);
  useStream((ev) => {
    if (ev.type !== 'alarm' || ev.action !== 'intercept_requested') return;
    const x = interceptOf(ev);
    const key = `${ev.alarm.id}-${x.checkpoint_id}`;
    setList((l) => (l.some((i) => i.key === key) ? l : [{ key, alarm: ev.alarm, x, at: Date.now() }, ...l]));
  }, []);
  if (!list.length) return null;
  return (
    <section data-testid="intercept-feed">
      <h2>{t('lk.requests')}</h2>
      <ul class="cards">
        {list.map(({ key, alarm, x }) => (
          <li class="card intercept" data-testid={`intercept-${key}`}>
            <div class="row">
              <Pill kind="bad">{t('lk.interceptAt', { name: x.name || x.code || `#${x.checkpoint_id}` })}</Pill>
              <div class="spacer" />
              {x.eta_secs != null && <Pill kind="warn">{t('lk.eta', { d: eta(x.eta_secs) })}</Pill>}
            </div>
            <div class="row small">
              <strong>{label('kind', alarm.kind)}</strong>
              <span>{(names && names[alarm.device_id]) || t('lk.vehicle', { id: alarm.device_id })}</span>
            </div>
            <div class="row muted small">
              {alarm.lat != null && <span>{t('lk.lastSeen', { pos: `${alarm.lat.toFixed(5)}, ${alarm.lon.toFixed(5)}`, time: timeText(alarm.last_time) })}</span>}
            </div>
            {x.time && <div class="muted small">{t('lk.askedAt', { time: timeText(x.time) })}</div>}
          </li>
        ))}
      </ul>
    </section>
  );
}
