//! JT/T 808 framing: `7E` flags, `7D` byte-stuffing and the XOR checksum.

use bytes::{BufMut, BytesMut};

/// Frame delimiter.
pub const FLAG: u8 = 0x7E;
/// Escape byte: `7D 02` stands for `7E`, `7D 01` for `7D`.
pub const ESCAPE: u8 = 0x7D;

/// XOR of every byte (the JT808 check code, computed over header and body, un-escaped).
#[inline]
pub fn xor(bytes: &[u8]) -> u8 {
    // Eight bytes per step: the XOR of the eight lanes folds into one byte at the end.
    let mut words = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for w in &mut words {
        acc ^= word(w);
    }
    acc ^= acc >> 32;
    acc ^= acc >> 16;
    acc ^= acc >> 8;
    words.remainder().iter().fold(acc as u8, |a, b| a ^ b)
}

const LANES_01: u64 = 0x0101_0101_0101_0101;
const LANES_80: u64 = 0x8080_8080_8080_8080;

/// Eight bytes as a little-endian word (lane 0 = first byte).
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// Index of the first `needle` in `hay`, eight bytes per step.
///
/// In `w = word ^ needle·0x01…01` a matching byte is zero; `(w - 0x01…01) & !w & 0x80…80` flags
/// every zero byte and can also flag a byte *above* a zero one (the borrow), never below it, so
/// the lowest flag is the first match.
#[inline]
pub fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = LANES_01.wrapping_mul(u64::from(needle));
    let mut words = hay.chunks_exact(8);
    let mut offset = 0usize;
    for w in &mut words {
        let x = word(w) ^ pattern;
        let zeros = x.wrapping_sub(LANES_01) & !x & LANES_80;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

/// Undoes the byte-stuffing of `buf` in place and returns the un-escaped length.
///
/// A `7D` followed by anything other than `01`/`02` is kept as it is: some terminals do not
/// escape at all, and dropping bytes would only make the checksum verdict less useful.
pub fn unescape_in_place(buf: &mut [u8]) -> usize {
    // Most frames hold no escape at all, and the rest one or two: find the first with the word
    // search, then move the plain bytes after each escape a word at a time.
    let Some(mut read) = find_byte(buf, ESCAPE) else {
        return buf.len();
    };
    let escapes = LANES_01.wrapping_mul(u64::from(ESCAPE));
    // Invariant: `buf[..write]` is output, `buf[read..]` unread input, `write <= read`, and
    // `buf[read]` is an escape byte at the top of the loop.
    let mut write = read;
    'escape: loop {
        let (out, taken) = match buf.get(read + 1) {
            Some(0x01) => (ESCAPE, 2),
            Some(0x02) => (FLAG, 2),
            _ => (ESCAPE, 1),
        };
        buf[write] = out;
        write += 1;
        read += taken;
        while let Some(chunk) = buf.get(read..read + 8) {
            let w = word(chunk);
            let x = w ^ escapes;
            let found = x.wrapping_sub(LANES_01) & !x & LANES_80;
            if found == 0 {
                // Storing the whole word is safe: with `write <= read` it only covers bytes
                // that are already loaded.
                buf[write..write + 8].copy_from_slice(&w.to_le_bytes());
                write += 8;
                read += 8;
                continue;
            }
            let plain = (found.trailing_zeros() / 8) as usize;
            for &b in &w.to_le_bytes()[..plain] {
                buf[write] = b;
                write += 1;
            }
            read += plain;
            continue 'escape;
        }
        // Fewer than eight bytes left.
        while let Some(&b) = buf.get(read) {
            if b == ESCAPE {
                continue 'escape;
            }
            buf[write] = b;
            write += 1;
            read += 1;
        }
        return write;
    }
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

    /// The byte-at-a-time un-escaping the word search replaced.
    fn unescape_reference(buf: &mut [u8]) -> usize {
        let mut read = 0;
        let mut write = 0;
        while read < buf.len() {
            let b = buf[read];
            let out = match (b, buf.get(read + 1).copied()) {
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

    proptest::proptest! {
        #[test]
        fn word_search_unescape_and_xor_match_bytewise(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::prelude::any::<u8>(),
                    1 => proptest::prelude::Just(ESCAPE),
                    1 => proptest::prelude::Just(FLAG),
                    1 => proptest::prelude::Just(0x01u8),
                    1 => proptest::prelude::Just(0x02u8),
                ],
                0..80,
            )
        ) {
            let mut fast = bytes.clone();
            let mut slow = bytes.clone();
            let n = unescape_in_place(&mut fast);
            let m = unescape_reference(&mut slow);
            proptest::prop_assert_eq!(&fast[..n], &slow[..m]);
            proptest::prop_assert_eq!(xor(&bytes), bytes.iter().fold(0, |a, b| a ^ b));
            for needle in [ESCAPE, FLAG, 0x00, 0x80, 0xFF] {
                proptest::prop_assert_eq!(
                    find_byte(&bytes, needle),
                    bytes.iter().position(|&b| b == needle)
                );
            }
        }
    }

    #[test]
    fn lone_escape_is_kept() {
        let mut b = [0x01, 0x7D, 0x05, 0x7D];
        let n = unescape_in_place(&mut b);
        assert_eq!(&b[..n], &[0x01, 0x7D, 0x05, 0x7D]);
    }
}
