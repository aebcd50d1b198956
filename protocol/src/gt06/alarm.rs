//! Device dialects (`model=`) and the per-model alarm-code tables.

use crate::{Alarm, AlarmSet, Protocol, RawAlarm};

/// A GT06 device family whose dialect differs from the plain Concox layout; selects alarm
/// tables and field layouts. Configure it per device (traccar's model override).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Gt06Model {
    /// Concox/Jimi standard layouts.
    #[default]
    Generic,
    /// Concox `LW*` units (LW4G-4B …): 2-byte power in the heartbeat, crash alarms.
    Lw,
    /// SeeWorld units: heartbeat carries power, status 0xA3, 4-byte cell ids.
    SeeWorld,
    /// R11: 2-byte voltage instead of the level byte in the heartbeat.
    R11,
    /// NT20 / VL100: 0x22 carries status, power, odometer and engine hours.
    Nt20,
    /// XT40: 0x22 carries power/battery, 0x25 carries an RFID reader frame.
    Xt40,
    /// Jimi VL103 / LL303 / VL512 / G18: tow and harsh-braking codes, iButton status.
    Vl,
    /// QH302R: 0x12 prefixed with the IMEI.
    Qh302r,
}

impl Gt06Model {
    /// Picks the dialect from a model name as configured for the device (case-insensitive);
    /// unknown names are the generic dialect.
    pub fn from_name(name: &str) -> Gt06Model {
        let upper = |s: &str| name.eq_ignore_ascii_case(s);
        if name.len() >= 2 && name[..2].eq_ignore_ascii_case("LW") {
            Gt06Model::Lw
        } else if upper("SEEWORLD") {
            Gt06Model::SeeWorld
        } else if upper("R11") {
            Gt06Model::R11
        } else if upper("NT20") || upper("VL100") {
            Gt06Model::Nt20
        } else if upper("XT40") {
            Gt06Model::Xt40
        } else if upper("VL103") || upper("LL303") || upper("VL512") || upper("G18") {
            Gt06Model::Vl
        } else if upper("QH302R") {
            Gt06Model::Qh302r
        } else {
            Gt06Model::Generic
        }
    }
}

/// Maps an alarm code byte (plus traccar's language high bits for 0x26/0x27/0xA4) onto
/// [`Alarm`] for `model`; `None` for codes without a normalised meaning.
pub fn alarm_for_code(code: u16, model: Gt06Model) -> Option<Alarm> {
    use Alarm::*;
    let lw = model == Gt06Model::Lw;
    let sw = model == Gt06Model::SeeWorld;
    let vl = model == Gt06Model::Vl;
    Some(match code {
        0x01 => Sos,
        0x02 => PowerCut,
        0x03 => Vibration,
        0x04 => GeofenceEnter,
        0x05 => GeofenceExit,
        0x06 => Overspeed,
        0x09 if vl => Tow,
        0x09 => Vibration,
        0x0E | 0x0F => LowBattery,
        0x11 => PowerOff,
        0x0C | 0x13 | 0x25 | 0x32 => Tampering,
        0x14 => Door,
        0x18 if lw => Accident,
        0x18 => Removing,
        0x19 if lw => HardAcceleration,
        0x19 => LowBattery,
        0x1A | 0x27 | 0xF1 => HardBraking,
        0x1B | 0x2A | 0x2B | 0x2E => HardCornering,
        0x23 => FallDown,
        0x26 | 0xF0 => HardAcceleration,
        0x28 if sw => HardCornering,
        0x28 if vl => PowerOff,
        0x28 => HardBraking,
        0x29 if sw => Accident,
        0x29 => HardAcceleration,
        0x2C => Accident,
        0x30 if vl => HardBraking,
        0x30 => Jamming,
        0x53 => FuelLeak,
        0x5B | 0x5C => Temperature,
        0xC9 => Idle,
        0x0107 | 0x010B => Jamming,
        _ => return None,
    })
}

/// Adds the alarm for `code` to `set`: mapped, or kept raw; code 0 means "no alarm".
pub(crate) fn add_alarm_code(set: &mut AlarmSet, code: u16, model: Gt06Model) {
    if code == 0 {
        return;
    }
    match alarm_for_code(code, model) {
        Some(a) => set.insert(a),
        None => {
            if set.raw.is_none() {
                set.raw = Some(RawAlarm {
                    protocol: Protocol::Gt06,
                    code: u32::from(code),
                });
            }
        }
    }
}

/// Alarm carried in bits 5..3 of the terminal information byte.
pub(crate) fn terminal_info_alarm(info: u8, vxt01: bool) -> Option<Alarm> {
    match (info >> 3) & 0x07 {
        1 => Some(Alarm::Vibration),
        2 => Some(Alarm::PowerCut),
        3 => Some(Alarm::LowBattery),
        4 => Some(Alarm::Sos),
        6 => Some(Alarm::Geofence),
        7 if vxt01 => Some(Alarm::Overspeed),
        7 => Some(Alarm::Removing),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specific_codes() {
        assert_eq!(
            alarm_for_code(0x30, Gt06Model::Generic),
            Some(Alarm::Jamming)
        );
        assert_eq!(
            alarm_for_code(0x30, Gt06Model::Vl),
            Some(Alarm::HardBraking)
        );
        assert_eq!(
            alarm_for_code(0x19, Gt06Model::Lw),
            Some(Alarm::HardAcceleration)
        );
        assert_eq!(alarm_for_code(0x77, Gt06Model::Generic), None);
        let mut set = AlarmSet::EMPTY;
        add_alarm_code(&mut set, 0x77, Gt06Model::Generic);
        assert_eq!(set.raw.map(|r| r.code), Some(0x77));
        assert_eq!(Gt06Model::from_name("LW4G-4B"), Gt06Model::Lw);
        assert_eq!(Gt06Model::from_name("g18"), Gt06Model::Vl);
    }
}
