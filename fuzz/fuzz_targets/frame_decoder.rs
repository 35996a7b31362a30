//! Fuzzes the RESP2/RESP3 value decoder, and checks that whatever it
//! decodes re-encodes (RESP3) to bytes that decode and encode to the same
//! bytes again (RESP2 nil arrays become RESP3 nulls, by design).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sixfold_resp::{Protocol, decode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((f, used))) = decode_frame(data) {
        assert!(used <= data.len());
        let again = f.to_bytes(Protocol::Resp3);
        let (g, n) = decode_frame(&again).expect("own encoding decodes").expect("complete");
        assert_eq!(n, again.len());
        assert_eq!(g.to_bytes(Protocol::Resp3), again);
    }
});
