//! The 32-bit H02 vehicle status word: active-low bits mapped onto [`DeviceStatus`].
//!
//! Vendor tables disagree (traccar issue #2920 compares three), so the alarm meaning of each bit
//! comes from a [`StatusDialect`] and the ignition sense is configurable.

use crate::{Alarm, AlarmSet, DeviceStatus, Protocol, RawAlarm};

/// Which vendor table gives the alarm meaning of the status bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusDialect {
    /// Traccar's reading (bit 0 vibration, bits 1 and 18 SOS, bit 2 overspeed, bit 19 power cut)
    /// plus the bits most vendor tables agree on.
    Traccar,
    /// The first vendor table of traccar issue #2920: bit 0 theft, bit 17 shock, bit 18 tilt
    /// (kept raw), bit 19 running on backup battery. The default: idle devices in the field
    /// report bit 18 at 0, which Traccar's table would turn into a false SOS.
    #[default]
    Vendor,
}

/// How bit 10 of the status word reads as ignition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IgnitionSense {
    /// Bit 10 = 1 means ignition on (the documented "0 = ACC off").
    #[default]
    BitSetIsOn,
    /// Bit 10 = 0 means ignition on (firmwares reported in traccar issue #3021).
    BitClearIsOn,
}

/// Bit 8: door open (active low).
pub const BIT_DOOR: u32 = 8;
/// Bit 9: armed / fortified (active low).
pub const BIT_ARMED: u32 = 9;
/// Bit 10: ACC (0 = off with the default sense).
pub const BIT_ACC: u32 = 10;
/// Bit 13: oil / engine cut relay engaged (active low).
pub const BIT_OIL_CUT: u32 = 13;
/// Bit 27: seen at 0 in the `S20,DONE` cut-off confirmation only; read as the cut relay too.
pub const BIT_CUT_CONFIRMED: u32 = 27;

/// Bits that describe state rather than alarms, plus the reserved bits 11 and 12.
const STATE_BITS: u32 = (1 << BIT_DOOR)
    | (1 << BIT_ARMED)
    | (1 << BIT_ACC)
    | (1 << 11)
    | (1 << 12)
    | (1 << BIT_OIL_CUT)
    | (1 << BIT_CUT_CONFIRMED);

impl StatusDialect {
    /// The alarm a status bit raises when it reads 0, if this dialect maps it.
    pub fn alarm_for_bit(self, bit: u32) -> Option<Alarm> {
        let common = match bit {
            1 => Some(Alarm::Sos),
            2 | 15 => Some(Alarm::Overspeed),
            3 => Some(Alarm::IllegalIgnition),
            4 => Some(Alarm::GeofenceEnter),
            5 | 6 => Some(Alarm::GpsAntennaCut),
            7 => Some(Alarm::GeofenceExit),
            16 => Some(Alarm::Fault),
            19 => Some(Alarm::PowerCut),
            _ => None,
        };
        match (self, bit) {
            (StatusDialect::Traccar, 0) => Some(Alarm::Vibration),
            (StatusDialect::Traccar, 18) => Some(Alarm::Sos),
            (StatusDialect::Vendor, 0) => Some(Alarm::Theft),
            (StatusDialect::Vendor, 17) => Some(Alarm::Vibration),
            _ => common,
        }
    }
}

/// Maps a status word onto the typed status fields; active alarm bits without a mapping go to
/// `alarms.raw` as a mask of those bits.
pub fn apply_status(
    word: u32,
    dialect: StatusDialect,
    sense: IgnitionSense,
    status: &mut DeviceStatus,
) {
    let active = !word;
    let is_active = |bit: u32| active & (1 << bit) != 0;
    let acc_bit_set = word & (1 << BIT_ACC) != 0;
    status.ignition = Some(match sense {
        IgnitionSense::BitSetIsOn => acc_bit_set,
        IgnitionSense::BitClearIsOn => !acc_bit_set,
    });
    status.armed = Some(is_active(BIT_ARMED));
    status.door_open = Some(is_active(BIT_DOOR));
    status.output_cut = Some(is_active(BIT_OIL_CUT) || is_active(BIT_CUT_CONFIRMED));

    let mut alarms = AlarmSet::EMPTY;
    let mut unmapped = 0u32;
    for bit in 0..32 {
        if !is_active(bit) || STATE_BITS & (1 << bit) != 0 {
            continue;
        }
        match dialect.alarm_for_bit(bit) {
            Some(alarm) => alarms.insert(alarm),
            None => unmapped |= 1 << bit,
        }
    }
    if unmapped != 0 {
        alarms.raw = Some(RawAlarm {
            protocol: Protocol::H02,
            code: unmapped,
        });
    }
    status.alarms.extend(alarms);
}

/// The status word a device would send for `status` (inverse of [`apply_status`] for the
/// bits it maps; everything else reads 1 = inactive). Used by the device emulator.
pub fn status_word(status: &DeviceStatus, dialect: StatusDialect, sense: IgnitionSense) -> u32 {
    let mut active = 0u32;
    let mut set_active = |bit: u32, on: bool| {
        if on {
            active |= 1 << bit;
        }
    };
    set_active(BIT_ARMED, status.armed == Some(true));
    set_active(BIT_DOOR, status.door_open == Some(true));
    set_active(BIT_OIL_CUT, status.output_cut == Some(true));
    let ignition_on = status.ignition == Some(true);
    let acc_bit_clear = match sense {
        IgnitionSense::BitSetIsOn => !ignition_on,
        IgnitionSense::BitClearIsOn => ignition_on,
    };
    set_active(BIT_ACC, acc_bit_clear);
    for alarm in status.alarms.iter() {
        if let Some(bit) = (0..32).find(|&b| dialect.alarm_for_bit(b) == Some(alarm)) {
            set_active(bit, true);
        }
    }
    if let Some(raw) = status.alarms.raw.filter(|r| r.protocol == Protocol::H02) {
        active |= raw.code & !STATE_BITS;
    }
    !active
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(word: u32) -> DeviceStatus {
        let mut s = DeviceStatus::default();
        apply_status(
            word,
            StatusDialect::Traccar,
            IgnitionSense::BitSetIsOn,
            &mut s,
        );
        s
    }

    #[test]
    fn idle_word_is_acc_off_and_nothing_else() {
        let s = decode(0xFFFF_FBFF);
        assert_eq!(s.ignition, Some(false));
        assert_eq!(s.armed, Some(false));
        assert_eq!(s.output_cut, Some(false));
        assert!(s.alarms.is_empty());
        assert_eq!(decode(0xFFFF_FFFF).ignition, Some(true));
    }

    #[test]
    fn cut_confirmation_bit_27_reads_as_output_cut() {
        assert_eq!(decode(0xF7FF_FBFF).output_cut, Some(true));
        assert_eq!(decode(0xFFFF_DBFF).output_cut, Some(true));
    }

    #[test]
    fn alarms_and_raw_bits() {
        let s = decode(0xEEE7_FBDF);
        assert!(s.alarms.contains(Alarm::PowerCut));
        assert!(s.alarms.contains(Alarm::GpsAntennaCut));
        assert_eq!(
            s.alarms.raw.map(|r| r.code),
            Some((1 << 28) | (1 << 24) | (1 << 20))
        );
        assert!(decode(0xFFFF_FFFE).alarms.contains(Alarm::Vibration));
        assert!(decode(0xFFFB_FFFF).alarms.contains(Alarm::Sos));
        let mut v = DeviceStatus::default();
        apply_status(
            0xFFFF_FFFE,
            StatusDialect::Vendor,
            IgnitionSense::BitSetIsOn,
            &mut v,
        );
        assert!(v.alarms.contains(Alarm::Theft));
    }

    #[test]
    fn inverted_ignition() {
        let mut s = DeviceStatus::default();
        apply_status(
            0xFFFF_FBFF,
            StatusDialect::Traccar,
            IgnitionSense::BitClearIsOn,
            &mut s,
        );
        assert_eq!(s.ignition, Some(true));
    }

    #[test]
    fn status_word_inverts_apply_status() {
        for word in [
            0xFFFF_FBFF,
            0xFFFF_FFFF,
            0xFFFF_DDFE,
            0xFFF7_F9FB,
            0xEEE7_FBDF,
        ] {
            let s = decode(word);
            assert_eq!(
                status_word(&s, StatusDialect::Traccar, IgnitionSense::BitSetIsOn),
                word,
                "{word:08X}"
            );
        }
    }

    #[test]
    fn idle_word_with_bit_18_clear_is_no_sos_by_default() {
        // FFFBFFFF is what several idle devices in the field send; an SOS from it would be false.
        let mut s = DeviceStatus::default();
        apply_status(
            0xFFFB_FFFF,
            StatusDialect::default(),
            IgnitionSense::BitSetIsOn,
            &mut s,
        );
        assert!(!s.alarms.contains(Alarm::Sos));
        let mut t = DeviceStatus::default();
        apply_status(
            0xFFFB_FFFF,
            StatusDialect::Traccar,
            IgnitionSense::BitSetIsOn,
            &mut t,
        );
        assert!(t.alarms.contains(Alarm::Sos));
    }
}
