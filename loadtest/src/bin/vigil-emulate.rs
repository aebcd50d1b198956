//! `vigil-emulate`: one scripted GT06 tracker for end-to-end tests and demos.
//!
//! Connects to a Vigil GT06 listener, logs in, then reads JSON-lines commands on stdin and
//! prints what happens as JSON lines on stdout (one object per line, `"event"` says what):
//!
//! | stdin | effect |
//! |---|---|
//! | `{"cmd":"move","lat":22.5,"lon":114.0,"speed":30,"course":90,"ignition":true}` | a 0x22 location (now, or `"time"`); with `"battery":80` a 0x16 GPS + status packet |
//! | `{"cmd":"alarm","alarm":"sos"}` (`vibration`, `power_cut`, … ; optional lat/lon/speed) | a 0x16 alarm |
//! | `{"cmd":"heartbeat","battery":80,"charging":true}` | a 0x13 status |
//! | `{"cmd":"reply","server_flag":1,"text":"Relay ok!"}` | a 0x15 command reply |
//! | `{"cmd":"auto_reply","on":false}` | stop (or resume) answering server commands |
//! | `{"cmd":"offline"}` / `{"cmd":"online"}` | drop the connection / reconnect and log in |
//! | `{"cmd":"quit"}` (or end of stdin) | exit |
//!
//! Server commands (`Relay,1#`, `Relay,0#`, `WHERE#`, …) are printed as
//! `{"event":"command",...}` and, unless `auto_reply` is off, answered with the reply a real
//! device sends (`Relay ok!`, a 0x15 echoing the server flag) so that the server marks the
//! command acknowledged.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use clap::Parser;
use protocol::gt06::Gt06Outbound;
use protocol::gt06::device as dev;
use protocol::{Alarm, DeviceStatus, LatLon, Position};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

/// One emulated GT06 tracker driven by JSON lines on stdin.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's GT06 listener.
    #[arg(long, default_value = "127.0.0.1:5023")]
    server: SocketAddr,
    /// IMEI the device logs in with.
    #[arg(long)]
    imei: String,
}

fn emit(v: Value) {
    // One line per event; the reader of our stdout parses lines.
    println!("{v}");
}

struct Device {
    imei: String,
    server: SocketAddr,
    serial: u16,
    last: Option<(f64, f64)>,
    auto_reply: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conn: Option<Conn>,
}

struct Conn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Device {
    fn next_serial(&mut self) -> u16 {
        self.serial = self.serial.wrapping_add(1).max(1);
        self.serial
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.server)
            .await
            .with_context(|| format!("cannot connect to {}", self.server))?;
        let (read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if write.write_all(&frame).await.is_err() {
                    emit(json!({"event": "closed", "reason": "write failed"}));
                    return;
                }
            }
            let _ = write.shutdown().await;
        });
        let reply_tx = tx.clone();
        let auto = self.auto_reply.clone();
        let reader = tokio::spawn(async move {
            let mut read = read;
            let mut decoder = dev::DeviceDecoder::default();
            let mut buf = BytesMut::with_capacity(1024);
            let mut reply_serial: u16 = 0x8000;
            loop {
                let next = match decoder.decode(&mut buf) {
                    Ok(Some(f)) => Some(Ok(f)),
                    Ok(None) => match read.read_buf(&mut buf).await {
                        Ok(0) => None,
                        Ok(_) => continue,
                        Err(e) => Some(Err(anyhow::Error::from(e))),
                    },
                    Err(e) => Some(Err(anyhow::Error::from(e))),
                };
                match next {
                    Some(Ok(Gt06Outbound::Ack { protocol, serial })) => {
                        emit(json!({"event": "ack", "protocol": protocol, "serial": serial}));
                    }
                    Some(Ok(Gt06Outbound::Command {
                        server_flag, text, ..
                    })) => {
                        emit(json!({"event": "command", "server_flag": server_flag, "text": text}));
                        if auto.load(std::sync::atomic::Ordering::Relaxed) {
                            let answer = reply_text(&text);
                            reply_serial = reply_serial.wrapping_add(1);
                            let _ = reply_tx.send(dev::command_reply(
                                server_flag,
                                &answer,
                                reply_serial,
                            ));
                            emit(
                                json!({"event": "replied", "server_flag": server_flag, "text": answer}),
                            );
                        }
                    }
                    Some(Ok(other)) => {
                        emit(json!({"event": "frame", "frame": format!("{other:?}")}))
                    }
                    Some(Err(e)) => {
                        emit(json!({"event": "closed", "reason": e.to_string()}));
                        return;
                    }
                    None => {
                        emit(json!({"event": "closed", "reason": "server closed the connection"}));
                        return;
                    }
                }
            }
        });
        let serial = self.next_serial();
        tx.send(dev::login(&self.imei, serial)?)
            .map_err(|_| anyhow::anyhow!("connection closed"))?;
        self.conn = Some(Conn {
            tx,
            tasks: vec![reader, writer],
        });
        emit(json!({"event": "connected", "server": self.server.to_string(), "imei": self.imei}));
        Ok(())
    }

    fn send(&mut self, frame: Vec<u8>, what: &str, serial: u16) {
        match &self.conn {
            Some(c) if c.tx.send(frame).is_ok() => {
                emit(json!({"event": "sent", "what": what, "serial": serial}));
            }
            _ => emit(json!({"event": "error", "message": "offline: nothing sent", "what": what})),
        }
    }

    fn position(&mut self, cmd: &Value) -> anyhow::Result<Position> {
        let (lat0, lon0) = self.last.unwrap_or((0.0, 0.0));
        let lat = cmd["lat"].as_f64().unwrap_or(lat0);
        let lon = cmd["lon"].as_f64().unwrap_or(lon0);
        self.last = Some((lat, lon));
        let time = match cmd["time"].as_str() {
            Some(t) => t
                .parse::<DateTime<Utc>>()
                .context("time must be ISO-8601 UTC")?,
            None => Utc::now(),
        };
        let speed = cmd["speed"].as_f64().unwrap_or(0.0) as f32;
        let mut p = Position::new(time, LatLon::new(lat, lon)?, true, speed);
        p.course = cmd["course"].as_f64().map(|c| c as f32);
        p.satellites = Some(9);
        p.status.ignition = cmd["ignition"].as_bool();
        Ok(p)
    }

    async fn handle(&mut self, cmd: &Value) -> anyhow::Result<bool> {
        match cmd["cmd"].as_str().unwrap_or_default() {
            "move" => {
                let mut p = self.position(cmd)?;
                let serial = self.next_serial();
                match cmd["battery"].as_u64() {
                    // 0x22 has no battery field; trackers report it in the 0x16 GPS + status
                    // packet (alarm code 0 = none), as these devices do.
                    Some(b) => {
                        p.status.battery_level = Some(b.min(100) as u8);
                        p.status.charging = cmd["charging"].as_bool();
                        self.send(dev::alarm(&p, serial), "location", serial);
                    }
                    None => self.send(dev::location(&p, serial), "location", serial),
                }
            }
            "alarm" => {
                let mut p = self.position(cmd)?;
                let alarm: Alarm = serde_json::from_value(cmd["alarm"].clone())
                    .context("alarm must be a name like \"sos\" or \"vibration\"")?;
                p.status.alarms.insert(alarm);
                let serial = self.next_serial();
                self.send(dev::alarm(&p, serial), "alarm", serial);
            }
            "heartbeat" => {
                let status = DeviceStatus {
                    battery_level: cmd["battery"].as_u64().map(|b| b.min(100) as u8),
                    charging: cmd["charging"].as_bool(),
                    ignition: cmd["ignition"].as_bool(),
                    gsm_signal: Some(4),
                    ..DeviceStatus::default()
                };
                let serial = self.next_serial();
                self.send(dev::heartbeat(&status, serial), "heartbeat", serial);
            }
            "reply" => {
                let flag = cmd["server_flag"].as_u64().context("server_flag")? as u32;
                let text = cmd["text"].as_str().unwrap_or("OK!");
                let serial = self.next_serial();
                self.send(dev::command_reply(flag, text, serial), "reply", serial);
            }
            "auto_reply" => {
                let on = cmd["on"].as_bool().unwrap_or(true);
                self.auto_reply
                    .store(on, std::sync::atomic::Ordering::Relaxed);
                emit(json!({"event": "auto_reply", "on": on}));
            }
            "offline" => {
                self.conn = None;
                emit(json!({"event": "offline"}));
            }
            "online" => {
                if self.conn.is_none() {
                    self.connect().await?;
                }
            }
            "quit" => return Ok(false),
            other => anyhow::bail!("unknown cmd {other:?}"),
        }
        Ok(true)
    }
}

/// The text a GT06 device answers a command with.
fn reply_text(command: &str) -> String {
    let upper = command.to_ascii_uppercase();
    if upper.starts_with("RELAY,1") || upper.starts_with("DYD") {
        "Cut off the fuel supply: Success!".into()
    } else if upper.starts_with("RELAY,0") || upper.starts_with("HFYD") {
        "Restore fuel supply: Success!".into()
    } else if upper.starts_with("WHERE") {
        "Lat:N22.500000,Lon:E114.000000".into()
    } else {
        "OK!".into()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut device = Device {
        imei: args.imei,
        server: args.server,
        serial: 0,
        last: None,
        auto_reply: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        conn: None,
    };
    device.connect().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let cmd: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                emit(json!({"event": "error", "message": format!("not JSON: {e}")}));
                continue;
            }
        };
        match device.handle(&cmd).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => emit(json!({"event": "error", "message": format!("{e:#}")})),
        }
    }
    // Let the writer flush what was queued before the process ends.
    if let Some(conn) = device.conn.take() {
        drop(conn.tx.clone());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    emit(json!({"event": "exit"}));
    Ok(())
}
