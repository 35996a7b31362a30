//! Fuzzes the log record, snapshot marker and fabric frame decoders: arbitrary bytes are
//! either rejected or decode to values that re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sixfold_wire::{Record, SnapshotMarker, decode_frame, decode_run, encode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((r, n))) = Record::decode(data) {
        let mut again = Vec::new();
        r.encode(&mut again);
        assert_eq!(&again[..], &data[..n]);
    }
    let _ = decode_run(data);
    if let Ok(m) = SnapshotMarker::decode(data) {
        assert_eq!(&m.encode()[..], data);
    }
    if let Ok(Some((m, _))) = decode_frame(data) {
        let mut again = Vec::new();
        encode_frame(&m, &mut again).expect("a decoded message encodes");
        let (back, _) = decode_frame(&again).expect("own frame decodes").expect("complete");
        assert_eq!(back, m);
    }
});
