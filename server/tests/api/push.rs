//! Issue 17, part 3: theft alerts that reach a locked phone. A local HTTP server stands in for
//! the browsers' push service; the test is the browser: it makes its own P-256 key pair and
//! auth secret, subscribes with them, and when an emulated GT06 tracker raises a theft alarm it
//! receives the push message, verifies the VAPID JWT (RFC 8292) against the server's public
//! key and decrypts the `aes128gcm` body (RFC 8291) with its private key.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::Alarm;
use serde_json::{Value, json};
use tokio::time::Instant;
use web_push_native::jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, NoCustomClaims, VerificationOptions,
};
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::alarms::{Gt06Device, device_id, fix, with_alarm};
use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, spawn_app_with, test_settings};

both_backends!(
    theft_alarm_is_pushed_signed_and_encrypted_to_its_owner,
    gone_subscriptions_are_dropped_and_failures_retried,
);

const DEADLINE: Duration = Duration::from_secs(60);
const CONTACT: &str = "mailto:ops@vigil.test";

/// One request the stand-in push service received.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// The stand-in push service: `POST /push/{name}` is recorded and answered with the next
/// status planned for `name` (201 when none is planned).
struct PushService {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
    handle: actix_web::dev::ServerHandle,
}

type Shared = (
    Arc<Mutex<Vec<Received>>>,
    Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
);

async fn receive(req: HttpRequest, body: web::Bytes, data: web::Data<Shared>) -> HttpResponse {
    let name = req.match_info()["name"].to_owned();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let status = data
        .1
        .lock()
        .unwrap()
        .get_mut(&name)
        .and_then(|q| q.pop_front())
        .unwrap_or(201);
    data.0.lock().unwrap().push(Received {
        name,
        headers,
        body: body.to_vec(),
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl PushService {
    async fn start() -> PushService {
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let plan: Arc<Mutex<HashMap<String, VecDeque<u16>>>> = Arc::default();
        let shared = web::Data::new((log.clone(), plan.clone()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/push/{name}", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        PushService {
            addr,
            log,
            plan,
            handle,
        }
    }

    fn endpoint(&self, name: &str) -> String {
        format!("http://{}/push/{name}", self.addr)
    }

    fn plan(&self, name: &str, statuses: &[u16]) {
        self.plan
            .lock()
            .unwrap()
            .insert(name.to_owned(), statuses.iter().copied().collect());
    }

    fn received(&self, name: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.name == name)
            .cloned()
            .collect()
    }

    /// Waits until `name` received at least `n` requests.
    async fn wait(&self, name: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let got = self.received(name);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "push service: {name} received {} of {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A browser's side of a subscription: its private key and auth secret, and the JSON it
/// posts (`PushSubscription.toJSON()`).
struct Browser {
    secret: p256::SecretKey,
    auth: web_push_native::Auth,
    json: Value,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).unwrap();
    b
}

fn browser(endpoint: &str) -> Browser {
    let secret = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&random::<32>()) {
            break k;
        }
    };
    let auth = random::<16>();
    let p256dh = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
    let mut secret_auth = web_push_native::Auth::default();
    secret_auth.copy_from_slice(&auth);
    Browser {
        json: json!({"endpoint": endpoint, "expirationTime": null,
                     "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode(auth)}}),
        secret,
        auth: secret_auth,
    }
}

async fn new_user(app: &TestApp, admin: &str, email: &str, role: &str) -> (i64, String) {
    let (s, u) = app
        .post(
            "/api/v1/users",
            admin,
            &json!({"email": email, "password": "push test password", "role": role}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let id = u["user"]["id"].as_i64().unwrap();
    let (s, v) = app
        .post(
            "/api/v1/session",
            "",
            &json!({"email": email, "password": "push test password"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    (id, v["token"].as_str().unwrap().to_owned())
}

async fn spawn(db: &TestDb) -> TestApp {
    let mut settings = test_settings(&db.url);
    // The stand-in push service speaks plain http.
    settings.push_allow_http = true;
    settings.push_backoff_ms = 20;
    settings.push_contact = CONTACT.into();
    spawn_app_with(settings).await
}

/// A GT06 tracker that has reported one fix (stored), owned by `owner`.
async fn owned_tracker(app: &TestApp, admin: &str, imei: &str, owner: i64) -> (Gt06Device, i64) {
    let mut dev = Gt06Device::connect(app, imei).await;
    dev.location(&fix(0, 0.0)).await;
    let id = device_id(app, imei).await;
    while app.db.latest_position(id).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, v) = app
        .put(
            &format!("/api/v1/devices/{id}/owner"),
            admin,
            &json!({"owner_id": owner}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    (dev, id)
}

async fn theft_alarm_is_pushed_signed_and_encrypted_to_its_owner(backend: Backend) {
    let db = TestDb::new(backend).await;
    let push = PushService::start().await;
    let app = spawn(&db).await;
    let admin = app.login().await;
    let (owner, owner_token) = new_user(&app, &admin, "owner@push.test", "owner").await;
    let (owner2, owner2_token) = new_user(&app, &admin, "owner2@push.test", "owner").await;

    // The server's VAPID key: public, the same in /config.json, kept across restarts (below).
    let r = app
        .client
        .get(app.url("/api/v1/push/vapid-public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let vapid: Value = r.json().await.unwrap();
    let vapid_key = vapid["public_key"].as_str().unwrap().to_owned();
    assert_eq!(URL_SAFE_NO_PAD.decode(&vapid_key).unwrap().len(), 65);
    let config: Value = app
        .client
        .get(app.url("/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["push_public_key"], vapid_key.as_str());

    // Bad subscriptions: 400 naming the field.
    let good = browser(&push.endpoint("a"));
    for (field, body) in [
        ("endpoint", {
            let mut b = good.json.clone();
            b["endpoint"] = json!("ftp://push.example/x");
            b
        }),
        ("keys.p256dh", {
            let mut b = good.json.clone();
            b["keys"]["p256dh"] = json!(URL_SAFE_NO_PAD.encode([4u8; 65]));
            b
        }),
        ("keys.auth", {
            let mut b = good.json.clone();
            b["keys"]["auth"] = json!("c2hvcnQ");
            b
        }),
    ] {
        let (s, v) = app
            .post("/api/v1/push-subscriptions", &owner_token, &body)
            .await;
        assert_eq!(s, 400, "{field}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let (s, v) = app
        .post(
            "/api/v1/push-subscriptions",
            &owner_token,
            &json!({"endpoint": push.endpoint("a")}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("keys"),
        "{v}"
    );

    // Each owner subscribes one browser.
    let (s, sub) = app
        .post("/api/v1/push-subscriptions", &owner_token, &good.json)
        .await;
    assert_eq!(s, 201, "{sub}");
    assert_eq!(sub["user_id"], owner);
    let other = browser(&push.endpoint("b"));
    let (s, v) = app
        .post("/api/v1/push-subscriptions", &owner2_token, &other.json)
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, list) = app.get("/api/v1/push-subscriptions", &owner_token).await;
    assert_eq!(s, 200);
    let subs = list["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{list}");
    assert_eq!(subs[0]["endpoint"], push.endpoint("a").as_str());

    // Owner 1's vehicle is armed; the ignition goes on: theft.
    let imei = "359710040017001";
    let (mut dev, id) = owned_tracker(&app, &admin, imei, owner).await;
    let (s, g) = app
        .post(
            &format!("/api/v1/devices/{id}/arm"),
            &owner_token,
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    let mut p = fix(10, 0.0);
    p.status.ignition = Some(true);
    dev.location(&p).await;

    let got = push.wait("a", 1).await;
    let msg = &got[0];
    assert_eq!(msg.headers["content-encoding"], "aes128gcm");
    assert_eq!(msg.headers["urgency"], "high");
    assert!(msg.headers["ttl"].parse::<u64>().unwrap() > 0);

    // RFC 8292: `vapid t=<JWT>, k=<the server's public key>`, the JWT signed by that key, for
    // the push service's origin, from the configured contact, expiring within 24 hours.
    let auth = &msg.headers["authorization"];
    let rest = auth.strip_prefix("vapid ").expect(auth);
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap();
        match name {
            "t" => t = Some(value.to_owned()),
            "k" => k = Some(value.to_owned()),
            _ => {}
        }
    }
    let (t, k) = (t.unwrap(), k.unwrap());
    assert_eq!(k, vapid_key);
    let verifier =
        ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(&vapid_key).unwrap()).unwrap();
    // The origin of the push resource. web-push-native writes it as scheme://host, without a
    // non-default port (RFC 6454 would keep the port; browsers' push services are on 443,
    // where the two agree).
    let origin = format!("http://{}", push.addr.ip());
    let claims = verifier
        .verify_token::<NoCustomClaims>(
            &t,
            Some(VerificationOptions {
                allowed_audiences: Some(std::collections::HashSet::from([origin.clone()])),
                ..Default::default()
            }),
        )
        .unwrap_or_else(|e| panic!("VAPID JWT does not verify for {origin}: {e}"));
    assert_eq!(claims.subject.as_deref(), Some(CONTACT));
    let exp = claims.expires_at.unwrap().as_secs();
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
    // A token signed by another key does not pass.
    let stranger = web_push_native::jwt_simple::algorithms::ES256KeyPair::generate();
    assert!(
        stranger
            .public_key()
            .verify_token::<NoCustomClaims>(&t, None)
            .is_err()
    );

    // RFC 8291: only the subscription's private key opens it.
    let plain = web_push_native::decrypt(msg.body.clone(), &good.secret, &good.auth)
        .expect("the push message decrypts with the subscription's key");
    let m: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(m["reason"], "alarm_opened", "{m}");
    assert_eq!(m["alarm"]["kind"], "theft", "{m}");
    assert_eq!(m["alarm"]["device_id"], id, "{m}");
    assert_eq!(m["alarm"]["status"], "open", "{m}");
    assert!(
        m["alarm"]["evidence"]
            .as_array()
            .unwrap()
            .contains(&json!("ignition_on")),
        "{m}"
    );
    assert_eq!(m["device_name"], imei);
    assert_eq!(m["url"], format!("/alarms/{}", m["alarm"]["id"]));
    assert!(web_push_native::decrypt(msg.body.clone(), &other.secret, &other.auth).is_err());
    let mut tampered = msg.body.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(web_push_native::decrypt(tampered, &good.secret, &good.auth).is_err());

    // A checkpoint asked to intercept the thief: its unit's officer is pushed the request
    // (opening the feed: they may not see the alarm itself), once; owners never are (their
    // kinds, checked below, are exactly theft then SOS).
    let theft = m["alarm"]["id"].as_i64().unwrap();
    let (s, unit) = app
        .post("/api/v1/units", &admin, &json!({"name": "东区检查站"}))
        .await;
    assert_eq!(s, 201, "{unit}");
    let unit = unit["id"].as_i64().unwrap();
    let (officer, officer_token) = new_user(&app, &admin, "officer@push.test", "officer").await;
    let (s, v) = app
        .put(
            &format!("/api/v1/users/{officer}/units"),
            &admin,
            &json!({"unit_ids": [unit]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let officer_browser = browser(&push.endpoint("c"));
    let (s, v) = app
        .post(
            "/api/v1/push-subscriptions",
            &officer_token,
            &officer_browser.json,
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, cp) = app
        .post(
            "/api/v1/checkpoints",
            &admin,
            &json!({"code": "KK-PUSH", "name": "东关检查站", "lat": 31.25, "lon": 121.5, "unit_id": unit}),
        )
        .await;
    assert_eq!(s, 201, "{cp}");
    for _ in 0..2 {
        let (s, v) = app
            .post(
                &format!("/api/v1/alarms/{theft}/intercepts"),
                &admin,
                &json!({"checkpoint_id": cp["id"]}),
            )
            .await;
        assert!(s == 201 || s == 200, "{s} {v}");
    }
    let got = push.wait("c", 1).await;
    let m: Value = serde_json::from_slice(
        &web_push_native::decrypt(
            got[0].body.clone(),
            &officer_browser.secret,
            &officer_browser.auth,
        )
        .expect("the intercept push decrypts with the officer's key"),
    )
    .unwrap();
    assert_eq!(m["reason"], "intercept_requested", "{m}");
    assert_eq!(m["alarm"]["id"], theft, "{m}");
    assert_eq!(m["url"], "/alarms", "{m}");

    // Owner 2's own SOS reaches owner 2, and only that: owner 1's theft never did.
    let (mut dev2, id2) = owned_tracker(&app, &admin, "359710040017002", owner2).await;
    dev2.alarm(&with_alarm(fix(20, 0.0), Alarm::Sos)).await;
    let got2 = push.wait("b", 1).await;
    for r in &got2 {
        let m: Value = serde_json::from_slice(
            &web_push_native::decrypt(r.body.clone(), &other.secret, &other.auth).unwrap(),
        )
        .unwrap();
        assert_eq!(m["alarm"]["device_id"], id2, "{m}");
        assert_eq!(m["alarm"]["kind"], "sos", "{m}");
    }
    // A vibration alarm is not pushed; a later SOS on the same vehicle is, and arrives alone.
    dev.alarm(&with_alarm(fix(30, 0.0), Alarm::Vibration)).await;
    dev.alarm(&with_alarm(fix(40, 0.0), Alarm::Sos)).await;
    let got = push.wait("a", 2).await;
    let kinds: Vec<String> = got
        .iter()
        .map(|r| {
            let m: Value = serde_json::from_slice(
                &web_push_native::decrypt(r.body.clone(), &good.secret, &good.auth).unwrap(),
            )
            .unwrap();
            m["alarm"]["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(kinds, ["theft", "sos"]);
    // The repeated intercept request notified nobody again.
    assert_eq!(push.received("c").len(), 1);
    let (_, list) = app.get("/api/v1/push-subscriptions", &owner_token).await;
    assert!(
        !list["subscriptions"][0]["last_sent_at"].is_null(),
        "{list}"
    );

    // Unsubscribing: someone else's endpoint is not found; one's own is removed.
    let (s, _) = delete(&app, &owner2_token, &push.endpoint("a")).await;
    assert_eq!(s, 404);
    let (s, _) = delete(&app, &owner_token, &push.endpoint("a")).await;
    assert_eq!(s, 204);
    let (_, list) = app.get("/api/v1/push-subscriptions", &owner_token).await;
    assert_eq!(list["subscriptions"], json!([]));

    // The VAPID key pair is kept: a restart serves the same public key.
    app.stop().await;
    let app = spawn(&db).await;
    let r: Value = app
        .client
        .get(app.url("/api/v1/push/vapid-public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["public_key"], vapid_key.as_str());
    app.stop().await;
    push.handle.stop(false).await;
}

async fn delete(app: &TestApp, token: &str, endpoint: &str) -> (u16, Value) {
    let r = app
        .client
        .delete(app.url("/api/v1/push-subscriptions"))
        .bearer_auth(token)
        .json(&json!({ "endpoint": endpoint }))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn gone_subscriptions_are_dropped_and_failures_retried(backend: Backend) {
    let db = TestDb::new(backend).await;
    let push = PushService::start().await;
    let app = spawn(&db).await;
    let admin = app.login().await;
    // A dispatcher sees every alarm, so each of their browsers is notified.
    let (_, dispatcher) = new_user(&app, &admin, "dispatch@push.test", "dispatcher").await;
    push.plan("gone", &[410]);
    push.plan("flaky", &[503, 500]);
    push.plan("refusing", &[403]);
    for name in ["gone", "flaky", "refusing"] {
        let b = browser(&push.endpoint(name));
        let (s, v) = app
            .post("/api/v1/push-subscriptions", &dispatcher, &b.json)
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let (owner, _) = new_user(&app, &admin, "owner3@push.test", "owner").await;
    let (mut dev, _) = owned_tracker(&app, &admin, "359710040017003", owner).await;
    dev.alarm(&with_alarm(fix(10, 0.0), Alarm::PowerCut)).await;

    // 503, 500, then delivered on the third attempt.
    push.wait("flaky", 3).await;
    // 410: the subscription is dropped.
    push.wait("gone", 1).await;
    let deadline = Instant::now() + DEADLINE;
    let subs = loop {
        let (_, list) = app.get("/api/v1/push-subscriptions", &dispatcher).await;
        let subs = list["subscriptions"].as_array().unwrap().clone();
        let sent = subs.iter().any(|s| {
            s["endpoint"] == push.endpoint("flaky").as_str() && !s["last_sent_at"].is_null()
        });
        let refused = subs.iter().any(|s| {
            s["endpoint"] == push.endpoint("refusing").as_str() && !s["last_error"].is_null()
        });
        if subs.len() == 2 && sent && refused {
            break subs;
        }
        assert!(Instant::now() < deadline, "{subs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let endpoints: Vec<&str> = subs
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap())
        .collect();
    assert!(!endpoints.contains(&push.endpoint("gone").as_str()));
    let refusing = subs
        .iter()
        .find(|s| s["endpoint"] == push.endpoint("refusing").as_str())
        .unwrap();
    assert_eq!(refusing["last_error"], "HTTP 403");
    // A refusal other than 404/410 is not retried.
    assert_eq!(push.received("refusing").len(), 1);
    assert_eq!(push.received("flaky").len(), 3);
    app.stop().await;
    push.handle.stop(false).await;
}

/// The installable app: the manifest and the service worker are served at the root (the
/// worker's scope is the directory it is served from), revalidated on every load (a new
/// worker reaches browsers at once), with their types.
#[tokio::test]
async fn manifest_and_service_worker_are_served_from_the_root() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(
        dir.path().join("manifest.webmanifest"),
        r#"{"name":"Vigil 防盗"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sw.js"),
        "self.addEventListener('push', () => {});",
    )
    .unwrap();
    let mut settings = test_settings(&db.url);
    settings.web_dir = dir.path().display().to_string();
    let app = spawn_app_with(settings).await;
    let r = app.client.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let r = app
        .client
        .get(app.url("/manifest.webmanifest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/manifest+json")
    );
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["name"], "Vigil 防盗");
    app.stop().await;
}
