//! The offline rule's sweep: a named worker hands the armed devices and their last contact to
//! the alarm worker, which raises `offline` for those silent for too long.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AlarmEngine, Worker};
use crate::domain::alarms::{AlarmKind, ArmedContact};
use crate::domain::rules::{self, Trigger};
use crate::storage::Db;
use crate::storage::guards;

impl Worker {
    /// The offline rule: an armed device whose last contact (the newer of `last_seen_at` and
    /// the last report this process received) is older than `offline_after` raises `offline`
    /// once per silence: not again while an open `offline` alarm already covers that contact.
    pub(super) async fn sweep(&mut self, armed: Vec<ArmedContact>, now: DateTime<Utc>) {
        let Some(after) = self
            .config
            .offline_after
            .and_then(|d| chrono::Duration::from_std(d).ok())
        else {
            return;
        };
        for c in armed {
            let seen_here = self.devices.get(&c.device_id).and_then(|s| s.last_received);
            let open_since = self
                .open
                .get(&(c.device_id, AlarmKind::Offline))
                .map(|a| a.last_time);
            if !rules::offline_due(&c, seen_here, open_since, now, after) {
                continue;
            }
            let at = match self.last_fix(c.device_id).await {
                Some(at) => Some(at),
                None => c.armed_lat.zip(c.armed_lon),
            };
            self.raise(
                c.device_id,
                now,
                at,
                Trigger {
                    kind: AlarmKind::Offline,
                    evidence: None,
                },
            )
            .await;
        }
        self.flush().await;
    }
}

/// The offline sweep (run as the named worker `offline_sweep`): every `every`, hands the armed
/// devices and their last contact to the alarm worker. Ends with an error when the alarm
/// worker is gone (so `/health` shows it).
pub async fn offline_sweep(engine: AlarmEngine, db: Db, every: Duration) -> Result<(), String> {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match guards::armed_contacts(&db).await {
            Ok(armed) if armed.is_empty() => {}
            Ok(armed) => {
                if !engine.sweep(armed).await {
                    return Err("alarm worker gone".into());
                }
            }
            Err(e) => tracing::warn!(error = %e, "offline sweep: armed devices not read"),
        }
    }
}
