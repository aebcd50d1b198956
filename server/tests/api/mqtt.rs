//! MQTT: a real client (rumqttc) authenticates with the device's token and publishes JSON
//! positions to `vigil/<id>/position`; they become visible through the API.

use std::time::Duration;

use protocol::DeviceId;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestDb, position, spawn_app_with, test_settings};

both_backends!(mqtt_publish_with_device_token);

fn options(addr: std::net::SocketAddr, user: &str, pass: &str) -> MqttOptions {
    let mut o = MqttOptions::new(user, addr.ip().to_string(), addr.port());
    o.set_credentials(user, pass);
    o.set_keep_alive(Duration::from_secs(30));
    o
}

async fn mqtt_publish_with_device_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db.url);
    settings.mqtt_listen = "127.0.0.1:0".into();
    let app = spawn_app_with(settings).await;
    let addr = app.addrs["mqtt"];
    let token = app.login().await;
    let (s, dev) = app
        .post(
            "/api/v1/devices",
            &token,
            &json!({"unique_id": "mqtt-dev-1"}),
        )
        .await;
    assert_eq!(s, 201);
    let id = dev["id"].as_i64().unwrap();
    let (s, creds) = app
        .post(
            &format!("/api/v1/devices/{id}/mqtt-token"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    assert_eq!(creds["topic"], "vigil/mqtt-dev-1/position");
    let password = creds["password"].as_str().unwrap().to_owned();

    // A wrong password is refused.
    let (_c, mut ev) = AsyncClient::new(options(addr, "mqtt-dev-1", "wrong"), 10);
    loop {
        match ev.poll().await {
            Err(_) => break,
            Ok(Event::Incoming(Packet::ConnAck(a))) => {
                assert_ne!(a.code, rumqttc::ConnectReturnCode::Success);
                break;
            }
            Ok(_) => {}
        }
    }

    let (client, mut ev) = AsyncClient::new(options(addr, "mqtt-dev-1", &password), 10);
    let device = DeviceId::parse("mqtt-dev-1").unwrap();
    let body = protocol::osmand::device::json(&device, &position(42));
    client
        .publish("vigil/mqtt-dev-1/position", QoS::AtLeastOnce, false, body)
        .await
        .unwrap();
    while !matches!(
        ev.poll().await.expect("connected with the device token"),
        Event::Incoming(Packet::PubAck(_))
    ) {}
    tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    // Stored asynchronously after the broker's ack: wait until visible.
    loop {
        let (s, p) = app
            .get(&format!("/api/v1/devices/{id}/positions/latest"), &token)
            .await;
        if s == 200 {
            assert_eq!(p["fix_time"], "2024-01-01T00:00:42Z");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}
