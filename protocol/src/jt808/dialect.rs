//! Per-model dialects: vendors reuse reserved alarm/status bits and additional-item ids
//! differently, so the tables are selected per device model (the vectors' `model=` notes).

use crate::{Alarm, AlarmSet, Protocol, RawAlarm};

/// A device family whose JT808 bits or items differ from the standard tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// JT/T 808-2013 tables with the common vendor use of the reserved bits 15–17
    /// (traccar's default mapping).
    #[default]
    Standard,
    /// Meitrack-style MV710G/MV810G: status bit 16 = door open, item 0x57 door alarm.
    Mv710g,
    /// AOVX AL300/GL100: alarm bit 16 = movement only; items 0xF3/0xF6/0xF8 differ.
    Aovx,
    /// Padlocks G-360P/G-508P: alarm bits 0/4 = removing, bit 1 = tampering.
    Padlock,
    /// Jimi JC371/JC181/JC182/JC450/JC451: item 0xE8 carries typed events; custom text
    /// commands go out as 0x8900 transparent data.
    Jimi,
    /// C5/C5L (and BSJ): item 0xF8 is a step counter.
    C5,
    /// VL300: collision/rollover bits are not accidents.
    Vl300,
    /// DT800: item 0xE2 is not fuel.
    Dt800,
    /// G1C Pro: status bit 4 = motion.
    G1cPro,
}

impl Dialect {
    /// Dialect for a model name as configured per device (case-insensitive); unknown names
    /// get the standard tables.
    pub fn from_model(model: &str) -> Dialect {
        match model.trim().to_ascii_uppercase().as_str() {
            "MV710G" | "MV810G" => Dialect::Mv710g,
            "AL300" | "GL100" => Dialect::Aovx,
            "G-360P" | "G-508P" => Dialect::Padlock,
            "JC371" | "JC181" | "JC182" | "JC450" | "JC451" => Dialect::Jimi,
            "C5" | "C5L" => Dialect::C5,
            "VL300" => Dialect::Vl300,
            "DT800" => Dialect::Dt800,
            "G1C PRO" => Dialect::G1cPro,
            _ => Dialect::Standard,
        }
    }

    /// Maps the 0x0200 alarm word; set bits with no mapping are kept in [`AlarmSet::raw`]
    /// (code = those bits).
    pub fn alarms(self, word: u32) -> AlarmSet {
        let mut set = AlarmSet::EMPTY;
        let mut mapped = 0u32;
        let mut map = |bits: u32, alarm: Alarm| {
            if word & bits != 0 {
                set.insert(alarm);
                mapped |= word & bits;
            }
        };
        match self {
            Dialect::Padlock => {
                map(bit(0) | bit(4), Alarm::Removing);
                map(bit(1), Alarm::Tampering);
            }
            Dialect::Aovx => map(bit(16), Alarm::Movement),
            _ => {
                map(bit(0), Alarm::Sos);
                map(bit(1), Alarm::Overspeed);
                map(bit(2), Alarm::Fatigue);
                map(bit(4) | bit(9) | bit(10) | bit(11), Alarm::Fault);
                map(bit(5) | bit(6), Alarm::GpsAntennaCut);
                // Bit 7 is "main power under-voltage"; traccar (and the vectors) call it
                // lowBattery. Traccar also maps bit 18, which the standard defines as "driving
                // time exceeded": a false battery alarm on a parked bike, so it stays raw here.
                map(bit(7), Alarm::LowBattery);
                // Main power disconnected: for an anti-theft box that is the wire being cut.
                map(bit(8), Alarm::PowerCut);
                map(bit(15), Alarm::Vibration);
                map(bit(16) | bit(17), Alarm::Tampering);
                map(bit(19), Alarm::Parking);
                map(bit(20), Alarm::Geofence);
                map(bit(25), Alarm::FuelLeak);
                // "Vehicle stolen" via the anti-theft device (traccar says general): for an
                // anti-theft server it is exactly a theft alarm.
                map(bit(26), Alarm::Theft);
                map(bit(27), Alarm::IllegalIgnition);
                map(bit(28), Alarm::Movement);
                if self != Dialect::Vl300 {
                    map(bit(29) | bit(30), Alarm::Accident);
                } else {
                    mapped |= word & (bit(29) | bit(30));
                }
            }
        }
        let unmapped = word & !mapped;
        if unmapped != 0 {
            set.raw = Some(RawAlarm {
                protocol: Protocol::Jt808,
                code: unmapped,
            });
        }
        set
    }
}

const fn bit(n: u32) -> u32 {
    1 << n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_bits_are_kept() {
        let set = Dialect::Standard.alarms(1 | (1 << 3) | (1 << 31));
        assert!(set.contains(Alarm::Sos));
        assert_eq!(set.raw.map(|r| r.code), Some((1 << 3) | (1 << 31)));
        let set = Dialect::Aovx.alarms(1 << 16);
        assert!(set.contains(Alarm::Movement));
        assert!(set.raw.is_none());
    }
}
