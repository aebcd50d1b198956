//! Stream framing: where one GT06 frame ends, and the CRC-ITU (CRC-16/X-25) check.
//!
//! Real devices lie about the length byte, so a frame is found the way traccar finds it: trust
//! the length when the bytes it points at end in `0D 0A`, otherwise fall back to the first
//! `0D 0A`. The fallback is only taken before the declared size is buffered when the shorter
//! candidate proves itself (valid CRC, or a type known to carry no CRC), so that a genuine
//! frame split across reads is not cut at a `0D 0A` inside its binary content.

/// Slice-by-16 tables for CRC-ITU (CRC-16/X-25: poly 0x1021 reflected = 0x8408, init and
/// xorout 0xFFFF), built at compile time. `TABLES[0]` is the classic byte table; `TABLES[k]`
/// advances a byte through `k` further zero bytes, so 16 (or 8) bytes fold in one step.
static TABLES: [[u16; 256]; 16] = crc_tables();

const fn crc_tables() -> [[u16; 256]; 16] {
    let mut t = [[0u16; 256]; 16];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// Short-frame start bytes.
pub const START_SHORT: [u8; 2] = [0x78, 0x78];
/// Long-frame start bytes.
pub const START_LONG: [u8; 2] = [0x79, 0x79];

/// CRC-ITU over `bytes`.
///
/// Hand-rolled slice-by-16: a location frame's ~30 CRC bytes take two table steps of
/// independent lookups, where the `crc` crate's byte table takes 30 dependent ones (and its own
/// 16-byte variant still does the 14-byte tail one byte at a time).
#[inline]
pub fn crc_itu(bytes: &[u8]) -> u16 {
    let t = &TABLES;
    let mut crc: u16 = 0xFFFF;
    let (blocks, rest) = bytes.as_chunks::<16>();
    for c in blocks {
        let x0 = usize::from(c[0] ^ crc as u8);
        let x1 = usize::from(c[1] ^ (crc >> 8) as u8);
        crc = t[15][x0]
            ^ t[14][x1]
            ^ t[13][usize::from(c[2])]
            ^ t[12][usize::from(c[3])]
            ^ t[11][usize::from(c[4])]
            ^ t[10][usize::from(c[5])]
            ^ t[9][usize::from(c[6])]
            ^ t[8][usize::from(c[7])]
            ^ t[7][usize::from(c[8])]
            ^ t[6][usize::from(c[9])]
            ^ t[5][usize::from(c[10])]
            ^ t[4][usize::from(c[11])]
            ^ t[3][usize::from(c[12])]
            ^ t[2][usize::from(c[13])]
            ^ t[1][usize::from(c[14])]
            ^ t[0][usize::from(c[15])];
    }
    // The last 0..=15 bytes in one step as well: with m bytes left, byte i goes through
    // table m-1-i (slice-by-m), the CRC's two bytes folding into the first two.
    match rest {
        [] => {}
        [b] => crc = (crc >> 8) ^ t[0][usize::from((crc as u8) ^ b)],
        [b0, b1, more @ ..] => {
            let m = rest.len();
            let mut acc = t[m - 1][usize::from(b0 ^ crc as u8)]
                ^ t[m - 2][usize::from(b1 ^ (crc >> 8) as u8)];
            for (i, &b) in more.iter().enumerate() {
                acc ^= t[m - 3 - i][usize::from(b)];
            }
            crc = acc;
        }
    }
    !crc
}

/// What the head of the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A frame of `len` bytes starts at offset 0; `length_ok` tells whether its length field
    /// agreed with where it ended.
    Frame { len: usize, length_ok: bool },
    /// A frame starts at offset 0 but is not complete yet.
    Incomplete,
    /// The first `n` bytes cannot start a frame.
    Garbage(usize),
}

/// Header length (start + length field) of a frame starting with `first`.
pub(crate) fn header_len(first: u8) -> usize {
    if first == START_LONG[0] { 4 } else { 3 }
}

/// Looks at the buffered bytes.
#[inline]
pub(crate) fn scan(buf: &[u8]) -> Scan {
    // The common case, decided in O(1): a short frame at offset 0 whose length byte points
    // at its `0D 0A`. `scan_general` gives the same answer for it, after a search.
    if let [0x78, 0x78, length, ..] = *buf {
        let declared = usize::from(length) + 5;
        if declared >= 6 && buf.get(declared - 2..declared) == Some(&[0x0D, 0x0A][..]) {
            return Scan::Frame {
                len: declared,
                length_ok: true,
            };
        }
    }
    scan_general(buf)
}

/// [`scan`] for everything but a well-formed short frame at the head of the buffer.
#[inline(never)]
fn scan_general(buf: &[u8]) -> Scan {
    let start = buf
        .windows(2)
        .position(|w| w == START_SHORT || w == START_LONG);
    match start {
        Some(0) => {}
        Some(i) => return Scan::Garbage(i),
        None => {
            // A lone trailing 0x78/0x79 may be the first half of a start marker.
            let keep = usize::from(matches!(buf.last(), Some(0x78 | 0x79)));
            let n = buf.len() - keep;
            return if n == 0 {
                Scan::Incomplete
            } else {
                Scan::Garbage(n)
            };
        }
    }
    if buf.len() < 5 {
        return Scan::Incomplete;
    }
    let long = buf[0] == START_LONG[0];
    let hdr = header_len(buf[0]);
    let declared = if long {
        usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 6
    } else {
        usize::from(buf[2]) + 5
    };
    if buf.len() >= declared && declared >= hdr + 3 && buf[declared - 2..declared] == [0x0D, 0x0A] {
        return Scan::Frame {
            len: declared,
            length_ok: true,
        };
    }
    // The type byte follows the header; the terminator can only come after it.
    let from = hdr + 1;
    let candidate = buf
        .get(from..)
        .and_then(|rest| rest.windows(2).position(|w| w == [0x0D, 0x0A]))
        .map(|i| from + i + 2);
    match candidate {
        Some(len) if buf.len() >= declared || partial_candidate_ok(&buf[..len], hdr) => {
            Scan::Frame {
                len,
                length_ok: false,
            }
        }
        _ => Scan::Incomplete,
    }
}

/// Whether a `0D 0A`-terminated candidate shorter than the declared size may be taken before
/// the declared size has arrived.
fn partial_candidate_ok(frame: &[u8], hdr: usize) -> bool {
    let kind = frame.get(hdr).copied().unwrap_or(0);
    match kind {
        // 365GPS heartbeat and WiFi packets carry no CRC and misuse the length byte.
        0x08 | 0x17 | 0x69 => true,
        // Truncated logins (IMEI + one byte, no serial, no CRC) are answered, so never wait.
        0x01 if frame.len() == 15 => true,
        _ => crc_matches(frame) == Some(true),
    }
}

/// The CRC verdict of a frame: `None` when it is too short to carry one.
pub(crate) fn crc_matches(frame: &[u8]) -> Option<bool> {
    let (computed, received) = crc_values(frame)?;
    Some(computed == received)
}

/// (computed, received) CRC of a frame, `None` when it is too short to carry one.
pub(crate) fn crc_values(frame: &[u8]) -> Option<(u16, u16)> {
    let hdr = header_len(*frame.first()?);
    let n = frame.len();
    // start + length + type + serial + crc + stop
    if n < hdr + 1 + 2 + 2 + 2 {
        return None;
    }
    let computed = crc_itu(frame.get(2..n - 4)?);
    let received = u16::from_be_bytes([*frame.get(n - 4)?, *frame.get(n - 3)?]);
    Some((computed, received))
}

/// Where the first complete frame in `buf` is (skipping garbage before it), as the stream
/// decoder would cut it; `None` while it is incomplete.
pub fn next_frame(buf: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    loop {
        match scan(buf.get(offset..)?) {
            Scan::Garbage(n) => offset += n,
            Scan::Incomplete => return None,
            Scan::Frame { len, .. } => return Some(offset..offset + len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crc_matches_the_reference_implementation_at_every_length() {
        let reference = crc::Crc::<u16>::new(&crc::CRC_16_IBM_SDLC);
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..5 {
            for end in start..data.len() {
                let s = &data[start..end];
                assert_eq!(crc_itu(s), reference.checksum(s), "{start}..{end}");
            }
        }
        assert_eq!(crc_itu(b"123456789"), 0x906E);
    }

    #[test]
    fn crc_check_values() {
        assert_eq!(crc_itu(&hex("05010001")), 0xD9DC);
        assert_eq!(crc_itu(&hex("05130011")), 0xF970);
        assert_eq!(crc_itu(&hex("05160036")), 0x9570);
    }

    #[test]
    fn exact_frame_and_wrong_length() {
        let f = hex("78780d010352887071911998000479d00d0a");
        assert_eq!(
            scan(&f),
            Scan::Frame {
                len: f.len(),
                length_ok: true
            }
        );
        let g = hex("787808134606020002044dc5050d0a");
        assert_eq!(
            scan(&g),
            Scan::Frame {
                len: g.len(),
                length_ok: false
            }
        );
    }

    #[test]
    fn partial_waits_and_garbage_is_reported() {
        let f = hex("78780d010352887071911998000479d00d0a");
        assert_eq!(scan(&f[..10]), Scan::Incomplete);
        assert_eq!(scan(&f[..3]), Scan::Incomplete);
        let mut g = vec![1, 2, 3];
        g.extend_from_slice(&f);
        assert_eq!(scan(&g), Scan::Garbage(3));
        assert_eq!(scan(&[1, 2, 0x78]), Scan::Garbage(2));
    }

    #[test]
    fn fast_scan_agrees_with_the_general_search() {
        let f = hex("78780d010352887071911998000479d00d0a");
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for cut in 0..=f.len() {
            cases.push(f[..cut].to_vec());
        }
        for length in 0..=0x20u8 {
            let mut g = f.clone();
            g[2] = length;
            cases.push(g.clone());
            g.extend_from_slice(&f);
            cases.push(g);
        }
        for c in &cases {
            assert_eq!(scan(c), scan_general(c), "{c:02x?}");
        }
    }

    #[test]
    fn inner_crlf_of_a_split_frame_is_not_a_terminator() {
        // serial 0x0D0A inside a well-formed heartbeat, only partly received
        let mut f = hex("78780a134004040001");
        f.extend_from_slice(&[0x0D, 0x0A]);
        let crc = crc_itu(&f[2..]);
        f.extend_from_slice(&crc.to_be_bytes());
        f.extend_from_slice(&[0x0D, 0x0A]);
        assert_eq!(scan(&f[..12]), Scan::Incomplete);
        assert_eq!(
            scan(&f),
            Scan::Frame {
                len: f.len(),
                length_ok: true
            }
        );
    }
}
