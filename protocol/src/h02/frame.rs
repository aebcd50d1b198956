//! Splits an H02 byte stream into frames: `*…#` text, `$` binary records, `X` records.

use bytes::{Buf, BytesMut};

use super::{BinaryLength, H02Config};
use crate::{CodecStats, ProtocolError};

/// Lengths a `$` record with a 5-byte id is known to have, shortest first.
const BINARY_LENGTHS: [usize; 4] = [32, 45, 46, 48];
/// The `$` record whose id is a 15-digit IMEI in 8 bytes.
const IMEI_RECORD: usize = 42;
/// `X` records.
const X_RECORD: usize = 32;
/// Bytes needed to check a binary record's time and date at either id length.
const BINARY_PROBE: usize = 15;

/// What kind of frame starts the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// `*…#` sentence.
    Text,
    /// `$` record whose id takes `id_len` bytes.
    Binary {
        /// 5 (10 BCD digits) or 8 (IMEI).
        id_len: usize,
    },
    /// `X` record (not decoded by traccar either).
    X,
}

/// A complete frame at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its kind.
    pub kind: FrameKind,
    /// Its length.
    pub len: usize,
    /// CR/LF bytes after it, to be dropped with it.
    pub trailing: usize,
}

fn is_start(b: u8) -> bool {
    matches!(b, b'*' | b'$' | b'X')
}

/// BCD `hhmmss ddmmyy` at `at` in a binary record, checked for plausibility.
fn time_plausible(buf: &[u8], at: usize) -> bool {
    let Some(b) = buf.get(at..at + 6) else {
        return false;
    };
    let bcd = |x: u8| {
        let (hi, lo) = (x >> 4, x & 0x0F);
        (hi <= 9 && lo <= 9).then_some(hi * 10 + lo)
    };
    let mut v = [0u8; 6];
    for (dst, &src) in v.iter_mut().zip(b) {
        match bcd(src) {
            Some(n) => *dst = n,
            None => return false,
        }
    }
    let [h, m, s, d, mo, _] = v;
    h < 24 && m < 60 && s < 60 && (1..=31).contains(&d) && (1..=12).contains(&mo)
}

fn text_header_ok(buf: &[u8]) -> Option<bool> {
    let head = buf.get(1..4)?;
    Some(head[0].is_ascii_alphanumeric() && head[1].is_ascii_alphanumeric() && head[2] == b',')
}

enum Step {
    Frame(Found),
    Need,
    Garbage(usize),
}

/// Finds the next frame, skipping (and counting) garbage before it. The frame starts at
/// `src[0]` when one is returned; `Ok(None)` means more bytes are needed.
pub(crate) fn next(
    src: &mut BytesMut,
    config: &H02Config,
    learned: &mut Option<usize>,
    stats: &mut CodecStats,
) -> Result<Option<Found>, ProtocolError> {
    loop {
        // Line ends between frames are normal, not garbage.
        let blanks = src
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        src.advance(blanks);
        let Some(&first) = src.first() else {
            return Ok(None);
        };
        let step = match first {
            b'*' => text(src, config)?,
            b'$' => binary(src, config, learned),
            b'X' => x_record(src),
            _ => Step::Garbage(1),
        };
        match step {
            Step::Frame(found) => return Ok(Some(found)),
            Step::Need => {
                if src.len() > config.max_frame {
                    return Err(ProtocolError::FrameTooLong {
                        len: src.len(),
                        max: config.max_frame,
                    });
                }
                return Ok(None);
            }
            Step::Garbage(at_least) => {
                let skip = src
                    .iter()
                    .skip(at_least)
                    .position(|&b| is_start(b))
                    .map_or(src.len(), |p| p + at_least);
                stats.resyncs += 1;
                stats.resync_bytes += skip as u64;
                src.advance(skip);
            }
        }
    }
}

fn text(src: &[u8], config: &H02Config) -> Result<Step, ProtocolError> {
    match text_header_ok(src) {
        None => return Ok(Step::Need),
        Some(false) => return Ok(Step::Garbage(1)),
        Some(true) => {}
    }
    for (i, &b) in src.iter().enumerate().skip(1) {
        if b == b'#' {
            let len = i + 1;
            let trailing = src
                .iter()
                .skip(len)
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            return Ok(Step::Frame(Found {
                kind: FrameKind::Text,
                len,
                trailing,
            }));
        }
        // A new `*XX,` header before any `#`: what came before was a cut-off sentence.
        if b == b'*' && src.get(i..).and_then(text_header_ok) == Some(true) {
            return Ok(Step::Garbage(i));
        }
        if i >= config.max_frame {
            return Err(ProtocolError::FrameTooLong {
                len: src.len(),
                max: config.max_frame,
            });
        }
    }
    Ok(Step::Need)
}

/// Whether the id and first time bytes seen so far are BCD, as every binary record's are;
/// lets a stray `$` or `X` before a short text sentence be dropped without waiting.
fn bcd_prefix_ok(src: &[u8]) -> bool {
    src.iter()
        .skip(1)
        .take(7)
        .all(|&b| b >> 4 <= 9 && b & 0x0F <= 9)
}

fn binary(src: &[u8], config: &H02Config, learned: &mut Option<usize>) -> Step {
    if !bcd_prefix_ok(src) {
        return Step::Garbage(1);
    }
    if src.len() < BINARY_PROBE {
        return Step::Need;
    }
    let (id_len, len) = if time_plausible(src, 6) {
        (5, binary_length(src, config, learned))
    } else if time_plausible(src, 9) {
        let len = match config.binary_length {
            BinaryLength::Fixed(n) => n,
            BinaryLength::Auto => IMEI_RECORD,
        };
        (8, Some(len))
    } else {
        return Step::Garbage(1);
    };
    match len {
        Some(len) if src.len() >= len => Step::Frame(Found {
            kind: FrameKind::Binary { id_len },
            len,
            trailing: 0,
        }),
        _ => Step::Need,
    }
}

/// Length of the 5-byte-id record at the start of `src`, or `None` to wait for more bytes.
fn binary_length(src: &[u8], config: &H02Config, learned: &mut Option<usize>) -> Option<usize> {
    if let BinaryLength::Fixed(n) = config.binary_length {
        return Some(n.max(BINARY_PROBE));
    }
    if let Some(n) = *learned {
        return Some(n);
    }
    for len in BINARY_LENGTHS {
        let confirmed = match src.get(len) {
            Some(b'*') => src.get(len..).and_then(text_header_ok) == Some(true),
            Some(b'$') => time_plausible(src, len + 6) || time_plausible(src, len + 9),
            Some(b'\r') => src.get(len + 1) == Some(&b'\n'),
            _ => false,
        };
        if confirmed {
            *learned = Some(len);
            return Some(len);
        }
    }
    if BINARY_LENGTHS.contains(&src.len()) {
        return Some(src.len());
    }
    let longest = BINARY_LENGTHS[BINARY_LENGTHS.len() - 1];
    // Past the longest known record, any confirming start would already have been seen.
    (src.len() > longest + BINARY_PROBE).then_some(BINARY_LENGTHS[0])
}

fn x_record(src: &[u8]) -> Step {
    if !bcd_prefix_ok(src) {
        return Step::Garbage(1);
    }
    if src.len() < BINARY_PROBE {
        return Step::Need;
    }
    if !time_plausible(src, 6) {
        return Step::Garbage(1);
    }
    if src.len() < X_RECORD {
        return Step::Need;
    }
    Step::Frame(Found {
        kind: FrameKind::X,
        len: X_RECORD,
        trailing: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], config: &H02Config) -> (Vec<Vec<u8>>, CodecStats) {
        let mut buf = BytesMut::from(input);
        let mut learned = None;
        let mut stats = CodecStats::default();
        let mut frames = Vec::new();
        while let Ok(Some(f)) = next(&mut buf, config, &mut learned, &mut stats) {
            frames.push(buf[..f.len].to_vec());
            buf.advance(f.len + f.trailing);
        }
        (frames, stats)
    }

    #[test]
    fn garbage_is_skipped_and_counted() {
        let (frames, stats) = run(b"zz\x00*HQ,1,V1#\r\nabc*HQ,2,HTBT#", &H02Config::default());
        assert_eq!(frames, vec![b"*HQ,1,V1#".to_vec(), b"*HQ,2,HTBT#".to_vec()]);
        assert_eq!(stats.resyncs, 2);
        assert_eq!(stats.resync_bytes, 6);
    }

    #[test]
    fn cut_off_sentence_is_dropped_at_the_next_header() {
        let (frames, stats) = run(b"*HQ,1,V1,12*HQ,2,V1#", &H02Config::default());
        assert_eq!(frames, vec![b"*HQ,2,V1#".to_vec()]);
        assert_eq!(stats.resync_bytes, 11);
    }

    #[test]
    fn unterminated_text_past_the_maximum_is_an_error() {
        let config = H02Config {
            max_frame: 64,
            ..H02Config::default()
        };
        let mut buf = BytesMut::from(&b"*HQ,"[..]);
        buf.extend_from_slice(&[b'1'; 100]);
        let r = next(&mut buf, &config, &mut None, &mut CodecStats::default());
        assert!(matches!(r, Err(ProtocolError::FrameTooLong { .. })));
    }

    #[test]
    fn short_binary_waits() {
        let rec = b"\x24\x41\x06\x01\x16\x60\x12\x45\x43\x13\x11\x16";
        let mut buf = BytesMut::from(&rec[..]);
        let r = next(
            &mut buf,
            &H02Config::default(),
            &mut None,
            &mut CodecStats::default(),
        );
        assert!(matches!(r, Ok(None)));
        assert_eq!(buf.len(), rec.len());
    }

    #[test]
    fn dollar_with_implausible_time_is_garbage() {
        let mut rec = vec![b'$'; 40];
        rec.extend_from_slice(b"*HQ,1,V1#");
        let (frames, stats) = run(&rec, &H02Config::default());
        assert_eq!(frames, vec![b"*HQ,1,V1#".to_vec()]);
        assert_eq!(stats.resync_bytes, 40);
    }
}
