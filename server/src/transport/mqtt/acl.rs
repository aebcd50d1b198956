//! Who may connect to the embedded MQTT broker and what each connection may publish and
//! subscribe to.
//!
//! rumqttd 0.20 authenticates a connection (`client_id, username, password`) but has no
//! per-topic ACL (its tenant prefixes need TLS client certificates). Vigil adds one by
//! wrapping the wire protocol ([`GuardedV4`]): every connection's packets pass through its own
//! wrapper, which remembers the connection's client id from CONNECT and checks each SUBSCRIBE
//! filter and PUBLISH topic against the rights computed when the connection authenticated
//! ([`Acls`]). A forbidden subscribe or publish closes the connection (the broker has no way
//! to refuse a single filter here); last wills are dropped, so nobody can leave a message on a
//! topic they may not publish to.
//!
//! Rights (fixed at connect; reconnect to pick up new units, shares or devices):
//! - a **device** (client id = username = unique id, password = its MQTT token) publishes only
//!   to `vigil/<its id>/position` and subscribes to nothing;
//! - a **user** (username = login, password = a session token or an API key of that user,
//!   client id = the login or `<login>:<anything>`) publishes nothing and subscribes, without
//!   wildcards except a trailing `/#` or `/+` under a topic root it may read, to:
//!   administrators and dispatchers: every `vigil/…` topic; officers:
//!   `vigil/units/<their unit>/{alarms,positions,intercepts}`; everyone: `vigil/devices/<unique id>/
//!   {alarms,live}` of the devices they own or that are shared with them. An API key needs
//!   `alarms:read` for `alarms` topics and `positions:read` for `positions`/`live`,
//!   `alarms:read` and `linkage:read` for `intercepts` (so `vigil/units/<id>/#` needs all
//!   three); an administrator's or dispatcher's key without `linkage:read` reads every
//!   `vigil/` topic but the intercepts, and so no filter that could match one (`vigil/#`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use protocol::DeviceId;
use rumqttd::protocol::v4::V4;
use rumqttd::protocol::{Error, Packet, Protocol};

use crate::domain::topics::{
    device_alarms_topic, device_live_topic, unit_alarms_topic, unit_intercepts_topic,
    unit_positions_topic,
};
use crate::services::access::{self, AccessError, Actor, Client, LoginThrottle, Scope};
use crate::storage::{Db, DbError};

/// What one authenticated connection may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acl {
    /// A tracker: publishes its own position topic only.
    Device {
        /// The only topic it may publish to.
        topic: String,
    },
    /// A person (session token or API key).
    User {
        /// The login the connection authenticated as.
        username: String,
        /// Administrators and dispatchers: every `vigil/` topic (the intercept topics only
        /// with `linkage`).
        all: bool,
        /// May read intercept requests (police linkage data): a login, or a key with
        /// `linkage:read`. Only consulted with `all`; otherwise `topics` already says it.
        linkage: bool,
        /// Topics the user may subscribe to.
        topics: HashSet<String>,
    },
}

/// Topic roots with their leaves, for the `root/#` and `root/+` forms.
const UNIT_LEAVES: [&str; 3] = ["alarms", "positions", "intercepts"];
const DEVICE_LEAVES: [&str; 2] = ["alarms", "live"];

impl Acl {
    /// Whether this connection may subscribe to `filter`.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        let Acl::User {
            all,
            linkage,
            topics,
            ..
        } = self
        else {
            return false;
        };
        if *all {
            return (filter.starts_with("vigil/") || filter == "#")
                && (*linkage || !may_match_intercepts(filter));
        }
        if !filter.contains(['+', '#']) {
            return topics.contains(filter);
        }
        // `root/#` or `root/+`: every leaf under the root must be readable.
        let Some(root) = filter
            .strip_suffix("/#")
            .or_else(|| filter.strip_suffix("/+"))
        else {
            return false;
        };
        if root.contains(['+', '#']) {
            return false;
        }
        let leaves: &[&str] = if root.starts_with("vigil/units/") {
            &UNIT_LEAVES
        } else if root.starts_with("vigil/devices/") {
            &DEVICE_LEAVES
        } else {
            return false;
        };
        leaves
            .iter()
            .all(|l| topics.contains(&format!("{root}/{l}")))
    }

    /// Whether this connection may publish to `topic`.
    pub fn may_publish(&self, topic: &str) -> bool {
        matches!(self, Acl::Device { topic: t } if t == topic)
    }
}

/// Whether `filter` can match an intercept topic `vigil/units/<id>/intercepts`.
fn may_match_intercepts(filter: &str) -> bool {
    const PATTERN: [Option<&str>; 4] = [Some("vigil"), Some("units"), None, Some("intercepts")];
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if *level == "#" {
            return i < PATTERN.len();
        }
        match PATTERN.get(i) {
            None => return false,
            Some(Some(want)) if *level != "+" && level != want => return false,
            Some(_) => {}
        }
    }
    levels.len() == PATTERN.len()
}

/// The rights of the authenticated connections, by client id (written by the broker's
/// authentication handler, read by each connection's [`GuardedV4`]). An entry lives while a
/// connection carrying its client id is open: a connection's [`GuardedV4`] registers the id
/// when it reads the CONNECT (before rumqttd calls the authentication handler) and releases
/// it when the connection ends, so clients that use a fresh client id per connection
/// (`<login>:<random>`) leave nothing behind.
#[derive(Debug, Clone, Default)]
pub struct Acls(Arc<RwLock<HashMap<String, Entry>>>);

/// One client id's rights and the open connections carrying it.
#[derive(Debug, Default)]
struct Entry {
    /// The rights of the last successful authentication with this client id.
    acl: Option<Acl>,
    /// Connections whose CONNECT named this client id and that have not ended (more than one
    /// while a reconnect takes over the old connection, which rumqttd then closes).
    connections: usize,
}

impl Acls {
    fn get(&self, client_id: &str) -> Option<Acl> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            .and_then(|e| e.acl.clone())
    }

    /// Records the rights of a connection that has registered its client id (there is always
    /// one in the broker: the CONNECT is read before the authentication handler runs).
    fn set(&self, client_id: String, acl: Acl) {
        if let Some(e) = self
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&client_id)
        {
            e.acl = Some(acl);
        }
    }

    /// A connection's CONNECT named `client_id`.
    fn register(&self, client_id: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(client_id.to_owned())
            .or_default()
            .connections += 1;
    }

    /// A connection registered with `client_id` ended: the entry goes with the last one.
    fn release(&self, client_id: &str) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(client_id) {
            e.connections = e.connections.saturating_sub(1);
            if e.connections == 0 {
                map.remove(client_id);
            }
        }
    }

    /// Client ids with an open connection (what the table holds).
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Open connections (a client id may be carried by two for a moment while a reconnect
    /// takes over).
    pub fn connections(&self) -> usize {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|e| e.connections)
            .sum()
    }

    /// The broker's authentication handler: a device with its MQTT token, or a user with a
    /// session token or API key; records the connection's rights on success. Attempts go
    /// through the login throttle like password logins, keyed by the client id (the broker
    /// does not tell its handler the source address): a client that keeps failing waits longer
    /// and longer, others are not affected.
    pub async fn authenticate(
        &self,
        db: &Db,
        throttle: &LoginThrottle,
        client_id: String,
        user: String,
        pass: String,
    ) -> bool {
        let Ok(attempt) =
            throttle.begin(&user, Client::MqttClient(client_id.clone()), Instant::now())
        else {
            tracing::info!(client_id, user, "mqtt login throttled");
            return false;
        };
        match rights(db, &client_id, &user, &pass).await {
            Ok(Some(acl)) => {
                attempt.succeeded(Instant::now());
                self.set(client_id, acl);
                true
            }
            Ok(None) => {
                attempt.failed(Instant::now());
                false
            }
            // Not the caller's fault: the attempt is released uncounted (rumqttd's hook can only
            // refuse; it closes the connection without a CONNACK reason either way).
            Err(e) => {
                tracing::warn!(client_id, error = %e, "mqtt authentication failed on the database; refused, not counted as a failed login");
                false
            }
        }
    }
}

async fn rights(db: &Db, client_id: &str, user: &str, pass: &str) -> Result<Option<Acl>, DbError> {
    if pass.is_empty() {
        return Ok(None);
    }
    if client_id == user
        && DeviceId::parse(user).is_ok()
        && let Some(d) = db.device_by_unique_id(user).await?
    {
        return Ok(d
            .mqtt_token
            .is_some_and(|t| {
                !t.is_empty()
                    && crate::services::auth::constant_time_eq(t.as_bytes(), pass.as_bytes())
            })
            .then(|| Acl::Device {
                topic: crate::domain::topics::position_topic(user),
            }));
    }
    // A user: the client id names the login, so it cannot take over a device's session.
    let own_id = client_id == user
        || client_id
            .strip_prefix(user)
            .is_some_and(|rest| rest.starts_with(':'));
    if !own_id || db.device_by_unique_id(client_id).await?.is_some() {
        return Ok(None);
    }
    let actor = match access::authenticate(db, pass).await {
        Ok(a) if a.user.email == user => a,
        Ok(_) | Err(AccessError::Unauthorized(_)) => return Ok(None),
        // An outage is not a wrong password: the caller logs it and leaves the throttle alone.
        Err(AccessError::Storage(e)) => return Err(e),
        Err(e @ (AccessError::NotFound(_) | AccessError::Forbidden(_))) => {
            tracing::warn!(error = %e, "unexpected refusal authenticating an mqtt user");
            return Ok(None);
        }
    };
    Ok(Some(user_acl(db, &actor).await?))
}

/// The topics a user may read (see the module documentation).
pub async fn user_acl(db: &Db, actor: &Actor) -> Result<Acl, DbError> {
    let alarms = actor.has_scope(Scope::AlarmsRead);
    let positions = actor.has_scope(Scope::PositionsRead);
    let mut topics = HashSet::new();
    if !actor.sees_everything() {
        for u in access::officer_units(db, actor).await? {
            if alarms {
                topics.insert(unit_alarms_topic(u));
            }
            if positions {
                topics.insert(unit_positions_topic(u));
            }
            if alarms && actor.has_scope(Scope::LinkageRead) {
                topics.insert(unit_intercepts_topic(u));
            }
        }
        for id in crate::storage::access::owned_or_shared(db, actor.user.id).await? {
            if let Some(d) = db.device(id).await? {
                if alarms {
                    topics.insert(device_alarms_topic(d.unique_id.as_str()));
                }
                if positions {
                    topics.insert(device_live_topic(d.unique_id.as_str()));
                }
            }
        }
    }
    Ok(Acl::User {
        username: actor.user.email.clone(),
        all: actor.sees_everything() && alarms && positions,
        linkage: alarms && actor.has_scope(Scope::LinkageRead),
        topics,
    })
}

/// rumqttd's MQTT 3.1.1 codec with Vigil's per-connection topic checks (see the module
/// documentation). One clone per connection: rumqttd clones the codec it was given for each
/// accepted connection, and a clone starts fresh (no client yet). Dropping it, which rumqttd
/// does when the connection ends, releases the connection's entry in [`Acls`].
#[derive(Debug)]
pub struct GuardedV4 {
    acls: Acls,
    client: Option<(String, String)>,
}

impl Clone for GuardedV4 {
    fn clone(&self) -> GuardedV4 {
        GuardedV4::new(self.acls.clone())
    }
}

impl Drop for GuardedV4 {
    fn drop(&mut self) {
        if let Some((client_id, _)) = self.client.take() {
            self.acls.release(&client_id);
        }
    }
}

impl GuardedV4 {
    /// A codec checking against `acls`.
    pub fn new(acls: Acls) -> GuardedV4 {
        GuardedV4 { acls, client: None }
    }

    /// The rights of this connection, if it authenticated (and as the same login).
    fn acl(&self) -> Option<Acl> {
        let (client_id, username) = self.client.as_ref()?;
        let acl = self.acls.get(client_id)?;
        match &acl {
            Acl::Device { .. } if client_id == username => Some(acl),
            Acl::User { username: u, .. } if u == username => Some(acl),
            _ => None,
        }
    }
}

impl Protocol for GuardedV4 {
    fn read_mut(&mut self, stream: &mut BytesMut, max_size: usize) -> Result<Packet, Error> {
        let packet = V4.read_mut(stream, max_size)?;
        match packet {
            Packet::Connect(connect, props, _will, _will_props, login) => {
                if self.client.is_some() {
                    // A second CONNECT is a protocol violation (MQTT 3.1.1 §3.1). rumqttd's
                    // router ignores it, but it would give this codec another client id and
                    // username to check against: close instead.
                    metrics::counter!("vigil_mqtt_denied_total", "what" => "connect").increment(1);
                    tracing::info!(client = ?self.client, "second mqtt connect; closing");
                    return Err(Error::InvalidProtocol);
                }
                let username = login
                    .as_ref()
                    .map(|l| l.username.clone())
                    .unwrap_or_default();
                self.acls.register(&connect.client_id);
                self.client = Some((connect.client_id.clone(), username));
                // No last wills: they would be published on a topic nobody checked.
                Ok(Packet::Connect(connect, props, None, None, login))
            }
            Packet::Publish(mut publish, props) => {
                let topic = std::str::from_utf8(&publish.topic).unwrap_or("");
                if self.acl().is_some_and(|a| a.may_publish(topic)) {
                    // The topic and payload are slices of the connection's read buffer (10 KiB
                    // at least), and rumqttd keeps publishes in its commit log (up to
                    // `max_segment_count` × `max_segment_size` per filter): each one kept would
                    // keep that whole buffer alive after the connection ended. Own copies.
                    publish.topic = Bytes::copy_from_slice(&publish.topic);
                    publish.payload = Bytes::copy_from_slice(&publish.payload);
                    Ok(Packet::Publish(publish, props))
                } else {
                    metrics::counter!("vigil_mqtt_denied_total", "what" => "publish").increment(1);
                    tracing::info!(client = ?self.client, topic, "mqtt publish denied; closing");
                    Err(Error::InvalidProtocol)
                }
            }
            Packet::Subscribe(subscribe, props) => {
                let acl = self.acl();
                if let Some(f) = subscribe
                    .filters
                    .iter()
                    .find(|f| !acl.as_ref().is_some_and(|a| a.may_subscribe(&f.path)))
                {
                    metrics::counter!("vigil_mqtt_denied_total", "what" => "subscribe")
                        .increment(1);
                    tracing::info!(client = ?self.client, filter = %f.path, "mqtt subscribe denied; closing");
                    return Err(Error::InvalidProtocol);
                }
                Ok(Packet::Subscribe(subscribe, props))
            }
            other => Ok(other),
        }
    }

    fn write(&self, packet: Packet, write: &mut BytesMut) -> Result<usize, Error> {
        V4.write(packet, write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MQTT 3.1.1 CONNECT with client id = username = `id` and a password.
    fn connect_bytes(id: &str) -> Vec<u8> {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
        for field in [id, id, "pw"] {
            body.extend_from_slice(&(field.len() as u16).to_be_bytes());
            body.extend_from_slice(field.as_bytes());
        }
        let mut p = vec![0x10, body.len() as u8];
        p.extend(body);
        p
    }

    /// A QoS 0 PUBLISH.
    fn publish_bytes(topic: &str, payload: &[u8]) -> Vec<u8> {
        let mut body = (topic.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(topic.as_bytes());
        body.extend_from_slice(payload);
        let mut p = vec![0x30, body.len() as u8];
        p.extend(body);
        p
    }

    #[test]
    fn a_publish_does_not_keep_the_read_buffer_alive() {
        let acls = Acls::default();
        let mut codec = GuardedV4::new(acls.clone());
        let mut stream = BytesMut::with_capacity(10 * 1024);
        stream.extend_from_slice(&connect_bytes("42"));
        assert!(matches!(
            codec.read_mut(&mut stream, 1 << 16),
            Ok(Packet::Connect(..))
        ));
        acls.set(
            "42".into(),
            Acl::Device {
                topic: "vigil/42/position".into(),
            },
        );
        // The rest of the connection's read buffer (no reallocation: it has room).
        let start = stream.as_ptr() as usize;
        let end = start + stream.capacity();
        stream.extend_from_slice(&publish_bytes("vigil/42/position", b"{\"x\":1}"));
        assert_eq!(stream.as_ptr() as usize, start);
        let Ok(Packet::Publish(p, _)) = codec.read_mut(&mut stream, 1 << 16) else {
            panic!("the publish is allowed");
        };
        assert_eq!(&p.topic[..], b"vigil/42/position");
        assert_eq!(&p.payload[..], b"{\"x\":1}");
        for b in [&p.topic, &p.payload] {
            let at = b.as_ptr() as usize;
            assert!(
                !(start..end).contains(&at),
                "a kept publish would pin the connection's whole read buffer"
            );
        }
    }

    #[test]
    fn rights_live_as_long_as_a_connection_carries_the_client_id() {
        let acls = Acls::default();
        let acl = Acl::Device {
            topic: "vigil/42/position".into(),
        };
        // Authentication without a registered connection keeps nothing.
        acls.set("42".into(), acl.clone());
        assert!(acls.is_empty());
        let mut old = GuardedV4::new(acls.clone());
        let mut stream = BytesMut::from(&connect_bytes("42")[..]);
        old.read_mut(&mut stream, 1 << 16).unwrap();
        acls.set("42".into(), acl.clone());
        // A reconnect with the same client id, then the old connection ends.
        let mut new = old.clone();
        assert!(
            new.client.is_none(),
            "a clone is a fresh connection's codec"
        );
        let mut stream = BytesMut::from(&connect_bytes("42")[..]);
        new.read_mut(&mut stream, 1 << 16).unwrap();
        acls.set("42".into(), acl.clone());
        assert_eq!((acls.len(), acls.connections()), (1, 2));
        drop(old);
        assert_eq!(new.acl(), Some(acl));
        // A second CONNECT on the same connection closes it.
        let mut stream = BytesMut::from(&connect_bytes("43")[..]);
        assert!(new.read_mut(&mut stream, 1 << 16).is_err());
        drop(new);
        assert!(acls.is_empty());
        // A codec that never read a CONNECT releases nothing.
        drop(GuardedV4::new(acls.clone()));
        assert!(acls.is_empty());
    }

    fn user(all: bool, topics: &[&str]) -> Acl {
        Acl::User {
            username: "u".into(),
            all,
            linkage: true,
            topics: topics.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn filters_are_checked_against_the_readable_topics() {
        let officer = user(
            false,
            &[
                "vigil/units/3/alarms",
                "vigil/units/3/positions",
                "vigil/units/3/intercepts",
            ],
        );
        assert!(officer.may_subscribe("vigil/units/3/intercepts"));
        // Without the intercepts leaf (a key lacking linkage:read) the unit's `#` is refused.
        let no_linkage = user(false, &["vigil/units/3/alarms", "vigil/units/3/positions"]);
        assert!(!no_linkage.may_subscribe("vigil/units/3/#"));
        assert!(officer.may_subscribe("vigil/units/3/alarms"));
        assert!(officer.may_subscribe("vigil/units/3/#"));
        assert!(officer.may_subscribe("vigil/units/3/+"));
        assert!(!officer.may_subscribe("vigil/units/4/alarms"));
        assert!(!officer.may_subscribe("vigil/units/+/alarms"));
        assert!(!officer.may_subscribe("vigil/#"));
        assert!(!officer.may_subscribe("#"));
        assert!(!officer.may_subscribe("vigil/units/3/#/x"));
        let alarms_only = user(false, &["vigil/devices/42/alarms"]);
        assert!(alarms_only.may_subscribe("vigil/devices/42/alarms"));
        assert!(!alarms_only.may_subscribe("vigil/devices/42/#"));
        assert!(!alarms_only.may_subscribe("vigil/devices/42/live"));
        let admin = user(true, &[]);
        assert!(admin.may_subscribe("vigil/units/+/alarms"));
        assert!(admin.may_subscribe("vigil/units/3/intercepts"));
        assert!(admin.may_subscribe("#"));
        // An administrator's key without linkage:read: everything but the intercept requests
        // (police data), so no filter that could match one.
        let admin_key = Acl::User {
            username: "u".into(),
            all: true,
            linkage: false,
            topics: HashSet::new(),
        };
        assert!(admin_key.may_subscribe("vigil/units/+/alarms"));
        assert!(admin_key.may_subscribe("vigil/devices/#"));
        assert!(admin_key.may_subscribe("vigil/units/3/alarms"));
        for f in [
            "vigil/units/3/intercepts",
            "vigil/units/+/intercepts",
            "vigil/units/+/+",
            "vigil/units/3/#",
            "vigil/units/#",
            "vigil/#",
            "vigil/+/+/intercepts",
            "#",
        ] {
            assert!(!admin_key.may_subscribe(f), "{f}");
        }
        assert!(!admin.may_subscribe("$SYS/#"));
        assert!(!admin.may_publish("vigil/42/position"));
        let device = Acl::Device {
            topic: "vigil/42/position".into(),
        };
        assert!(device.may_publish("vigil/42/position"));
        assert!(!device.may_publish("vigil/43/position"));
        assert!(!device.may_subscribe("vigil/42/position"));
    }
}
