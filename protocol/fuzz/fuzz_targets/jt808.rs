#![no_main]
//! Fuzz target for the JT808 decoders: the server codec fed in chunks whose sizes come from
//! the input itself, the frame-content decoder on the raw input, and the device-side decoder.
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::jt808::Jt808Codec;
use protocol::jt808::device::{ServerFrameDecoder, decode_server_frame};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let chunk = (seed as usize % 64) + 1;
    let mut codec = Jt808Codec::default();
    let mut buf = BytesMut::new();
    'feed: for part in rest.chunks(chunk) {
        buf.extend_from_slice(part);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    let _ = Jt808Codec::default().decode_frame(rest);
    let _ = decode_server_frame(rest);
    let mut device_side = ServerFrameDecoder::default();
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(_)) = device_side.decode(&mut buf) {}
});
