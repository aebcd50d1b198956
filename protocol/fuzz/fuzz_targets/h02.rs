#![no_main]
//! Fuzz target for the H02 decoders: the input is fed to the server-side codec in chunks whose
//! sizes come from the input itself, then to the device-side codec whole. Must never panic.
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::h02::device::H02DeviceCodec;
use protocol::h02::{BinaryLength, H02Codec, H02Config};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let config = H02Config {
        max_frame: 512,
        binary_length: match first % 3 {
            0 => BinaryLength::Auto,
            1 => BinaryLength::Fixed(32),
            _ => BinaryLength::Fixed(45),
        },
        vendor_attributes: first & 0x80 != 0,
        ..H02Config::default()
    };
    let mut codec = H02Codec::new(config);
    let mut buf = BytesMut::new();
    let mut input = rest;
    while let Some((&size, tail)) = input.split_first() {
        let take = usize::from(size % 64).max(1).min(tail.len());
        let (chunk, next) = tail.split_at(take);
        buf.extend_from_slice(chunk);
        input = next;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    buf.clear();
                    break;
                }
            }
        }
        if next.is_empty() {
            break;
        }
    }
    let _ = codec.decode_eof(&mut buf);

    let mut device = H02DeviceCodec::default();
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(_)) = device.decode(&mut buf) {}
});
