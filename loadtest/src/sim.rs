//! Simulated devices over real TCP: log in, send positions along a route at a set interval,
//! heart-beat, raise alarms, and measure each ack's latency (send → server ack).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use protocol::gt06::{self, Gt06Outbound};
use protocol::h02::{self, device::ServerMessage as H02Msg};
use protocol::jt808::{self, device::ServerMessage as JtMsg};
use protocol::{Alarm, DeviceId, Registration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::route::{Rng, Route};

/// A device protocol the simulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// GT06 / Concox (binary, serial-numbered acks).
    Gt06,
    /// JT/T 808 (register, authenticate, 0x8001 general responses).
    Jt808,
    /// H02 (text; V4 confirmations, heartbeat echoes).
    H02,
}

impl Proto {
    /// All three, in report order.
    pub const ALL: [Proto; 3] = [Proto::Gt06, Proto::Jt808, Proto::H02];

    /// Lower-case name, as the server names its listeners.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Gt06 => "gt06",
            Proto::Jt808 => "jt808",
            Proto::H02 => "h02",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Shares of devices per protocol, e.g. `gt06=50,jt808=30,h02=20`.
#[derive(Debug, Clone, Copy)]
pub struct Mix(pub [u32; 3]);

impl std::str::FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut w = [0u32; 3];
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (name, n) = part.split_once('=').unwrap_or((part, "1"));
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| format!("bad weight in {part:?}"))?;
            let i = Proto::ALL
                .iter()
                .position(|p| p.name() == name.trim())
                .ok_or_else(|| format!("unknown protocol {name:?} (gt06, jt808, h02)"))?;
            w[i] = n;
        }
        if w.iter().sum::<u32>() == 0 {
            return Err("the mix needs at least one protocol with a weight > 0".into());
        }
        Ok(Mix(w))
    }
}

impl Mix {
    /// The protocol of device `i`: smooth weighted round robin over the weights (reduced by
    /// their gcd), so any prefix of the fleet has about the right shares.
    pub fn pick(&self, i: usize) -> Proto {
        fn gcd(a: u32, b: u32) -> u32 {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        let g = self.0.iter().copied().fold(0, gcd).max(1);
        let w: Vec<i64> = self.0.iter().map(|x| i64::from(x / g)).collect();
        let total: i64 = w.iter().sum();
        let slot = i as i64 % total.max(1);
        let mut current = [0i64; 3];
        let mut chosen = 0;
        for _ in 0..=slot {
            for k in 0..3 {
                current[k] += w[k];
            }
            chosen = (0..3)
                .max_by_key(|k| (current[*k], -(*k as i64)))
                .unwrap_or(0);
            current[chosen] -= total;
        }
        Proto::ALL[chosen]
    }
}

/// What every simulated device does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of devices.
    pub devices: usize,
    /// Protocol shares.
    pub mix: Mix,
    /// Listener of each protocol (index = [`Proto`] order).
    pub addrs: [Option<SocketAddr>; 3],
    /// Connections are opened evenly over this time.
    pub ramp: Duration,
    /// A heartbeat after every this many positions (0: never).
    pub heartbeat_every: u32,
    /// Share of positions sent as alarms (vibration, SOS, power cut, removal).
    pub alarm_share: f64,
    /// Share of devices that drive out of the circle.
    pub leave_share: f64,
    /// Centre of the circle (lat, lon).
    pub center: (f64, f64),
    /// Radius of the circle, km.
    pub radius_km: f64,
    /// Simulated seconds between two fixes of a device (fix times must differ per device).
    pub fix_step_secs: i64,
    /// Most acks a device waits for before it skips a send (counted as `window_full`).
    pub window: usize,
    /// Number of source addresses 127.0.0.2.. to spread connections over.
    pub source_ips: u32,
    /// Distinguishes the device ids of separate runs against one database.
    pub id_base: u64,
    /// First simulated fix time.
    pub start_time: DateTime<Utc>,
}

/// Counters and latency histograms shared by all devices.
#[derive(Debug)]
pub struct Stats {
    /// Devices logged in now.
    pub connected: AtomicU64,
    /// Most devices logged in at once.
    pub peak_connected: AtomicU64,
    /// Connect or login failures.
    pub connect_errors: AtomicU64,
    /// Connections that ended with an error after login.
    pub io_errors: AtomicU64,
    /// Negative or unexpected answers.
    pub protocol_errors: AtomicU64,
    /// Position frames written (alarms included).
    pub sent: AtomicU64,
    /// Position frames acknowledged.
    pub acked: AtomicU64,
    /// Alarm frames written.
    pub alarms: AtomicU64,
    /// Heartbeats written.
    pub heartbeats: AtomicU64,
    /// Heartbeats answered.
    pub heartbeats_acked: AtomicU64,
    /// Sends skipped because the device's ack window was full.
    pub window_full: AtomicU64,
    /// Devices that crossed the circle outwards.
    pub left_circle: AtomicU64,
    /// Position ack latency per protocol, microseconds.
    pub latency: [Mutex<Histogram<u64>>; 3],
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connected: AtomicU64::new(0),
            peak_connected: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            io_errors: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            alarms: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            heartbeats_acked: AtomicU64::new(0),
            window_full: AtomicU64::new(0),
            left_circle: AtomicU64::new(0),
            latency: [
                Mutex::new(histogram()),
                Mutex::new(histogram()),
                Mutex::new(histogram()),
            ],
        }
    }
}

impl Stats {
    /// Takes the latency histograms recorded so far and starts new ones.
    pub fn take_latency(&self) -> [Histogram<u64>; 3] {
        let take = |m: &Mutex<Histogram<u64>>| {
            std::mem::replace(
                &mut *m.lock().unwrap_or_else(|e| e.into_inner()),
                histogram(),
            )
        };
        [
            take(&self.latency[0]),
            take(&self.latency[1]),
            take(&self.latency[2]),
        ]
    }

    /// A copy of the counters.
    pub fn counters(&self) -> Counters {
        Counters {
            connected: self.connected.load(Relaxed),
            peak_connected: self.peak_connected.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            io_errors: self.io_errors.load(Relaxed),
            protocol_errors: self.protocol_errors.load(Relaxed),
            sent: self.sent.load(Relaxed),
            acked: self.acked.load(Relaxed),
            alarms: self.alarms.load(Relaxed),
            heartbeats: self.heartbeats.load(Relaxed),
            heartbeats_acked: self.heartbeats_acked.load(Relaxed),
            window_full: self.window_full.load(Relaxed),
            left_circle: self.left_circle.load(Relaxed),
        }
    }
}

/// A snapshot of [`Stats`]' counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// See [`Stats::connected`].
    pub connected: u64,
    /// See [`Stats::peak_connected`].
    pub peak_connected: u64,
    /// See [`Stats::connect_errors`].
    pub connect_errors: u64,
    /// See [`Stats::io_errors`].
    pub io_errors: u64,
    /// See [`Stats::protocol_errors`].
    pub protocol_errors: u64,
    /// See [`Stats::sent`].
    pub sent: u64,
    /// See [`Stats::acked`].
    pub acked: u64,
    /// See [`Stats::alarms`].
    pub alarms: u64,
    /// See [`Stats::heartbeats`].
    pub heartbeats: u64,
    /// See [`Stats::heartbeats_acked`].
    pub heartbeats_acked: u64,
    /// See [`Stats::window_full`].
    pub window_full: u64,
    /// See [`Stats::left_circle`].
    pub left_circle: u64,
}

impl Counters {
    /// Errors of every kind.
    pub fn errors(&self) -> u64 {
        self.connect_errors + self.io_errors + self.protocol_errors
    }
}

/// Device ids: GT06 15-digit IMEIs, JT808 12-digit phone numbers, H02 10-digit ids.
pub fn device_id(proto: Proto, id_base: u64, i: usize) -> String {
    let n = (id_base % 1000) * 1_000_000 + i as u64;
    match proto {
        Proto::Gt06 => format!("86{n:013}"),
        Proto::Jt808 => format!("1{n:011}"),
        Proto::H02 => format!("7{n:09}"),
    }
}

/// Opens a TCP connection from 127.0.0.`2 + i % ips` (so that more than one source address's
/// ports are used) to `addr`.
pub async fn connect_from(i: usize, ips: u32, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if addr.ip().is_loopback() && ips > 0 {
        let last = 2 + (i as u32 % ips.min(250)) as u8;
        sock.bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            0,
        ))?;
    }
    let s = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_interleaves() {
        let m: Mix = "gt06=40,jt808=40,h02=20".parse().unwrap();
        let first: Vec<Proto> = (0..5).map(|i| m.pick(i)).collect();
        for p in Proto::ALL {
            let n = first.iter().filter(|x| **x == p).count();
            assert_eq!(n, if p == Proto::H02 { 1 } else { 2 });
        }
        let only: Mix = "jt808".parse().unwrap();
        assert!((0..10).all(|i| only.pick(i) == Proto::Jt808));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Position,
    Heartbeat,
}

/// The protocol state of one device: frames out, acks in.
enum Wire {
    Gt06 {
        imei: String,
        serial: u16,
        dec: gt06::device::DeviceDecoder,
    },
    Jt808 {
        dev: jt808::device::Device,
        dec: jt808::device::ServerFrameDecoder,
    },
    H02 {
        id: DeviceId,
        dec: h02::device::H02DeviceCodec,
    },
}

/// An answer the device matched against what it sent.
enum Answer {
    /// Ack of the frame with this serial (GT06, JT808), or of the oldest frame of this kind (H02).
    Ack(Option<u16>, Kind, bool),
    Other,
}

impl Wire {
    fn new(proto: Proto, id: &str) -> anyhow::Result<Wire> {
        let did = DeviceId::parse(id).map_err(|e| anyhow::anyhow!("device id {id}: {e}"))?;
        Ok(match proto {
            Proto::Gt06 => Wire::Gt06 {
                imei: id.to_string(),
                serial: 1,
                dec: Default::default(),
            },
            Proto::Jt808 => Wire::Jt808 {
                dev: jt808::device::Device::new(&did),
                dec: Default::default(),
            },
            Proto::H02 => Wire::H02 {
                id: did,
                dec: Default::default(),
            },
        })
    }

    fn next_serial(&mut self) -> u16 {
        match self {
            Wire::Gt06 { serial, .. } => {
                let s = *serial;
                *serial = serial.wrapping_add(1);
                s
            }
            Wire::Jt808 { dev, .. } => dev.next_serial(),
            Wire::H02 { .. } => 0,
        }
    }

    /// A position (or alarm) frame and the serial its ack will carry.
    fn position(&mut self, p: &protocol::Position, alarm: bool) -> (Vec<u8>, u16) {
        let serial = self.next_serial();
        let f = match self {
            Wire::Gt06 { .. } if alarm => gt06::device::alarm(p, serial),
            Wire::Gt06 { .. } => gt06::device::location(p, serial),
            Wire::Jt808 { dev, .. } => dev.location(p),
            Wire::H02 { id, .. } if alarm => h02::device::alarm(id, p),
            Wire::H02 { id, .. } => h02::device::location(id, p),
        };
        (f, serial)
    }

    fn heartbeat(&mut self) -> (Vec<u8>, u16) {
        let serial = self.next_serial();
        let f = match self {
            Wire::Gt06 { .. } => gt06::device::heartbeat(&Default::default(), serial),
            Wire::Jt808 { dev, .. } => dev.heartbeat(),
            Wire::H02 { id, .. } => h02::device::heartbeat(id, Some(90)),
        };
        (f, serial)
    }

    /// Decodes the next answer in `buf`.
    fn answer(&mut self, buf: &mut BytesMut) -> anyhow::Result<Option<Answer>> {
        Ok(match self {
            Wire::Gt06 { dec, .. } => dec.decode(buf)?.map(|m| match m {
                Gt06Outbound::Ack { protocol, serial } => {
                    Answer::Ack(Some(serial), kind_of_gt06(protocol), true)
                }
                _ => Answer::Other,
            }),
            Wire::Jt808 { dec, .. } => dec.decode(buf)?.map(|f| match f.message {
                JtMsg::GeneralResponse {
                    reply_serial,
                    reply_id,
                    result,
                } => Answer::Ack(
                    Some(reply_serial),
                    if reply_id == jt808::msg::HEARTBEAT {
                        Kind::Heartbeat
                    } else {
                        Kind::Position
                    },
                    result == jt808::AckResult::Success,
                ),
                _ => Answer::Other,
            }),
            Wire::H02 { dec, .. } => dec.decode(buf)?.map(|m| match m {
                H02Msg::Confirm { .. } | H02Msg::R12 { .. } => {
                    Answer::Ack(None, Kind::Position, true)
                }
                H02Msg::Echo { .. } => Answer::Ack(None, Kind::Heartbeat, true),
                _ => Answer::Other,
            }),
        })
    }
}

fn kind_of_gt06(protocol: u8) -> Kind {
    match protocol {
        0x13 | 0x23 => Kind::Heartbeat,
        _ => Kind::Position,
    }
}

async fn read_answer(
    s: &mut TcpStream,
    wire: &mut Wire,
    buf: &mut BytesMut,
) -> anyhow::Result<Answer> {
    loop {
        if let Some(a) = wire.answer(buf)? {
            return Ok(a);
        }
        if s.read_buf(buf).await? == 0 {
            bail!("server closed the connection during login");
        }
    }
}

/// Connects device `i` and logs it in (GT06 login, JT808 register + authenticate, H02 first
/// heartbeat), returning the stream and its protocol state.
async fn login(
    i: usize,
    proto: Proto,
    cfg: &SimConfig,
    buf: &mut BytesMut,
) -> anyhow::Result<(TcpStream, Wire)> {
    let addr = cfg.addrs[proto.index()].with_context(|| format!("no {} listener", proto.name()))?;
    let id = device_id(proto, cfg.id_base, i);
    let mut wire = Wire::new(proto, &id)?;
    let mut s = connect_from(i, cfg.source_ips, addr).await?;
    match &mut wire {
        Wire::Gt06 { imei, .. } => {
            let f = gt06::device::login(imei, 0)?;
            s.write_all(&f).await?;
        }
        Wire::Jt808 { dev, .. } => {
            let reg = Registration {
                province: 44,
                city: 300,
                manufacturer: "VIGIL".into(),
                model: "LOADTEST".into(),
                terminal_id: format!("T{:06}", i % 1_000_000),
                plate_color: 1,
                plate: format!("LT{i}"),
            };
            let f = dev.register(&reg);
            s.write_all(&f).await?;
            let code = match read_answer_jt(&mut s, &mut wire, buf).await? {
                JtMsg::RegisterResponse {
                    result: 0,
                    auth_code,
                    ..
                } => auth_code,
                other => bail!("registration refused: {other:?}"),
            };
            let Wire::Jt808 { dev, .. } = &mut wire else {
                unreachable!()
            };
            let f = dev.auth(&code);
            s.write_all(&f).await?;
        }
        Wire::H02 { id, .. } => {
            s.write_all(&h02::device::login(id)).await?;
        }
    }
    match tokio::time::timeout(Duration::from_secs(15), read_answer(&mut s, &mut wire, buf))
        .await
        .context("login timed out")??
    {
        Answer::Ack(_, _, true) => Ok((s, wire)),
        _ => bail!("login not acknowledged"),
    }
}

async fn read_answer_jt(
    s: &mut TcpStream,
    wire: &mut Wire,
    buf: &mut BytesMut,
) -> anyhow::Result<JtMsg> {
    let Wire::Jt808 { dec, .. } = wire else {
        bail!("not a JT808 device")
    };
    let fut = async {
        loop {
            if let Some(f) = dec.decode(buf)? {
                return Ok(f.message);
            }
            if s.read_buf(buf).await? == 0 {
                bail!("server closed the connection during registration");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .context("registration timed out")?
}

fn pick_alarm(rng: &mut Rng) -> Alarm {
    const ALARMS: [Alarm; 4] = [
        Alarm::Vibration,
        Alarm::Sos,
        Alarm::PowerCut,
        Alarm::Tampering,
    ];
    ALARMS[(rng.next_u64() % 4) as usize]
}

/// Runs device `i` until `stop`, then waits (up to `drain`) for its outstanding acks.
/// `interval_us` is read before every send, so a stepped run can change the rate.
pub async fn run_device(
    i: usize,
    cfg: Arc<SimConfig>,
    stats: Arc<Stats>,
    interval_us: Arc<AtomicU64>,
    stop: CancellationToken,
    drain: Duration,
) {
    let proto = cfg.mix.pick(i);
    let ramp_at = cfg.ramp.mul_f64(i as f64 / cfg.devices.max(1) as f64);
    tokio::select! {
        _ = tokio::time::sleep(ramp_at) => {}
        _ = stop.cancelled() => return,
    }
    let mut buf = BytesMut::with_capacity(256);
    let (mut s, mut wire) = match login(i, proto, &cfg, &mut buf).await {
        Ok(x) => x,
        Err(e) => {
            if stats.connect_errors.fetch_add(1, Relaxed) < 5 {
                eprintln!("device {i} ({}): {e:#}", proto.name());
            }
            return;
        }
    };
    let now_connected = stats.connected.fetch_add(1, Relaxed) + 1;
    stats.peak_connected.fetch_max(now_connected, Relaxed);
    let r = device_loop(
        i,
        proto,
        &cfg,
        &stats,
        &interval_us,
        &stop,
        drain,
        &mut s,
        &mut wire,
        &mut buf,
    )
    .await;
    stats.connected.fetch_sub(1, Relaxed);
    if let Err(e) = r
        && stats.io_errors.fetch_add(1, Relaxed) < 5
    {
        eprintln!("device {i} ({}): {e:#}", proto.name());
    }
}

#[allow(clippy::too_many_arguments)]
async fn device_loop(
    i: usize,
    proto: Proto,
    cfg: &SimConfig,
    stats: &Stats,
    interval_us: &AtomicU64,
    stop: &CancellationToken,
    drain: Duration,
    s: &mut TcpStream,
    wire: &mut Wire,
    buf: &mut BytesMut,
) -> anyhow::Result<()> {
    let mut rng = Rng::new(cfg.id_base ^ ((i as u64 + 1) * 7919));
    let leaver = rng.unit() < cfg.leave_share;
    let mut route = Route::new(
        rng.next_u64(),
        cfg.center,
        cfg.radius_km,
        leaver,
        cfg.start_time,
        cfg.fix_step_secs,
    );
    let mut pending: VecDeque<(u16, Kind, Instant)> = VecDeque::with_capacity(cfg.window);
    let mut latencies: Vec<u64> = Vec::with_capacity(64);
    let mut positions = 0u32;
    // Spread the first send of each device over one interval.
    let first = Duration::from_micros(interval_us.load(Relaxed)).mul_f64(rng.unit());
    let mut next = Instant::now() + first;
    let mut draining: Option<Instant> = None;
    let mut last_flush = Instant::now();
    let flush = |lat: &mut Vec<u64>| {
        if !lat.is_empty() {
            let mut h = stats.latency[proto.index()]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for v in lat.drain(..) {
                let _ = h.record(v.max(1));
            }
        }
    };
    loop {
        if let Some(deadline) = draining
            && (pending.is_empty() || Instant::now() >= deadline)
        {
            break;
        }
        tokio::select! {
            r = s.read_buf(buf) => {
                if r? == 0 {
                    flush(&mut latencies);
                    bail!("server closed the connection");
                }
                while let Some(a) = wire.answer(buf)? {
                    let Answer::Ack(serial, kind, ok) = a else { continue };
                    if !ok {
                        stats.protocol_errors.fetch_add(1, Relaxed);
                    }
                    let at = match serial {
                        Some(sr) => pending.iter().position(|(x, _, _)| *x == sr),
                        None => pending.iter().position(|(_, k, _)| *k == kind),
                    };
                    let Some(at) = at else {
                        stats.protocol_errors.fetch_add(1, Relaxed);
                        continue;
                    };
                    let (_, kind, t) = pending.remove(at).expect("index from position()");
                    match kind {
                        Kind::Position => {
                            stats.acked.fetch_add(1, Relaxed);
                            latencies.push(t.elapsed().as_micros() as u64);
                            if latencies.len() >= 64 || last_flush.elapsed() >= Duration::from_millis(250) {
                                flush(&mut latencies);
                                last_flush = Instant::now();
                            }
                        }
                        Kind::Heartbeat => {
                            stats.heartbeats_acked.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(next), if draining.is_none() => {
                let interval = Duration::from_micros(interval_us.load(Relaxed).max(1));
                next += interval;
                let now = Instant::now();
                if next + interval < now {
                    // Fell behind by more than one interval: do not burst to catch up.
                    next = now + interval;
                }
                if pending.len() >= cfg.window {
                    stats.window_full.fetch_add(1, Relaxed);
                    continue;
                }
                let hb = cfg.heartbeat_every > 0 && positions > 0 && positions.is_multiple_of(cfg.heartbeat_every);
                let (frame, serial, kind) = if hb {
                    positions += 1;
                    let (f, sr) = wire.heartbeat();
                    stats.heartbeats.fetch_add(1, Relaxed);
                    (f, sr, Kind::Heartbeat)
                } else {
                    positions += 1;
                    let alarm = (rng.unit() < cfg.alarm_share).then(|| pick_alarm(&mut rng));
                    let (p, left) = route.step(alarm);
                    if left {
                        stats.left_circle.fetch_add(1, Relaxed);
                    }
                    if alarm.is_some() {
                        stats.alarms.fetch_add(1, Relaxed);
                    }
                    let (f, sr) = wire.position(&p, alarm.is_some());
                    stats.sent.fetch_add(1, Relaxed);
                    (f, sr, Kind::Position)
                };
                pending.push_back((serial, kind, Instant::now()));
                s.write_all(&frame).await?;
            }
            _ = stop.cancelled(), if draining.is_none() => {
                draining = Some(Instant::now() + drain);
            }
            _ = tokio::time::sleep(Duration::from_millis(50)), if draining.is_some() => {}
        }
    }
    flush(&mut latencies);
    Ok(())
}

/// Connects device `i` of protocol `proto` (ids, source addresses and listener from `cfg`) and
/// logs it in; the connection is returned idle.
pub async fn login_idle(i: usize, proto: Proto, cfg: &SimConfig) -> anyhow::Result<TcpStream> {
    let mut buf = BytesMut::with_capacity(128);
    Ok(login(i, proto, cfg, &mut buf).await?.0)
}

impl std::str::FromStr for Proto {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Proto::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown protocol {s:?} (gt06, jt808, h02)"))
    }
}
