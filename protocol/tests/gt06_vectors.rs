//! Every row of `../shared/vectors/gt06.tsv` through the GT06 codec.
mod common;

use common::{Tally, check_decode, hex, to_hex};
use protocol::gt06::{Gt06Codec, Gt06Model, encode_command_text, frame::next_frame};
use protocol::{Command, CommandProfile};

#[test]
fn gt06_vectors() {
    let rows = common::load("gt06");
    let total = rows.len();
    let mut tally = Tally::default();
    // Rows of one upstream test method share one decoder, in file order.
    let mut codecs: std::collections::BTreeMap<String, Gt06Codec> = Default::default();
    for row in &rows {
        match row.kind.as_str() {
            "frame" => {
                let input = row.input_bytes();
                let want = hex(row.expect("frame").unwrap_or(""));
                let got = next_frame(&input).map(|r| input[r].to_vec());
                let outcome = match got {
                    Some(f) if f == want => Ok(()),
                    other => Err(format!(
                        "expected frame {}, got {:?}",
                        to_hex(&want),
                        other.map(|f| to_hex(&f))
                    )),
                };
                tally.record(row, outcome);
            }
            "decode" => {
                let codec = codecs.entry(row.method().to_string()).or_default();
                let model = row
                    .note
                    .get("model")
                    .map(|m| Gt06Model::from_name(m))
                    .unwrap_or_default();
                codec.set_model(model);
                let decoded = codec.decode_frame(&row.input_bytes());
                tally.record(row, check_decode(row, decoded.as_ref().map(|d| &d.message)));
            }
            "encode" => {
                // traccar's encoder test: engineStop for the default profile, flag 0, serial 0.
                let outcome = if row.input.starts_with("type=engineStop") {
                    let text =
                        Gt06Codec::command_text(&Command::CutPower, &CommandProfile::default())
                            .map_err(|e| e.to_string());
                    text.and_then(|t| encode_command_text(0, 0, &t).map_err(|e| e.to_string()))
                        .and_then(|bytes| {
                            let want = row.expect("output").unwrap_or("");
                            if to_hex(&bytes) == want.to_ascii_lowercase() {
                                Ok(())
                            } else {
                                Err(format!("expected {want}, got {}", to_hex(&bytes)))
                            }
                        })
                } else {
                    Err(format!("unknown encode row {}", row.input))
                };
                tally.record(row, outcome);
            }
            other => tally.record(row, Err(format!("unknown row kind {other}"))),
        }
    }
    tally.finish("gt06.tsv", total);
}
