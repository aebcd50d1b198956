//! What only SQLite speaks: the track page as one row of text and its codec (`track`), and
//! the chunked multi-row position INSERT (`insert`), online backup and restore ([`backup`]).

pub mod backup;
mod insert;
mod track;

pub(crate) use insert::insert_positions;
pub(super) use track::track;
