//! A stand-in push service for `alarm-latency --push`: a plain HTTP/1.1 receiver on 127.0.0.1
//! that accepts Web Push POSTs (201) and a browser-side subscription (its own P-256 key pair and
//! auth secret) whose messages it decrypts (RFC 8291, `web-push-native`'s decrypt), so the time
//! from an alarm packet to the push message for that alarm can be measured.

use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// The receiver and the subscription to register with the server.
pub struct PushReceiver {
    /// `PushSubscription.toJSON()` to POST to `/api/v1/push-subscriptions`.
    pub subscription: Value,
    secret: p256::SecretKey,
    auth: web_push_native::Auth,
    /// Each request body with the time its last byte was read.
    pub received: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
}

impl PushReceiver {
    /// Binds 127.0.0.1:0 and serves until the process ends.
    pub async fn start() -> anyhow::Result<PushReceiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, tx.clone()));
            }
        });
        let secret = loop {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random: {e}"))?;
            if let Ok(k) = p256::SecretKey::from_slice(&b) {
                break k;
            }
        };
        let mut auth_bytes = [0u8; 16];
        getrandom::fill(&mut auth_bytes).map_err(|e| anyhow::anyhow!("random: {e}"))?;
        let mut auth = web_push_native::Auth::default();
        auth.copy_from_slice(&auth_bytes);
        let p256dh = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Ok(PushReceiver {
            subscription: json!({"endpoint": format!("http://{addr}/push/loadtest"),
                "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode(auth_bytes)}}),
            secret,
            auth,
            received,
        })
    }

    /// The push message in a body (decrypted with the subscription's key).
    pub fn open(&self, body: Vec<u8>) -> anyhow::Result<Value> {
        let plain = web_push_native::decrypt(body, &self.secret, &self.auth)
            .map_err(|e| anyhow::anyhow!("decrypt: {e}"))?;
        serde_json::from_slice(&plain).context("push message JSON")
    }
}

/// One keep-alive connection: each request's body is handed on, each answered 201.
async fn serve(mut sock: tokio::net::TcpStream, tx: mpsc::UnboundedSender<(Instant, Vec<u8>)>) {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        // Headers.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let _ = tx.send((Instant::now(), body));
        if sock
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}
