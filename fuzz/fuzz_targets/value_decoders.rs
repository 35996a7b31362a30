//! Fuzzes the decoders of values clients hand in as bytes: RESTORE payloads
//! (`rdb::unseal`, `rdb::load`: listpacks, intsets, ziplists, quicklists,
//! LZF) and strings taken for HyperLogLogs (`hll`: a corrupt sparse body
//! is an error, never a panic); a loaded value must dump and load again to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sixfold_engine::{hll, rdb};

fuzz_target!(|data: &[u8]| {
    if let Some(v) = rdb::load(data) {
        let again = rdb::dump(&v);
        assert_eq!(rdb::unseal(&again).and_then(rdb::load), Some(v));
    }
    let _ = rdb::unseal(data);
    if hll::check(data).is_ok() {
        let _ = hll::count(data);
        let _ = hll::decode(data);
        let mut max = vec![0u8; hll::REGISTERS];
        let _ = hll::merge_into(&mut max, data);
        let mut v = data.to_vec();
        for (i, e) in data.chunks(3).take(64).enumerate() {
            if hll::add(&mut v, e, 40 + i * 50).is_err() {
                break;
            }
        }
        let _ = hll::to_dense(&mut v);
    }
});
