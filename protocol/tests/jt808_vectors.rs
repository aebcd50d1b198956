//! Every row of `../shared/vectors/jt808.tsv` (traccar's JT808 tests) against the codec.
// The shared harness predates the current clippy lints; it is not ours to rewrite.
mod common;

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use common::{Row, Tally, check_decode, hex, load, to_hex};
use protocol::jt808::{Dialect, Jt808Codec, frame};
use protocol::{Command, CommandProfile, DeviceCodec, DeviceId, DeviceMessage};
use tokio_util::codec::{Decoder, Encoder};

fn frame_row(row: &Row) -> Result<(), String> {
    let mut codec = Jt808Codec::default();
    let mut buf = BytesMut::from(&row.input_bytes()[..]);
    let got = codec
        .split_frame(&mut buf)
        .map_err(|e| e.to_string())?
        .ok_or("no frame")?;
    let want = row.expect("frame").ok_or("no expected frame")?;
    if to_hex(&got) == want.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(format!("frame {} != {want}", to_hex(&got)))
    }
}

fn encode_row(row: &Row) -> Result<(), String> {
    let want = row
        .expect("output")
        .ok_or("no output")?
        .to_ascii_lowercase();
    if row.fmt() == "hex" {
        // The frame encoder row: byte-stuffing of an un-escaped frame.
        let got = frame::escape_frame(&row.input_bytes());
        return if to_hex(&got) == want {
            Ok(())
        } else {
            Err(format!("got {}", to_hex(&got)))
        };
    }
    let fields: Vec<(&str, &str)> = row
        .input
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let command = match get("type").ok_or("no type")? {
        "engineStop" => Command::CutPower,
        "engineResume" => Command::RestorePower,
        "custom" => Command::Custom {
            text: get("data").ok_or("no data")?.to_string(),
        },
        other => return Err(format!("unknown command type {other}")),
    };
    let device =
        DeviceId::parse(get("uniqueId").ok_or("no uniqueId")?).map_err(|e| e.to_string())?;
    let mut codec = Jt808Codec::default();
    if let Some(model) = row.note.get("encoderModel") {
        codec.set_dialect(Dialect::from_model(model));
    }
    // Traccar's encoder always uses serial 0.
    codec.set_next_serial(0);
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let (out, _) = codec
        .command(&device, &command, &CommandProfile::default(), now)
        .map_err(|e| e.to_string())?;
    let mut dst = BytesMut::new();
    codec.encode(out, &mut dst).map_err(|e| e.to_string())?;
    if to_hex(&dst) == want {
        Ok(())
    } else {
        Err(format!("got {}", to_hex(&dst)))
    }
}

fn decode_row(codec: &mut Jt808Codec, row: &Row) -> Result<(), String> {
    if let Some(model) = row.note.get("model") {
        codec.set_dialect(Dialect::from_model(model));
    }
    let input = row.input_bytes();
    let still_stuffed = row
        .note
        .get("escaped")
        .is_some_and(|e| e.starts_with("INPUT-STILL-BYTE-STUFFED"));
    let decoded = if still_stuffed {
        // Through the stream decoder, which un-escapes once.
        let mut buf = BytesMut::from(&input[..]);
        codec.decode(&mut buf).map_err(|e| e.to_string())?
    } else {
        // Already un-escaped (frame-decoder output): straight to the frame-content decoder.
        match codec.decode_frame(&input) {
            Ok(d) => d,
            Err(e) if row.check() == "null" => {
                return Err(format!("decode error {e}"));
            }
            Err(e) => return Err(format!("decode error {e}")),
        }
    };
    let msg: Option<DeviceMessage> = decoded.map(|d| d.message);
    check_decode(row, msg.as_ref())
}

#[test]
fn jt808_vectors() {
    let rows = load("jt808");
    let total = rows.len();
    let mut tally = Tally::default();
    let mut codecs: std::collections::HashMap<String, Jt808Codec> = Default::default();
    for row in &rows {
        let outcome = match row.kind.as_str() {
            "frame" => frame_row(row),
            "encode" => encode_row(row),
            "decode" => {
                let codec = codecs.entry(row.method().to_string()).or_default();
                decode_row(codec, row)
            }
            other => Err(format!("unknown kind {other}")),
        };
        tally.record(row, outcome);
    }
    let _ = hex;
    tally.finish("jt808.tsv", total);
}
