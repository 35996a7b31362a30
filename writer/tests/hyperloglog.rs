//! HyperLogLog against Debian's `redis-server`: random sequences of PFADD,
//! PFCOUNT, PFMERGE and PFDEBUG (small and large sets, so sparse HLLs turn
//! dense, under several `hll-sparse-max-bytes`), with wrong types, values
//! that are not HLLs and corrupt ones, must get the same replies — and a
//! `GET` of every key must return the same bytes, so the two servers'
//! representations are interchangeable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Raw, redis, sixfold};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sixfold_resp::Frame;

const SEQUENCES: u64 = 80;
const COMMANDS_PER_SEQUENCE: usize = 40;
const KEYS: &[&str] = &["h1", "h2", "h3", "str", "list"];

/// Values that are not HLLs, or are corrupt ones: an empty sparse body,
/// a sparse body over more than 16384 registers, a dense one too short.
fn odd_value(rng: &mut SmallRng) -> Vec<u8> {
    let header = |enc: u8| [b"HYLL".as_slice(), &[enc], &[0u8; 11]].concat();
    match rng.random_range(0..4) {
        0 => header(1),
        1 => [header(1), vec![0x7f, 0xff, 0x05]].concat(),
        2 => [header(0), vec![0; 100]].concat(),
        _ => b"HYLX".to_vec(),
    }
}

fn elements(rng: &mut SmallRng) -> Vec<String> {
    let n = if rng.random_range(0..6) == 0 { rng.random_range(100..1500) } else { rng.random_range(0..8) };
    let spread = rng.random_range(1..20_000);
    (0..n).map(|_| format!("e{}", rng.random_range(0..spread))).collect()
}

fn generate(rng: &mut SmallRng) -> Vec<Vec<u8>> {
    let key = |rng: &mut SmallRng| KEYS[rng.random_range(0..KEYS.len())].to_string();
    let (k, k2, k3) = (key(rng), key(rng), key(rng));
    let words = |x: &[&str]| x.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>();
    let mut cmd = match rng.random_range(0..14) {
        0..=3 => {
            let mut c = words(&["PFADD", &k]);
            c.extend(elements(rng).into_iter().map(String::into_bytes));
            c
        }
        4 | 5 => words(&["PFCOUNT", &k]),
        6 => words(&["PFCOUNT", &k, &k2, &k3]),
        7 => words(&["PFMERGE", &k, &k2, &k3]),
        8 => words(&["PFMERGE", &k]),
        9 => {
            let sub = ["ENCODING", "DECODE", "TODENSE", "GETREG", "NOPE"][rng.random_range(0..5)];
            words(&["PFDEBUG", sub, &k])
        }
        10 => words(&["CONFIG", "SET", "hll-sparse-max-bytes", ["30", "200", "3000", "20000"][rng.random_range(0..4)]]),
        11 => [words(&["SET", &k]), vec![odd_value(rng)]].concat(),
        12 => words(&[["LPUSH list x", "SET str abc", "DEL h1", "APPEND h2 x"][rng.random_range(0..4)]])[0]
            .split(|b| *b == b' ')
            .map(<[u8]>::to_vec)
            .collect(),
        _ => words(&["GET", &k]),
    };
    if rng.random_range(0..40) == 0 {
        cmd.truncate(1);
    }
    cmd
}

#[test]
fn hyperloglog_answers_and_stores_like_redis() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let mut mismatches = Vec::new();
    let mut total = 0;
    for seed in 0..SEQUENCES {
        let mut rng = SmallRng::seed_from_u64(seed);
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
            c.cmd(&["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
        }
        for _ in 0..COMMANDS_PER_SEQUENCE {
            let cmd = generate(&mut rng);
            let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            let (x, y) = (a.cmd_bytes(&args), b.cmd_bytes(&args));
            total += 1;
            if x != y {
                let shown: Vec<String> = cmd.iter().take(4).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
                mismatches.push(format!("seed {seed}: {shown:?}\n  sixfold: {x:.200?}\n  redis:   {y:.200?}"));
            }
        }
        for k in KEYS {
            let (x, y) = (a.cmd(&["GET", k]), b.cmd(&["GET", k]));
            if x != y {
                mismatches
                    .push(format!("seed {seed}: bytes of {k} differ\n  sixfold: {x:.200?}\n  redis:   {y:.200?}"));
            }
        }
    }
    assert!(total >= 3000);
    assert!(
        mismatches.is_empty(),
        "{} of {total} replies differ; first ones:\n{}",
        mismatches.len(),
        mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// PFSELFTEST runs Redis's own self-test (registers, and 10 million
/// elements in a sparse and a dense HLL against the true count).
#[test]
fn pfselftest_passes() {
    let ours = sixfold(&[]);
    let mut a = Raw::connect(ours.port);
    a.sock.set_read_timeout(Some(std::time::Duration::from_secs(120))).unwrap();
    assert_eq!(a.cmd(&["PFSELFTEST"]), Frame::Simple("OK".into()));
}

/// An HLL written by Redis is read by Sixfold and the other way round: the
/// same count, and merged both ways into the same bytes.
#[test]
fn hll_bytes_move_between_redis_and_sixfold() {
    let ours = sixfold(&[]);
    let theirs = redis();
    let (mut a, mut b) = (Raw::connect(ours.port), Raw::connect(theirs.port));
    let many: Vec<String> = (0..5000).map(|i| format!("m{i}")).collect();
    let mut add = vec!["PFADD", "big"];
    add.extend(many.iter().map(String::as_str));
    b.cmd(&add);
    b.cmd(&["PFADD", "small", "x", "y", "z"]);
    for k in ["big", "small"] {
        let Frame::Bulk(bytes) = b.cmd(&["GET", k]) else { panic!("redis has no {k}") };
        a.cmd_bytes(&[b"SET", k.as_bytes(), &bytes]);
        assert_eq!(a.cmd(&["PFCOUNT", k]), b.cmd(&["PFCOUNT", k]), "{k}");
    }
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd(&["PFMERGE", "both", "big", "small"]), Frame::Simple("OK".into()));
    }
    assert_eq!(a.cmd(&["GET", "both"]), b.cmd(&["GET", "both"]));
    assert_eq!(a.cmd(&["PFCOUNT", "both"]), b.cmd(&["PFCOUNT", "both"]));
}
