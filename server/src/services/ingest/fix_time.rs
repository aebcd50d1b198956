//! What every ingest path — the TCP gateway (GT06, JT808, H02), the OsmAnd HTTP listener and
//! MQTT — does (through [`super::Ingest`]) with fixes dated outside [`protocol::FixTimeWindow`]: [`screen`] takes them out
//! before anything is stored or handed to the alarm stage, [`record_rejected`] counts them and
//! keeps each as a `fix_time_rejected` event. The device still gets its ack (the caller's job):
//! a device whose clock is broken would otherwise resend the same fix forever.
//!
//! One fix far in the future would otherwise be the device's latest position for as long as
//! the clock takes to catch up (years), whatever it reports meanwhile.

use chrono::{DateTime, SecondsFormat, Utc};
use protocol::{FixTimeError, FixTimeWindow, Position, Protocol};
use serde_json::json;

use crate::domain::NewDeviceEvent;
use crate::storage::Db;

/// A fix [`screen`] took out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RejectedFix {
    /// Why (and its time).
    pub error: FixTimeError,
    /// Where it said the device was.
    pub lat: f64,
    /// Where it said the device was.
    pub lon: f64,
}

/// Events recorded for one report (frame or request) at most; the metric counts every fix.
/// A batch of hundreds of archived fixes from a clock stuck in 2099 says the same thing each
/// time.
pub const MAX_EVENTS_PER_REPORT: usize = 16;

/// Takes the fixes outside `window` (server clock `now`) out of `positions`, keeping the order
/// of the others, and returns them.
pub fn screen(
    window: &FixTimeWindow,
    positions: &mut Vec<Position>,
    now: DateTime<Utc>,
) -> Vec<RejectedFix> {
    let mut rejected = Vec::new();
    positions.retain(|p| match window.check(p.time, now) {
        Ok(()) => true,
        Err(error) => {
            rejected.push(RejectedFix {
                error,
                lat: p.location.lat,
                lon: p.location.lon,
            });
            false
        }
    });
    rejected
}

/// Counts `rejected` in `vigil_fix_time_rejected_total{protocol,reason}` and records them as
/// `fix_time_rejected` events of `device` (row id, unique id), at most
/// [`MAX_EVENTS_PER_REPORT`] of them.
pub async fn record_rejected(
    db: &Db,
    protocol: Protocol,
    device: (i64, &str),
    peer: Option<String>,
    now: DateTime<Utc>,
    rejected: &[RejectedFix],
) {
    for r in rejected {
        metrics::counter!("vigil_fix_time_rejected_total", "protocol" => protocol.as_str(), "reason" => r.error.reason()).increment(1);
    }
    if let Some(first) = rejected.first() {
        // Debug, not warn: a device with a broken clock repeats this with every fix; the
        // events and the metric are the record.
        tracing::debug!(
            %protocol,
            device = device.1,
            peer = peer.as_deref().unwrap_or("-"),
            count = rejected.len(),
            error = %first.error,
            "fix time outside the window: not stored"
        );
    }
    if rejected.len() > MAX_EVENTS_PER_REPORT {
        tracing::info!(
            %protocol,
            device = device.1,
            count = rejected.len(),
            recorded = MAX_EVENTS_PER_REPORT,
            "fixes with impossible times in one report: only the first are recorded as events"
        );
    }
    for r in rejected.iter().take(MAX_EVENTS_PER_REPORT) {
        let mut detail = json!({
            "protocol": protocol.as_str(),
            "reason": r.error.reason(),
            "fix_time": r.error.time().to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "server_time": now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "lat": r.lat,
            "lon": r.lon,
        });
        if let FixTimeError::Future { max_future, .. } = r.error {
            detail["max_future_secs"] = json!(max_future.num_seconds());
        }
        let e = NewDeviceEvent {
            kind: "fix_time_rejected",
            device_id: Some(device.0),
            unique_id: Some(device.1.to_owned()),
            protocol: Some(protocol.as_str()),
            peer: peer.clone(),
            detail,
        };
        if let Err(err) = db.insert_event(&e).await {
            tracing::warn!(error = %err, "could not record a fix_time_rejected event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::LatLon;

    fn fix(t: &str) -> Position {
        let time = DateTime::parse_from_rfc3339(t)
            .map(|t| t.to_utc())
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        Position::new(time, LatLon::new(22.5, 114.0).unwrap(), true, 0.0)
    }

    #[test]
    fn screen_takes_out_impossible_times_in_order() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .to_utc();
        let mut ps = vec![
            fix("2026-12-03T11:00:00Z"),
            fix("2099-01-01T00:00:00Z"),
            fix("2026-12-03T12:05:00Z"),
            fix("1970-01-01T00:00:00Z"),
            fix("2026-12-03T12:10:01Z"),
            fix("2020-01-01T00:00:00Z"),
        ];
        let rejected = screen(&FixTimeWindow::default(), &mut ps, now);
        let kept: Vec<String> = ps.iter().map(|p| p.time.to_rfc3339()).collect();
        assert_eq!(
            kept,
            [
                "2026-12-03T11:00:00+00:00",
                "2026-12-03T12:05:00+00:00",
                "2020-01-01T00:00:00+00:00"
            ]
        );
        let reasons: Vec<&str> = rejected.iter().map(|r| r.error.reason()).collect();
        assert_eq!(reasons, ["future", "before_floor", "future"]);
        assert_eq!(
            rejected[0].error.time().to_rfc3339(),
            "2099-01-01T00:00:00+00:00"
        );
        assert_eq!((rejected[0].lat, rejected[0].lon), (22.5, 114.0));
        // Nothing to take out: nothing changes.
        let mut ok = vec![fix("2026-12-03T11:59:59Z")];
        assert!(screen(&FixTimeWindow::default(), &mut ok, now).is_empty());
        assert_eq!(ok.len(), 1);
    }
}
