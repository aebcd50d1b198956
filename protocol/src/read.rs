//! A bounds-checked big-endian reader over a frame, shared by the binary decoders.
//!
//! `bytes::Buf` panics when a read runs past the end; a tracker that lies about a length must
//! never be able to do that to us, so every read here returns a `Result` instead.

use crate::ProtocolError;

/// Cursor over one frame's bytes; every read is checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`; `what` names the message in errors ("gt06 0x12 location").
    #[inline]
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Offset of the next read.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread rest, without consuming it.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    // Out of line: the error path formats a message, and keeping it apart lets every read
    // inline into its caller as a compare and a load.
    #[cold]
    #[inline(never)]
    fn short(&self, need: usize) -> ProtocolError {
        ProtocolError::malformed(
            self.what,
            format!(
                "needs {need} more bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            ),
        )
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.remaining() < n {
            return Err(self.short(n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes the next `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Skips `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<(), ProtocolError> {
        self.bytes(n).map(|_| ())
    }

    /// Reads a byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian u16.
    #[inline]
    pub fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian i16.
    #[inline]
    pub fn i16(&mut self) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian 24-bit unsigned integer.
    #[inline]
    pub fn u24(&mut self) -> Result<u32, ProtocolError> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a big-endian u32.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian i32.
    #[inline]
    pub fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u64.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads `n` bytes of packed BCD as a number (fails on a nibble above 9 or more than 19 digits).
    #[inline]
    pub fn bcd(&mut self, n: usize) -> Result<u64, ProtocolError> {
        let what = self.what;
        let raw = self.bytes(n)?;
        bcd_value(raw)
            .ok_or_else(|| ProtocolError::malformed(what, format!("invalid BCD bytes {raw:02x?}")))
    }
}

/// Value of packed BCD bytes, `None` on a nibble above 9 or overflow.
pub fn bcd_value(raw: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in raw {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(nibble as u64)?;
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let mut r = Reader::new(&[0x01, 0x02, 0x03, 0x04, 0x05], "test");
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(r.u24().unwrap(), 0x030405);
        assert!(r.u8().is_err());
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn bcd() {
        assert_eq!(bcd_value(&[0x12, 0x34]), Some(1234));
        assert_eq!(bcd_value(&[0x1A]), None);
        let mut r = Reader::new(&[0x26, 0x11, 0x29], "test");
        assert_eq!(r.bcd(3).unwrap(), 261129);
    }
}
