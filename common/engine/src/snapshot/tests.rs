use super::*;
use crate::Config;

fn fx(db: usize, words: &[&str]) -> Vec<Effect> {
    vec![Effect::new(db, words.iter().map(|w| Bytes::from(w.to_string())).collect())]
}

/// An engine with every type, large collections, odd scores, expiries and
/// two databases.
fn sample() -> Engine {
    let mut e = Engine::new(Config::default(), 1);
    let mut run = |db: usize, words: &[&str]| e.apply(&fx(db, words)).unwrap();
    run(0, &["SET", "s", "value"]);
    run(0, &["SET", "bin", "\u{0}\u{1}\r\n"]);
    run(3, &["SET", "other-db", "x"]);
    for i in 0..1_300 {
        let i = i.to_string();
        run(0, &["RPUSH", "list", &i]);
        run(0, &["SADD", "set", &i]);
        run(0, &["HSET", "hash", &format!("f{i}"), &i]);
        run(0, &["ZADD", "zset", &i, &format!("m{i}")]);
    }
    for (score, m) in [("0.1", "a"), ("-inf", "b"), ("1e300", "c"), ("5e-324", "d"), ("-0.000123456789", "e")] {
        run(0, &["ZADD", "odd", score, m]);
    }
    // Streams: entries, counters, groups, consumers, a pending entry
    // deleted since, an empty stream with a group, one emptied by XDEL.
    for i in 1..=6 {
        run(0, &["XADD", "st", &format!("{i}-1"), "f", &i.to_string()]);
    }
    run(0, &["XGROUP", "CREATE", "st", "g", "0", "ENTRIESREAD", "0"]);
    run(0, &["XCLAIM", "st", "g", "alice", "0", "1-1", "2-1", "TIME", "123", "RETRYCOUNT", "2", "FORCE", "JUSTID"]);
    run(0, &["XGROUP", "SETID", "st", "g", "3-1", "ENTRIESREAD", "3"]);
    run(0, &["XDEL", "st", "2-1"]);
    run(0, &["XGROUP", "CREATECONSUMER", "st", "g", "bob"]);
    run(0, &["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
    run(0, &["XADD", "gone", "5-5", "f", "v"]);
    run(0, &["XDEL", "gone", "5-5"]);
    run(0, &["PEXPIREAT", "s", "99999999999999"]);
    run(0, &["PEXPIREAT", "list", "1"]);
    e
}

fn encode(engine: &Engine, lsn: u64) -> Vec<u8> {
    let header = Header { lsn, epoch: 3, log_checksum: [7; 32], engine_version: "sixfold test".into() };
    let mut enc = Encoder::new(header);
    let mut out = Vec::new();
    while let Some(b) = enc.next_bytes(engine) {
        out.extend(b);
    }
    out
}

/// Restores `bytes` fed `piece` bytes at a time.
fn restore(bytes: &[u8], piece: usize) -> Result<(Header, Engine), SnapshotError> {
    let mut e = Engine::new(Config::default(), 2);
    let (mut d, mut header) = (Decoder::new(), None);
    for p in bytes.chunks(piece) {
        d.feed(p);
        while let Some(item) = d.next_item()? {
            if let Item::Header(h) = &item {
                header = Some(h.clone());
            }
            apply_item(&mut e, &item)?;
        }
    }
    if !d.finished() {
        return Err(SnapshotError::Malformed("ended before the trailer".into()));
    }
    Ok((header.ok_or(SnapshotError::Malformed("no header".into()))?, e))
}

#[test]
fn a_restore_has_the_digest_of_the_snapshotted_state() {
    let e = sample();
    let bytes = encode(&e, 42);
    for piece in [1, 7, 4096, bytes.len()] {
        let (h, back) = restore(&bytes, piece).unwrap();
        assert_eq!((h.lsn, h.epoch, h.log_checksum, h.engine_version.as_str()), (42, 3, [7; 32], "sixfold test"));
        assert_eq!(back.digest(), e.digest(), "fed {piece} bytes at a time");
    }
    let empty = Engine::new(Config::default(), 1);
    let (_, back) = restore(&encode(&empty, 0), 5).unwrap();
    assert_eq!(back.digest(), empty.digest());
}

#[test]
fn large_keys_span_several_groups_and_chunks_stay_bounded() {
    let mut e = Engine::new(Config::default(), 1);
    let big = "x".repeat(10_000);
    for i in 0..300 {
        e.apply(&fx(0, &["SET", &format!("k{i}"), &big])).unwrap();
    }
    let header = Header { lsn: 1, epoch: 1, log_checksum: [0; 32], engine_version: String::new() };
    let mut enc = Encoder::new(header);
    let sizes: Vec<usize> = std::iter::from_fn(|| enc.next_bytes(&e).map(|b| b.len())).collect();
    assert!(sizes.len() > 3, "3 MB of values make several chunks: {sizes:?}");
    assert!(sizes.iter().all(|&s| s < CHUNK_BYTES_MAX + 20_000), "{sizes:?}");
    let s = sample();
    let list = s.keyspace().dbs[0].get(b"list".as_slice()).unwrap();
    assert_eq!(
        key_groups(0, &Bytes::from_static(b"list"), list).len(),
        3 + 1,
        "1,300 elements in 512s, then the expiry"
    );
}

#[test]
fn corrupted_truncated_foreign_and_future_objects_are_rejected() {
    let bytes = encode(&sample(), 9);
    // Every byte flipped somewhere in the object is caught.
    for at in (0..bytes.len()).step_by(997) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x20;
        assert!(restore(&bad, 4096).is_err(), "a flipped byte at {at} went through");
    }
    for cut in [10, 70, bytes.len() / 2, bytes.len() - 1] {
        assert!(restore(&bytes[..cut], 4096).is_err(), "cut at {cut}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(restore(&long, 4096), Err(SnapshotError::Malformed(_))));
    assert_eq!(restore(b"PK\x03\x04 a zip file, not a snapshot", 8).err(), Some(SnapshotError::Foreign));
    let mut future = bytes.clone();
    future[8] = 2;
    assert_eq!(restore(&future, 4096).err(), Some(SnapshotError::Version(2)));
}

#[test]
fn the_log_checksum_chains_every_record() {
    let a = chain_checksum(&[0; 32], b"r1");
    let b = chain_checksum(&a, b"r2");
    assert_ne!(a, b);
    assert_eq!(b, chain_checksum(&chain_checksum(&[0; 32], b"r1"), b"r2"));
    assert_ne!(b, chain_checksum(&chain_checksum(&[0; 32], b"r2"), b"r1"), "order matters");
}

#[test]
fn function_libraries_are_in_the_snapshot_and_its_digest() {
    let mut e = sample();
    let code = "#!lua name=lib\nredis.register_function('f', function(keys, args) return 1 end)";
    e.apply(&fx(0, &["FUNCTION", "LOAD", "REPLACE", code])).unwrap();
    let bytes = encode(&e, 9);
    let (_, back) = restore(&bytes, 4096).unwrap();
    assert_eq!(back.digest(), e.digest());
    assert!(back.scripts.functions.get("f").is_some(), "the library was restored");
    // The same data without the library does not verify against the
    // snapshot's trailer.
    let mut without = sample();
    assert_ne!(without.digest(), e.digest());
    without.apply(&fx(0, &["FUNCTION", "LOAD", "REPLACE", code])).unwrap();
    assert_eq!(without.digest(), e.digest());
    without.apply(&fx(0, &["FUNCTION", "DELETE", "lib"])).unwrap();
    assert_ne!(without.digest(), e.digest(), "DELETE applied");
}
