//! The payload of `FUNCTION DUMP` and `FUNCTION RESTORE`, in Redis 7.0's
//! format so libraries move between Redis and Sixfold: per library the
//! RDB opcode `FUNCTION2` (245) and the library's code as an RDB string
//! (LZF-compressed past 20 bytes when that saves at least 4, as Redis
//! writes it), then the RDB version (10, two bytes little-endian) and the
//! CRC-64 (Jones, Redis's) of everything before it, little-endian.

use bytes::Bytes;

/// `RDB_OPCODE_FUNCTION2`.
const OPCODE_FUNCTION: u8 = 245;
/// The RDB version Redis 7.0 writes (and the newest this reads).
const RDB_VERSION: u16 = 10;
/// Strings longer than this are offered to LZF (Redis's rule).
const COMPRESS_BYTES_MIN: usize = 20;
/// Largest string a payload may declare (Redis's `proto-max-bulk-len`
/// bound; a corrupted length must not allocate more).
const STRING_BYTES_MAX: u64 = 512 * 1024 * 1024;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// What Redis answers a payload it cannot read.
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";

/// The payload holding these libraries' code.
pub fn dump<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION);
        put_string(&mut out, code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The libraries' code in a payload, or Redis's error.
pub fn parse(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    let Some(body_len) = payload.len().checked_sub(10) else { return Err(BAD_PAYLOAD.into()) };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| BAD_PAYLOAD.to_string())?);
    if version > RDB_VERSION || CRC64.checksum(&payload[..body_len + 2]) != crc {
        return Err(BAD_PAYLOAD.into());
    }
    let mut r = body;
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

/// An RDB length: 6, 14, 32 or 64 bits.
fn put_len(out: &mut Vec<u8>, n: usize) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0x80);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > COMPRESS_BYTES_MIN
        && let Ok(packed) = lzf::compress(s)
        && packed.len() <= s.len() - 4
    {
        out.push(0xC3);
        put_len(out, packed.len());
        put_len(out, s.len());
        out.extend_from_slice(&packed);
        return;
    }
    put_len(out, s.len());
    out.extend_from_slice(s);
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if r.len() < n {
        return None;
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Some(head)
}

/// An RDB length, or the special encoding it announces (`Err`).
fn get_len(r: &mut &[u8]) -> Option<Result<u64, u8>> {
    let first = take(r, 1)?[0];
    Some(match first >> 6 {
        0 => Ok(u64::from(first & 0x3f)),
        1 => Ok(u64::from(first & 0x3f) << 8 | u64::from(take(r, 1)?[0])),
        3 => Err(first & 0x3f),
        _ if first == 0x80 => Ok(u64::from(u32::from_be_bytes(take(r, 4)?.try_into().ok()?))),
        _ if first == 0x81 => Ok(u64::from_be_bytes(take(r, 8)?.try_into().ok()?)),
        _ => return None,
    })
}

fn get_string(r: &mut &[u8]) -> Option<Vec<u8>> {
    let len = |r: &mut &[u8]| get_len(r)?.ok().filter(|n| *n <= STRING_BYTES_MAX).map(|n| n as usize);
    match get_len(r)? {
        Ok(n) if n <= STRING_BYTES_MAX => Some(take(r, n as usize)?.to_vec()),
        Ok(_) => None,
        // Integers stored as 8, 16 or 32 bits.
        Err(enc @ 0..=2) => {
            let b = take(r, 1 << enc)?;
            let n = match enc {
                0 => i64::from(b[0] as i8),
                1 => i64::from(i16::from_le_bytes([b[0], b[1]])),
                _ => i64::from(i32::from_le_bytes(b.try_into().ok()?)),
            };
            Some(n.to_string().into_bytes())
        }
        Err(3) => {
            let (packed_len, plain_len) = (len(r)?, len(r)?);
            let out = lzf::decompress(take(r, packed_len)?, plain_len).ok()?;
            (out.len() == plain_len).then_some(out)
        }
        Err(_) => None,
    }
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

    #[test]
    fn every_length_form_and_integer_strings_decode() {
        for n in [0usize, 63, 64, 16_383, 16_384, 70_000] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!(get_len(&mut &out[..]), Some(Ok(n as u64)));
        }
        assert_eq!(get_string(&mut &[0xC0, 0xFB][..]), Some(b"-5".to_vec()));
        assert_eq!(get_string(&mut &[0xC1, 0x39, 0x30][..]), Some(b"12345".to_vec()));
        assert_eq!(get_string(&mut &[0xC2, 0x15, 0xCD, 0x5B, 0x07][..]), Some(b"123456789".to_vec()));
    }
}
