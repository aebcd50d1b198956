//! Allocation-free field splitting and number parsing for the text form.

use chrono::{NaiveDate, NaiveTime};

/// Most fields a text frame is split into; anything past the last one stays unsplit in it.
pub(crate) const MAX_FIELDS: usize = 64;

/// Comma-separated fields of one text sentence (the bytes between `*` and `#`), as byte ranges.
pub(crate) struct Fields<'a> {
    text: &'a [u8],
    bounds: [(u16, u16); MAX_FIELDS],
    count: usize,
}

impl<'a> Fields<'a> {
    /// Splits `text` (at most `u16::MAX` bytes; the framer caps frames far below that).
    pub(crate) fn split(text: &'a [u8]) -> Self {
        let text = text.get(..usize::from(u16::MAX)).unwrap_or(text);
        let mut bounds = [(0u16, 0u16); MAX_FIELDS];
        let mut count = 0;
        let mut start = 0usize;
        for (i, &b) in text.iter().enumerate() {
            if b == b',' && count + 1 < MAX_FIELDS {
                bounds[count] = (start as u16, i as u16);
                count += 1;
                start = i + 1;
            }
        }
        bounds[count] = (start as u16, text.len() as u16);
        count += 1;
        Fields {
            text,
            bounds,
            count,
        }
    }

    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Field `i`, or `None` past the end.
    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        let (s, e) = *self.bounds.get(i).filter(|_| i < self.count)?;
        self.text.get(usize::from(s)..usize::from(e))
    }

    /// Field `i`, empty past the end.
    pub(crate) fn at(&self, i: usize) -> &'a [u8] {
        self.get(i).unwrap_or(b"")
    }

    /// The raw text from the start of field `first` to the end of field `last` (inclusive),
    /// commas included.
    pub(crate) fn span(&self, first: usize, last: usize) -> Option<&'a [u8]> {
        if first > last || last >= self.count {
            return None;
        }
        let s = self.bounds.get(first)?.0;
        let e = self.bounds.get(last)?.1;
        self.text.get(usize::from(s)..usize::from(e))
    }

    /// The raw text from the start of field `first` to the end of the sentence.
    pub(crate) fn rest(&self, first: usize) -> Option<&'a [u8]> {
        self.span(first, self.count.checked_sub(1)?)
    }
}

/// Strips leading and trailing blanks (`  3.34` is a real speed field).
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Non-empty run of ASCII digits.
pub(crate) fn is_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// Exactly `n` ASCII digits.
pub(crate) fn is_digits_n(b: &[u8], n: usize) -> bool {
    b.len() == n && is_digits(b)
}

/// Exactly eight hex digits (the status word).
pub(crate) fn is_status_word(b: &[u8]) -> bool {
    b.len() == 8 && b.iter().all(u8::is_ascii_hexdigit)
}

/// Decimal integer (blanks trimmed), at most 18 digits.
pub(crate) fn uint(b: &[u8]) -> Option<u64> {
    let b = trim(b);
    if !is_digits(b) || b.len() > 18 {
        return None;
    }
    Some(b.iter().fold(0u64, |v, &c| v * 10 + u64::from(c - b'0')))
}

/// Signed decimal integer (blanks trimmed).
pub(crate) fn int(b: &[u8]) -> Option<i64> {
    let b = trim(b);
    match b.split_first() {
        Some((b'-', rest)) => uint(rest).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        _ => uint(b).and_then(|v| i64::try_from(v).ok()),
    }
}

/// Hex integer of 1..=16 digits.
pub(crate) fn hex(b: &[u8]) -> Option<u64> {
    let b = trim(b);
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    b.iter().try_fold(0u64, |v, &c| {
        let d = (c as char).to_digit(16)?;
        Some((v << 4) | u64::from(d))
    })
}

/// Decimal number with an optional sign and fraction (blanks trimmed); no exponents, no NaN.
pub(crate) fn decimal(b: &[u8]) -> Option<f64> {
    let b = trim(b);
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if digits.is_empty()
        || !digits.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        || !digits.iter().any(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `hhmmss`, optionally followed by `.sss` (ignored).
pub(crate) fn hhmmss(b: &[u8]) -> Option<NaiveTime> {
    let main = b.get(..6)?;
    if !is_digits(main) || !(b.len() == 6 || b.get(6) == Some(&b'.')) {
        return None;
    }
    let n = |i: usize| u32::from(main[i] - b'0') * 10 + u32::from(main[i + 1] - b'0');
    NaiveTime::from_hms_opt(n(0), n(2), n(4))
}

/// Seconds since midnight of an `hhmmss` field, read leniently like traccar's calendar
/// (a real NBR report says `160169`, i.e. 16:02:09); each pair must still be two digits.
pub(crate) fn lenient_seconds(b: &[u8]) -> Option<u32> {
    let main = b.get(..6)?;
    if !is_digits(main) || !(b.len() == 6 || b.get(6) == Some(&b'.')) {
        return None;
    }
    let n = |i: usize| u32::from(main[i] - b'0') * 10 + u32::from(main[i + 1] - b'0');
    (n(0) < 24).then(|| n(0) * 3600 + n(2) * 60 + n(4))
}

/// Seconds since midnight of an `hhmmss` field.
pub(crate) fn seconds_of_day(b: &[u8]) -> Option<u32> {
    use chrono::Timelike;
    hhmmss(b).map(|t| t.num_seconds_from_midnight())
}

/// `ddmmyy`, years 2000..=2099.
pub(crate) fn ddmmyy(b: &[u8]) -> Option<NaiveDate> {
    if !is_digits_n(b, 6) {
        return None;
    }
    let n = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    NaiveDate::from_ymd_opt(2000 + n(4) as i32, n(2), n(0))
}

/// One coordinate in any of the spellings H02 firmwares use, signed by its hemisphere:
/// `DDMM.MMMM` (4 or 5 decimals, degrees may be short or empty), `DDMMMMMM` without a decimal
/// point, or `-D-M.MMMM`. `Ok(None)` when the field is empty or the hemisphere is not a letter
/// the axis allows (firmwares write `0` when they have no fix); `Err` when a present value
/// cannot be read.
pub(crate) fn coordinate(value: &[u8], hemisphere: &[u8], lat: bool) -> Result<Option<f64>, ()> {
    let value = trim(value);
    let negative = match (lat, hemisphere) {
        (true, b"N") | (false, b"E") => false,
        (true, b"S") | (false, b"W") => true,
        _ => return Ok(None),
    };
    if value.is_empty() {
        return Ok(None);
    }
    let (degrees, minutes) = if let Some(rest) = value.strip_prefix(b"-") {
        let dash = rest.iter().position(|&c| c == b'-').ok_or(())?;
        let deg = rest.get(..dash).ok_or(())?;
        let min = rest.get(dash + 1..).ok_or(())?;
        (uint(deg).ok_or(())? as f64, decimal(min).ok_or(())?)
    } else if let Some(dot) = value.iter().position(|&c| c == b'.') {
        let split = dot.checked_sub(2).ok_or(())?;
        let deg = value.get(..split).ok_or(())?;
        let deg = if deg.is_empty() {
            0.0
        } else {
            uint(deg).ok_or(())? as f64
        };
        (deg, decimal(value.get(split..).ok_or(())?).ok_or(())?)
    } else {
        let split = value.len().checked_sub(6).ok_or(())?;
        let deg = value.get(..split).ok_or(())?;
        let deg = if deg.is_empty() {
            0.0
        } else {
            uint(deg).ok_or(())? as f64
        };
        (
            deg,
            uint(value.get(split..).ok_or(())?).ok_or(())? as f64 / 10_000.0,
        )
    };
    if !(0.0..60.0).contains(&minutes) {
        return Err(());
    }
    let v = degrees + minutes / 60.0;
    Ok(Some(if negative { -v } else { v }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields() {
        let f = Fields::split(b"HQ,1,V1,,x");
        assert_eq!(f.len(), 5);
        assert_eq!(f.at(3), b"");
        assert_eq!(f.at(9), b"");
        assert_eq!(f.span(1, 2), Some(&b"1,V1"[..]));
        assert_eq!(f.rest(2), Some(&b"V1,,x"[..]));
        let many = b",".repeat(200);
        let f = Fields::split(&many);
        assert_eq!(f.len(), MAX_FIELDS);
    }

    #[test]
    fn coordinate_spellings() {
        let c = |v: &str, h: &str, lat| coordinate(v.as_bytes(), h.as_bytes(), lat);
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-5;
        assert!(close(c("0956.3869", "N", true).unwrap(), 9.93978));
        assert!(close(c("08406.7068", "W", false).unwrap(), -84.11178));
        assert!(close(c("38.6508", "W", false).unwrap(), -0.64418));
        assert!(close(
            c("37573392", "S", true).unwrap(),
            -(37.0 + 57.3392 / 60.0)
        ));
        assert!(close(c("-23-29.0095", "S", true).unwrap(), -23.48349));
        assert!(close(
            c("5238.26259", "N", true).unwrap(),
            52.0 + 38.26259 / 60.0
        ));
        assert_eq!(c("", "N", true), Ok(None));
        assert_eq!(c("0.0000", "0", true), Ok(None));
        assert!(c("12.x", "N", true).is_err());
        assert!(c("1275.0000", "N", true).is_err());
        assert!(c("-23", "S", true).is_err());
    }

    #[test]
    fn numbers_and_times() {
        assert_eq!(decimal(b"  3.34"), Some(3.34));
        assert_eq!(decimal(b"nan"), None);
        assert_eq!(decimal(b"."), None);
        assert_eq!(int(b"-62"), Some(-62));
        assert_eq!(hex(b"FFFFFBFF"), Some(0xFFFF_FBFF));
        assert_eq!(seconds_of_day(b"130305"), Some(13 * 3600 + 3 * 60 + 5));
        assert_eq!(hhmmss(b"250000"), None);
        assert_eq!(lenient_seconds(b"160169"), Some(16 * 3600 + 2 * 60 + 9));
        assert_eq!(lenient_seconds(b"250000"), None);
        assert_eq!(ddmmyy(b"221215"), NaiveDate::from_ymd_opt(2015, 12, 22));
        assert_eq!(ddmmyy(b"000000"), None);
    }
}
