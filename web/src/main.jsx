import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import * as apiMod from './api.js';
import { session, login, logout, refreshUser, publicConfig, setOnUnauthorized, closeStream, get } from './api.js';
import { t, setLang, currentLang, label } from './i18n.js';
import { setMapConfig } from './map.jsx';
import { navigate, useRoute, useLang, Link, useStream, useStreamState, playAlarmSound, useDeviceNames, forgetNames, useMyUnits, forgetMyUnits } from './ui.jsx';
import { Vehicles, VehicleDetail, History } from './views/owner.jsx';
import { AlarmList, AlarmPage } from './views/alarms.jsx';
import { startServiceWorker, disablePush } from './push.jsx';
import { AdminDevices, AdminFences, AdminUnits, AdminUsers, AdminKeys } from './views/admin.jsx';
import { AdminCameras, AdminCheckpoints } from './views/places.jsx';
import { Stats } from './views/stats.jsx';
import { interceptOf } from './views/linkage.jsx';

function Login({ onLogin }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await login(email.trim(), password));
    } catch (err) {
      setError(err.status === 429 ? t('login.locked') : err.status === 0 ? t('common.network') : t('login.failed'));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login">
      <div class="login-card">
        <div class="brand big">
          <span class="logo">◉</span> {t('app.name')}
        </div>
        <h1>{t('login.title')}</h1>
        <form onSubmit={submit}>
          <label>
            {t('login.email')}
            <input name="email" autocomplete="username" value={email} onInput={(e) => setEmail(e.target.value)} required />
          </label>
          <label>
            {t('login.password')}
            <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.target.value)} required />
          </label>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <button class="btn primary wide" type="submit" disabled={busy} data-testid="login-submit">
            {t('login.submit')}
          </button>
        </form>
        <LangSwitch />
      </div>
    </div>
  );
}

function LangSwitch() {
  useLang();
  return (
    <button class="btn link lang" data-testid="lang-switch" onClick={() => setLang(currentLang() === 'en' ? 'zh-CN' : 'en')}>
      {t('lang.switch')}
    </button>
  );
}

function isPatrol(role) {
  return role === 'officer' || role === 'dispatcher';
}

function homeFor(user) {
  if (!user) return '/login';
  if (user.role === 'admin') return '/vehicles';
  if (isPatrol(user.role)) return '/alarms';
  return '/vehicles';
}

// New theft alarms: a banner, a sound and (when allowed) a browser notification, everywhere in
// the app.
function AlarmWatcher({ user }) {
  const [banner, setBanner] = useState(null);
  const myUnits = useMyUnits();
  const names = useDeviceNames(banner ? [banner.device_id] : []);
  useStream(
    (ev) => {
      if (ev.type !== 'alarm') return;
      const a = ev.alarm;
      // A checkpoint of the caller's unit is asked to stop the vehicle: banner, siren, notice.
      if (ev.action === 'intercept_requested') {
        const x = interceptOf(ev);
        // Only the officers who staff that checkpoint are alerted; others see it in the feed.
        if (user.role !== 'officer' || (x.unit_id != null && !(myUnits || []).includes(x.unit_id))) return;
        const where = x.name || x.code || `#${x.checkpoint_id}`;
        setBanner({ id: a.id, kind: a.kind, device_id: a.device_id, intercept: where });
        playAlarmSound();
        if ('Notification' in window && Notification.permission === 'granted') {
          try {
            const n = new Notification(t('lk.interceptAt', { name: where }), { tag: `intercept-${a.id}-${x.checkpoint_id}`, requireInteraction: true });
            n.onclick = () => {
              window.focus();
              navigate('/alarms');
            };
          } catch {
            // Service-worker-only notifications: the banner remains.
          }
        }
        return;
      }
      // A handled alarm no longer needs the banner.
      if (ev.action === 'resolved') setBanner((b) => (b && b.id === a.id ? null : b));
      if (ev.action !== 'opened') return;
      if (a.kind !== 'theft' && a.severity !== 'high') return;
      setBanner({ id: a.id, kind: a.kind, device_id: a.device_id });
      playAlarmSound();
      if ('Notification' in window && Notification.permission === 'granted') {
        get(`/devices/${a.device_id}`)
          .then((d) => d.name, () => `#${a.device_id}`)
          .then((name) => {
            try {
              const n = new Notification(t('al.newTheft', { name }), { tag: `alarm-${a.id}`, requireInteraction: true });
              n.onclick = () => {
                window.focus();
                navigate(`/alarms/${a.id}`);
              };
            } catch {
              // Some browsers only allow notifications from a service worker; the banner remains.
            }
          });
      }
    },
    [myUnits],
  );
  if (!banner) return null;
  return (
    <div class="alarm-banner" role="alert" data-testid={banner.intercept ? 'intercept-banner' : 'alarm-banner'}>
      {/* The checkpoint's officers do not handle the alarm: their link is the intercept list. */}
      <Link href={banner.intercept ? '/alarms' : `/alarms/${banner.id}`} onClick={() => setBanner(null)}>
        {banner.intercept
          ? `⚠ ${t('lk.bannerIntercept', { name: banner.intercept, vehicle: names[banner.device_id] || `#${banner.device_id}` })}`
          : `⚠ ${label('kind', banner.kind)}: ${names[banner.device_id] || `#${banner.device_id}`}`}
      </Link>
      <button class="btn link" onClick={() => setBanner(null)} aria-label="close">
        ✕
      </button>
    </div>
  );
}

function Shell({ user, onLogout, children }) {
  const { path } = useRoute();
  const live = useStreamState();
  const admin = user.role === 'admin';
  const tab = (href, text, id) => (
    <Link href={href} class={path === href || (href !== '/' && path.startsWith(href)) ? 'active' : ''} data-testid={`nav-${id}`}>
      {text}
    </Link>
  );
  return (
    <div class="shell">
      <header class="top">
        <div class="brand">
          <span class="logo">◉</span> {t('app.name')}
        </div>
        <span class={`live ${live === 'open' ? 'on' : ''}`} title={live} data-testid="live-state">
          {live === 'open' ? t('live.on') : t('live.off')}
        </span>
        <div class="spacer" />
        <span class="who" title={user.email}>
          {user.name || user.email} · {label('role', user.role)}
        </span>
        <LangSwitch />
        <button class="btn link" onClick={onLogout} data-testid="logout">
          {t('nav.logout')}
        </button>
      </header>
      <nav class="tabs">
        {user.role !== 'officer' && tab('/vehicles', user.role === 'owner' ? t('veh.title') : t('veh.all'), 'vehicles')}
        {tab('/alarms', isPatrol(user.role) ? t('al.feed') : t('al.title'), 'alarms')}
        {(admin || user.role === 'dispatcher') && tab('/stats', t('nav.stats'), 'stats')}
        {admin && tab('/admin', t('nav.admin'), 'admin')}
      </nav>
      <AlarmWatcher key={user.id} user={user} />
      <main>{children}</main>
    </div>
  );
}

function Routes({ user }) {
  const { path } = useRoute();
  let m;
  if ((m = path.match(/^\/vehicles\/(\d+)\/history$/))) return <History id={+m[1]} />;
  if ((m = path.match(/^\/vehicles\/(\d+)$/))) return <VehicleDetail id={+m[1]} user={user} />;
  if (path === '/vehicles') return <Vehicles user={user} />;
  if ((m = path.match(/^\/alarms\/(\d+)$/))) return <AlarmPage id={+m[1]} user={user} />;
  if (path === '/alarms') return <AlarmList user={user} />;
  if (path === '/stats' && (user.role === 'admin' || user.role === 'dispatcher')) return <Stats />;
  if (user.role === 'admin') {
    if (path === '/admin' || path === '/admin/devices') return <AdminDevices />;
    if (path === '/admin/fences') return <AdminFences />;
    if (path === '/admin/units') return <AdminUnits />;
    if (path === '/admin/users') return <AdminUsers />;
    if (path === '/admin/keys') return <AdminKeys />;
    if (path === '/admin/cameras') return <AdminCameras />;
    if (path === '/admin/checkpoints') return <AdminCheckpoints />;
  }
  return <Redirect to={homeFor(user)} />;
}

function Redirect({ to }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}

function App() {
  useLang();
  const [user, setUser] = useState(() => session()?.user || null);
  useRoute();
  useEffect(() => {
    setOnUnauthorized(() => {
      apiMod.forget();
      forgetMyUnits();
      closeStream();
      setUser(null);
      navigate('/login', true);
    });
    // A reload keeps the session; refresh who we are (role changes, revoked token → 401).
    if (session()) refreshUser().then((me) => setUser(me.user || me), () => {});
  }, []);
  if (!user) {
    if (location.pathname !== '/login') history.replaceState(null, '', '/login');
    return (
      <Login
        onLogin={(u) => {
          setUser(u);
          navigate(homeFor(u), true);
        }}
      />
    );
  }
  if (location.pathname === '/login' || location.pathname === '/') {
    return <Redirect to={homeFor(user)} />;
  }
  return (
    <Shell
      user={user}
      onLogout={async () => {
        closeStream();
        forgetNames();
        await disablePush().catch(() => {});
        forgetMyUnits();
        await logout();
        setUser(null);
        navigate('/login', true);
      }}
    >
      <Routes user={user} />
    </Shell>
  );
}

startServiceWorker();
publicConfig().then((c) => {
  setMapConfig(c);
  render(<App />, document.getElementById('app'));
});
