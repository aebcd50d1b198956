//! Memory per idle device connection: N GT06 devices log in and stay silent; prints the
//! growth of this process's RSS per connection (server side plus the test's own client
//! sockets, so an upper bound for the server).
//!
//! `ulimit -n 20000; cargo run --release -p vigil-server --example idle -- [CONNECTIONS]`
#![allow(missing_docs)]

use bytes::BytesMut;
use protocol::gt06;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_server::{Application, Settings};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5000);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("idle.db").display());
    let app = Application::build(Settings::for_tests(url)).await?;
    let addr = app.addrs()["gt06"];
    let token = app.shutdown_token();
    let server = tokio::spawn(app.run());
    // Warm up: 100 devices through the whole path, so one-off allocations are not counted.
    let mut conns = Vec::with_capacity(n + 100);
    let mut base = 0;
    for i in 0..n + 100 {
        if i == 100 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            base = rss_kb();
        }
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(&gt06::device::login(&format!("86{i:013}"), 1)?)
            .await?;
        let mut buf = BytesMut::with_capacity(64);
        s.read_buf(&mut buf).await?;
        conns.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = rss_kb();
    let per_conn = (after.saturating_sub(base)) as f64 * 1024.0 / n as f64;
    println!(
        "{n} idle logged-in GT06 connections: RSS {base} kB -> {after} kB, {per_conn:.0} bytes per \
         connection (server task, session, session-table entry, plus the test's own client socket)"
    );
    drop(conns);
    token.cancel();
    server.await??;
    Ok(())
}
