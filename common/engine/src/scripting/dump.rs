//! The payload of `FUNCTION DUMP` and `FUNCTION RESTORE`, in Redis 7.0's
//! format so libraries move between Redis and Sixfold: per library the
//! RDB opcode `FUNCTION2` (245) and the library's code as an RDB string
//! (LZF-compressed past 20 bytes when that saves at least 4, as Redis
//! writes it), then the RDB version (10, two bytes little-endian) and the
//! CRC-64 (Jones, Redis's) of everything before it, little-endian.

use crate::rdb::{get_string, put_string, seal, unseal};
use bytes::Bytes;

/// `RDB_OPCODE_FUNCTION2`.
const OPCODE_FUNCTION: u8 = 245;

/// What Redis answers a payload it cannot read.
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";

/// The payload holding these libraries' code.
pub fn dump<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION);
        put_string(&mut out, code);
    }
    seal(out)
}

/// The libraries' code in a payload, or Redis's error.
pub fn parse(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    let mut r = unseal(payload).ok_or(BAD_PAYLOAD)?;
    let mut codes = Vec::new();
    while let Some((&op, rest)) = r.split_first() {
        if op != OPCODE_FUNCTION {
            return Err("ERR given type is not a function".into());
        }
        r = rest;
        codes.push(Bytes::from(get_string(&mut r).ok_or("ERR failed loading the library")?));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_damage_is_refused() {
        let long =
            "#!lua name=big\n".to_string() + &"redis.register_function('f', function() return 1 end)\n".repeat(50);
        let codes: Vec<&[u8]> = vec![b"#!lua name=a\nx", long.as_bytes(), &[b'y'; 300]];
        let p = dump(codes.iter().copied());
        assert!(p.len() < long.len(), "long code is compressed");
        let back = parse(&p).unwrap();
        assert_eq!(back.iter().map(|b| &b[..]).collect::<Vec<_>>(), codes);
        for i in 0..p.len() {
            let mut bad = p.clone();
            bad[i] ^= 0x10;
            assert!(parse(&bad).is_err(), "a flipped byte at {i} is caught");
        }
        assert!(parse(&p[..p.len() - 1]).is_err());
        assert_eq!(parse(&dump(std::iter::empty())).unwrap().len(), 0);
    }
}
