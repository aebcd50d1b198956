//! Every row of `shared/vectors/h02.tsv` (Traccar's H02 frame, decoder and encoder tests)
//! against the H02 codec.
// The shared harness predates this clippy version's lints; it is not ours to reformat.
mod common;

use std::collections::HashMap;

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use common::{Row, Tally, check_decode, load, to_hex};
use protocol::h02::{H02Codec, H02Config};
use protocol::{Command, CommandProfile, DeviceCodec, DeviceId};
use tokio_util::codec::{Decoder, Encoder};

fn frame_row(codec: &mut H02Codec, row: &Row) -> Result<(), String> {
    let mut buf = BytesMut::from(&row.input_bytes()[..]);
    let frame = codec
        .split_frame(&mut buf)
        .map_err(|e| format!("framing error {e}"))?
        .ok_or("no frame")?;
    let want = row.expect("frame").ok_or("row without frame=")?;
    if to_hex(&frame) != want.to_ascii_lowercase() {
        return Err(format!("frame {} != {want}", to_hex(&frame)));
    }
    // Whatever follows (the second frame of a two-frame input) must frame too.
    while !buf.is_empty() {
        codec
            .split_frame(&mut buf)
            .map_err(|e| format!("framing error {e}"))?
            .ok_or("trailing bytes do not frame")?;
    }
    Ok(())
}

fn decode_row(codec: &mut H02Codec, row: &Row) -> Result<(), String> {
    let mut buf = BytesMut::from(&row.input_bytes()[..]);
    let decoded = codec
        .decode(&mut buf)
        .map_err(|e| format!("decode error {e}"))?;
    if !buf.is_empty() {
        return Err(format!("{} bytes left unconsumed", buf.len()));
    }
    check_decode(row, decoded.as_ref().map(|d| &d.message))
}

fn command_of(row: &Row) -> Result<(DeviceId, Command), String> {
    let params: HashMap<&str, &str> = row
        .input
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let device =
        DeviceId::parse(params.get("uniqueId").ok_or("no uniqueId")?).map_err(|e| e.to_string())?;
    let command = match *params.get("type").ok_or("no type")? {
        "engineStop" => Command::CutPower,
        "engineResume" => Command::RestorePower,
        "alarmArm" => Command::Arm,
        "alarmDisarm" => Command::Disarm,
        "positionPeriodic" => Command::SetInterval {
            seconds: params
                .get("frequency")
                .and_then(|f| f.parse().ok())
                .ok_or("bad frequency")?,
        },
        other => return Err(format!("no Vigil command for {other}")),
    };
    Ok((device, command))
}

fn encode_row(codec: &mut H02Codec, row: &Row) -> Result<(), String> {
    let (device, command) = command_of(row)?;
    // The encoder test runs at 01:02:03 (its local time; Vigil's default command zone is UTC).
    let now = Utc.with_ymd_and_hms(2024, 5, 6, 1, 2, 3).unwrap();
    let (out, _) = codec
        .command(&device, &command, &CommandProfile::default(), now)
        .map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    codec.encode(out, &mut buf).map_err(|e| e.to_string())?;
    let want = row.expect("output").ok_or("row without output=")?;
    let got = String::from_utf8_lossy(&buf);
    if got != want {
        return Err(format!("output {got:?} != {want:?}"));
    }
    Ok(())
}

#[test]
fn h02_vectors() {
    let rows = load("h02");
    let mut tally = Tally::default();
    // Rows of one upstream test method share one codec, in file order (as upstream).
    let mut codecs: HashMap<String, H02Codec> = HashMap::new();
    for row in &rows {
        assert!(
            !row.note.contains_key("model"),
            "h02 rows carry no model notes; handle {}",
            row.label()
        );
        let codec = codecs
            .entry(row.method().to_string())
            .or_insert_with(|| H02Codec::new(H02Config::default()));
        let outcome = match row.kind.as_str() {
            "frame" => frame_row(codec, row),
            "decode" => decode_row(codec, row),
            "encode" => encode_row(codec, row),
            other => Err(format!("unknown row kind {other}")),
        };
        tally.record(row, outcome);
    }
    tally.finish("h02.tsv", rows.len());
}
