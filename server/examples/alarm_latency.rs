//! Device packet → WebSocket / MQTT delivery latency of the alarm pipeline.
//!
//! `cargo run --release -p vigil-server --example alarm_latency -- [DATABASE_URL] [LOAD_DEVICES] [LOAD_RATE_PER_DEVICE] [PROBES]`
//! (default: temp SQLite, 200 background GT06 devices at 5 positions/s each = 1,000
//! positions/s, 500 probe fixes at 20/s). A probe GT06 device raises SOS (opened alarm,
//! routed to the default patrol unit), then sends location fixes: each one is timed from
//! the write of its packet to its arrival as a `position` event on a WebSocket client and on
//! the unit's MQTT pursuit topic. Prints p50/p99/max for both.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protocol::gt06;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_server::{Application, Settings};

const BASE: i64 = 1_704_067_200;

fn fix(t: i64) -> protocol::Position {
    let time = chrono::DateTime::from_timestamp(BASE + t, 0).unwrap();
    protocol::Position::new(time, protocol::LatLon::new(22.5, 114.0).unwrap(), true, 0.0)
}

async fn device(
    addr: std::net::SocketAddr,
    imei: &str,
) -> anyhow::Result<tokio::net::tcp::OwnedWriteHalf> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let (mut rd, mut wr) = s.into_split();
    tokio::spawn(async move {
        let mut b = [0u8; 4096];
        while let Ok(n) = rd.read(&mut b).await {
            if n == 0 {
                break;
            }
        }
    });
    wr.write_all(&gt06::device::login(imei, 1)?).await?;
    Ok(wr)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("lat.db").display()));
    let load_devices: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let rate: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let probes: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(500);
    let mut settings = Settings::for_tests(url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    settings.admin_email = Some("admin@example.com".into());
    settings.admin_password = Some("latency example pw".into());
    settings.http_workers = 2;
    let app = Application::build(settings).await?;
    let addrs = app.addrs().clone();
    let http = format!("http://{}", app.http_addr().unwrap());
    let stop = app.shutdown_token();
    let server = tokio::spawn(app.run());

    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{http}/api/v1/session"))
        .json(&json!({"email": "admin@example.com", "password": "latency example pw"}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["token"].as_str().unwrap().to_owned();
    let unit: Value = client
        .post(format!("{http}/api/v1/units"))
        .bearer_auth(&token)
        .json(&json!({"name": "P1", "default": true}))
        .send()
        .await?
        .json()
        .await?;
    let unit_id = unit["id"].as_i64().unwrap();

    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let ws_lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mqtt_lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let probe_imei = "359710049999999";

    // WebSocket client, filtered to nothing but what it would get anyway (all events).
    let mut req =
        format!("{}/api/v1/stream", http.replace("http://", "ws://")).into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    {
        let (sent, lat) = (sent.clone(), ws_lat.clone());
        tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let now = Instant::now();
                let Ok(t) = m.into_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                if v["type"] == "position" && v["unique_id"] == probe_imei {
                    let secs =
                        chrono::DateTime::parse_from_rfc3339(v["fix_time"].as_str().unwrap_or(""))
                            .map(|d| d.timestamp() - BASE);
                    if let Ok(seq) = secs
                        && let Some(at) = sent.lock().unwrap().get(&seq)
                    {
                        lat.lock()
                            .unwrap()
                            .push(now.duration_since(*at).as_secs_f64() * 1e3);
                    }
                }
            }
        });
    }
    let maddr = addrs["mqtt"];
    // Subscribers are users: login + session token (see `vigil_server::mqtt_acl`).
    let mut o = MqttOptions::new(
        "admin@example.com:latency",
        maddr.ip().to_string(),
        maddr.port(),
    );
    o.set_credentials("admin@example.com", token.as_str());
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (mc, mut ev) = AsyncClient::new(o, 1000);
    mc.subscribe(format!("vigil/units/{unit_id}/positions"), QoS::AtMostOnce)
        .await?;
    {
        let (sent, lat) = (sent.clone(), mqtt_lat.clone());
        tokio::spawn(async move {
            while let Ok(e) = ev.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = e {
                    let now = Instant::now();
                    let Ok(v) = serde_json::from_slice::<Value>(&p.payload) else {
                        continue;
                    };
                    let secs =
                        chrono::DateTime::parse_from_rfc3339(v["fix_time"].as_str().unwrap_or(""))
                            .map(|d| d.timestamp() - BASE);
                    if let Ok(seq) = secs
                        && let Some(at) = sent.lock().unwrap().get(&seq)
                    {
                        lat.lock()
                            .unwrap()
                            .push(now.duration_since(*at).as_secs_f64() * 1e3);
                    }
                }
            }
        });
    }

    // Background load.
    let gt06_addr = addrs["gt06"];
    for d in 0..load_devices {
        tokio::spawn(async move {
            let imei = format!("35971{:010}", d);
            let Ok(mut wr) = device(gt06_addr, &imei).await else {
                return;
            };
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let mut i = 0i64;
            loop {
                tick.tick().await;
                i += 1;
                if wr
                    .write_all(&gt06::device::location(&fix(i), (i % 60000) as u16 + 2))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut probe = device(gt06_addr, probe_imei).await?;
    let mut sos = fix(0);
    sos.status.alarms.insert(protocol::Alarm::Sos);
    probe.write_all(&gt06::device::alarm(&sos, 2)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for seq in 1..=probes {
        tick.tick().await;
        let frame = gt06::device::location(&fix(seq), (seq % 60000) as u16 + 3);
        sent.lock().unwrap().insert(seq, Instant::now());
        probe.write_all(&frame).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut w = ws_lat.lock().unwrap().clone();
    let mut m = mqtt_lat.lock().unwrap().clone();
    println!(
        "load: {load_devices} GT06 devices x {rate}/s = {} positions/s; probe fixes {probes} at 20/s",
        load_devices * rate
    );
    for (name, v) in [("websocket", &mut w), ("mqtt", &mut m)] {
        if v.is_empty() {
            println!("{name}: nothing received");
            continue;
        }
        let n = v.len();
        println!(
            "{name}: n={n} p50={:.2} ms p99={:.2} ms max={:.2} ms",
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    stop.cancel();
    let _ = server.await;
    Ok(())
}
