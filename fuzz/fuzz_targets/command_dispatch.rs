//! Fuzzes command dispatch: the input is decoded as requests and run
//! through an engine; afterwards the effects must apply cleanly to a second
//! engine and give the same digest. No input may panic the engine.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sixfold_engine::{ClientInfo, Config, Engine};
use sixfold_resp::RequestDecoder;

fuzz_target!(|data: &[u8]| {
    let mut e = Engine::new(Config::default(), 1);
    let id = match e.connect(ClientInfo::default(), 1_000) {
        Ok(id) => id,
        Err(_) => return,
    };
    let mut d = RequestDecoder::default();
    let mut buf = BytesMut::from(data);
    let mut now = 1_000;
    while let Ok(Some(args)) = d.decode(&mut buf) {
        let name = args.first().map(|a| a.to_ascii_lowercase());
        if matches!(name.as_deref(), Some(b"shutdown") | Some(b"debug") | Some(b"pfselftest")) || args.is_empty() {
            continue;
        }
        e.feed(id, args, now);
        now += 7;
        e.tick(now);
        let _ = e.take_output();
    }
    let groups = e.take_effects();
    let mut replica = Engine::new(Config::default(), 2);
    for g in &groups {
        assert!(replica.apply(g).is_ok());
    }
    assert_eq!(e.digest(), replica.digest());
});
