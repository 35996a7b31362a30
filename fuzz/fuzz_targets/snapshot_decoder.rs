//! Fuzzes the snapshot decoder: any bytes, fed in two pieces, either fail
//! with an error or restore into an engine; no input may panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sixfold_engine::snapshot::{Decoder, apply_item};
use sixfold_engine::{Config, Engine};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let mut e = Engine::new(Config::default(), 1);
    let mut d = Decoder::new();
    for piece in [&data[..split], &data[split..]] {
        d.feed(piece);
        loop {
            match d.next_item() {
                Ok(Some(item)) => {
                    if apply_item(&mut e, &item).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
