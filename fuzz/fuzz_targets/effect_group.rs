//! Fuzzes the effect-group decoder (the payload of `Effects` records):
//! arbitrary bytes are rejected or re-encode to the same bytes, and a
//! decoded group applies to an engine without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sixfold_engine::{Config, Engine, decode_group, encode_group};

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = decode_group(data) {
        assert_eq!(encode_group(&g), data);
        let mut e = Engine::new(Config::default(), 1);
        let _ = e.apply(&g);
    }
});
