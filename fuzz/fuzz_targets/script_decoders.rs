//! Fuzzes the decoders scripts reach: a `FUNCTION RESTORE` payload (RDB
//! strings, LZF, CRC-64), `cmsgpack.unpack` and `struct.unpack` of
//! arbitrary bytes. Each must answer (a reply or an error), never panic,
//! and leave the engine's effects applicable to a replica.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sixfold_engine::{ClientInfo, Config, Engine};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let mut e = Engine::new(Config::default(), 1);
    let Ok(id) = e.connect(ClientInfo::default(), 1_000) else { return };
    let arg = Bytes::copy_from_slice(rest);
    let cmd: Vec<Bytes> = match which % 3 {
        0 => vec!["FUNCTION".into(), "RESTORE".into(), arg],
        1 => vec!["EVAL".into(), "return {cmsgpack.unpack(ARGV[1])}".into(), "0".into(), arg],
        _ => {
            let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let (fmt, s) = rest.split_at(split);
            let script = "return {struct.unpack(ARGV[1], ARGV[2])}";
            vec!["EVAL".into(), script.into(), "0".into(), Bytes::copy_from_slice(fmt), Bytes::copy_from_slice(s)]
        }
    };
    e.feed(id, cmd, 1_000);
    assert!(!e.take_output().is_empty(), "every command is answered");
    let mut replica = Engine::new(Config::default(), 2);
    for g in &e.take_effects() {
        assert!(replica.apply(g).is_ok());
    }
    assert_eq!(e.digest(), replica.digest());
});
