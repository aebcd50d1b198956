#![no_main]
//! Fuzz target for the GT06 decoders: the input is split into chunks whose sizes come from the
//! input itself and fed to the server codec and the device-side decoder; neither may panic.
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::gt06::{Gt06Codec, Gt06Config, Gt06Model, device::DeviceDecoder};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let models = [
        Gt06Model::Generic,
        Gt06Model::Lw,
        Gt06Model::SeeWorld,
        Gt06Model::R11,
        Gt06Model::Nt20,
        Gt06Model::Xt40,
        Gt06Model::Vl,
        Gt06Model::Qh302r,
    ];
    let config = Gt06Config {
        model: models[usize::from(control) % models.len()],
        enforce_crc: control & 0x80 != 0,
        ..Gt06Config::default()
    };
    let mut server = Gt06Codec::new(config);
    let mut dev = DeviceDecoder::default();
    let mut server_buf = BytesMut::new();
    let mut dev_buf = BytesMut::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < rest.len() {
        let step = usize::from(rest[i % rest.len()] % 32) + 1;
        i += 1;
        let end = (pos + step).min(rest.len());
        server_buf.extend_from_slice(&rest[pos..end]);
        dev_buf.extend_from_slice(&rest[pos..end]);
        pos = end;
        loop {
            match server.decode(&mut server_buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    server_buf.clear();
                    break;
                }
            }
        }
        loop {
            match dev.decode(&mut dev_buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    dev_buf.clear();
                    break;
                }
            }
        }
    }
    let _ = server.decode_frame(rest);
});
