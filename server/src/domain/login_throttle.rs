//! Login throttling: slows password guessing without letting a stranger lock anyone out.
//!
//! The old limiter counted failures per login name and refused every attempt after five: a
//! stranger could lock the administrator out for five minutes from anywhere, and forty parallel
//! guesses got twenty checked because the count was read before and written after the password
//! check. This one:
//!
//! - counts per **(account, client)** pair, per **client** (across accounts: spraying), and per
//!   **account** (across clients: a distributed attack). The client is the source address (an
//!   IPv6 client is its /64: one host gets a whole prefix), or the MQTT client id;
//! - lets `pair_free` failures through freely, then answers "retry after" with a delay that
//!   doubles with each further failure ([`ThrottleConfig::base_delay`] up to
//!   [`ThrottleConfig::max_delay`]), one attempt at a time — never a hard lock;
//! - counts an attempt **before** the password is checked ([`LoginThrottle::begin`] reserves it
//!   under the lock), so parallel guesses cannot overtake the count;
//! - never refuses a client that has not failed: its pair is fresh, so a correct password from
//!   the owner's phone passes while a stranger elsewhere is being slowed down. An account under
//!   attack (`account_alarm` failures from everywhere) gives a fresh client one free attempt
//!   instead of `pair_free`, so a botnet gets one guess per address, the owner still one login;
//! - forgets a key `forget_after` its last failure, and holds at most `max_entries` keys (the
//!   stalest go first), so an attacker with many addresses cannot grow it without bound.
//!
//! Pure: every call takes `now`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The limits (the defaults are what the server runs with).
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures of one client on one account before delays start.
    pub pair_free: u32,
    /// Failures of one client across accounts before delays start.
    pub client_free: u32,
    /// Failures on one account from all clients that mark it as under attack.
    pub account_alarm: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A key is forgotten this long after its last failure.
    pub forget_after: Duration,
    /// Most keys held (pairs, clients and accounts together).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            pair_free: 5,
            client_free: 20,
            account_alarm: 50,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            max_entries: 100_000,
        }
    }
}

/// Who is trying: a source address or an MQTT client id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// An IPv4 address, or an IPv6 /64 (the low 64 bits cleared).
    Address(IpAddr),
    /// An MQTT client id (the broker does not tell the address to its auth handler).
    MqttClient(String),
}

impl Client {
    /// The client of a source address (IPv6: its /64; a mapped IPv4 address: itself).
    pub fn address(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(_) => Client::Address(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::Address(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    Client::Address(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

/// Refused for now: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long to wait (at least a second).
    pub retry_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Client),
    Client(Client),
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    /// Earliest next attempt once past the free failures.
    next: Instant,
    last: Instant,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            failures: 0,
            in_flight: 0,
            next: now,
            last: now,
        }
    }

    /// Whether one more attempt may start now; else how long to wait.
    fn admits(&self, free: u32, now: Instant) -> Result<(), Duration> {
        if self.failures + self.in_flight < free {
            return Ok(());
        }
        // Past the free attempts: one at a time, after the delay.
        if self.in_flight == 0 && now >= self.next {
            return Ok(());
        }
        Err(self
            .next
            .saturating_duration_since(now)
            .max(Duration::from_secs(1)))
    }
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Key, Entry>,
}

/// The throttle; clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct LoginThrottle {
    table: Arc<Mutex<Table>>,
    config: Arc<ThrottleConfig>,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            table: Arc::default(),
            config: Arc::new(config),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table holds counters only; a panic elsewhere leaves them usable.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves an attempt of `client` on `account` (a login name, compared case-insensitively),
    /// or says how long to wait. The attempt counts as pending until it is settled.
    pub fn begin(&self, account: &str, client: Client, now: Instant) -> Result<Attempt, Throttled> {
        let account = account.trim().to_lowercase();
        let cfg = &*self.config;
        let mut t = self.lock();
        let pair_key = Key::Pair(account.clone(), client.clone());
        let client_key = Key::Client(client);
        let account_key = Key::Account(account);
        let get = |t: &mut Table, k: &Key| {
            let e = t.entries.get(k).copied().unwrap_or(Entry::new(now));
            // Old failures are forgotten.
            if e.in_flight == 0 && now.saturating_duration_since(e.last) >= cfg.forget_after {
                Entry::new(now)
            } else {
                e
            }
        };
        let under_attack = get(&mut t, &account_key).failures >= cfg.account_alarm;
        let pair_free = if under_attack { 1 } else { cfg.pair_free };
        let mut pair = get(&mut t, &pair_key);
        let mut cl = get(&mut t, &client_key);
        let wait = [pair.admits(pair_free, now), cl.admits(cfg.client_free, now)]
            .into_iter()
            .filter_map(Result::err)
            .max();
        if let Some(retry_after) = wait {
            metrics::counter!("vigil_login_throttled_total").increment(1);
            return Err(Throttled { retry_after });
        }
        pair.in_flight += 1;
        cl.in_flight += 1;
        make_room(&mut t, cfg, now, 2);
        t.entries.insert(pair_key.clone(), pair);
        t.entries.insert(client_key.clone(), cl);
        Ok(Attempt {
            throttle: self.clone(),
            pair: pair_key,
            client: client_key,
            account: account_key,
            settled: false,
        })
    }

    fn settle(&self, a: &Attempt, outcome: Outcome, now: Instant) {
        let cfg = &*self.config;
        let mut t = self.lock();
        let delay = |failures: u32, free: u32| {
            let doublings = failures.saturating_sub(free).min(30);
            cfg.base_delay
                .saturating_mul(1u32 << doublings)
                .min(cfg.max_delay)
        };
        for (key, free) in [(&a.pair, cfg.pair_free), (&a.client, cfg.client_free)] {
            let Some(e) = t.entries.get_mut(key) else {
                continue;
            };
            e.in_flight = e.in_flight.saturating_sub(1);
            if outcome == Outcome::Failed {
                e.failures += 1;
                e.last = now;
                if e.failures >= free {
                    e.next = now + delay(e.failures, free);
                }
            }
        }
        match outcome {
            Outcome::Failed => {
                make_room(&mut t, cfg, now, 1);
                let e = t
                    .entries
                    .entry(a.account.clone())
                    .or_insert(Entry::new(now));
                if now.saturating_duration_since(e.last) >= cfg.forget_after {
                    e.failures = 0;
                }
                e.failures += 1;
                e.last = now;
            }
            // The pair proved itself; the client's count across accounts and the account's
            // count stay (logging into one's own account does not wash a spray clean).
            Outcome::Succeeded => {
                t.entries.remove(&a.pair);
            }
            Outcome::Abandoned => {}
        }
    }

    /// Keys held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Frees room for `n` more keys: forgotten ones first, then the stalest.
fn make_room(t: &mut Table, cfg: &ThrottleConfig, now: Instant, n: usize) {
    if t.entries.len() + n <= cfg.max_entries {
        return;
    }
    t.entries
        .retain(|_, e| e.in_flight > 0 || now.saturating_duration_since(e.last) < cfg.forget_after);
    while t.entries.len() + n > cfg.max_entries {
        let Some(oldest) = t
            .entries
            .iter()
            .filter(|(_, e)| e.in_flight == 0)
            .min_by_key(|(_, e)| e.last)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        t.entries.remove(&oldest);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    Abandoned,
}

/// A reserved attempt. Settle it with [`Attempt::succeeded`] or [`Attempt::failed`]; dropped
/// unsettled (the request was cancelled, or the check could not run) it is released without
/// counting — the caller learned nothing from it.
#[derive(Debug)]
pub struct Attempt {
    throttle: LoginThrottle,
    pair: Key,
    client: Key,
    account: Key,
    settled: bool,
}

impl Attempt {
    /// The password was right.
    pub fn succeeded(mut self, now: Instant) {
        self.settled = true;
        self.throttle.settle(&self, Outcome::Succeeded, now);
    }

    /// The password (or the login name) was wrong.
    pub fn failed(mut self, now: Instant) {
        self.settled = true;
        self.throttle.settle(&self, Outcome::Failed, now);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle
                .settle(self, Outcome::Abandoned, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Client {
        Client::address(s.parse().unwrap())
    }

    fn fail(t: &LoginThrottle, account: &str, c: &Client, now: Instant) -> Result<(), Throttled> {
        t.begin(account, c.clone(), now).map(|a| a.failed(now))
    }

    #[test]
    fn a_stranger_cannot_lock_out_the_owner() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let stranger = ip("203.0.113.9");
        for _ in 0..5 {
            fail(&t, "admin", &stranger, now).unwrap();
        }
        // The stranger now waits...
        let w = t.begin("admin", stranger.clone(), now).unwrap_err();
        assert_eq!(w.retry_after, Duration::from_secs(1));
        // ...the owner, who did not fail, does not.
        let owner = ip("198.51.100.7");
        t.begin("ADMIN", owner, now).unwrap().succeeded(now);
    }

    #[test]
    fn delays_double_and_are_capped() {
        let t = LoginThrottle::default();
        let c = ip("203.0.113.9");
        let mut now = Instant::now();
        for _ in 0..5 {
            fail(&t, "a", &c, now).unwrap();
        }
        let mut waits = Vec::new();
        for _ in 0..14 {
            let w = t.begin("a", c.clone(), now).unwrap_err().retry_after;
            waits.push(w.as_secs());
            now += w;
            fail(&t, "a", &c, now).unwrap();
        }
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]
        );
        // Forgotten an hour after the last failure.
        now += Duration::from_secs(3600);
        for _ in 0..5 {
            fail(&t, "a", &c, now).unwrap();
        }
    }

    #[test]
    fn parallel_attempts_never_exceed_the_free_count() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let c = ip("203.0.113.9");
        // Forty guesses in flight at once: five are let through.
        let admitted: Vec<Attempt> = (0..40)
            .filter_map(|_| t.begin("admin", c.clone(), now).ok())
            .collect();
        assert_eq!(admitted.len(), 5);
        for a in admitted {
            a.failed(now);
        }
        assert!(t.begin("admin", c, now).is_err());
    }

    #[test]
    fn success_resets_the_pair_but_not_a_spray() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let c = ip("203.0.113.9");
        for _ in 0..4 {
            fail(&t, "me", &c, now).unwrap();
        }
        t.begin("me", c.clone(), now).unwrap().succeeded(now);
        for _ in 0..5 {
            fail(&t, "me", &c, now).unwrap();
        }
        // Spraying: 20 failures from one address across accounts, then it waits everywhere.
        let s = ip("192.0.2.1");
        for i in 0..20 {
            fail(&t, &format!("user{i}"), &s, now).unwrap();
        }
        t.begin("user99", s.clone(), now).unwrap_err();
        // Its own successful login elsewhere does not reset that: the next failure doubles
        // the delay instead of starting a fresh allowance.
        let later = now + Duration::from_secs(1);
        t.begin("user99", s.clone(), later)
            .unwrap()
            .succeeded(later);
        fail(&t, "user98", &s, later).unwrap();
        let w = t.begin("user97", s, later).unwrap_err();
        assert_eq!(w.retry_after, Duration::from_secs(2));
    }

    #[test]
    fn an_account_under_attack_gives_fresh_clients_one_try() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..50u32 {
            let c = Client::address(IpAddr::V4((0x0a00_0000 + i).into()));
            fail(&t, "admin", &c, now).unwrap();
        }
        let fresh = ip("198.51.100.7");
        let first = t.begin("admin", fresh.clone(), now).unwrap();
        // A second parallel try from the same fresh client waits.
        assert!(t.begin("admin", fresh.clone(), now).is_err());
        first.succeeded(now);
        // The owner (fresh client, right password) always got in.
        t.begin("admin", fresh, now).unwrap().succeeded(now);
    }

    #[test]
    fn abandoned_attempts_do_not_count() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let c = ip("203.0.113.9");
        for _ in 0..10 {
            drop(t.begin("a", c.clone(), now).unwrap());
        }
        t.begin("a", c, now).unwrap().succeeded(now);
    }

    #[test]
    fn ipv6_clients_are_their_64() {
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::2"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    }

    #[test]
    fn the_table_is_bounded() {
        let t = LoginThrottle::new(ThrottleConfig {
            max_entries: 100,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        for i in 0..1000u32 {
            let c = Client::address(IpAddr::V4(i.into()));
            fail(&t, &format!("user{i}"), &c, now).unwrap();
        }
        assert!(t.len() <= 100, "{}", t.len());
    }
}
