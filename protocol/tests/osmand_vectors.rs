//! Every row of `shared/vectors/osmand.tsv` (Traccar's `OsmAndProtocolDecoderTest`) through
//! `osmand::parse_request`.
mod common;

use chrono::Utc;
use protocol::osmand::{self, OsmandConfig, OsmandError};

#[test]
fn osmand_vectors() {
    let rows = common::load("osmand");
    let config = OsmandConfig::default();
    let mut tally = common::Tally::default();
    for row in &rows {
        assert_eq!(
            row.kind,
            "decode",
            "{}: osmand has only decode rows",
            row.label()
        );
        assert_eq!(row.fmt(), "http", "{}", row.label());
        let req = common::http(row);
        let content_type = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        // The harness's sanity check compares with the wall clock; the parser itself reads none.
        let result = osmand::parse_request(
            &req.method,
            &req.uri,
            content_type,
            req.body.as_bytes(),
            Utc::now(),
            &config,
        );
        let outcome = match (&result, row.check()) {
            // Traccar answers 400 and stores nothing; so must we, for the stated reason.
            (Err(e), "null") => {
                if *e == OsmandError::MissingDeviceId && e.http_status() == 400 {
                    Ok(())
                } else {
                    Err(format!("expected a missing-id error, got {e}"))
                }
            }
            (Err(e), _) => Err(format!("rejected: {e}")),
            (Ok(report), _) => common::check_decode(row, Some(&report.message)),
        };
        tally.record(row, outcome);
    }
    tally.finish("osmand.tsv", rows.len());
}
