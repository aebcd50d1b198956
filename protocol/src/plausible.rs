//! What a decoded report must look like before the server files it: a fix time inside a window
//! around the server clock, and a device identifier of the form its protocol defines.
//!
//! The decoders themselves stay lenient (they keep Traccar's readings, so that every real-device
//! vector decodes as it does there); these rules are where the server draws the line. Both are
//! pure: the clock is a parameter.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{DeviceId, Protocol};

/// The earliest fix time accepted: 2000-01-01T00:00:00Z, as Unix seconds.
///
/// GT06 and JT/T 808 carry a two-digit year read as 20YY, so nothing they send is earlier; a
/// fix before 2000 is a device without a clock (1970, the epoch) or one hit by the GPS week
/// rollover (1999 and 1980-ish dates). Every real-device vector is later than this.
pub const FIX_TIME_FLOOR_UNIX: i64 = 946_684_800;

/// [`FIX_TIME_FLOOR_UNIX`] as a time.
pub fn fix_time_floor() -> DateTime<Utc> {
    DateTime::from_timestamp(FIX_TIME_FLOOR_UNIX, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The window of fix times the server accepts: from [`fix_time_floor`] to `max_future` past
/// the server clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixTimeWindow {
    /// How far ahead of the server clock a fix may be (device clocks drift; a few minutes is
    /// normal, a year is a broken clock or a misread field).
    pub max_future: TimeDelta,
}

impl Default for FixTimeWindow {
    /// Ten minutes ahead.
    fn default() -> Self {
        FixTimeWindow {
            max_future: TimeDelta::seconds(600),
        }
    }
}

/// Why a fix time is outside the [`FixTimeWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FixTimeError {
    /// Earlier than [`fix_time_floor`].
    #[error("fix time {time} is before {}", fix_time_floor())]
    BeforeFloor {
        /// The fix time.
        time: DateTime<Utc>,
    },
    /// Further ahead of the server clock than allowed.
    #[error("fix time {time} is {} s ahead of the server clock (at most {} s allowed)", ahead.num_seconds(), max_future.num_seconds())]
    Future {
        /// The fix time.
        time: DateTime<Utc>,
        /// How far ahead of the server clock it is.
        ahead: TimeDelta,
        /// The window's limit.
        max_future: TimeDelta,
    },
}

impl FixTimeError {
    /// Short stable label for metrics and events: `before_floor` or `future`.
    pub fn reason(&self) -> &'static str {
        match self {
            FixTimeError::BeforeFloor { .. } => "before_floor",
            FixTimeError::Future { .. } => "future",
        }
    }

    /// The refused fix time.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            FixTimeError::BeforeFloor { time } | FixTimeError::Future { time, .. } => *time,
        }
    }
}

impl FixTimeWindow {
    /// A window allowing fixes up to `max_future` ahead of the clock.
    pub fn new(max_future: std::time::Duration) -> Self {
        FixTimeWindow {
            max_future: TimeDelta::from_std(max_future).unwrap_or(TimeDelta::MAX),
        }
    }

    /// Whether a fix dated `time` may be stored when the server clock reads `now`. Both ends
    /// are inclusive: exactly the floor, or exactly `max_future` ahead, is accepted.
    pub fn check(&self, time: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), FixTimeError> {
        if time.timestamp() < FIX_TIME_FLOOR_UNIX {
            return Err(FixTimeError::BeforeFloor { time });
        }
        let ahead = time.signed_duration_since(now);
        if ahead > self.max_future {
            return Err(FixTimeError::Future {
                time,
                ahead,
                max_future: self.max_future,
            });
        }
        Ok(())
    }
}

impl Protocol {
    /// Whether `id` has the form this protocol's devices identify with. Every stream protocol
    /// sends decimal digits only — GT06 a 15-digit IMEI in BCD, JT/T 808 a BCD phone number (or
    /// an IMEI, see [`crate::jt808::Terminal::device_id`]), H02 a decimal id — so a letter means
    /// a nibble above 9, i.e. garbage or a forged login, not a device. OsmAnd and MQTT ids are
    /// chosen by people and may be any [`DeviceId`].
    pub fn valid_device_id(self, id: &DeviceId) -> bool {
        match self {
            Protocol::Gt06 | Protocol::Jt808 | Protocol::H02 => {
                id.as_str().bytes().all(|b| b.is_ascii_digit())
            }
            Protocol::Osmand | Protocol::Mqtt => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.to_utc())
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn fix_time_window_edges() {
        let now = at("2026-12-03T12:00:00Z");
        let w = FixTimeWindow::default();
        // Inside: the past since the floor, the present, up to ten minutes ahead.
        for ok in [
            "2000-01-01T00:00:00Z",
            "2013-08-22T13:14:27Z",
            "2026-12-03T12:00:00Z",
            "2026-12-03T12:10:00Z",
        ] {
            assert_eq!(w.check(at(ok), now), Ok(()), "{ok}");
        }
        // Just past the window, a GT06 year 99, OsmAnd's 99999999999999 ms (year 5138).
        for future in [
            "2026-12-03T12:10:00.001Z",
            "2099-01-01T00:00:00Z",
            "5138-11-16T09:46:39.999Z",
        ] {
            let e = w.check(at(future), now).unwrap_err();
            assert_eq!(e.reason(), "future", "{future}");
            assert_eq!(e.time(), at(future));
        }
        // Before the floor: the epoch, a week-rollover 1999 date.
        for past in [
            "1970-01-01T00:00:00Z",
            "1999-08-21T23:59:47Z",
            "1999-12-31T23:59:59.999Z",
        ] {
            assert!(
                matches!(
                    w.check(at(past), now),
                    Err(FixTimeError::BeforeFloor { .. })
                ),
                "{past}"
            );
        }
        assert_eq!(fix_time_floor(), at("2000-01-01T00:00:00Z"));
    }

    #[test]
    fn fix_time_window_follows_now_and_its_limit() {
        let now = at("2030-01-01T00:00:00Z");
        let w = FixTimeWindow::new(std::time::Duration::from_secs(60));
        assert_eq!(w.check(at("2030-01-01T00:01:00Z"), now), Ok(()));
        let e = w.check(at("2030-01-01T00:01:01Z"), now).unwrap_err();
        assert_eq!(
            e,
            FixTimeError::Future {
                time: at("2030-01-01T00:01:01Z"),
                ahead: TimeDelta::seconds(61),
                max_future: TimeDelta::seconds(60),
            }
        );
        assert!(e.to_string().contains("61 s ahead"), "{e}");
        // A zero window refuses anything after the clock; a huge one saturates.
        let zero = FixTimeWindow::new(std::time::Duration::ZERO);
        assert!(zero.check(at("2030-01-01T00:00:01Z"), now).is_err());
        let huge = FixTimeWindow::new(std::time::Duration::MAX);
        assert_eq!(huge.check(at("5138-01-01T00:00:00Z"), now), Ok(()));
    }

    #[test]
    fn device_ids_per_protocol() {
        let id = |s: &str| DeviceId::parse(s).unwrap();
        for p in [Protocol::Gt06, Protocol::Jt808, Protocol::H02] {
            assert!(p.valid_device_id(&id("864717003283581")), "{p}");
            assert!(p.valid_device_id(&id("13912345678")), "{p}");
            // A GT06 login of FF bytes reads as hex digits.
            assert!(!p.valid_device_id(&id("fffffffffffffff")), "{p}");
            assert!(!p.valid_device_id(&id("86471700328358a")), "{p}");
            assert!(!p.valid_device_id(&id("1391234-5678")), "{p}");
        }
        for p in [Protocol::Osmand, Protocol::Mqtt] {
            assert!(p.valid_device_id(&id("phone-of-ann")), "{p}");
        }
    }
}
