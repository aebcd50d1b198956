//! End-to-end ingest figure: GT06 devices over TCP → gateway → batcher → database → acks.
//!
//! `cargo run --release -p vigil-server --example ingest -- [DATABASE_URL] [DEVICES] [POSITIONS]`
//! (default: a temp SQLite file, 200 devices, 500 positions each). Each device logs in, sends
//! all its positions pipelined and reads every ack; the figure is acked positions per second.
#![allow(missing_docs)]

use std::time::Instant;

use bytes::BytesMut;
use protocol::gt06::{self, Gt06Outbound};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use vigil_server::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let devices: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let per: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(500);
    let mut settings = Settings::for_tests(url.clone());
    settings.max_pending_acks = 256;
    let app = Application::build(settings).await?;
    let addr = app.addrs()["gt06"];
    let token = app.shutdown_token();
    let server = tokio::spawn(app.run());

    let start = Instant::now();
    let mut tasks = Vec::new();
    for d in 0..devices {
        tasks.push(tokio::spawn(async move {
            let imei = format!("35971{:010}", d);
            let mut s = TcpStream::connect(addr).await?;
            let mut frames = gt06::device::login(&imei, 1)?;
            for i in 0..per {
                let t = chrono::DateTime::from_timestamp(1_704_067_200 + i as i64, 0).unwrap();
                let p = protocol::Position::new(
                    t,
                    protocol::LatLon::new(22.5, 114.0).unwrap(),
                    true,
                    30.0,
                );
                frames.extend(gt06::device::location(&p, (i % 60000) as u16 + 2));
            }
            let (mut rd, mut wr) = s.split();
            let writer = async {
                wr.write_all(&frames).await?;
                anyhow::Ok(())
            };
            let reader = async {
                let mut dec = gt06::device::DeviceDecoder::default();
                let mut buf = BytesMut::new();
                let mut acks = 0u64;
                while acks <= per {
                    while let Some(f) = dec.decode(&mut buf)? {
                        if matches!(f, Gt06Outbound::Ack { .. }) {
                            acks += 1;
                        }
                    }
                    if acks > per {
                        break;
                    }
                    if rd.read_buf(&mut buf).await? == 0 {
                        anyhow::bail!("server closed");
                    }
                }
                anyhow::Ok(())
            };
            tokio::try_join!(writer, reader)?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let total = devices * per;
    println!(
        "{total} positions from {devices} GT06 devices acked after commit in {secs:.2} s: {:.0} positions/s ({})",
        total as f64 / secs,
        url.split(':').next().unwrap_or("")
    );
    token.cancel();
    server.await??;
    Ok(())
}
