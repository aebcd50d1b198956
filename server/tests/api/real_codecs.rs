//! The real codecs behind the gateway, spoken to with their own device-side frame builders.

use bytes::BytesMut;
use protocol::DeviceId;
use protocol::gt06::{self, Gt06Outbound};
use protocol::h02::{self, device::ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, position, spawn_app};

both_backends!(
    gt06_login_locations_visible_through_api,
    h02_heartbeat_then_locations
);

/// Reads frames from a server with a device-side decoder.
pub(crate) struct Wire<D: Decoder> {
    pub(crate) stream: TcpStream,
    buf: BytesMut,
    decoder: D,
}

impl<D: Decoder> Wire<D>
where
    D::Error: std::fmt::Debug,
{
    pub(crate) async fn connect(addr: std::net::SocketAddr, decoder: D) -> Self {
        Wire {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
            decoder,
        }
    }
    pub(crate) async fn send(&mut self, frame: &[u8]) {
        self.stream.write_all(frame).await.unwrap();
    }
    pub(crate) async fn recv(&mut self) -> D::Item {
        loop {
            if let Some(item) = self.decoder.decode(&mut self.buf).unwrap() {
                return item;
            }
            let n = self.stream.read_buf(&mut self.buf).await.unwrap();
            assert!(n > 0, "server closed the connection");
        }
    }
}

async fn latest_fix(app: &TestApp, token: &str, uid: &str) -> Option<String> {
    let dev = app.db.device_by_unique_id(uid).await.unwrap()?;
    let (s, p) = app
        .get(
            &format!("/api/v1/devices/{}/positions/latest", dev.id),
            token,
        )
        .await;
    (s == 200).then(|| p["fix_time"].as_str().unwrap().to_owned())
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(1_704_067_200 + t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

async fn gt06_login_locations_visible_through_api(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let imei = "359710040000001";
    let mut w = Wire::connect(app.addrs["gt06"], gt06::device::DeviceDecoder::default()).await;
    w.send(&gt06::device::login(imei, 1).unwrap()).await;
    assert_eq!(
        w.recv().await,
        Gt06Outbound::Ack {
            protocol: 0x01,
            serial: 1
        }
    );
    for (i, t) in (0..10).map(|i| (i as u16, i64::from(i) * 30)) {
        let serial = 2 + i;
        w.send(&gt06::device::location(&position(t), serial)).await;
        match w.recv().await {
            Gt06Outbound::Ack { serial: s, .. } => assert_eq!(s, serial),
            other => panic!("unexpected {other:?}"),
        }
        // Acknowledged means stored and visible.
        assert_eq!(latest_fix(&app, &token, imei).await, Some(iso(t)));
    }
    let dev = app.db.device_by_unique_id(imei).await.unwrap().unwrap();
    assert_eq!(dev.protocol.as_deref(), Some("gt06"));
    assert_eq!(app.db.count_positions(dev.id).await.unwrap(), 10);
    app.stop().await;
}

async fn h02_heartbeat_then_locations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let id = DeviceId::parse("4210051415").unwrap();
    let mut w = Wire::connect(app.addrs["h02"], h02::device::H02DeviceCodec::default()).await;
    w.send(&h02::device::heartbeat(&id, Some(80))).await;
    let _echo: ServerMessage = w.recv().await;
    for t in 0..5 {
        w.send(&h02::device::location(&id, &position(t * 60))).await;
        let _confirm: ServerMessage = w.recv().await;
        assert_eq!(
            latest_fix(&app, &token, "4210051415").await,
            Some(iso(t * 60))
        );
    }
    app.stop().await;
}

both_backends!(osmand_over_http);

async fn osmand_over_http(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let base = format!("http://{}", app.addrs["osmand"]);
    let id = DeviceId::parse("phone-1").unwrap();
    // Query shape, answered 200 only once stored.
    let uri = protocol::osmand::device::uri(&id, &position(0));
    let r = app
        .client
        .post(format!("{base}{uri}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(latest_fix(&app, &token, "phone-1").await, Some(iso(0)));
    // JSON batch.
    let batch: Vec<_> = (1..=3).map(|t| position(t * 60)).collect();
    let r = app
        .client
        .post(&base)
        .header("content-type", "application/json")
        .body(protocol::osmand::device::json_batch(&id, &batch))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(latest_fix(&app, &token, "phone-1").await, Some(iso(180)));
    // Bad input: 4xx.
    let r = app
        .client
        .get(format!("{base}/?lat=1&lon=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

both_backends!(jt808_register_auth_locations_batch);

pub(crate) fn registration() -> protocol::Registration {
    protocol::Registration {
        province: 44,
        city: 300,
        manufacturer: "VIGIL".into(),
        model: "EMU-1".into(),
        terminal_id: "T000001".into(),
        plate_color: 1,
        plate: "TEST01".into(),
    }
}

async fn jt808_register_auth_locations_batch(backend: Backend) {
    use protocol::jt808::AckResult;
    use protocol::jt808::device::{Device, ServerFrameDecoder, ServerMessage as S};
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let id = DeviceId::parse("13912345678").unwrap();
    let mut dev = Device::new(&id);
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;

    w.send(&dev.register(&registration())).await;
    let code = match w.recv().await.message {
        S::RegisterResponse {
            result: 0,
            auth_code,
            ..
        } => auth_code,
        other => panic!("unexpected {other:?}"),
    };
    assert!(!code.is_empty());
    w.send(&dev.auth(&code)).await;
    match w.recv().await.message {
        S::GeneralResponse {
            reply_id: 0x0102,
            result: AckResult::Success,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }

    for t in 0..5 {
        let frame = dev.location(&position(t * 10));
        w.send(&frame).await;
        match w.recv().await.message {
            S::GeneralResponse {
                reply_id: 0x0200,
                result: AckResult::Success,
                ..
            } => {}
            other => panic!("unexpected {other:?}"),
        }
        // 0x8001 came after the commit: the fix is already visible.
        assert_eq!(
            latest_fix(&app, &token, "13912345678").await,
            Some(iso(t * 10))
        );
        if t == 4 {
            // The device did not get the ack and resends the same frame: stored once.
            w.send(&frame).await;
            let _ = w.recv().await;
        }
    }
    let batch: Vec<_> = (100..110).map(|t| position(t * 10)).collect();
    w.send(&dev.batch(&batch, true)).await;
    match w.recv().await.message {
        S::GeneralResponse {
            reply_id: 0x0704,
            result: AckResult::Success,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    let stored = app
        .db
        .device_by_unique_id("13912345678")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.db.count_positions(stored.id).await.unwrap(), 15);

    // A wrong authentication code is refused and the connection closed.
    let mut liar = Device::new(&id);
    let mut w2 = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;
    w2.send(&liar.auth("not-the-code")).await;
    match w2.recv().await.message {
        S::GeneralResponse {
            result: AckResult::Failure,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    let mut rest = [0u8; 64];
    assert_eq!(w2.stream.read(&mut rest).await.unwrap_or(0), 0);
    // …without displacing the genuine session, which keeps reporting.
    w.send(&dev.heartbeat()).await;
    match w.recv().await.message {
        S::GeneralResponse {
            reply_id: 0x0002, ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    app.stop().await;
}
