//! Issue 5: real-time delivery of alarms from emulated devices — WebSocket stream, MQTT
//! subscriber (rumqttc), webhook receiver (fails first, then succeeds; signature verified).

use std::time::Duration;

use futures_util::StreamExt;
use protocol::{Alarm, DeviceId, LatLon, Position};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app_with, test_settings};

both_backends!(alarm_reaches_websocket_mqtt_and_webhook, jt808_alarm_bits);

fn fix(t: i64) -> Position {
    let time = chrono::DateTime::from_timestamp(1_704_067_200 + t, 0).unwrap();
    let mut p = Position::new(time, LatLon::new(22.5, 114.0).unwrap(), true, 0.0);
    p.satellites = Some(9);
    p
}

/// A one-connection-at-a-time HTTP receiver: answers 500 to the first request and 200 after;
/// forwards (signature header, body) of every request.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(u16, String, Vec<u8>)>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, len) = loop {
                let k = s.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..k]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (i + 4, len);
                }
            };
            if head_end == 0 {
                continue;
            }
            while buf.len() < head_end + len {
                let k = s.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let sig = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("x-vigil-signature")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_default();
            n += 1;
            let status = if n == 1 { 500 } else { 200 };
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
            let _ = tx.send((status, sig, buf[head_end..].to_vec()));
        }
    });
    (url, rx)
}

async fn alarm_reaches_websocket_mqtt_and_webhook(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    settings.webhook_backoff_ms = 50;
    let app = spawn_app_with(settings).await;
    let token = app.login().await;
    let (_, unit) = app
        .post(
            "/api/v1/units",
            &token,
            &json!({"name": "Patrol 7", "default": true}),
        )
        .await;
    let unit_id = unit["id"].as_i64().unwrap();

    // Webhook subscriber.
    let (hook_url, mut hook_rx) = receiver().await;
    let secret = "0123456789abcdef-secret";
    let (s, hook) = app
        .post(
            "/api/v1/webhooks",
            &token,
            &json!({"url": hook_url, "secret": secret}),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let (s, _) = app
        .post(
            "/api/v1/webhooks",
            &token,
            &json!({"url": "ftp://x", "secret": secret}),
        )
        .await;
    assert_eq!(s, 400);

    // MQTT subscriber: a user (here the administrator) with login and session token.
    let addr = app.addrs["mqtt"];
    let login = crate::helpers::ADMIN_EMAIL;
    let mut o = MqttOptions::new(format!("{login}:rt"), addr.ip().to_string(), addr.port());
    o.set_credentials(login, token.as_str());
    let (client, mut ev) = AsyncClient::new(o, 100);
    // A loaded CI machine can take longer than rumqttc's 5 s to answer a CONNECT.
    ev.network_options.set_connection_timeout(30);
    client
        .subscribe(format!("vigil/units/{unit_id}/#"), QoS::AtMostOnce)
        .await
        .unwrap();
    while !matches!(ev.poll().await.unwrap(), Event::Incoming(Packet::SubAck(_))) {}
    let (mqtt_tx, mut mqtt_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                let _ = mqtt_tx.send((p.topic.clone(), p.payload.to_vec()));
            }
        }
    });

    // WebSocket client.
    let mut req = format!("{}/api/v1/stream", app.http.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // Unauthenticated upgrade is refused.
    let bare = format!("{}/api/v1/stream", app.http.replace("http://", "ws://"));
    assert!(
        tokio_tungstenite::connect_async(bare.clone())
            .await
            .is_err()
    );
    // An alarm console: alarms only, no position traffic.
    let (mut alarms_ws, _) =
        tokio_tungstenite::connect_async(format!("{bare}?types=alarm&token={token}"))
            .await
            .unwrap();
    match tokio_tungstenite::connect_async(format!("{bare}?types=alarm,gossip&token={token}")).await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("unknown event type accepted: {:?}", other.map(|_| ())),
    }

    // An H02 device presses SOS.
    let id = DeviceId::parse("4210051499").unwrap();
    let mut dev = TcpStream::connect(app.addrs["h02"]).await.unwrap();
    let mut sos = fix(0);
    sos.status.alarms.insert(Alarm::Sos);
    dev.write_all(&protocol::h02::device::alarm(&id, &sos))
        .await
        .unwrap();

    // WebSocket: the alarm, then (after one more fix) the pursuit position with the unit.
    let next_json = |m: tokio_tungstenite::tungstenite::Message| -> Option<Value> {
        m.into_text()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    };
    let alarm = loop {
        let v = next_json(ws.next().await.unwrap().unwrap()).unwrap_or_default();
        if v["type"] == "alarm" {
            break v;
        }
    };
    assert_eq!(alarm["action"], "opened");
    assert_eq!(alarm["alarm"]["kind"], "sos");
    assert_eq!(alarm["alarm"]["unit_id"], unit_id);
    dev.write_all(&protocol::h02::device::location(&id, &fix(10)))
        .await
        .unwrap();
    let pos = loop {
        let v = next_json(ws.next().await.unwrap().unwrap()).unwrap_or_default();
        if v["type"] == "position" && v["unit_id"] == unit_id {
            break v;
        }
    };
    assert_eq!(pos["unique_id"], "4210051499");
    // SOS again: the open alarm is counted (`updated`). The alarms-only stream carries the
    // two alarm events and not the positions sent between them.
    let mut again = fix(20);
    again.status.alarms.insert(Alarm::Sos);
    dev.write_all(&protocol::h02::device::alarm(&id, &again))
        .await
        .unwrap();
    let mut actions = Vec::new();
    while actions.len() < 2 {
        let v = next_json(alarms_ws.next().await.unwrap().unwrap()).unwrap_or_default();
        assert_eq!(v["type"], "alarm", "alarms-only stream carried {v}");
        actions.push(v["action"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(actions, ["opened", "updated"]);

    // MQTT: the unit's alarm topic and its pursuit positions.
    let (mut got_alarm, mut got_pos) = (false, false);
    while !(got_alarm && got_pos) {
        let (topic, payload) = mqtt_rx.recv().await.unwrap();
        let v: Value = serde_json::from_slice(&payload).unwrap();
        if topic == format!("vigil/units/{unit_id}/alarms") {
            assert_eq!(v["alarm"]["kind"], "sos");
            assert_eq!(v["unique_id"], "4210051499");
            got_alarm = true;
        } else if topic == format!("vigil/units/{unit_id}/positions") {
            assert_eq!(v["unique_id"], "4210051499");
            got_pos = true;
        }
    }

    // Webhook: 500 first, then delivered; the signature is the HMAC of the body.
    let (s1, sig1, body1) = hook_rx.recv().await.unwrap();
    let (s2, sig2, body2) = hook_rx.recv().await.unwrap();
    assert_eq!((s1, s2), (500, 200));
    assert_eq!(body1, body2, "the retry carries the same event");
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body2);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig2, format!("sha256={want}"));
    assert_eq!(sig1, sig2);
    let v: Value = serde_json::from_slice(&body2).unwrap();
    assert_eq!(v["event"], "alarm.opened");
    assert_eq!(v["alarm"]["kind"], "sos");
    let hook_id = hook["id"].as_i64().unwrap();
    loop {
        let (_, d) = app
            .get(&format!("/api/v1/webhooks/{hook_id}/deliveries"), &token)
            .await;
        if let Some(first) = d["deliveries"].as_array().and_then(|a| a.last()) {
            assert_eq!(first["outcome"], "delivered");
            assert_eq!(first["attempts"], 2);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

/// JT808 0x0200 with alarm bits (emergency + overspeed) becomes Vigil alarms.
async fn jt808_alarm_bits(backend: Backend) {
    use protocol::jt808::device::{Device, ServerFrameDecoder};
    use tokio_util::codec::Decoder;
    let db = TestDb::new(backend).await;
    let app = spawn_app_with(test_settings(&db.url)).await;
    let token = app.login().await;
    let id = DeviceId::parse("013912345678").unwrap();
    let mut term = Device::new(&id);
    let mut s = TcpStream::connect(app.addrs["jt808"]).await.unwrap();
    let reg = protocol::Registration {
        province: 44,
        city: 300,
        manufacturer: "VIGIL".into(),
        model: "EMU-1".into(),
        terminal_id: "T000002".into(),
        plate_color: 1,
        plate: "TEST02".into(),
    };
    s.write_all(&term.register(&reg)).await.unwrap();
    // Read the 0x8100 registration answer for the authentication code.
    let mut dec = ServerFrameDecoder::default();
    let mut buf = bytes::BytesMut::new();
    let code = loop {
        if let Some(f) = dec.decode(&mut buf).unwrap()
            && let protocol::jt808::device::ServerMessage::RegisterResponse { auth_code, .. } =
                f.message
        {
            break auth_code;
        }
        let n = s.read_buf(&mut buf).await.unwrap();
        assert!(n > 0);
    };
    s.write_all(&term.auth(&code)).await.unwrap();
    let mut p = fix(0);
    p.status.alarms.insert(Alarm::Sos);
    p.status.alarms.insert(Alarm::Overspeed);
    s.write_all(&term.location(&p)).await.unwrap();
    let dev_id = loop {
        if let Some(d) = app.db.device_by_unique_id("13912345678").await.unwrap() {
            break d.id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    loop {
        let (_, v) = app
            .get(&format!("/api/v1/alarms?device_id={dev_id}"), &token)
            .await;
        let kinds: Vec<String> = v["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect();
        if kinds.len() == 2 {
            assert!(kinds.contains(&"sos".into()) && kinds.contains(&"overspeed".into()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}
