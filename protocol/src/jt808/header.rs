//! JT/T 808 message header (2011/2013 and 2019 layouts) and the terminal address it carries.

use crate::read::Reader;
use crate::{DeviceId, ProtocolError};

/// Vendor location report with a one-byte serial and a non-standard properties word.
pub const MSG_VENDOR_LOCATION: u16 = 0x5501;
/// Vendor blind-area (buffered) location report, same layout as 0x5501.
pub const MSG_VENDOR_LOCATION_BLIND: u16 = 0x5502;

/// How a terminal addresses itself: the 2019 protocol version (if it used the 2019 header) and
/// the phone/ID bytes exactly as it sent them, so that replies echo them verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Terminal {
    /// 2019 protocol version byte; `None` for the 2011/2013 header.
    pub version: Option<u8>,
    len: u8,
    bytes: [u8; 10],
}

impl Terminal {
    /// A terminal address from raw ID bytes (6 for 2013, 10 for 2019); longer input is cut.
    pub fn from_raw(version: Option<u8>, raw: &[u8]) -> Self {
        let mut bytes = [0u8; 10];
        let len = raw.len().min(10);
        bytes[..len].copy_from_slice(&raw[..len]);
        Terminal {
            version,
            len: len as u8,
            bytes,
        }
    }

    /// A terminal address from exactly `N <= 10` ID bytes (a fixed-size copy, no length logic).
    #[inline(always)]
    pub(crate) fn from_array<const N: usize>(version: Option<u8>, raw: &[u8; N]) -> Self {
        let mut bytes = [0u8; 10];
        let len = N.min(10);
        bytes[..len].copy_from_slice(&raw[..len]);
        Terminal {
            version,
            len: len as u8,
            bytes,
        }
    }

    /// The address a server uses for a device it has not heard from on this connection:
    /// 2013 header; a 15-digit IMEI is written as the 48-bit binary of all digits but the check
    /// digit (what traccar does), anything else as BCD left-padded to 12 digits. With `version` set, the 2019 `BCD[10]` form is used.
    pub fn for_device(device: &DeviceId, version: Option<u8>) -> Self {
        let digits: Vec<u8> = device
            .as_str()
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|d| d - b'0')
            .collect();
        let width: usize = if version.is_some() { 20 } else { 12 };
        if version.is_none() && digits.len() == 15 {
            let value = digits[..digits.len() - 1]
                .iter()
                .fold(0u64, |acc, d| acc.wrapping_mul(10).wrapping_add(*d as u64));
            let be = value.to_be_bytes();
            return Terminal::from_raw(None, &be[2..8]);
        }
        let mut padded = vec![0u8; width.saturating_sub(digits.len())];
        padded.extend(digits.iter().rev().take(width).rev());
        let raw: Vec<u8> = padded.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
        Terminal::from_raw(version, &raw)
    }

    /// The ID bytes as sent.
    pub fn raw(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The device id: the BCD digits when the bytes are BCD (leading zeros dropped), else the
    /// first six bytes as a 48-bit IMEI without its check digit, with the Luhn digit appended.
    ///
    /// The binary form is Traccar's rule for devices that put their IMEI there (several real
    /// captures do); it is taken only when the number has at most the 14 digits of an IMEI
    /// body. Anything else is not an identifier (most random bytes are neither BCD nor such a
    /// number), and the frame is malformed.
    pub fn device_id(&self) -> Result<DeviceId, ProtocolError> {
        if let Ok(id) = DeviceId::from_bcd(self.raw()) {
            return Ok(id);
        }
        let raw = self.raw();
        let mut value: u64 = 0;
        for &b in raw.iter().take(6) {
            value = (value << 8) | b as u64;
        }
        if value >= IMEI_BODY_LIMIT {
            return Err(ProtocolError::malformed(
                "jt808 terminal id",
                "neither BCD digits nor a binary IMEI",
            ));
        }
        let mut text = [0u8; 24];
        let digits = write_decimal(value, &mut text);
        let luhn = luhn_digit(&text[..digits]);
        text[digits] = b'0' + luhn;
        let s = std::str::from_utf8(&text[..=digits]).unwrap_or("0");
        DeviceId::parse(s).map_err(|e| ProtocolError::malformed("jt808 terminal id", e.to_string()))
    }
}

/// Binary terminal ids at or above this are not an IMEI body (14 digits).
const IMEI_BODY_LIMIT: u64 = 100_000_000_000_000;

fn write_decimal(mut value: u64, out: &mut [u8; 24]) -> usize {
    let mut tmp = [0u8; 20];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (value % 10) as u8;
        n += 1;
        value /= 10;
        if value == 0 || n == tmp.len() {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

/// Luhn check digit for ASCII decimal digits.
pub fn luhn_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

/// A parsed message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Message ID.
    pub message_id: u16,
    /// The raw body-properties word.
    pub properties: u16,
    /// Who sent it.
    pub terminal: Terminal,
    /// The sender's serial number.
    pub serial: u16,
    /// `(total, index)` when the sub-package flag is set.
    pub package: Option<(u16, u16)>,
    /// Header length in bytes (where the body starts).
    pub len: usize,
}

impl Header {
    /// Body length announced by the properties word.
    pub fn body_len(&self) -> usize {
        if self.is_vendor() {
            0
        } else {
            (self.properties & 0x03FF) as usize
        }
    }

    /// Encryption bits 10..=12 (0 = plain). Always 0 for the vendor 0x5501/0x5502 layout.
    pub fn encryption(&self) -> u16 {
        if self.is_vendor() {
            0
        } else {
            (self.properties >> 10) & 0x07
        }
    }

    /// The vendor location layout with a one-byte serial.
    pub fn is_vendor(&self) -> bool {
        matches!(
            self.message_id,
            MSG_VENDOR_LOCATION | MSG_VENDOR_LOCATION_BLIND
        )
    }

    /// Parses a header from the un-escaped content (after the leading `7E`).
    pub fn parse(r: &mut Reader<'_>) -> Result<Header, ProtocolError> {
        let message_id = r.u16()?;
        let properties = r.u16()?;
        let vendor = matches!(message_id, MSG_VENDOR_LOCATION | MSG_VENDOR_LOCATION_BLIND);
        let version = if !vendor && properties & 0x4000 != 0 {
            Some(r.u8()?)
        } else {
            None
        };
        let id = r.bytes(if version.is_some() { 10 } else { 6 })?;
        let terminal = Terminal::from_raw(version, id);
        let serial = if vendor { r.u8()? as u16 } else { r.u16()? };
        let package = if !vendor && properties & 0x2000 != 0 {
            Some((r.u16()?, r.u16()?))
        } else {
            None
        };
        Ok(Header {
            message_id,
            properties,
            terminal,
            serial,
            package,
            len: r.position(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imei_in_binary_gets_luhn_digit() {
        let t = Terminal::from_raw(None, &[0x0B, 0x3A, 0x73, 0xCE, 0x2F, 0xF2]);
        assert_eq!(t.device_id().unwrap().as_str(), "123456789012347");
        let back = Terminal::for_device(&DeviceId::parse("123456789012345").unwrap(), None);
        assert_eq!(back.raw(), &[0x0B, 0x3A, 0x73, 0xCE, 0x2F, 0xF2]);
    }

    #[test]
    fn bcd_phone() {
        let t = Terminal::for_device(&DeviceId::parse("13511221122").unwrap(), None);
        assert_eq!(t.raw(), &[0x01, 0x35, 0x11, 0x22, 0x11, 0x22]);
        assert_eq!(t.device_id().unwrap().as_str(), "13511221122");
        let t19 = Terminal::for_device(&DeviceId::parse("13511221122").unwrap(), Some(1));
        assert_eq!(t19.raw().len(), 10);
        assert_eq!(t19.device_id().unwrap().as_str(), "13511221122");
    }

    #[test]
    fn random_bytes_are_no_terminal_id() {
        // Real captures: binary IMEIs 86… (vectors 0x0704, 0x0200, 0x0900).
        let t = Terminal::from_raw(None, &[0x4E, 0xB6, 0xFB, 0x4A, 0xFD, 0x9E]);
        assert_eq!(t.device_id().unwrap().as_str().len(), 15);
        // Above 14 digits (not an IMEI body), and not BCD either.
        for raw in [[0xFF; 6], [0x5A, 0xF3, 0x10, 0x7A, 0x40, 0x00]] {
            assert!(
                Terminal::from_raw(None, &raw).device_id().is_err(),
                "{raw:02x?}"
            );
        }
    }
}
