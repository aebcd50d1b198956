// Administrator views: devices, fences, patrol units + jurisdictions, users, API keys.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, post, put, del } from '../api.js';
import { t, label, timeText } from '../i18n.js';
import { MapView } from '../map.jsx';
import { Link, useLoad, useRoute, ErrorText, Pill } from '../ui.jsx';

const ROLES = ['owner', 'officer', 'dispatcher', 'admin', 'integrator'];
const SCOPES = ['devices:read', 'devices:write', 'positions:read', 'events:read', 'alarms:read', 'alarms:write', 'commands:write', 'units:read', 'fences:read', 'admin:users', 'admin:config', 'admin:audit'];
const FENCE_KINDS = ['keep_in', 'keep_out', 'watch', 'jurisdiction'];

export function AdminTabs() {
  const { path } = useRoute();
  // On a phone the tab row scrolls sideways: keep the current tab in view.
  useEffect(() => {
    const a = document.querySelector('.subtabs a.active');
    if (a && a.parentElement) a.parentElement.scrollLeft = a.offsetLeft - 8;
  }, [path]);
  const tab = (href, key) => (
    <Link
      href={href}
      class={path === href || (href === '/admin/devices' && path === '/admin') ? 'active' : ''}
      data-testid={`admin-${key}`}
    >
      {t(`adm.${key}`)}
    </Link>
  );
  return (
    <nav class="subtabs">
      {tab('/admin/devices', 'devices')}
      {tab('/admin/fences', 'fences')}
      {tab('/admin/units', 'units')}
      {tab('/admin/users', 'users')}
      {tab('/admin/keys', 'keys')}
      {tab('/admin/cameras', 'cameras')}
      {tab('/admin/checkpoints', 'checkpoints')}
    </nav>
  );
}

function useAction(after) {
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState(null);
  const run = async (f) => {
    setErr(null);
    setMsg(null);
    try {
      const r = await f();
      if (after) after(r);
      return r;
    } catch (e) {
      setErr(e);
    }
  };
  return { err, msg, setMsg, run };
}

async function allUsers() {
  return (await get('/users?limit=1000')).users || [];
}

export function AdminDevices() {
  const [devices, error, reload] = useLoad(() => get('/devices?limit=1000').then((r) => r.devices), []);
  const [users] = useLoad(allUsers, []);
  const [owners, setOwners] = useState({});
  const [uid, setUid] = useState('');
  const [name, setName] = useState('');
  const { err, run } = useAction(reload);
  const ownerList = (users || []).filter((u) => u.role === 'owner');
  const userName = (id) => (users || []).find((u) => u.id === id)?.email || `#${id}`;
  const sorted = useMemo(() => [...(devices || [])].sort((a, b) => Number(a.claimed) - Number(b.claimed) || a.id - b.id), [devices]);
  return (
    <div class="page narrow">
      <AdminTabs />
      <h1>{t('adm.devices')}</h1>
      <ErrorText error={error || err} />
      <form
        class="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          run(() => post('/devices', { unique_id: uid.trim(), name: name.trim() || undefined })).then(() => {
            setUid('');
            setName('');
          });
        }}
      >
        <input placeholder={t('adm.uniqueId')} value={uid} onInput={(e) => setUid(e.target.value)} required />
        <input placeholder={t('common.name')} value={name} onInput={(e) => setName(e.target.value)} />
        <button class="btn primary">{t('adm.newDevice')}</button>
      </form>
      <ul class="cards">
        {sorted.map((d) => (
          <li class="card" data-testid={`admin-device-${d.id}`}>
            <div class="row">
              <strong>{d.name}</strong>
              <span class="muted small">{d.unique_id}</span>
              <div class="spacer" />
              {!d.claimed && <Pill kind="warn">{t('adm.unclaimed')}</Pill>}
              <Pill kind={d.online ? 'ok' : 'muted'}>{d.online ? t('veh.online') : t('veh.offline')}</Pill>
            </div>
            <div class="row muted small">
              <span>
                {t('dev.protocol')}: {d.protocol || t('common.unknown')}
              </span>
              <span>
                {t('dev.lastSeen')}: {timeText(d.last_seen_at)}
              </span>
            </div>
            <div class="row wrap">
              <span>
                {t('adm.owner')}: {d.owner_id ? userName(d.owner_id) : t('adm.noOwner')}
              </span>
              <select value={owners[d.id] ?? ''} onChange={(e) => setOwners({ ...owners, [d.id]: e.target.value })} aria-label={t('adm.owner')}>
                <option value="">{t('adm.owner')}…</option>
                {ownerList.map((u) => (
                  <option value={u.id}>{u.name || u.email}</option>
                ))}
              </select>
              <button class="btn small" disabled={!owners[d.id]} onClick={() => run(() => put(`/devices/${d.id}/owner`, { owner_id: +owners[d.id] }))}>
                {d.claimed ? t('adm.setOwner') : t('adm.claim')}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}

function circleFeature(c, props) {
  return { type: 'Feature', geometry: { type: 'Point', coordinates: [c.lon, c.lat] }, properties: { ...props, radius: c.radius } };
}

export function AdminFences() {
  const [fences, error, reload] = useLoad(() => get('/fences'), []);
  const [units] = useLoad(() => get('/units').then((r) => r.units || []), []);
  const [mode, setMode] = useState(null);
  const [draft, setDraft] = useState([]);
  const [circle, setCircle] = useState(null);
  const [radius, setRadius] = useState(300);
  const [kind, setKind] = useState('keep_in');
  const [name, setName] = useState('');
  const [unit, setUnit] = useState('');
  const { err, msg, setMsg, run } = useAction(reload);
  const props = () => {
    const p = { kind, name: name.trim() || label('fk', kind) };
    if (kind === 'jurisdiction' && unit) p.unit_id = +unit;
    return p;
  };
  const click = (lat, lon) => {
    if (mode === 'polygon') setDraft((d) => [...d, [lat, lon]]);
    if (mode === 'circle') setCircle({ lat, lon, radius: +radius || 300 });
  };
  const finish = async () => {
    let feature = null;
    if (mode === 'polygon' && draft.length >= 3) {
      const ring = [...draft, draft[0]].map(([la, lo]) => [lo, la]);
      feature = { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: props() };
    }
    if (mode === 'circle' && circle) feature = circleFeature({ ...circle, radius: +radius || 300 }, props());
    if (!feature) return;
    const r = await run(() => post('/fences', feature));
    if (r) {
      setMode(null);
      setDraft([]);
      setCircle(null);
      setMsg(t('adm.created'));
    }
  };
  const upload = async (file) => {
    const text = await file.text();
    let gj;
    try {
      gj = JSON.parse(text);
    } catch (e) {
      run(() => Promise.reject(e));
      return;
    }
    const features = gj.type === 'FeatureCollection' ? gj.features : gj.type === 'Feature' ? [gj] : [{ type: 'Feature', geometry: gj, properties: {} }];
    let n = 0;
    for (const f of features) {
      const p = { ...props(), ...(f.properties || {}) };
      const r = await run(() => post('/fences', { ...f, properties: p }));
      if (r) n++;
    }
    setMsg(t('adm.uploaded', { n }));
  };
  return (
    <div class="page split">
      <MapView
        fences={fences}
        fit={fences ? (fences.features || []).length : null}
        autoFit
        onClick={click}
        draft={mode === 'polygon' ? draft : null}
        draftCircle={mode === 'circle' && circle ? { ...circle, radius: +radius || 300 } : null}
        class="map-main"
      />
      <section class="side">
        <AdminTabs />
        <h1>{t('adm.fences')}</h1>
        <ErrorText error={error || err} />
        {msg && <p class="good">{msg}</p>}
        <div class="row wrap">
          <select value={kind} onChange={(e) => setKind(e.target.value)} aria-label={t('adm.fenceKind')}>
            {FENCE_KINDS.map((k) => (
              <option value={k}>{label('fk', k)}</option>
            ))}
          </select>
          {kind === 'jurisdiction' && (
            <select value={unit} onChange={(e) => setUnit(e.target.value)} aria-label={t('al.unit')}>
              <option value="">{t('al.unit')}…</option>
              {(units || []).map((u) => (
                <option value={u.id}>{u.name}</option>
              ))}
            </select>
          )}
          <input placeholder={t('common.name')} value={name} onInput={(e) => setName(e.target.value)} />
        </div>
        <div class="row wrap">
          <button class={`btn small ${mode === 'polygon' ? 'primary' : ''}`} onClick={() => { setMode('polygon'); setDraft([]); }} data-testid="draw-polygon">
            {t('adm.drawPolygon')}
          </button>
          <button class={`btn small ${mode === 'circle' ? 'primary' : ''}`} onClick={() => { setMode('circle'); setCircle(null); }} data-testid="draw-circle">
            {t('adm.drawCircle')}
          </button>
          {mode === 'circle' && (
            <label class="inline">
              {t('adm.radius')} <input type="number" min="10" value={radius} onInput={(e) => setRadius(e.target.value)} style="width:6em" />
            </label>
          )}
          {mode && (
            <button class="btn small primary" onClick={finish} data-testid="draw-finish">
              {t('adm.finish')}
            </button>
          )}
        </div>
        {mode && <p class="muted small">{mode === 'polygon' ? t('adm.drawHint') : t('adm.circleHint')}</p>}
        <label class="btn small file">
          {t('adm.upload')}
          <input type="file" accept=".json,.geojson,application/geo+json,application/json" onChange={(e) => e.target.files[0] && upload(e.target.files[0])} hidden data-testid="fence-upload" />
        </label>
        <ul class="plain">
          {((fences && fences.features) || []).map((f) => (
            <li class="row">
              <Pill kind="muted">{label('fk', f.properties?.kind)}</Pill>
              <span>{f.properties?.name || f.id}</span>
              <div class="spacer" />
              <button class="btn small link" onClick={() => run(() => del(`/fences/${f.id ?? f.properties?.id}`))}>
                {t('common.delete')}
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

export function AdminUnits() {
  const [units, error, reload] = useLoad(() => get('/units').then((r) => r.units || []), []);
  const [fences] = useLoad(() => get('/fences'), []);
  const [name, setName] = useState('');
  const [def, setDef] = useState(false);
  const { err, run } = useAction(reload);
  const juris = ((fences && fences.features) || []).filter((f) => f.properties?.kind === 'jurisdiction');
  return (
    <div class="page split">
      <MapView fences={juris} fit={fences ? juris.length : null} autoFit class="map-main map-small" />
      <section class="side">
        <AdminTabs />
        <h1>{t('adm.units')}</h1>
        <ErrorText error={error || err} />
        <form
          class="row wrap"
          onSubmit={(e) => {
            e.preventDefault();
            run(() => post('/units', { name: name.trim(), default: def })).then(() => setName(''));
          }}
        >
          <input placeholder={t('common.name')} value={name} onInput={(e) => setName(e.target.value)} required />
          <label class="inline">
            <input type="checkbox" checked={def} onChange={(e) => setDef(e.target.checked)} /> {t('adm.default')}
          </label>
          <button class="btn primary">{t('adm.newUnit')}</button>
        </form>
        <ul class="cards">
          {(units || []).map((u) => (
            <li class="card">
              <div class="row">
                <strong>{u.name}</strong>
                {(u.is_default || u.default) && <Pill kind="ok">{t('adm.default')}</Pill>}
              </div>
              <p class="muted small">
                {t('al.jurisdiction')}: {juris.filter((f) => f.properties.unit_id === u.id).map((f) => f.properties.name).join(', ') || t('common.unknown')}
              </p>
            </li>
          ))}
        </ul>
        <Link href="/admin/fences" class="btn small">
          {t('adm.drawPolygon')} ({t('fk.jurisdiction')})
        </Link>
      </section>
    </div>
  );
}

export function AdminUsers() {
  const [users, error, reload] = useLoad(allUsers, []);
  const [units] = useLoad(() => get('/units').then((r) => r.units || []), []);
  const [f, setF] = useState({ email: '', password: '', name: '', phone: '', role: 'owner', unit: '' });
  const [unitSel, setUnitSel] = useState({});
  const { err, run } = useAction(reload);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  return (
    <div class="page narrow">
      <AdminTabs />
      <h1>{t('adm.users')}</h1>
      <ErrorText error={error || err} />
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          const body = { email: f.email.trim(), password: f.password, name: f.name.trim() || undefined, phone: f.phone.trim() || undefined, role: f.role };
          if (f.role === 'officer' && f.unit) body.unit_ids = [+f.unit];
          run(() => post('/users', body)).then((r) => r && setF({ email: '', password: '', name: '', phone: '', role: 'owner', unit: '' }));
        }}
      >
        <div class="row wrap">
          <input placeholder={t('adm.email')} value={f.email} onInput={set('email')} required />
          <input placeholder={t('adm.password')} type="password" value={f.password} onInput={set('password')} required minLength={8} />
          <input placeholder={t('common.name')} value={f.name} onInput={set('name')} />
          <input placeholder={t('adm.phone')} type="tel" value={f.phone} onInput={set('phone')} />
          <select value={f.role} onChange={set('role')} aria-label={t('adm.role')}>
            {ROLES.map((r) => (
              <option value={r}>{label('role', r)}</option>
            ))}
          </select>
          {f.role === 'officer' && (
            <select value={f.unit} onChange={set('unit')} aria-label={t('adm.unitsOf')}>
              <option value="">{t('al.unit')}…</option>
              {(units || []).map((u) => (
                <option value={u.id}>{u.name}</option>
              ))}
            </select>
          )}
          <button class="btn primary">{t('adm.newUser')}</button>
        </div>
      </form>
      <ul class="cards">
        {(users || []).map((u) => (
          <li class="card" data-testid={`admin-user-${u.id}`}>
            <div class="row">
              <strong>{u.display_name || u.name || u.email}</strong>
              <div class="spacer" />
              <Pill kind="muted">{label('role', u.role)}</Pill>
            </div>
            <div class="muted small">
              {u.email}
              {u.phone ? ` · ${u.phone}` : ''}
            </div>
            {u.role === 'officer' && (
              <div class="row wrap">
                <select value={unitSel[u.id] ?? ''} onChange={(e) => setUnitSel({ ...unitSel, [u.id]: e.target.value })} aria-label={t('adm.unitsOf')}>
                  <option value="">{t('adm.unitsOf')}…</option>
                  {(units || []).map((x) => (
                    <option value={x.id}>{x.name}</option>
                  ))}
                </select>
                <button class="btn small" disabled={!unitSel[u.id]} onClick={() => run(() => put(`/users/${u.id}/units`, { unit_ids: [+unitSel[u.id]] }))}>
                  {t('common.save')}
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function AdminKeys() {
  const [keys, error, reload] = useLoad(() => get('/keys').then((r) => r.keys || []), []);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState(['devices:read', 'positions:read']);
  const [shown, setShown] = useState(null);
  const { err, run } = useAction(reload);
  return (
    <div class="page narrow">
      <AdminTabs />
      <h1>{t('adm.keys')}</h1>
      <ErrorText error={error || err} />
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          run(() => post('/keys', { name: name.trim(), scopes })).then((r) => {
            if (r) {
              setShown(typeof r.key === 'string' ? r.key : r.api_key);
              setName('');
            }
          });
        }}
      >
        <input placeholder={t('common.name')} value={name} onInput={(e) => setName(e.target.value)} required />
        <fieldset class="row wrap">
          <legend>{t('adm.scopes')}</legend>
          {SCOPES.map((s) => (
            <label class="inline">
              <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))} /> {s}
            </label>
          ))}
        </fieldset>
        <button class="btn primary">{t('adm.newKey')}</button>
      </form>
      {shown && (
        <p class="good">
          {t('adm.keyShown')} <code class="key">{shown}</code>
        </p>
      )}
      <ul class="cards">
        {(keys || []).map((k) => (
          <li class="card row wrap">
            <strong>{k.name}</strong>
            <span class="muted small">{(k.scopes || []).join(' ')}</span>
            <div class="spacer" />
            {k.revoked_at ? (
              <Pill kind="muted">{t('adm.revoke')}</Pill>
            ) : (
              <button class="btn small" onClick={() => run(() => del(`/keys/${k.id}`))}>
                {t('adm.revoke')}
              </button>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
