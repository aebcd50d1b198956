//! JT/T 808 framing: `7E` flags, `7D` byte-stuffing and the XOR checksum.

use bytes::{BufMut, BytesMut};

/// Frame delimiter.
pub const FLAG: u8 = 0x7E;
/// Escape byte: `7D 02` stands for `7E`, `7D 01` for `7D`.
pub const ESCAPE: u8 = 0x7D;

/// XOR of every byte (the JT808 check code, computed over header and body, un-escaped).
pub fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Undoes the byte-stuffing of `buf` in place and returns the un-escaped length.
///
/// A `7D` followed by anything other than `01`/`02` is kept as it is: some terminals do not
/// escape at all, and dropping bytes would only make the checksum verdict less useful.
pub fn unescape_in_place(buf: &mut [u8]) -> usize {
    // Most frames hold no escape at all: find the first one before touching anything.
    let Some(first) = buf.iter().position(|&b| b == ESCAPE) else {
        return buf.len();
    };
    let mut read = first;
    let mut write = first;
    while read < buf.len() {
        let b = buf[read];
        let next = buf.get(read + 1).copied();
        let out = match (b, next) {
            (ESCAPE, Some(0x01)) => {
                read += 1;
                ESCAPE
            }
            (ESCAPE, Some(0x02)) => {
                read += 1;
                FLAG
            }
            _ => b,
        };
        buf[write] = out;
        write += 1;
        read += 1;
    }
    write
}

/// Appends `src` byte-stuffed to `dst`.
pub fn escape_into(src: &[u8], dst: &mut BytesMut) {
    dst.reserve(src.len() + 4);
    for &b in src {
        match b {
            FLAG => dst.put_slice(&[ESCAPE, 0x02]),
            ESCAPE => dst.put_slice(&[ESCAPE, 0x01]),
            _ => dst.put_u8(b),
        }
    }
}

/// Byte-stuffs a complete un-escaped frame `7E … 7E` (the flags themselves stay as they are).
/// A slice that does not start and end with `7E` is stuffed whole.
pub fn escape_frame(frame: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(frame.len() + 8);
    match frame {
        [FLAG, inner @ .., FLAG] => {
            out.put_u8(FLAG);
            escape_into(inner, &mut out);
            out.put_u8(FLAG);
        }
        _ => escape_into(frame, &mut out),
    }
    out.to_vec()
}

/// Wraps header+body (un-escaped) into a complete frame: flag, stuffed content and check code, flag.
pub fn seal_into(content: &[u8], dst: &mut BytesMut) {
    dst.put_u8(FLAG);
    escape_into(content, dst);
    escape_into(&[xor(content)], dst);
    dst.put_u8(FLAG);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_round_trip() {
        let raw = [0x7E, 0x30, 0x7E, 0x08, 0x7D, 0x55, 0x7E];
        let stuffed = escape_frame(&raw);
        assert_eq!(
            stuffed,
            [0x7E, 0x30, 0x7D, 0x02, 0x08, 0x7D, 0x01, 0x55, 0x7E]
        );
        let mut inner = stuffed[1..stuffed.len() - 1].to_vec();
        let n = unescape_in_place(&mut inner);
        assert_eq!(&inner[..n], &raw[1..raw.len() - 1]);
    }

    #[test]
    fn lone_escape_is_kept() {
        let mut b = [0x01, 0x7D, 0x05, 0x7D];
        let n = unescape_in_place(&mut b);
        assert_eq!(&b[..n], &[0x01, 0x7D, 0x05, 0x7D]);
    }
}
