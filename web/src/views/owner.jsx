// Owner views: my vehicles (live), one vehicle (arm, power), history (track, trips, playback).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { t, ageText, timeText, clockText } from '../i18n.js';
import { MapView, mapConfig } from '../map.jsx';
import { PushToggle } from '../push.jsx';
import { Link, useLoad, useNow, useStream, ErrorText, Confirm, Pill, localDay } from '../ui.jsx';

const TERMINAL = ['acknowledged', 'failed', 'expired', 'refused'];

// Devices + latest fixes + guards, kept current by the live stream.
function useFleet(onlyId) {
  const [devices, setDevices] = useState(null);
  const [latest, setLatest] = useState({});
  const [guards, setGuards] = useState({});
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      const list = onlyId ? [await get(`/devices/${onlyId}`)] : (await get('/devices?limit=1000')).devices;
      setDevices(list);
      const pos = {};
      if (onlyId) {
        try {
          pos[onlyId] = await get(`/devices/${onlyId}/positions/latest`);
        } catch {
          // No fix yet: 404.
        }
      } else {
        const l = await get('/positions/latest');
        for (const p of l.positions || []) pos[p.device_id] = p.position;
      }
      // A live event may have arrived while this was loading: keep the newer fix.
      setLatest((live) => {
        const out = { ...pos };
        for (const [k, v] of Object.entries(live)) {
          if (!out[k] || new Date(v.fix_time) > new Date(out[k].fix_time)) out[k] = { ...(out[k] || {}), ...v };
        }
        return out;
      });
      const g = {};
      await Promise.all(
        list.map((d) =>
          get(`/devices/${d.id}/guard`).then(
            (x) => (g[d.id] = x),
            () => {},
          ),
        ),
      );
      setGuards(g);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load();
  }, [onlyId]);
  useStream(
    (ev) => {
      if (ev.type === 'position') {
        if (onlyId && ev.device_id !== onlyId) return;
        setLatest((l) => ({ ...l, [ev.device_id]: { ...(l[ev.device_id] || {}), ...ev } }));
        setDevices((ds) => ds && ds.map((d) => (d.id === ev.device_id ? { ...d, online: true, last_seen_at: ev.server_time } : d)));
      }
    },
    [onlyId],
  );
  return { devices, latest, guards, setGuards, error, reload: load };
}

function battery(p) {
  if (!p || p.battery_level == null) return t('common.unknown');
  return `${p.battery_level}%`;
}

function ArmButton({ device, guard, onChange, small }) {
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const armed = guard && guard.armed;
  const click = async () => {
    setBusy(true);
    setErr(null);
    try {
      const g = await post(`/devices/${device.id}/${armed ? 'disarm' : 'arm'}`, {});
      onChange(g);
    } catch (e) {
      setErr(e.code === 'no_position' ? t('veh.noPosition') : t('veh.armFailed', { msg: e.message }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button class={`btn ${armed ? '' : 'primary'} ${small ? 'small' : ''}`} disabled={busy} onClick={click} data-testid={`arm-${device.id}`}>
        {armed ? t('veh.disarm') : t('veh.arm')}
      </button>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
    </>
  );
}

function VehicleCard({ d, p, g, setGuard, now }) {
  return (
    <li class="card vehicle" data-testid={`vehicle-${d.id}`} data-unique-id={d.unique_id}>
      <div class="row">
        <Link href={`/vehicles/${d.id}`} class="title">
          {d.name}
        </Link>
        <div class="spacer" />
        <StatePills d={d} g={g} />
      </div>
      <VehicleFacts p={p} now={now} />
      <div class="row">
        <ArmButton device={d} guard={g} onChange={setGuard} small />
        <Link class="btn small" href={`/vehicles/${d.id}/history`}>
          {t('veh.history')}
        </Link>
        <Link class="btn small" href={`/vehicles/${d.id}`}>
          {t('veh.open')}
        </Link>
      </div>
    </li>
  );
}

export function Vehicles({ user }) {
  const { devices, latest, guards, setGuards, error } = useFleet(null);
  const now = useNow(5000);
  const markers = useMemo(
    () =>
      (devices || []).map((d) => ({
        id: d.id,
        lat: latest[d.id]?.lat,
        lon: latest[d.id]?.lon,
        label: d.name,
        permanent: (devices || []).length <= 5,
        color: guards[d.id]?.armed ? '#e65100' : d.online ? '#1e88e5' : '#78909c',
      })),
    [devices, latest, guards],
  );
  return (
    <div class="page split">
      <MapView markers={markers} autoFit class="map-main" />
      <section class="side">
        <h1>{user.role === 'owner' ? t('veh.title') : t('veh.all')}</h1>
        <ErrorText error={error} />
        {devices === null && !error && <p>{t('common.loading')}</p>}
        {devices && devices.length === 0 && <p class="muted">{t('veh.none')}</p>}
        <ul class="cards">
          {(devices || []).map((d) => (
            <VehicleCard key={d.id} d={d} p={latest[d.id]} g={guards[d.id]} setGuard={(g) => setGuards((x) => ({ ...x, [d.id]: g }))} now={now} />
          ))}
        </ul>
      </section>
    </div>
  );
}

function CommandStatus({ cmd, error, limit }) {
  if (error) {
    const text =
      error.code === 'vehicle_moving'
        ? t('cmd.vehicle_moving', { n: limit })
        : error.status === 403
          ? t('cmd.forbidden')
          : t('cmd.failed', { msg: error.message });
    return (
      <p class="status-line bad" role="alert" data-testid="command-status" data-status="refused">
        {text}
      </p>
    );
  }
  if (!cmd) return null;
  const steps = ['queued', 'sent', 'acknowledged'];
  const at = cmd.status === 'held' ? 0 : steps.indexOf(cmd.status);
  const bad = ['failed', 'expired', 'refused'].includes(cmd.status);
  return (
    <div class="command" data-testid="command-status" data-status={cmd.status}>
      <ol class="steps">
        {steps.map((s, i) => (
          <li class={at >= i ? 'done' : ''}>{t(`cmd.step.${s}`)}</li>
        ))}
      </ol>
      <p class={`status-line ${bad ? 'bad' : cmd.status === 'acknowledged' ? 'good' : ''}`}>
        {t(`cmd.kind.${cmd.kind}`)}: {t(`cmd.${cmd.status}`, { msg: cmd.failure || '' })}
      </p>
    </div>
  );
}

export function VehicleDetail({ id, user }) {
  const { devices, latest, guards, setGuards, error } = useFleet(id);
  const now = useNow(5000);
  const [trail, setTrail] = useState([]);
  const [dayLoaded, setDayLoaded] = useState(false);
  const [confirm, setConfirm] = useState(null);
  const [cmd, setCmd] = useState(null);
  const [cmdErr, setCmdErr] = useState(null);
  const cmdRef = useRef(null);
  cmdRef.current = cmd;
  const d = devices && devices[0];
  const p = latest[id];
  const g = guards[id];
  // The day so far (simplified), then the live fixes appended.
  useEffect(() => {
    const { from, to } = dayRange(localDay());
    get(`/devices/${id}/trajectory?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&simplify_m=5&limit=50000`).then(
      (r) => {
        setTrail((live) => [...(r.points || []).map((x) => [x.lat, x.lon]), ...live]);
        setDayLoaded(true);
      },
      () => {},
    );
  }, [id]);
  useEffect(() => {
    if (p && p.lat != null) setTrail((tr) => (tr.length && tr[tr.length - 1][0] === p.lat && tr[tr.length - 1][1] === p.lon ? tr : [...tr.slice(-500), [p.lat, p.lon]]));
  }, [p && p.lat, p && p.lon]);
  // Command progress: stream events, with a slow poll as a safety net.
  useStream((ev) => {
    if (ev.type !== 'command') return;
    const c = ev.command || ev;
    if (cmdRef.current && c.id === cmdRef.current.id) setCmd((old) => ({ ...old, ...c }));
  }, []);
  useEffect(() => {
    if (!cmd || TERMINAL.includes(cmd.status)) return;
    const i = setInterval(() => {
      get(`/commands/${cmd.id}`).then(
        (r) => setCmd((old) => (old && old.id === r.command.id ? { ...old, ...r.command } : old)),
        () => {},
      );
    }, 1500);
    return () => clearInterval(i);
  }, [cmd && cmd.id, cmd && cmd.status]);
  const send = async (kind) => {
    setConfirm(null);
    setCmd(null);
    setCmdErr(null);
    try {
      const r = await post(`/devices/${id}/commands`, { type: kind, confirm: true });
      setCmd(r.command);
    } catch (e) {
      setCmdErr(e);
    }
  };
  if (error) return <ErrorText error={error} />;
  if (!d) return <p class="page">{t('common.loading')}</p>;
  return (
    <div class="page split">
      <MapView
        markers={p ? [{ id, lat: p.lat, lon: p.lon, label: d.name, big: true, color: g?.armed ? '#e65100' : '#1e88e5' }] : []}
        lines={[{ latlngs: trail, color: '#1e88e5' }]}
        follow={id}
        fit={dayLoaded ? 'day' : null}
        autoFit
        class="map-main"
      />
      <section class="side">
        <div class="row">
          <Link href="/vehicles" class="btn link">
            ‹ {t('common.back')}
          </Link>
        </div>
        <h1 data-testid="vehicle-name">{d.name}</h1>
        <div class="row">
          <StatePills d={d} g={g} />
        </div>
        <VehicleFacts p={p} now={now} />
        <div class="row">
          <ArmButton device={d} guard={g} onChange={(x) => setGuards((o) => ({ ...o, [id]: x }))} />
          <Link class="btn" href={`/vehicles/${id}/history`} data-testid="history-link">
            {t('veh.history')}
          </Link>
        </div>
        <div class="row">
          <PushToggle />
        </div>
        <h2>{t('veh.power')}</h2>
        <div class="row">
          <button class="btn danger" onClick={() => setConfirm('cut_power')} data-testid="cut-power">
            {t('veh.cut')}
          </button>
          <button class="btn" onClick={() => setConfirm('restore_power')} data-testid="restore-power">
            {t('veh.restore')}
          </button>
        </div>
        <CommandStatus cmd={cmd} error={cmdErr} limit={mapConfig().cut_power_max_speed_kmh ?? 20} />
      </section>
      {confirm && (
        <Confirm
          title={t(confirm === 'cut_power' ? 'veh.cutConfirmTitle' : 'veh.restoreConfirmTitle', { name: d.name })}
          text={confirm === 'cut_power' ? t('veh.cutConfirmText') : null}
          confirm={t(confirm === 'cut_power' ? 'veh.cutConfirm' : 'veh.restoreConfirm')}
          danger={confirm === 'cut_power'}
          onConfirm={() => send(confirm)}
          onCancel={() => setConfirm(null)}
        />
      )}
    </div>
  );
}

function dayRange(day) {
  const from = new Date(`${day}T00:00:00`);
  const to = new Date(from.getTime() + 86400000);
  return { from: from.toISOString(), to: to.toISOString() };
}

export function History({ id }) {
  const [day, setDay] = useState(localDay());
  const [device] = useLoad(() => get(`/devices/${id}`), [id]);
  const [data, error] = useLoad(async () => {
    const { from, to } = dayRange(day);
    const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const [traj, trips] = await Promise.all([get(`/devices/${id}/trajectory?${q}&limit=50000`), get(`/devices/${id}/trips?${q}`)]);
    return { points: traj.points || [], trips: trips.trips || [], stops: trips.stops || [] };
  }, [id, day]);
  const [idx, setIdx] = useState(0);
  const [playing, setPlaying] = useState(false);
  const points = data ? data.points : [];
  useEffect(() => {
    setIdx(0);
    setPlaying(false);
  }, [data]);
  useEffect(() => {
    if (!playing) return;
    const step = Math.max(1, Math.floor(points.length / 200));
    const i = setInterval(() => {
      setIdx((x) => {
        if (x + step >= points.length - 1) {
          setPlaying(false);
          return points.length - 1;
        }
        return x + step;
      });
    }, 50);
    return () => clearInterval(i);
  }, [playing, points.length]);
  const latlngs = useMemo(() => points.map((p) => [p.lat, p.lon]), [points]);
  const cur = points[idx];
  const markers = [
    ...(data ? data.stops.map((s, i) => ({ id: `s${i}`, lat: s.lat, lon: s.lon, color: '#6d4c41', label: t('hist.stop', { from: clockText(s.start), to: clockText(s.end), min: Math.round(s.duration_s / 60) }) })) : []),
    ...(cur ? [{ id: 'cur', lat: cur.lat, lon: cur.lon, big: true, color: '#e65100', label: clockText(cur.time) }] : []),
  ];
  const km = data ? data.trips.reduce((s, x) => s + x.distance_m, 0) / 1000 : 0;
  return (
    <div class="page split">
      <MapView lines={[{ latlngs, color: '#1e88e5' }]} markers={markers} fit={data ? day : null} autoFit class="map-main" />
      <section class="side">
        <div class="row">
          <Link href={`/vehicles/${id}`} class="btn link">
            ‹ {t('common.back')}
          </Link>
        </div>
        <h1>{t('hist.title', { name: device ? device.name : '' })}</h1>
        <label class="inline">
          {t('hist.day')}{' '}
          <input type="date" value={day} max={localDay()} onInput={(e) => e.target.value && setDay(e.target.value)} data-testid="history-day" />
        </label>
        <ErrorText error={error} />
        {!data && !error && <p>{t('common.loading')}</p>}
        {data && points.length === 0 && <p class="muted">{t('hist.none')}</p>}
        {data && points.length > 0 && (
          <>
            <p data-testid="history-count" data-count={points.length}>
              {t('hist.points', { n: points.length })} · {t('hist.distance', { km: km.toFixed(1) })}
            </p>
            <div class="row playback">
              <button class="btn primary small" onClick={() => setPlaying(!playing)} data-testid="play">
                {playing ? t('hist.pause') : t('hist.play')}
              </button>
              <input type="range" min="0" max={points.length - 1} value={idx} onInput={(e) => setIdx(+e.target.value)} aria-label="playback" />
              <span class="muted small">{cur ? timeText(cur.time) : ''}</span>
            </div>
            <h2>{t('hist.trips')}</h2>
            <ul class="plain" data-testid="trips">
              {data.trips.map((x) => (
                <li>{t('hist.trip', { from: clockText(x.start), to: clockText(x.end), km: (x.distance_m / 1000).toFixed(1), max: Math.round(x.max_speed_kmh) })}</li>
              ))}
              {data.trips.length === 0 && <li class="muted">{t('common.none')}</li>}
            </ul>
            <h2>{t('hist.stops')}</h2>
            <ul class="plain">
              {data.stops.map((s) => (
                <li>{t('hist.stop', { from: clockText(s.start), to: clockText(s.end), min: Math.round(s.duration_s / 60) })}</li>
              ))}
              {data.stops.length === 0 && <li class="muted">{t('common.none')}</li>}
            </ul>
          </>
        )}
      </section>
    </div>
  );
}

// Online and armed state of a vehicle (list card and vehicle page).
function StatePills({ d, g }) {
  return (
    <>
      <Pill kind={d.online ? 'ok' : 'muted'} data-testid="online">
        {d.online ? t('veh.online') : t('veh.offline')}
      </Pill>
      <Pill kind={g && g.armed ? 'warn' : 'muted'} data-testid="armed">
        {g && g.armed ? t('veh.armed') : t('veh.disarmed')}
      </Pill>
    </>
  );
}

// Last fix age, speed and battery of a vehicle (list card and vehicle page).
function VehicleFacts({ p, now }) {
  return (
    <dl class="facts">
      <div>
        <dt>{t('veh.lastFix')}</dt>
        <dd data-testid="fix-age">{ageText(p && p.fix_time, now)}</dd>
      </div>
      <div>
        <dt>{t('veh.speed')}</dt>
        <dd data-testid="speed">{p ? t('veh.kmh', { n: Math.round(p.speed_kmh) }) : t('common.unknown')}</dd>
      </div>
      <div>
        <dt>{t('veh.battery')}</dt>
        <dd data-testid="battery">{battery(p)}</dd>
      </div>
    </dl>
  );
}
