//! The scenarios that need the server's API beyond ingest: fences (fence API, assignments) and
//! alarm latency (WebSocket stream). The fence scenario still reports "not available" cleanly
//! when a server has no fence API.
//!
//! - fences: `POST /api/v1/fences` with a GeoJSON Feature (→ 201), assignments through
//!   `POST /api/v1/devices/{id}/fences`.
//! - alarm-latency: the alarm pipeline exists; see [`alarm_latency`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::scenarios::{
    Live, Spec, Steps, header_pub, report_searches, search_one, specs, write_json_pub,
};
use crate::target::{ADMIN_EMAIL, ADMIN_PASSWORD, raise_fd_limit};
use crate::{SimArgs, TargetArgs};

/// The fence API path.
pub const FENCE_PATH: &str = "/api/v1/fences";

/// An authenticated API client for the child server.
pub async fn api_login(http: SocketAddr) -> anyhow::Result<(reqwest::Client, String)> {
    let c = reqwest::Client::new();
    let r = c
        .post(format!("http://{http}/api/v1/session"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "login failed: {}", r.status());
    let v: Value = r.json().await?;
    let token = v["token"].as_str().context("no token")?.to_string();
    Ok((c, token))
}

/// A GeoJSON Feature of `kind` named `name`.
fn feature(name: &str, kind: &str, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": {"name": name, "kind": kind}, "geometry": geometry})
}

/// A 16-vertex polygon around `(lat, lon)` with radius `r` degrees.
fn polygon(lat: f64, lon: f64, r: f64) -> Value {
    let mut ring: Vec<[f64; 2]> = (0..16)
        .map(|k| {
            let a = k as f64 * std::f64::consts::TAU / 16.0;
            [lon + r * a.cos(), lat + r * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    json!({"type": "Polygon", "coordinates": [ring]})
}

fn not_available(
    scenario: &str,
    what: &str,
    path: &str,
    status: String,
    json_out: Option<&PathBuf>,
) -> anyhow::Result<()> {
    println!("{scenario}: not available — {what} (pending API: {path}; server answered {status})");
    let mut v = header_pub();
    v["scenario"] = json!(scenario);
    v["status"] = json!("not_available");
    v["pending_api"] = json!(path);
    v["server_answer"] = json!(status);
    write_json_pub(json_out, &v)
}

/// `fences`: loads `n` fences through the fence API, then runs the throughput search.
pub async fn fences(
    sim: SimArgs,
    t: TargetArgs,
    n: usize,
    json_out: Option<PathBuf>,
) -> anyhow::Result<()> {
    raise_fd_limit(sim.devices as u64 * 2 + 200);
    let steps = Steps {
        start_rate: 2000.0,
        step_factor: 1.3,
        max_rate: 200_000.0,
        step_secs: 8,
        p99_ms: 100.0,
        min_acked_share: 0.95,
    };
    let mut searches = Vec::new();
    // Vigil first: when its fence API is missing there is nothing to compare the baseline with.
    let mut order = specs(&t);
    order.sort_by_key(|s| *s == Spec::Baseline);
    for (k, spec) in order.into_iter().enumerate() {
        let live = Live::start(spec, &t, &[]).await?;
        if let Spec::Vigil(_) = spec {
            let http = live.http.context("no HTTP listener")?;
            let (c, token) = api_login(http).await?;
            let url = format!("http://{http}{FENCE_PATH}");
            // One keep-in area around the whole fleet (the leavers cross it) ...
            let (clat, clon) = (22.5431, 114.0579);
            let probe = c
                .post(&url)
                .bearer_auth(&token)
                .json(&feature("lt-area", "keep_in", polygon(clat, clon, 0.1)))
                .send()
                .await?;
            if !probe.status().is_success() {
                let status = probe.status().to_string();
                live.finish().await?;
                return not_available(
                    "fences",
                    "the server has no fence API yet",
                    &format!("POST {FENCE_PATH}"),
                    status,
                    json_out.as_ref(),
                );
            }
            let area: Value = probe.json().await?;
            let area = area["id"].as_i64().context("fence id")?;
            // ... and n - 1 small watch fences over ~30 km.
            let mut small = Vec::with_capacity(n);
            let pb = indicatif::ProgressBar::new(n as u64);
            let bodies = (1..n).map(|i| {
                let a = i as f64 * 2.399_963; // golden angle spiral over ~30 km
                let r = 0.3 * (i as f64 / n as f64).sqrt();
                let body = feature(
                    &format!("lt-{i}"),
                    "watch",
                    polygon(clat + r * a.sin(), clon + r * a.cos(), 0.002),
                );
                let req = c.post(&url).bearer_auth(&token).json(&body);
                async move {
                    let resp = req.send().await?;
                    anyhow::ensure!(resp.status().is_success(), "fence {i}: {}", resp.status());
                    let v: Value = resp.json().await?;
                    v["id"].as_i64().context("fence id")
                }
            });
            // A few requests in flight: loading 100k fences one by one takes minutes.
            let mut results = futures_util::stream::iter(bodies).buffered(8);
            while let Some(id) = futures_util::StreamExt::next(&mut results).await {
                small.push(id?);
                pb.inc(1);
            }
            pb.finish_and_clear();
            // The simulated devices, created now with the ids the simulator will use, each
            // tracked against the area and three watch fences.
            let base = (crate::scenarios::id_base() * 10 + k as u64) % 1000;
            for i in 0..sim.devices {
                let uid = crate::sim::device_id(sim.mix.pick(i), base, i);
                let r = c
                    .post(format!("http://{http}/api/v1/devices"))
                    .bearer_auth(&token)
                    .json(&json!({"unique_id": uid}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "device {uid}: {}", r.status());
                let v: Value = r.json().await?;
                let id = v["id"].as_i64().context("device id")?;
                let mut fences = vec![area];
                if !small.is_empty() {
                    fences.extend((0..3).map(|j| small[(i * 3 + j) % small.len()]));
                }
                for f in fences {
                    let r = c
                        .post(format!("http://{http}/api/v1/devices/{id}/fences"))
                        .bearer_auth(&token)
                        .json(&json!({"fence_id": f}))
                        .send()
                        .await?;
                    anyhow::ensure!(
                        r.status().is_success(),
                        "assign {f} to {id}: {}",
                        r.status()
                    );
                }
            }
            eprintln!("loaded {n} fences");
        }
        let r = search_one(&sim, &live, k as u64, steps).await;
        live.finish().await?;
        searches.push(r?);
    }
    let mut v = report_searches(&searches, steps, &sim, "fences");
    v["fences"] = json!(n);
    write_json_pub(json_out.as_ref(), &v)
}

/// Arguments of `alarm-latency` beyond the simulator and target ones.
#[derive(clap::Args, Debug, Clone)]
pub struct AlarmArgs {
    /// Background load, positions/s (half the measured maximum is the figure to quote).
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,
    /// Probe devices; each raises one SOS (one new alarm).
    #[arg(long, default_value_t = 300)]
    pub probes: usize,
    /// Probe alarms per second.
    #[arg(long, default_value_t = 20.0)]
    pub probe_rate: f64,
    /// Write the figures as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also measure Web Push: a stand-in push service on 127.0.0.1 (the server runs with
    /// `push_allow_http`), subscribed for the administrator, decrypts each message; the time
    /// from the SOS packet to the push POST for that alarm is the third figure.
    #[arg(long)]
    pub push: bool,
}

/// `alarm-latency`: background fleet at `--rate` positions/s; `--probes` GT06 devices (created
/// through the API, so their row ids are known) each send one SOS alarm packet; the time from
/// writing the packet to the `{"type":"alarm","action":"opened"}` event for that device on a
/// WebSocket subscribed to `GET /api/v1/stream` is recorded. The fleet sends no alarms of its
/// own here (`--alarm-share` is forced to 0), so every opened alarm belongs to a probe.
pub async fn alarm_latency(mut sim: SimArgs, t: TargetArgs, a: AlarmArgs) -> anyhow::Result<()> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    sim.alarm_share = 0.0;
    raise_fd_limit(sim.devices as u64 * 2 + a.probes as u64 + 200);
    let kind = t.db.first().copied().context("--db needs a database")?;
    let extra = if a.push {
        vec![("VIGIL_PUSH_ALLOW_HTTP", "true".to_owned())]
    } else {
        Vec::new()
    };
    let live = Live::start(Spec::Vigil(kind), &t, &extra).await?;
    let r = async {
        let http = live.http.context("no HTTP listener")?;
        let gt06 = live.addrs[0].context("no GT06 listener")?;
        let (c, token) = api_login(http).await?;
        let unit = c
            .post(format!("http://{http}/api/v1/units"))
            .bearer_auth(&token)
            .json(&json!({"name": "lt-unit", "default": true}))
            .send()
            .await?;
        anyhow::ensure!(unit.status().is_success(), "unit: {}", unit.status());
        // Probe devices, created up front: device row id → IMEI.
        let mut probes = Vec::new();
        for i in 0..a.probes {
            let imei = format!("3599{:011}", i);
            let r = c
                .post(format!("http://{http}/api/v1/devices"))
                .bearer_auth(&token)
                .json(&json!({"unique_id": imei}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "probe device: {}", r.status());
            let v: Value = r.json().await?;
            probes.push((v["id"].as_i64().context("device id")?, imei));
        }
        let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
        // Web Push: one subscription of the administrator, who sees every alarm.
        let push_lat = Arc::new(Mutex::new(hdrhistogram::Histogram::<u64>::new_with_bounds(
            1,
            600_000_000,
            3,
        )?));
        let push_reader = if a.push {
            let mut rx = crate::push_probe::PushReceiver::start().await?;
            let r = c
                .post(format!("http://{http}/api/v1/push-subscriptions"))
                .bearer_auth(&token)
                .json(&rx.subscription)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "push subscription: {}", r.status());
            let (sent2, lat2) = (sent.clone(), push_lat.clone());
            Some(tokio::spawn(async move {
                while let Some((at, body)) = rx.received.recv().await {
                    let Ok(m) = rx.open(body) else { continue };
                    let Some(dev) = m["alarm"]["device_id"].as_i64() else {
                        continue;
                    };
                    let sent_at = sent2.lock().ok().and_then(|m| m.get(&dev).copied());
                    if let (Some(s), Ok(mut h)) = (sent_at, lat2.lock()) {
                        let _ = h.record((at.duration_since(s).as_micros() as u64).max(1));
                    }
                }
            }))
        } else {
            None
        };
        // Two subscribers: one takes every event (each position of the fleet too), the other
        // asks for alarms only (`?types=alarm`, what an alarm console does).
        let mut readers = Vec::new();
        let mut hists = Vec::new();
        for query in ["", "?types=alarm"] {
            let lat = Arc::new(Mutex::new(hdrhistogram::Histogram::<u64>::new_with_bounds(
                1,
                600_000_000,
                3,
            )?));
            let mut req = format!("ws://{http}/api/v1/stream{query}").into_client_request()?;
            req.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
            let (sent2, lat2) = (sent.clone(), lat.clone());
            readers.push(tokio::spawn(async move {
                while let Some(Ok(m)) = ws.next().await {
                    let now = Instant::now();
                    let Ok(t) = m.into_text() else { continue };
                    if !t.contains("\"opened\"") {
                        continue;
                    }
                    let Ok(v) = serde_json::from_str::<Value>(&t) else {
                        continue;
                    };
                    if v["type"] != "alarm" || v["action"] != "opened" {
                        continue;
                    }
                    let Some(dev) = v["alarm"]["device_id"].as_i64() else {
                        continue;
                    };
                    let at = sent2.lock().ok().and_then(|m| m.get(&dev).copied());
                    if let (Some(at), Ok(mut h)) = (at, lat2.lock()) {
                        let _ = h.record((now.duration_since(at).as_micros() as u64).max(1));
                    }
                }
            }));
            hists.push(lat);
        }
        // Probe connections: logged in before the load starts.
        let mut conns = Vec::new();
        for (id, imei) in &probes {
            let mut s = tokio::net::TcpStream::connect(gt06).await?;
            s.set_nodelay(true)?;
            s.write_all(&protocol::gt06::device::login(imei, 1)?).await?;
            let mut b = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await??;
            anyhow::ensure!(n > 0, "probe login not answered");
            conns.push((*id, s));
        }
        // Background fleet at the given rate.
        let cfg = crate::scenarios::sim_config(&sim, live.addrs, 7)?;
        let fleet = crate::fleet::Fleet::start(cfg, &sim);
        fleet.set_rate(a.rate);
        let _ = fleet
            .wait_connected()
            .await;
        let secs = (a.probes as f64 / a.probe_rate).ceil() as u64 + 2;
        let label = format!("{} {:.0}/s", live.label, a.rate);
        let measure = fleet.measure(secs, live.pid, &label);
        let probing = async {
            let gap = Duration::from_secs_f64(1.0 / a.probe_rate);
            let mut tick = tokio::time::interval(gap);
            let now = chrono::Utc::now();
            for (k, (id, s)) in conns.iter_mut().enumerate() {
                tick.tick().await;
                let mut p = protocol::Position::new(
                    now + chrono::Duration::seconds(k as i64),
                    protocol::LatLon::new(22.5431, 114.0579)?,
                    true,
                    0.0,
                );
                p.status.alarms.insert(protocol::Alarm::Sos);
                let frame = protocol::gt06::device::alarm(&p, 2);
                if let Ok(mut m) = sent.lock() {
                    m.insert(*id, Instant::now());
                }
                s.write_all(&frame).await?;
            }
            anyhow::Ok(())
        };
        let (phase, probed) = tokio::join!(measure, probing);
        probed?;
        // Stragglers.
        tokio::time::sleep(Duration::from_secs(2)).await;
        fleet.stop().await;
        for r in &readers {
            r.abort();
        }
        if let Some(r) = &push_reader {
            r.abort();
        }
        let hp = push_lat
            .lock()
            .map(|h| h.clone())
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let mut got = Vec::new();
        for lat in &hists {
            got.push(lat.lock().map(|h| h.clone()).map_err(|_| anyhow::anyhow!("poisoned"))?);
        }
        let (h, h_alarms) = (&got[0], &got[1]);
        let bg = phase.merged();
        println!(
            "\nalarm-latency: {} ({kind:?}), background {:.0} positions/s offered, {:.0}/s acked (ack p99 {:.1} ms), server {:.2} cores, load average {}",
            live.label,
            phase.offered,
            phase.acked_rate(),
            phase.p99_ms(),
            phase.target_cpu.unwrap_or(f64::NAN),
            crate::target::load_average()
        );
        println!(
            "  SOS packet → WebSocket alarm (opened), every event, {} of {} probes: {}",
            h.len(),
            a.probes,
            crate::fleet::latency_line(h)
        );
        println!(
            "  SOS packet → WebSocket alarm (opened), ?types=alarm, {} of {} probes: {}",
            h_alarms.len(),
            a.probes,
            crate::fleet::latency_line(h_alarms)
        );
        if a.push {
            println!(
                "  SOS packet → Web Push POST (encrypted, decrypted by the receiver), {} of {} probes: {}",
                hp.len(),
                a.probes,
                crate::fleet::latency_line(&hp)
            );
        }
        let mut v = header_pub();
        v["scenario"] = json!("alarm-latency");
        if a.push {
            v["push_latency"] = crate::fleet::latency_json(&hp);
            v["delivered_push"] = json!(hp.len());
        }
        v["database"] = json!(format!("{kind:?}").to_lowercase());
        v["background_offered_per_s"] = json!(phase.offered);
        v["background_acked_per_s"] = json!(phase.acked_rate());
        v["background_ack_latency"] = crate::fleet::latency_json(&bg);
        v["server_cores"] = json!(phase.target_cpu);
        v["probes"] = json!(a.probes);
        v["delivered"] = json!(h.len());
        v["alarm_latency"] = crate::fleet::latency_json(h);
        v["alarm_latency_alarms_only"] = crate::fleet::latency_json(h_alarms);
        v["delivered_alarms_only"] = json!(h_alarms.len());
        anyhow::Ok(v)
    }
    .await;
    live.finish().await?;
    write_json_pub(a.json.as_ref(), &r?)
}
