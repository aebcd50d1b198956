//! What the ingest paths refuse (issue #13, points 4 and 5): JT808 frames before the session
//! authenticated or of another phone number than the session's, identifiers not of their
//! protocol's form, random bytes, and fixes dated outside the window (far future, before
//! 2000) — acknowledged, not stored, never the latest position, kept as events.

use std::time::Duration;

use bytes::BytesMut;
use protocol::DeviceId;
use protocol::gt06::{self, Gt06Outbound};
use protocol::jt808::AckResult;
use protocol::jt808::device::{Device, ServerFrameDecoder, ServerMessage as S};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

use crate::both_backends;
use crate::helpers::{
    Backend, TestApp, TestDb, mqtt_publish_positions, position, spawn_app, spawn_app_with,
    test_settings,
};
use crate::real_codecs::{Wire, registration};

both_backends!(
    jt808_session_must_authenticate,
    jt808_session_keeps_its_phone_number,
    jt808_random_bytes_create_no_device,
    gt06_login_with_hex_imei_is_refused,
    gt06_fix_dated_2099_is_acked_not_stored,
    osmand_impossible_timestamps,
    mqtt_far_future_fix_is_not_stored,
);

/// Unique ids of every device row.
async fn device_ids(app: &TestApp) -> Vec<String> {
    app.db
        .list_devices(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.unique_id.to_string())
        .collect()
}

async fn latest_fix(app: &TestApp, token: &str, device: i64) -> Option<String> {
    let (s, p) = app
        .get(&format!("/api/v1/devices/{device}/positions/latest"), token)
        .await;
    (s == 200).then(|| p["fix_time"].as_str().unwrap().to_owned())
}

/// `fix_time_rejected` events of a device, oldest first.
async fn rejected_fixes(app: &TestApp, token: &str, device: i64) -> Vec<Value> {
    let (s, v) = app
        .get(&format!("/api/v1/events?device_id={device}"), token)
        .await;
    assert_eq!(s, 200, "{v}");
    let mut events: Vec<Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "fix_time_rejected")
        .cloned()
        .collect();
    events.reverse();
    events
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(1_704_067_200 + t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A general response to `reply_id` with `result`, or a panic naming what came instead.
fn expect_general(got: S, reply_id: u16, result: AckResult) {
    match got {
        S::GeneralResponse {
            reply_id: id,
            result: r,
            ..
        } if id == reply_id && r == result => {}
        other => panic!("expected 0x8001 to {reply_id:#06x} with {result:?}, got {other:?}"),
    }
}

type JtWire = Wire<ServerFrameDecoder>;

async fn jt808_register(w: &mut JtWire, dev: &mut Device) -> String {
    w.send(&dev.register(&registration())).await;
    match w.recv().await.message {
        S::RegisterResponse {
            result: 0,
            auth_code,
            ..
        } => auth_code,
        other => panic!("unexpected {other:?}"),
    }
}

async fn jt808_register_and_auth(w: &mut JtWire, dev: &mut Device) {
    let code = jt808_register(w, dev).await;
    w.send(&dev.auth(&code)).await;
    expect_general(w.recv().await.message, 0x0102, AckResult::Success);
}

/// JT808: nothing but register, authenticate and heartbeat before the session authenticated;
/// the rest is answered 0x8001 result 1 and not stored, and creates no device.
async fn jt808_session_must_authenticate(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let phone = "13912340001";
    let mut dev = Device::new(&DeviceId::parse(phone).unwrap());
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;

    w.send(&dev.location(&position(0))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Failure);
    w.send(&dev.batch(&[position(10), position(20)], true))
        .await;
    expect_general(w.recv().await.message, 0x0704, AckResult::Failure);
    // A heartbeat is answered (the link stays up) but identifies nobody.
    w.send(&dev.heartbeat()).await;
    expect_general(w.recv().await.message, 0x0002, AckResult::Success);
    assert!(device_ids(&app).await.is_empty());

    // Registered is not authenticated yet.
    let code = jt808_register(&mut w, &mut dev).await;
    let id = app.db.device_by_unique_id(phone).await.unwrap().unwrap().id;
    w.send(&dev.location(&position(30))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Failure);
    assert_eq!(app.db.count_positions(id).await.unwrap(), 0);

    w.send(&dev.auth(&code)).await;
    expect_general(w.recv().await.message, 0x0102, AckResult::Success);
    w.send(&dev.location(&position(40))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Success);
    assert_eq!(app.db.count_positions(id).await.unwrap(), 1);

    // A new connection of the same terminal authenticates with its code straight away (what
    // terminals do on every reconnect) and is heard at once.
    drop(w);
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;
    w.send(&dev.location(&position(50))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Failure);
    w.send(&dev.auth(&code)).await;
    expect_general(w.recv().await.message, 0x0102, AckResult::Success);
    w.send(&dev.location(&position(60))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Success);
    assert_eq!(app.db.count_positions(id).await.unwrap(), 2);

    let m = metrics(&app).await;
    assert!(
        m.contains(r#"vigil_ingest_refused_total{protocol="jt808",reason="unauthenticated"}"#),
        "{m}"
    );
    app.stop().await;
}

/// JT808: a session keeps the phone number it first gave; frames of another are refused and
/// stored nowhere.
async fn jt808_session_keeps_its_phone_number(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let a_phone = "13912340011";
    let b_phone = "13912340012";
    let b = app.create_device(b_phone).await;
    let mut a_dev = Device::new(&DeviceId::parse(a_phone).unwrap());
    let mut w = Wire::connect(app.addrs["jt808"], ServerFrameDecoder::default()).await;
    jt808_register_and_auth(&mut w, &mut a_dev).await;
    let a = app
        .db
        .device_by_unique_id(a_phone)
        .await
        .unwrap()
        .unwrap()
        .id;

    let mut b_dev = Device::new(&DeviceId::parse(b_phone).unwrap());
    w.send(&b_dev.location(&position(0))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Failure);
    w.send(&b_dev.heartbeat()).await;
    expect_general(w.recv().await.message, 0x0002, AckResult::Failure);
    w.send(&b_dev.register(&registration())).await;
    expect_general(w.recv().await.message, 0x0100, AckResult::Failure);
    w.send(&b_dev.auth("anything")).await;
    expect_general(w.recv().await.message, 0x0102, AckResult::Failure);
    assert_eq!(app.db.count_positions(b).await.unwrap(), 0);
    assert_eq!(
        app.db
            .device_by_unique_id(b_phone)
            .await
            .unwrap()
            .unwrap()
            .auth_code,
        None,
        "no code was issued for B"
    );
    // A phone number nobody registered: no device either.
    let mut c_dev = Device::new(&DeviceId::parse("13912340013").unwrap());
    w.send(&c_dev.location(&position(0))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Failure);
    assert!(
        app.db
            .device_by_unique_id("13912340013")
            .await
            .unwrap()
            .is_none()
    );

    // The session itself goes on.
    w.send(&a_dev.location(&position(10))).await;
    expect_general(w.recv().await.message, 0x0200, AckResult::Success);
    assert_eq!(app.db.count_positions(a).await.unwrap(), 1);
    assert_eq!(app.db.count_positions(b).await.unwrap(), 0);
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"vigil_ingest_refused_total{protocol="jt808",reason="other_device"}"#),
        "{m}"
    );
    app.stop().await;
}

/// xorshift64*: reproducible pseudo-random bytes without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// Sends `garbage` on a new JT808 connection, then a flag and a heartbeat whose answer shows
/// that every byte before it was handled (frames are handled in order). `false` if the server
/// closed the connection first (also fine: it refused something).
async fn spray(app: &TestApp, garbage: &[u8]) -> bool {
    let stream = TcpStream::connect(app.addrs["jt808"]).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let mut probe = Device::new(&DeviceId::parse("13900000077").unwrap());
    // A serial the random frames are unlikely to answer to.
    let frame = probe.frame(0x0002, &[]);
    let probe_serial = probe.next_serial().wrapping_sub(1);
    let reader = tokio::spawn(async move {
        let mut dec = ServerFrameDecoder::default();
        let mut buf = BytesMut::new();
        loop {
            while let Some(f) = dec.decode(&mut buf).unwrap_or(None) {
                if let S::GeneralResponse {
                    reply_serial,
                    reply_id: 0x0002,
                    ..
                } = f.message
                    && reply_serial == probe_serial
                {
                    return true;
                }
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    });
    let mut sent_all = true;
    for chunk in garbage.chunks(4096) {
        if wr.write_all(chunk).await.is_err() {
            sent_all = false;
            break;
        }
    }
    if sent_all {
        let _ = wr.write_all(&[0x7E]).await;
        let _ = wr.write_all(&frame).await;
    }
    let answered = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the server answers the probe or closes the connection")
        .unwrap();
    answered && sent_all
}

/// JT808: a few hundred KB of random bytes create no device (they created thousands: the
/// one-byte check lets random frames through, and any frame named a device).
async fn jt808_random_bytes_create_no_device(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut answered = 0;
    for _ in 0..4 {
        let mut garbage = vec![0u8; 96 * 1024];
        rng.fill(&mut garbage);
        if spray(&app, &garbage).await {
            answered += 1;
        }
    }
    assert!(answered > 0, "every connection was closed before its probe");
    assert_eq!(device_ids(&app).await, Vec::<String>::new());
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"vigil_ingest_refused_total{protocol="jt808",reason="unauthenticated"}"#),
        "{m}"
    );
    app.stop().await;
}

/// GT06: a login whose terminal id has nibbles above 9 is no IMEI: the connection is closed
/// and no device created (an all-FF login once registered `fffffffffffffff`).
async fn gt06_login_with_hex_imei_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    for id in [[0xFF; 8], [0x03, 0x59, 0x71, 0x00, 0x4A, 0x00, 0x00, 0x01]] {
        let mut frame = BytesMut::new();
        gt06::encode::put_short(&mut frame, 0x01, &id, 1);
        let mut s = TcpStream::connect(app.addrs["gt06"]).await.unwrap();
        s.write_all(&frame).await.unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "no ack for login {id:02x?}: {rest:02x?}");
    }
    assert_eq!(device_ids(&app).await, Vec::<String>::new());
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"vigil_ingest_refused_total{protocol="gt06",reason="invalid_device_id"}"#),
        "{m}"
    );
    app.stop().await;
}

/// GT06: a fix dated 2099 is acknowledged (in order with the others), not stored, never the
/// latest position, and kept as an event; an older valid fix after a newer one does not move
/// the latest back.
async fn gt06_fix_dated_2099_is_acked_not_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let imei = "359710040000099";
    let mut w = Wire::connect(app.addrs["gt06"], gt06::device::DeviceDecoder::default()).await;
    w.send(&gt06::device::login(imei, 1).unwrap()).await;
    let _login_ack = w.recv().await;
    let dev = app.db.device_by_unique_id(imei).await.unwrap().unwrap().id;
    let ack = |serial| Gt06Outbound::Ack {
        protocol: 0x22,
        serial,
    };

    w.send(&gt06::device::location(&position(600), 2)).await;
    assert_eq!(w.recv().await, ack(2));
    let mut future = position(600);
    future.time = "2099-01-01T00:00:00Z".parse().unwrap();
    w.send(&gt06::device::location(&future, 3)).await;
    assert_eq!(w.recv().await, ack(3));
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 1);
    assert_eq!(latest_fix(&app, &token, dev).await, Some(iso(600)));

    // Pipelined with valid fixes: the acks keep their order. The older fix is stored but the
    // latest stays.
    let mut burst = gt06::device::location(&position(0), 4);
    burst.extend(gt06::device::location(&future, 5));
    burst.extend(gt06::device::location(&position(300), 6));
    w.send(&burst).await;
    for serial in 4..=6 {
        assert_eq!(w.recv().await, ack(serial));
    }
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 3);
    assert_eq!(latest_fix(&app, &token, dev).await, Some(iso(600)));

    let events = rejected_fixes(&app, &token, dev).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["protocol"], "gt06");
    assert_eq!(events[0]["detail"]["fix_time"], "2099-01-01T00:00:00Z");
    assert_eq!(events[0]["detail"]["reason"], "future");
    assert_eq!(events[0]["detail"]["protocol"], "gt06");
    assert_eq!(events[0]["detail"]["max_future_secs"], 600);
    let m = metrics(&app).await;
    assert!(
        // One recorder for the whole test process: the count is every test's.
        m.contains(r#"vigil_fix_time_rejected_total{protocol="gt06",reason="future"}"#),
        "{m}"
    );
    app.stop().await;
}

/// OsmAnd: far-future timestamps (14 digits = milliseconds of year 5138; 10 digits = seconds of
/// 2100) are answered 200 but not stored and never the latest; a negative one is a 400.
async fn osmand_impossible_timestamps(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(&db).await;
    let token = app.login().await;
    let base = format!("http://{}", app.addrs["osmand"]);
    let report = |timestamp: &str| {
        app.client
            .get(format!(
                "{base}/?id=phone-9&lat=22.5&lon=114.0&timestamp={timestamp}"
            ))
            .send()
    };
    let t0 = 1_704_067_200;
    assert_eq!(report(&(t0 + 600).to_string()).await.unwrap().status(), 200);
    let dev = app
        .db
        .device_by_unique_id("phone-9")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(latest_fix(&app, &token, dev).await, Some(iso(600)));

    for far in ["99999999999999", "4102444800", "4102444800.5"] {
        let r = report(far).await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "{far}: acknowledged, or the app resends forever"
        );
    }
    let r = report("-1").await.unwrap();
    assert_eq!(r.status(), 400);
    // Before 2000 (a clock that was never set): acknowledged, not stored either.
    assert_eq!(report("946684799").await.unwrap().status(), 200);
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 1);
    assert_eq!(latest_fix(&app, &token, dev).await, Some(iso(600)));

    // An older valid fix after a newer one: stored, the latest stays.
    assert_eq!(report(&t0.to_string()).await.unwrap().status(), 200);
    // A batch of a good fix and a far-future one: the good one is stored.
    let id = DeviceId::parse("phone-9").unwrap();
    let mut bad = position(0);
    bad.time = "2100-01-01T00:00:00Z".parse().unwrap();
    let r = app
        .client
        .post(&base)
        .header("content-type", "application/json")
        .body(protocol::osmand::device::json_batch(
            &id,
            &[position(300), bad],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 3);
    assert_eq!(latest_fix(&app, &token, dev).await, Some(iso(600)));
    let (_, latest_all) = app.get("/api/v1/positions/latest", &token).await;
    assert!(latest_all.to_string().contains(&iso(600)), "{latest_all}");

    let times: Vec<String> = rejected_fixes(&app, &token, dev)
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["protocol"], "osmand");
            format!(
                "{} {}",
                e["detail"]["fix_time"].as_str().unwrap(),
                e["detail"]["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        times,
        [
            "5138-11-16T09:46:39.999Z future",
            "2100-01-01T00:00:00Z future",
            "2100-01-01T00:00:00.500Z future",
            "1999-12-31T23:59:59Z before_floor",
            "2100-01-01T00:00:00Z future",
        ]
    );
    app.stop().await;
}

/// MQTT: a far-future fix is not stored either (the same screen as every other path).
async fn mqtt_far_future_fix_is_not_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = spawn_app_with(settings).await;
    let token = app.login().await;
    let (s, dev) = app
        .post(
            "/api/v1/devices",
            &token,
            &json!({"unique_id": "mqtt-dev-9"}),
        )
        .await;
    assert_eq!(s, 201);
    let dev = dev["id"].as_i64().unwrap();
    let (_, creds) = app
        .post(
            &format!("/api/v1/devices/{dev}/mqtt-token"),
            &token,
            &json!({}),
        )
        .await;
    let password = creds["password"].as_str().unwrap().to_owned();
    let mut future = position(0);
    future.time = "2099-06-01T00:00:00Z".parse().unwrap();
    mqtt_publish_positions(&app, "mqtt-dev-9", &password, &[future, position(42)]).await;
    // Handled in order: once the valid fix is visible, the other one was screened.
    while latest_fix(&app, &token, dev).await.is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(latest_fix(&app, &token, dev).await, Some(iso(42)));
    assert_eq!(app.db.count_positions(dev).await.unwrap(), 1);
    let events = rejected_fixes(&app, &token, dev).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["fix_time"], "2099-06-01T00:00:00Z");
    assert_eq!(events[0]["protocol"], "mqtt");
    app.stop().await;
}
