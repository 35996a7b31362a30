//! Fuzzes the client request decoder: any bytes, fed in two pieces, either
//! decode or give a protocol error; never a panic or an endless loop.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sixfold_resp::{Limits, RequestDecoder};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        bulk_bytes_max: 1 << 16,
        multibulk_len_max: 1 << 12,
        inline_bytes_max: 1 << 12,
        unauthenticated: false,
    };
    let mut d = RequestDecoder::new(limits);
    let split = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let mut buf = BytesMut::from(&data[..split]);
    for piece in [&data[split..], &[][..]] {
        loop {
            match d.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
        buf.extend_from_slice(piece);
    }
});
