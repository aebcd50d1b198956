//! Server commands: `*<MM>,<ID>,<CMD>,<HHMMSS>,<params…>#`; the device echoes `HHMMSS` in its
//! `V4` confirmation, which is what the reply is matched on.

use chrono::{DateTime, FixedOffset, Timelike, Utc};

use super::Maker;
use super::fields::{Fields, seconds_of_day};
use crate::{Command, CommandError, CommandProfile, Correlation, DeviceId};

/// Default command bodies (`CMD[,params]`; the stamp goes after `CMD`). Traccar's texts.
pub const CUT_POWER: &str = "S20,1,1";
/// Restore power/fuel.
pub const RESTORE_POWER: &str = "S20,1,0";
/// Arm the anti-theft mode.
pub const ARM: &str = "SCF,0,0";
/// Disarm it.
pub const DISARM: &str = "SCF,1,1";
/// Report the position once.
pub const LOCATE: &str = "R1";

fn invalid(why: &str) -> CommandError {
    CommandError::Invalid(why.to_string())
}

/// Inserts the stamp after the command name, or where a `{time}` placeholder says;
/// substitutes `{password}`.
fn with_stamp(body: &str, stamp: &str, password: &str) -> String {
    let body = body.replace("{password}", password);
    if body.contains("{time}") {
        return body.replace("{time}", stamp);
    }
    match body.split_once(',') {
        Some((cmd, params)) => format!("{cmd},{stamp},{params}"),
        None => format!("{body},{stamp}"),
    }
}

fn check_text(text: &str) -> Result<(), CommandError> {
    if text.is_empty() || !text.is_ascii() || text.contains(['#', '*', '\r', '\n']) {
        return Err(invalid(
            "H02 command text must be non-empty ASCII without '*', '#' or line breaks",
        ));
    }
    Ok(())
}

/// Builds the full sentence and its correlation.
pub(crate) fn build(
    maker: Maker,
    device: &DeviceId,
    command: &Command,
    profile: &CommandProfile,
    now: DateTime<Utc>,
    utc_offset_secs: i32,
) -> Result<(String, Correlation), CommandError> {
    let offset = FixedOffset::east_opt(utc_offset_secs)
        .ok_or_else(|| invalid("command UTC offset out of range"))?;
    let local = now.with_timezone(&offset);
    let stamp = local.format("%H%M%S").to_string();
    let stamp_secs = local.num_seconds_from_midnight();
    let password = profile.password.as_deref().unwrap_or("");
    let body = match command {
        Command::CutPower => with_stamp(
            profile.cut_power.as_deref().unwrap_or(CUT_POWER),
            &stamp,
            password,
        ),
        Command::RestorePower => with_stamp(
            profile.restore_power.as_deref().unwrap_or(RESTORE_POWER),
            &stamp,
            password,
        ),
        Command::Arm => with_stamp(ARM, &stamp, password),
        Command::Disarm => with_stamp(DISARM, &stamp, password),
        Command::Locate => with_stamp(LOCATE, &stamp, password),
        Command::SetInterval { seconds } => format!("S71,{stamp},22,{seconds}"),
        Command::Custom { text } => {
            // A complete sentence is sent as is; otherwise it is the part after the id.
            let inner = text
                .strip_prefix('*')
                .and_then(|t| t.strip_suffix('#'))
                .map(|inner| (inner, true));
            let (inner, full) = inner.unwrap_or((text.as_str(), false));
            check_text(inner)?;
            let fields = Fields::split(inner.as_bytes());
            let stamp_field = if full { 3 } else { 1 };
            let correlation = seconds_of_day(fields.at(stamp_field))
                .map_or(Correlation::None, Correlation::TimeStamp);
            let sentence = if full {
                text.clone()
            } else {
                format!("*{maker},{device},{inner}#")
            };
            return Ok((sentence, correlation));
        }
    };
    check_text(&body)?;
    Ok((
        format!("*{maker},{device},{body}#"),
        Correlation::TimeStamp(stamp_secs),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run(cmd: Command, profile: &CommandProfile, offset: i32) -> (String, Correlation) {
        let id = DeviceId::parse("123456789012345").unwrap();
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 1, 2, 3).unwrap();
        build(Maker::HQ, &id, &cmd, profile, now, offset).unwrap()
    }

    #[test]
    fn defaults_and_stamp() {
        let p = CommandProfile::default();
        assert_eq!(
            run(Command::CutPower, &p, 0),
            (
                "*HQ,123456789012345,S20,010203,1,1#".into(),
                Correlation::TimeStamp(3723)
            )
        );
        assert_eq!(
            run(Command::Locate, &p, 0).0,
            "*HQ,123456789012345,R1,010203#"
        );
        assert_eq!(
            run(Command::RestorePower, &p, 3600).0,
            "*HQ,123456789012345,S20,020203,1,0#"
        );
    }

    #[test]
    fn profile_and_custom() {
        let p = CommandProfile {
            cut_power: Some("S20,{time},{password},1".into()),
            password: Some("1234".into()),
            ..CommandProfile::default()
        };
        assert_eq!(
            run(Command::CutPower, &p, 0).0,
            "*HQ,123456789012345,S20,010203,1234,1#"
        );
        let custom = |t: &str| Command::Custom { text: t.into() };
        assert_eq!(
            run(custom("S33,120000,1"), &p, 0),
            (
                "*HQ,123456789012345,S33,120000,1#".into(),
                Correlation::TimeStamp(43200)
            )
        );
        assert_eq!(
            run(custom("*HQ,1,D1,000010,30#"), &p, 0),
            ("*HQ,1,D1,000010,30#".into(), Correlation::TimeStamp(10))
        );
        let id = DeviceId::parse("1").unwrap();
        let bad = build(Maker::HQ, &id, &custom("a#b"), &p, Utc::now(), 0);
        assert!(bad.is_err());
    }
}
