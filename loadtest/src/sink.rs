//! The baseline: a frame-and-discard TCP sink with the same codecs as the server. It decodes
//! each frame and answers its ack at once; no session, no storage, nothing else.

use bytes::BytesMut;
use protocol::gt06::{Gt06Codec, Gt06Config};
use protocol::h02::H02Codec;
use protocol::jt808::{Jt808Codec, Jt808Config};
use protocol::{DeviceCodec, DeviceMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the sink needs beyond [`DeviceCodec`]: JT808 registration answers carry a code.
trait SinkCodec: DeviceCodec + Send + 'static {
    fn fix_ack(&mut self, _message: &DeviceMessage, ack: Self::Outbound) -> Self::Outbound {
        ack
    }
}

impl SinkCodec for Gt06Codec {}
impl SinkCodec for H02Codec {}
impl SinkCodec for Jt808Codec {
    fn fix_ack(&mut self, message: &DeviceMessage, mut ack: Self::Outbound) -> Self::Outbound {
        if let DeviceMessage::Register(_) = message {
            ack.set_auth_code("0");
        }
        ack
    }
}

async fn serve_conn<C: SinkCodec>(mut s: TcpStream, mut codec: C) -> anyhow::Result<()> {
    let _ = s.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(1024);
    let mut out = BytesMut::with_capacity(256);
    loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        while let Some(d) = codec.decode(&mut buf)? {
            if let Some(a) = d.ack {
                let a = codec.fix_ack(&d.message, a);
                codec.encode(a, &mut out)?;
            }
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
    }
}

async fn accept_loop<C: SinkCodec>(l: TcpListener, make: fn() -> C) {
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                tokio::spawn(serve_conn(s, make()));
            }
            Err(e) => {
                eprintln!("sink: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs the sink on 127.0.0.1 port-0 listeners, printing `sink listening: <name> <addr>`
/// lines, until stdin closes or SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let gt06 = TcpListener::bind("127.0.0.1:0").await?;
    let jt808 = TcpListener::bind("127.0.0.1:0").await?;
    let h02 = TcpListener::bind("127.0.0.1:0").await?;
    for (n, l) in [("gt06", &gt06), ("jt808", &jt808), ("h02", &h02)] {
        println!("sink listening: {n} {}", l.local_addr()?);
    }
    tokio::spawn(accept_loop(gt06, || Gt06Codec::new(Gt06Config::default())));
    tokio::spawn(accept_loop(jt808, || {
        Jt808Codec::new(Jt808Config::default())
    }));
    tokio::spawn(accept_loop(h02, || {
        H02Codec::new(vigil_server::transport::gateway::codecs::h02_config())
    }));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
